using System.Diagnostics;

namespace TunnelLite.Bench;

/// <summary>The anchor of issue 13: two HAProxy processes (Debian package haproxy), one per hop as a tunnel has a server
/// and a client, each single-threaded (nbthread 1) with splice-auto, relaying user → hop 1 → hop 2 → sink.</summary>
internal sealed class HaproxyChain : IAsyncDisposable
{
    private readonly List<Hop> _hops = new();
    private readonly string _folder = Directory.CreateTempSubdirectory("tunnellite-bench-haproxy-").FullName;

    /// <summary>haproxy's path; null when it is not installed (build.ps1 Bench installs it where it can).</summary>
    public static string? Path { get; } = new[] { "/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy" }.FirstOrDefault(File.Exists);

    /// <summary>Where users connect: hop 1's port.</summary>
    public int Port { get; private set; }

    public IMeasuredProcess First => _hops[0];
    public IMeasuredProcess Second => _hops[1];

    /// <summary>Starts hop 2 in front of <paramref name="sinkPort"/>, then hop 1 in front of hop 2.</summary>
    public static async Task<HaproxyChain> StartAsync(int sinkPort)
    {
        var chain = new HaproxyChain();
        var second = Scraper.FreePort();
        var first = Scraper.FreePort();
        // Hop 2 first, so that hop 1's readiness probe finds its next hop listening.
        chain._hops.Add(await chain.StartHopAsync("hop2", second, sinkPort));
        chain._hops.Insert(0, await chain.StartHopAsync("hop1", first, second));
        chain.Port = first;
        return chain;
    }

    private async Task<Hop> StartHopAsync(string name, int listen, int target)
    {
        var config = System.IO.Path.Combine(_folder, name + ".cfg");
        // No maxconn: HAProxy sizes it from the descriptor limit (20,000 here), as it does for its users by default.
        await File.WriteAllTextAsync(config, $"""
            global
                nbthread 1
            defaults
                mode tcp
                option splice-auto
                timeout connect 5s
                timeout client 60s
                timeout server 60s
            frontend {name}
                bind 127.0.0.1:{listen}
                default_backend {name}-next
            backend {name}-next
                server next 127.0.0.1:{target}

            """); // the blank line: HAProxy wants the last line ended
        var p = Process.Start(new ProcessStartInfo(Path!, ["-db", "-f", config])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("haproxy did not start");
        _ = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        // Ready once it accepts.
        for (var i = 0; i < 100; i++)
        {
            if (p.HasExited) throw new InvalidOperationException($"haproxy {name} exited with {p.ExitCode}: {await errors}");
            try
            {
                using var s = await Net.ConnectAsync(listen);
                return new Hop(p);
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(50);
            }
        }
        p.Kill();
        throw new TimeoutException($"haproxy {name} did not listen on {listen}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var hop in _hops)
        {
            try { hop.Process.Kill(); } catch (InvalidOperationException) { }
            await hop.Process.WaitForExitAsync();
            hop.Process.Dispose();
        }
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }

    private sealed class Hop(Process process) : IMeasuredProcess
    {
        public Process Process { get; } = process;
        public int Pid => Process.Id;
    }
}
