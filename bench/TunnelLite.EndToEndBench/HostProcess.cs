using System.Diagnostics;
using System.Globalization;

namespace TunnelLite.Bench;

/// <summary>A pwsh process running one TunnelLite end (bench/hosts/Start-BenchHost.ps1), with its CPU time and RSS read
/// from /proc.</summary>
internal sealed class HostProcess : IMeasuredProcess, IAsyncDisposable
{
    private readonly Process _process;

    private HostProcess(Process process, int pid, int port)
    {
        _process = process;
        Pid = pid;
        Port = port;
    }

    public int Pid { get; }

    /// <summary>The server's control port, or the client's public (remote) port.</summary>
    public int Port { get; }

    public static async Task<HostProcess> StartAsync(BenchOptions o, string role, string mode, bool inlineCompletions, int serverPort = 0, int localPort = 0, int adminPort = 0)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { o.PwshDll, "-NoProfile", "-NonInteractive", "-File", o.HostScript, "-ModulePath", o.ModulePath,
                     "-Role", role, "-Token", "bench-token", "-Mode", mode, "-ServerPort", serverPort.ToString(CultureInfo.InvariantCulture),
                     "-LocalPort", localPort.ToString(CultureInfo.InvariantCulture), "-PoolSize", o.PoolSize.ToString(CultureInfo.InvariantCulture),
                     "-AdminPort", adminPort.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        psi.Environment.Remove("TUNNELLITE_FORWARDING_MODE");
        psi.Environment["NO_COLOR"] = "1";
        if (inlineCompletions) psi.Environment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1";
        else psi.Environment.Remove("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS");
        var p = Process.Start(psi) ?? throw new InvalidOperationException("pwsh did not start");
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            while (true)
            {
                var line = await p.StandardOutput.ReadLineAsync(timeout.Token);
                if (line is null) throw new InvalidOperationException($"{role} {mode} exited: {await stderr}");
                if (!line.StartsWith("READY ", StringComparison.Ordinal)) continue;
                var fields = line[6..].Split(' ').Select(f => f.Split('=')).ToDictionary(kv => kv[0], kv => int.Parse(kv[1], CultureInfo.InvariantCulture));
                return new HostProcess(p, fields["PID"], fields["PORT"]);
            }
        }
        catch
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            throw;
        }
    }

    public double CpuSeconds() => ProcStat.CpuSeconds(Pid);

    public long RssBytes() => ProcStat.RssBytes(Pid);

    /// <summary>The host's Get-TunnelStats, as one JSON line.</summary>
    public async Task<string> StatsAsync()
    {
        await _process.StandardInput.WriteLineAsync("stats");
        await _process.StandardInput.FlushAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await _process.StandardOutput.ReadLineAsync(timeout.Token) ?? "";
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _process.StandardInput.WriteLineAsync("stop");
            await _process.StandardInput.FlushAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (Exception)
        {
            try { _process.Kill(true); } catch (InvalidOperationException) { }
        }
        _process.Dispose();
    }
}
