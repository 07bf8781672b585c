using System.Diagnostics;
using System.Globalization;
using TunnelLite.Bench;

// The end-to-end benchmark of issues 4 and 13: direct loopback and two references (a two-process HAProxy chain, ssh -R)
// against TunnelLite tunnels whose server and client are separate pwsh processes, per data plane and forwarding mode, the
// cases alternated round by round; medians are reported.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var o = BenchOptions.Parse(args);
var clock = Stopwatch.StartNew();
void Say(string s) => Console.Error.WriteLine($"[{clock.Elapsed:mm\\:ss}] {s}");

await using var sink = new Sink();
if (Environment.GetEnvironmentVariable("TUNNELLITE_BENCH_ONLY") == "concurrency")
{
    // Only the concurrency test, TUNNELLITE_BENCH_REPEAT times (default once), on pairs of its own: to chase a failure of it
    // without the other loads.
    var repeat = int.Parse(Environment.GetEnvironmentVariable("TUNNELLITE_BENCH_REPEAT") ?? "1", CultureInfo.InvariantCulture);
    var failures = 0;
    for (var i = 0; i < repeat; i++)
    {
        var c = await ConcurrencyTest.RunAsync(o, sink.Port, Say);
        Say($"concurrency run {i + 1}: verified {c.Verified:#,0}, failed {c.Failed}, rechecked {c.Rechecked:#,0}; " +
            string.Join(", ", c.Errors.Select(e => $"{e.Value} × {e.Key}")) +
            $"; server failed {c.ServerStats.FailedConnections}, refused {c.ServerStats.RefusedConnections}");
        if (!c.Passed) failures++;
    }
    return failures == 0 ? 0 : 1;
}
HaproxyChain? haproxy = null;
SshReverse? ssh = null;
var tunnels = new List<TunnelPath>
{
    // The event-loop plane, asked for by name (on Linux it is also what Auto picks), with one loop per core.
    new("copy", new("Copy", "EventLoops")), new("splice", new("Splice", "EventLoops")), new("auto", new("Auto", "EventLoops")),
    // Like for like with the HAProxy chain, whose hops run nbthread 1: one loop in each process.
    new("auto, 1 loop", new("Auto", "EventLoops", 1)),
    // The runtime's async sockets, the plane of other systems and of TLS.
    new("copy (async)", new("Copy", "Async")), new("auto (async)", new("Auto", "Async")),
    // Auto again, with an admin endpoint on both ends that a Prometheus-like scraper reads every second all run long.
    new("auto + /metrics 1/s", new("Auto", "EventLoops")) { AdminPorts = (Scraper.FreePort(), Scraper.FreePort()) },
    // And auto once more, unscraped: its ratio to auto is the noise of this machine, against which scraping is judged.
    new("auto (control)", new("Auto", "EventLoops")) { Control = true },
};
// TUNNELLITE_BENCH_ONLY=idle: only the idle measure, in every process as the whole bench has them (to chase what idle
// connections cost).
var idleOnly = Environment.GetEnvironmentVariable("TUNNELLITE_BENCH_ONLY") == "idle";
// What 1,000 idle connections cost a process that has only started. Connections are made first, more than the runtime's
// tiered compilation counts (30 calls) before it compiles a method again, optimised, in the background, and the bench waits
// for that: the compiler's native heap and the code it writes are not what idle connections hold (with 20 connections
// first, the client grew 8.7-10 MiB per 1,000, most of it a malloc arena of the compiler's thread and new code).
async Task MeasureIdleAsync(TunnelPath p)
{
    for (var i = 0; i < 2; i++)
    {
        foreach (var s in await LoadGenerator.OpenIdleAsync(p.Port, 100)) s.Dispose();
        await Task.Delay(1000);
    }
    await Task.WhenAll(p.Server!.SettleAsync(), p.Client!.SettleAsync());
    var (s0, c0) = (p.Server.RssBytes(), p.Client.RssBytes());
    var open = await LoadGenerator.OpenIdleAsync(p.Port, o.IdleConnections);
    await Task.Delay(1000);
    await Task.WhenAll(p.Server.SettleAsync(), p.Client.SettleAsync());
    p.IdleServerGrowth = p.Server.RssBytes() - s0;
    p.IdleClientGrowth = p.Client.RssBytes() - c0;
    p.IdleMeasured = true;
    foreach (var s in open) s.Dispose();
    Say($"idle {p.Name}: server +{p.IdleServerGrowth / 1048576.0:0.0} MiB, client +{p.IdleClientGrowth / 1048576.0:0.0} MiB per {o.IdleConnections}");
}

