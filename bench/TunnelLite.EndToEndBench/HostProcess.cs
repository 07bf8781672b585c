using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace TunnelLite.Bench;

/// <summary>A pwsh process running one TunnelLite end (bench/hosts/Start-BenchHost.ps1), with its CPU time and RSS read
/// from /proc.</summary>
internal sealed class HostProcess : IMeasuredProcess, IAsyncDisposable
{
    /// <summary>pwsh takes seconds of CPU to start and import the module; on 2 shared cores with others starting beside it,
    /// minutes.</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(4);

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

    /// <summary>Starts one end and waits for its READY line.</summary>
    /// <param name="o">The bench's options (pwsh, module, host script, pool size).</param>
    /// <param name="role">Server or Client.</param>
    /// <param name="settings">Forwarding mode, and data plane and loop count where the path sets them.</param>
    /// <param name="serverPort">Client: the server's control port.</param>
    /// <param name="localPort">Client: the sink's port.</param>
    /// <param name="adminPort">Non-zero: an admin endpoint on this port.</param>
    /// <param name="connectionLimit">Server, non-zero: transport.maxConnectionsPerTunnel and maxPendingUserConnections.</param>
    public static async Task<HostProcess> StartAsync(BenchOptions o, string role, EndSettings settings, int serverPort = 0, int localPort = 0, int adminPort = 0, int connectionLimit = 0)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        static string S(int n) => n.ToString(CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            o.PwshDll, "-NoProfile", "-NonInteractive", "-File", o.HostScript, "-ModulePath", o.ModulePath, "-Role", role, "-Token", "bench-token",
            "-Mode", settings.Mode, "-ServerPort", S(serverPort), "-LocalPort", S(localPort), "-PoolSize", S(o.PoolSize), "-AdminPort", S(adminPort),
        };
        if (settings.DataPlane is { } plane) args.AddRange(["-DataPlane", plane]);
        if (settings.EventLoops is { } loops) args.AddRange(["-EventLoops", S(loops)]);
        if (connectionLimit != 0) args.AddRange(["-MaxConnectionsPerTunnel", S(connectionLimit), "-MaxPendingUserConnections", S(connectionLimit)]);
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Only the command line sets the mode and plane: what this shell exported must not leak into a path.
        psi.Environment.Remove("TUNNELLITE_FORWARDING_MODE");
        psi.Environment.Remove("TUNNELLITE_DATA_PLANE");
        psi.Environment.Remove("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS");
        psi.Environment["NO_COLOR"] = "1";
        var p = Process.Start(psi) ?? throw new InvalidOperationException("pwsh did not start");
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(StartTimeout);
        try
        {
            while (true)
            {
                var line = await p.StandardOutput.ReadLineAsync(timeout.Token);
                if (line is null) throw new InvalidOperationException($"{role} {settings} exited: {await stderr}");
                if (!line.StartsWith("READY ", StringComparison.Ordinal)) continue;
                var fields = line[6..].Split(' ').Select(f => f.Split('=')).ToDictionary(kv => kv[0], kv => int.Parse(kv[1], CultureInfo.InvariantCulture));
                return new HostProcess(p, fields["PID"], fields["PORT"]);
            }
        }
        catch (Exception e)
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            if (e is OperationCanceledException && timeout.IsCancellationRequested)
                throw new TimeoutException($"{role} {settings} did not say READY within {StartTimeout.TotalSeconds:0} s", e);
            throw;
        }
    }

    public double CpuSeconds() => ProcStat.CpuSeconds(Pid);

    public long RssBytes() => ProcStat.RssBytes(Pid);

    /// <inheritdoc />
    public async Task SettleAsync()
    {
        await _process.StandardInput.WriteLineAsync("gc");
        await _process.StandardInput.FlushAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = await _process.StandardOutput.ReadLineAsync(timeout.Token);
        if (line != "GC") throw new InvalidDataException($"gc: unexpected answer: {line}");
    }

    /// <summary>The host's Get-TunnelStats (it writes them as one JSON line, enums by name).</summary>
    public async Task<HostStats> StatsAsync()
    {
        await _process.StandardInput.WriteLineAsync("stats");
        await _process.StandardInput.FlushAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = await _process.StandardOutput.ReadLineAsync(timeout.Token) ?? "";
        return JsonSerializer.Deserialize<HostStats>(line) ?? throw new InvalidDataException($"stats: not JSON: {line}");
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

/// <summary>What one end's Get-TunnelStats says about its forwarding over the run; the descriptor fields are the server's
/// (0 on a client): users it reset at its descriptor budget, and its descriptor limit.</summary>
internal sealed record HostStats(
    string ForwardingMode, string DataPlane, int EventLoops, long SplicedConnections, long CopiedConnections, long SpliceFallbacks,
    long TotalConnections, long FailedConnections, long RefusedConnections, long DescriptorRefusals, long DescriptorLimit,
    long BytesIn, long BytesOut);
