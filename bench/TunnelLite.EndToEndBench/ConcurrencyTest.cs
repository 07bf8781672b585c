namespace TunnelLite.Bench;

/// <summary>Issue 13's concurrency figure: as many tunneled connections open at once as the descriptor limit allows (9,000
/// through one tunnel under a hard limit of 20,000 per process), each checked byte for byte when it opens and once more when
/// all are open, with the descriptors and RSS of both tunnel processes counted at the peak.</summary>
internal static class ConcurrencyTest
{
    /// <summary>The figure of the issue: 9,000 connections hold 18,000 descriptors in each tunnel process and here.</summary>
    public const int Target = 9000;

    /// <summary>Connections opened (and checked) at once.</summary>
    public const int Batch = 256;

    /// <summary>Descriptors kept free in each process for what is not a connection of the test (assemblies, epoll and
    /// event fds, listeners, the server's reserve for logins, which it keeps out of tunnels' reach).</summary>
    private const int Headroom = 1024;

    private static readonly TimeSpan ExchangeTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Starts a server and client of their own (event loops, auto, the default loops) whose server allows more than
    /// <see cref="Target"/> connections per tunnel and waiting users (transport.maxConnectionsPerTunnel and
    /// maxPendingUserConnections, 4,096 and 1,024 by default), runs the test through them and stops them.</summary>
    public static async Task<ConcurrencyResult> RunAsync(BenchOptions o, int sinkPort, Action<string> say)
    {
        var settings = new EndSettings("Auto", "EventLoops");
        await using var server = await HostProcess.StartAsync(o, "Server", settings, connectionLimit: 10_000);
        await using var client = await HostProcess.StartAsync(o, "Client", settings, server.Port, sinkPort);

        // Each connection holds two descriptors in each process: the user's and the data connection's in the server, the
        // data connection's and the service's in the client, and here the user's and the sink's (the sink runs in this
        // process). .NET raised each process's soft limit to its hard limit at start; what is left bounds the count.
        var tightest = new (int Pid, string Who)[] { (Environment.ProcessId, "this bench"), (server.Pid, "the server"), (client.Pid, "the client") }
            .Select(e => (e.Who, Limit: ProcStat.DescriptorLimit(e.Pid), Room: (ProcStat.DescriptorLimit(e.Pid) - ProcStat.OpenDescriptors(e.Pid) - Headroom) / 2))
            .MinBy(e => e.Room);
        var count = (int)Math.Min(Target, tightest.Room);
        var note = count < Target ? $"{tightest.Who}'s descriptor limit ({tightest.Limit:#,0}) leaves room for {count:#,0}" : null;

        // A few connections first, so that the code paths are compiled and the loops' pools exist before the baseline.
        foreach (var s in await LoadGenerator.OpenIdleAsync(client.Port, 20)) s.Dispose();
        await Task.Delay(500);
        await Task.WhenAll(server.SettleAsync(), client.SettleAsync());
        var fd0 = (Server: ProcStat.OpenDescriptors(server.Pid), Client: ProcStat.OpenDescriptors(client.Pid));
        var rss0 = (Server: server.RssBytes(), Client: client.RssBytes());

        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var open = await LoadGenerator.OpenCheckedAsync(client.Port, count, Batch, ExchangeTimeout);
        var openSeconds = clock.Elapsed.TotalSeconds;
        say($"concurrency: {open.Verified:#,0} of {count:#,0} open and checked in {openSeconds:0.0} s, {open.Failed} failed");
        await Task.Delay(1000);
        await Task.WhenAll(server.SettleAsync(), client.SettleAsync());
        var fd1 = (Server: ProcStat.OpenDescriptors(server.Pid), Client: ProcStat.OpenDescriptors(client.Pid));
        var rss1 = (Server: server.RssBytes(), Client: client.RssBytes());
        var rechecked = await LoadGenerator.RecheckAsync(open, Batch, ExchangeTimeout);
        say($"concurrency: {rechecked:#,0} of {open.Verified:#,0} still carry their own bytes; descriptors server {fd1.Server:#,0}, client {fd1.Client:#,0}");

        open.Dispose();
        // Closed from here: the ends must let go of every descriptor (a leak shows as a count above the baseline).
        await Task.Delay(2000);
        var fd2 = (Server: ProcStat.OpenDescriptors(server.Pid), Client: ProcStat.OpenDescriptors(client.Pid));
        // After the close, so that the connections count as copied or spliced (the ends count them as they end).
        var stats = (Server: await server.StatsAsync(), Client: await client.StatsAsync());
        double PerThousand(long grown) => open.Verified == 0 ? double.NaN : grown / 1048576.0 * 1000 / open.Verified;
        return new ConcurrencyResult(count, open.Opened, open.Verified, open.Failed, rechecked, open.Errors, open.RecheckErrors, openSeconds,
            fd0, fd1, fd2, PerThousand(rss1.Server - rss0.Server), PerThousand(rss1.Client - rss0.Client), note, stats.Server, stats.Client);
    }
}

/// <summary>What <see cref="ConcurrencyTest"/> found.</summary>
/// <param name="Count">Connections tried (the target, or fewer where a descriptor limit is lower: see <paramref name="Note"/>).</param>
/// <param name="Opened">Connections that connected.</param>
/// <param name="Verified">Connections whose first echo came back byte for byte; they stayed open.</param>
/// <param name="Failed">Connections that did not connect or whose echo failed.</param>
/// <param name="Rechecked">Verified connections whose second echo, with all open, came back byte for byte too.</param>
/// <param name="Errors">Failures of the first exchange by reason.</param>
/// <param name="RecheckErrors">Failures of the second exchange by reason.</param>
/// <param name="OpenSeconds">How long opening and checking all took.</param>
/// <param name="Baseline">Descriptors of the server and client before the test.</param>
/// <param name="Peak">Descriptors with all connections open.</param>
/// <param name="AfterClose">Descriptors 2 s after all were closed.</param>
/// <param name="ServerMiBPer1000">RSS growth of the server per 1,000 open connections.</param>
/// <param name="ClientMiBPer1000">RSS growth of the client per 1,000 open connections.</param>
/// <param name="Note">Why fewer than the target were tried; null when all were.</param>
/// <param name="ServerStats">The server's Get-TunnelStats once all were closed.</param>
/// <param name="ClientStats">The client's Get-TunnelStats once all were closed.</param>
internal sealed record ConcurrencyResult(
    int Count, int Opened, int Verified, int Failed, int Rechecked, IReadOnlyDictionary<string, int> Errors, IReadOnlyDictionary<string, int> RecheckErrors,
    double OpenSeconds, (int Server, int Client) Baseline, (int Server, int Client) Peak, (int Server, int Client) AfterClose,
    double ServerMiBPer1000, double ClientMiBPer1000, string? Note, HostStats ServerStats, HostStats ClientStats)
{
    /// <summary>Every connection tried connected, came back right twice, and the target count was tried.</summary>
    public bool Passed => Count == ConcurrencyTest.Target && Verified == Count && Rechecked == Count;
}