Say($"starting {tunnels.Count} tunnel servers and clients (pwsh, pool {o.PoolSize})");
try
{
    // A few at a time: 16 pwsh processes starting at once on 2 cores would each take the time of all.
    using (var starting = new SemaphoreSlim(4))
    {
        async Task<HostProcess> Start(Func<Task<HostProcess>> start)
        {
            await starting.WaitAsync();
            try { return await start(); }
            finally { starting.Release(); }
        }
        await Task.WhenAll(tunnels.Select(async t => t.Server = await Start(() => HostProcess.StartAsync(o, "Server", t.Settings!, adminPort: t.AdminPorts.Server))));
        await Task.WhenAll(tunnels.Select(async t => t.Client = await Start(() => HostProcess.StartAsync(o, "Client", t.Settings!, ((HostProcess)t.Server!).Port, sink.Port, t.AdminPorts.Client))));
    }
    Say("tunnels up");
    var direct = new TunnelPath("direct") { DirectPort = sink.Port };
    // The references, where installed; without them their rows are absent and the report says why.
    var references = new List<string>();
    haproxy = HaproxyChain.Path is null ? null : await HaproxyChain.StartAsync(sink.Port);
    references.Add(haproxy is null
        ? "no HAProxy row: haproxy is not installed (build.ps1 Bench installs it where it may)"
        : "HAProxy ×2: two haproxy processes, one per hop, nbthread 1, option splice-auto");
    var anchor = haproxy is null ? null : new TunnelPath("HAProxy ×2") { DirectPort = haproxy.Port, Server = haproxy.First, Client = haproxy.Second };
    TunnelPath? sshPath = null;
    if (SshReverse.Unavailable is { } why) references.Add($"no ssh -R row: {why}");
    else
    {
        try
        {
            ssh = await SshReverse.StartAsync(sink.Port);
            sshPath = new TunnelPath("ssh -R") { DirectPort = ssh.Port, Server = ssh.Server, Client = ssh.Client };
            references.Add($"ssh -R: {ssh.Version}, an sshd of the bench's own on 127.0.0.1 (its CPU and RSS: the listener and the session's processes) and ssh -N -R to it");
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or System.ComponentModel.Win32Exception)
        {
            references.Add($"no ssh -R row: it did not start ({e.Message})");
        }
    }
    foreach (var r in references) Say(r);
    var all = new[] { direct, anchor, sshPath }.OfType<TunnelPath>().Concat(tunnels).ToArray();
    await using var scraper = new Scraper(tunnels.Single(t => t.Scraped).AdminPorts.Server, tunnels.Single(t => t.Scraped).AdminPorts.Client);

    if (Environment.GetEnvironmentVariable("TUNNELLITE_BENCH_PROFILE") is { } seconds)
    {
        // For profiling (perf record -p PID): only one load through one path (auto unless TUNNELLITE_BENCH_PROFILE_PATH
        // names another, e.g. "auto, 1 loop"), for a while: new connections, or request/reply when
        // TUNNELLITE_BENCH_PROFILE_LOAD is "rr", bulk transfers of 1 GiB when it is "bulk" (each path, direct and HAProxy
        // included, is measured the same way first, for comparison).
        var name = Environment.GetEnvironmentVariable("TUNNELLITE_BENCH_PROFILE_PATH") ?? "auto";
        var t = all.Single(p => p.Name == name);
        Say($"profiling {t.Name}: server PID {t.Server?.Pid}, client PID {t.Client?.Pid}");
        var length = TimeSpan.FromSeconds(double.Parse(seconds, CultureInfo.InvariantCulture));
        if (Environment.GetEnvironmentVariable("TUNNELLITE_BENCH_PROFILE_LOAD") == "bulk")
        {
            foreach (var p in all.Where(p => !p.IsTwin))
            {
                var (s0, c0) = (p.Server?.CpuSeconds() ?? 0, p.Client?.CpuSeconds() ?? 0);
                var secs = await LoadGenerator.BulkAsync(p.Port, 1L << 30);
                Say($"bulk {p.Name}: {(1L << 30) / 1e6 / secs:0} MB/s, server {((p.Server?.CpuSeconds() ?? 0) - s0) / 1.073741824:0.00} s/GB, client {((p.Client?.CpuSeconds() ?? 0) - c0) / 1.073741824:0.00} s/GB");
            }
            Say($"profiling {t.Name}");
            var clock2 = Stopwatch.StartNew();
            long moved = 0;
            while (clock2.Elapsed < length)
            {
                await LoadGenerator.BulkAsync(t.Port, 1L << 30);
                moved += 1L << 30;
            }
            Say($"{moved / 1e6 / clock2.Elapsed.TotalSeconds:0} MB/s");
        }
        else if (Environment.GetEnvironmentVariable("TUNNELLITE_BENCH_PROFILE_LOAD") == "rr")
            Say($"{(await LoadGenerator.RequestReplyAsync(t.Port, 50, length)).Rate:0} req/s");
        else
            Say($"{(await LoadGenerator.ConnectionsAsync(t.Port, 16, length)).Rate:0} conn/s");
        return 0;
    }

    // First, before the heavy loads grow the heaps.
    foreach (var p in all.Where(p => p.Server is not null && !p.IsTwin)) await MeasureIdleAsync(p);
    if (idleOnly) return 0;
    Say("warming up");
    foreach (var p in all)
    {
        await LoadGenerator.BulkAsync(p.Port, 64L << 20);
        await LoadGenerator.ConnectionsAsync(p.Port, 4, TimeSpan.FromMilliseconds(300));
        await LoadGenerator.RequestReplyAsync(p.Port, 10, TimeSpan.FromMilliseconds(300));
    }

    // Bulk: alternate the cases within each round, rotating the order, so that drift on a shared machine hits all alike.
    for (var r = 0; r < o.BulkRounds; r++)
    {
        foreach (var p in Rotate(all, r))
        {
            var (s0, c0) = (p.Server?.CpuSeconds() ?? 0, p.Client?.CpuSeconds() ?? 0);
            var secs = await LoadGenerator.BulkAsync(p.Port, o.BulkBytes);
            p.BulkMBps.Add(o.BulkBytes / 1e6 / secs);
            p.ServerCpu += (p.Server?.CpuSeconds() ?? 0) - s0;
            p.ClientCpu += (p.Client?.CpuSeconds() ?? 0) - c0;
            p.BulkBytes += o.BulkBytes;
        }
        Say($"bulk round {r + 1}: " + string.Join(", ", all.Select(p => $"{p.Name} {p.BulkMBps[^1]:0} MB/s")));
    }

    for (var r = 0; r < o.Rounds; r++)
    {
        foreach (var p in Rotate(all, r))
        {
            var cpu0 = (p.Server?.CpuSeconds() ?? 0) + (p.Client?.CpuSeconds() ?? 0);
            var run = await LoadGenerator.ConnectionsAsync(p.Port, 16, o.RunTime);
            p.Connections.Add(run);
            p.ConnectionCpu += (p.Server?.CpuSeconds() ?? 0) + (p.Client?.CpuSeconds() ?? 0) - cpu0;
        }
        Say($"connections round {r + 1}: " + string.Join(", ", all.Select(p => $"{p.Name} {p.Connections[^1].Rate:0}/s")));
    }

    for (var r = 0; r < o.RequestReplyRounds; r++)
    {
        foreach (var p in Rotate(all, r)) p.RequestReply.Add(await LoadGenerator.RequestReplyAsync(p.Port, 50, o.RequestReplyTime));
        Say($"request/reply round {r + 1}: " + string.Join(", ", all.Select(p => $"{p.Name} {p.RequestReply[^1].Rate:0}/s")));
    }

    await Task.Delay(1000);
    foreach (var t in tunnels)
    {
        t.ServerStats = await ((HostProcess)t.Server!).StatsAsync();
        t.ClientStats = await ((HostProcess)t.Client!).StatsAsync();
    }

    // Last, on a pair of its own: the other loads are done and their processes idle.
    Say($"concurrency: {ConcurrencyTest.Target:#,0} connections through one tunnel (event loops, auto), {ConcurrencyTest.Batch} at a time");
    var concurrency = await ConcurrencyTest.RunAsync(o, sink.Port, Say);

    var md = BenchReport.Write(new BenchRun(o, all, direct, anchor, sshPath, references, concurrency, clock.Elapsed, scraper));
    Console.WriteLine(md);
    if (o.OutFile is not null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(o.OutFile))!);
        File.WriteAllText(o.OutFile, md);
        Say($"wrote {o.OutFile}");
        // The chart: direct, the references and each TunnelLite plane and mode (the scraped and control twins would only
        // repeat auto).
        var charted = all.Where(p => !p.IsTwin).ToList();
        var svg = SvgChart.Draw($"TunnelLite end to end, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}",
        [
            ("Bulk, one connection", "MB/s", charted.Select(p => (p.Name, Stat.Median(p.BulkMBps))).ToList()),
            ("New connections", "per second", charted.Select(p => (p.Name, Stat.Median(p.Connections.Select(c => c.Rate)))).ToList()),
            ("Request/reply, 50 keep-alive connections", "per second", charted.Select(p => (p.Name, Stat.Median(p.RequestReply.Select(c => c.Rate)))).ToList()),
        ]);
        var svgFile = Path.ChangeExtension(o.OutFile, ".svg");
        File.WriteAllText(svgFile, svg);
        Say($"wrote {svgFile}");
    }
    return 0;
}
finally
{
    await Task.WhenAll(tunnels.SelectMany(t => new[] { t.Client, t.Server }).OfType<HostProcess>().Select(h => h.DisposeAsync().AsTask()));
    if (haproxy is not null) await haproxy.DisposeAsync();
    if (ssh is not null) await ssh.DisposeAsync();
}

static IEnumerable<T> Rotate<T>(IReadOnlyList<T> items, int by) => items.Skip(by % items.Count).Concat(items.Take(by % items.Count));

