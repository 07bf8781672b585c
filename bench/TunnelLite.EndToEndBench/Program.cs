using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using TunnelLite.Bench;

// The end-to-end benchmark of issue 4: direct loopback against TunnelLite tunnels whose server and client are separate pwsh
// processes, in copy, splice and auto mode, the cases alternated round by round; medians are reported.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var o = BenchOptions.Parse(args);
var clock = Stopwatch.StartNew();
void Say(string s) => Console.Error.WriteLine($"[{clock.Elapsed:mm\\:ss}] {s}");

await using var sink = new Sink();
HaproxyChain? haproxy = null;
var tunnels = new List<TunnelPath>
{
    new("copy", "Copy", false), new("splice", "Splice", false), new("auto", "Auto", false),
    new("copy + inline", "Copy", true), new("auto + inline", "Auto", true),
    // Auto again, with an admin endpoint on both ends that a Prometheus-like scraper reads every second all run long.
    new("auto + /metrics 1/s", "Auto", false) { AdminPorts = (Scraper.FreePort(), Scraper.FreePort()) },
    // And auto once more, unscraped: its ratio to auto is the noise of this machine, against which scraping is judged.
    new("auto (control)", "Auto", false) { Control = true },
};
Say($"starting {tunnels.Count} tunnel servers and clients (pwsh, pool {o.PoolSize})");
try
{
    await Task.WhenAll(tunnels.Select(async t => t.Server = await HostProcess.StartAsync(o, "Server", t.Mode, t.Inline, adminPort: t.AdminPorts.Server)));
    await Task.WhenAll(tunnels.Select(async t => t.Client = await HostProcess.StartAsync(o, "Client", t.Mode, t.Inline, ((HostProcess)t.Server!).Port, sink.Port, t.AdminPorts.Client)));
    var direct = new TunnelPath("direct", "-", false) { DirectPort = sink.Port };
    // The anchor: a two-process HAProxy chain, where haproxy is installed.
    haproxy = HaproxyChain.Path is null ? null : await HaproxyChain.StartAsync(sink.Port);
    if (haproxy is null) Say("haproxy is not installed: no HAProxy row (build.ps1 Bench installs it where it can)");
    var anchor = haproxy is null ? null : new TunnelPath("HAProxy ×2", "-", false) { DirectPort = haproxy.Port, Server = haproxy.First, Client = haproxy.Second };
    var scraped = tunnels.Single(t => t.AdminPorts.Server != 0);
    var control = tunnels.Single(t => t.Control);
    var main = new[] { direct, anchor, tunnels[0], tunnels[1], tunnels[2], scraped, control }.OfType<TunnelPath>().ToArray();
    var all = main.Concat(tunnels.Skip(3).Where(t => t != scraped && t != control)).ToArray();
    await using var scraper = new Scraper(scraped.AdminPorts.Server, scraped.AdminPorts.Client);

    if (Environment.GetEnvironmentVariable("TUNNELLITE_BENCH_PROFILE") is { } seconds)
    {
        // For profiling (perf record -p PID): only the new-connection load through the auto tunnel, for a while.
        var t = tunnels[Environment.GetEnvironmentVariable("TUNNELLITE_BENCH_PROFILE_INLINE") == "1" ? 4 : 2];
        Say($"profiling: server PID {t.Server!.Pid}, client PID {t.Client!.Pid}");
        var run = await LoadGenerator.ConnectionsAsync(t.Port, 16, TimeSpan.FromSeconds(double.Parse(seconds, CultureInfo.InvariantCulture)));
        Say($"{run.Rate:0} conn/s");
        return 0;
    }

    foreach (var p in main.Skip(1).Where(p => p != scraped && p != control))
    {
        // First, before the heavy loads grow the heaps: what 1,000 idle connections cost a process that has only started
        // (with a few connections made, so that the code paths are compiled and not counted as growth).
        foreach (var s in await LoadGenerator.OpenIdleAsync(p.Port, 20)) s.Dispose();
        await Task.Delay(500);
        var (s0, c0) = (p.Server!.RssBytes(), p.Client!.RssBytes());
        var open = await LoadGenerator.OpenIdleAsync(p.Port, o.IdleConnections);
        await Task.Delay(1000);
        p.IdleServerGrowth = p.Server.RssBytes() - s0;
        p.IdleClientGrowth = p.Client.RssBytes() - c0;
        foreach (var s in open) s.Dispose();
        Say($"idle {p.Name}: server +{p.IdleServerGrowth / 1048576.0:0.0} MiB, client +{p.IdleClientGrowth / 1048576.0:0.0} MiB per {o.IdleConnections}");
    }
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
        foreach (var p in Rotate(main, r))
        {
            var (s0, c0) = (p.Server?.CpuSeconds() ?? 0, p.Client?.CpuSeconds() ?? 0);
            var secs = await LoadGenerator.BulkAsync(p.Port, o.BulkBytes);
            p.BulkMBps.Add(o.BulkBytes / 1e6 / secs);
            p.ServerCpu += (p.Server?.CpuSeconds() ?? 0) - s0;
            p.ClientCpu += (p.Client?.CpuSeconds() ?? 0) - c0;
            p.BulkBytes += o.BulkBytes;
        }
        Say($"bulk round {r + 1}: " + string.Join(", ", main.Select(p => $"{p.Name} {p.BulkMBps[^1]:0} MB/s")));
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

    var md = Report(o, direct, anchor, main, all, tunnels, clock.Elapsed, scraper);
    Console.WriteLine(md);
    if (o.OutFile is not null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(o.OutFile))!);
        File.WriteAllText(o.OutFile, md);
        Say($"wrote {o.OutFile}");
        // The chart: direct, the anchor and each TunnelLite mode (the scraped and control twins would only repeat auto).
        var charted = all.Where(p => p.AdminPorts.Server == 0 && !p.Control).ToList();
        var svg = SvgChart.Draw($"TunnelLite end to end, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}",
        [
            ("Bulk, one connection", "MB/s", charted.Where(p => main.Contains(p)).Select(p => (p.Name, Stat.Median(p.BulkMBps))).ToList()),
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
}

static IEnumerable<T> Rotate<T>(IReadOnlyList<T> items, int by) => items.Skip(by % items.Count).Concat(items.Take(by % items.Count));

static string Report(BenchOptions o, TunnelPath direct, TunnelPath? anchor, TunnelPath[] main, TunnelPath[] all, List<TunnelPath> tunnels, TimeSpan took, Scraper scraper)
{
    var sb = new StringBuilder();
    string F(double v, string fmt = "0") => double.IsNaN(v) ? "-" : v.ToString(fmt, CultureInfo.InvariantCulture);
    double RatioMedian(TunnelPath p, Func<TunnelPath, IReadOnlyList<double>> series) =>
        Stat.Median(series(p).Zip(series(direct), (a, b) => a / b));
    // Against the HAProxy chain, per round as against direct; "-" without haproxy.
    string VsAnchor(TunnelPath p, Func<TunnelPath, IReadOnlyList<double>> series) =>
        anchor is null || p.Server is null ? "-" : F(Stat.Median(series(p).Zip(series(anchor), (a, b) => a / b)), "0.00");
    IReadOnlyList<double> BulkRates(TunnelPath x) => x.BulkMBps;
    IReadOnlyList<double> ConnRates(TunnelPath x) => x.Connections.Select(c => c.Rate).ToList();
    IReadOnlyList<double> RrRates(TunnelPath x) => x.RequestReply.Select(c => c.Rate).ToList();

    sb.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, Linux {Environment.OSVersion.Version}, " +
                  $"{RuntimeInformation.FrameworkDescription}; tunnel ends in separate pwsh processes, pool {o.PoolSize}; run took {took:m\\:ss}" + (o.Quick ? " (quick)" : "") + ".");
    sb.AppendLine();
    sb.AppendLine($"**Bulk**: one connection downloads {o.BulkBytes >> 20} MiB from the sink; {o.BulkRounds} rounds, cases alternated; median MB/s, median of the per-round ratios to direct; CPU of each tunnel process per GB moved.");
    sb.AppendLine();
    sb.AppendLine("| Path | MB/s | × direct | × HAProxy | server CPU s/GB | client CPU s/GB | tunnel CPU s/GB |");
    sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
    foreach (var p in main)
    {
        var gb = p.BulkBytes / 1e9;
        sb.AppendLine(p.Server is null
            ? $"| {p.Name} | {F(Stat.Median(p.BulkMBps))} | 1.00 | - | - | - | - |"
            : $"| {p.Name} | {F(Stat.Median(p.BulkMBps))} | {F(RatioMedian(p, x => x.BulkMBps), "0.00")} | {VsAnchor(p, BulkRates)} | {F(p.ServerCpu / gb, "0.00")} | {F(p.ClientCpu / gb, "0.00")} | {F((p.ServerCpu + p.ClientCpu) / gb, "0.00")} |");
    }
    sb.AppendLine();
    sb.AppendLine($"**New connections**: 16 loops, each connection sends a {Sink.RequestSize} B request, reads a {Sink.ReplySize} B reply, and ends; {o.Rounds} rounds of {o.RunTime.TotalSeconds:0} s; latency from connect to reply; CPU (user + system) of both tunnel processes per connection.");
    sb.AppendLine();
    sb.AppendLine("| Path | conn/s | × direct | × HAProxy | p50 ms | p99 ms | failed | tunnel CPU ms/conn |");
    sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var p in all)
    {
        var lat = p.Connections.SelectMany(c => c.LatenciesMs).ToArray();
        sb.AppendLine($"| {p.Name} | {F(Stat.Median(p.Connections.Select(c => c.Rate)))} | {F(RatioMedian(p, x => x.Connections.Select(c => c.Rate).ToList()), "0.00")} | {VsAnchor(p, ConnRates)} | {F(Stat.Percentile(lat, 50), "0.00")} | {F(Stat.Percentile(lat, 99), "0.00")} | {p.Connections.Sum(c => c.Failures)} | {(p.Server is null ? "-" : F(p.ConnectionCpu * 1000 / p.Connections.Sum(c => c.Count), "0.000"))} |");
    }
    sb.AppendLine();
    sb.AppendLine($"**Request/reply**: 50 keep-alive connections, each sending a {Sink.RequestSize} B request and waiting for its {Sink.ReplySize} B reply (a key-value GET); {o.RequestReplyRounds} rounds of {o.RequestReplyTime.TotalSeconds:0.#} s, cases alternated; median req/s, median of the per-round ratios. \"+ inline\": both tunnel processes run with DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1.");
    sb.AppendLine();
    sb.AppendLine("| Path | req/s | × direct | × HAProxy | × copy | p50 ms | p99 ms |");
    sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
    var copyPath = all.Single(p => p.Name == "copy");
    foreach (var p in all)
    {
        var lat = p.RequestReply.SelectMany(c => c.LatenciesMs).ToArray();
        var vsCopy = p.Server is null || p == anchor ? "-" : F(Stat.Median(p.RequestReply.Zip(copyPath.RequestReply, (a, b) => a.Rate / b.Rate)), "0.00");
        sb.AppendLine($"| {p.Name} | {F(Stat.Median(p.RequestReply.Select(c => c.Rate)))} | {F(RatioMedian(p, x => x.RequestReply.Select(c => c.Rate).ToList()), "0.00")} | {VsAnchor(p, RrRates)} | {vsCopy} | {F(Stat.Percentile(lat, 50), "0.000")} | {F(Stat.Percentile(lat, 99), "0.000")} |");
    }
    sb.AppendLine();
    sb.AppendLine($"**Idle connections**: RSS growth of each tunnel process with {o.IdleConnections} idle tunneled connections open (each did one exchange), measured on freshly started processes before the other loads.");
    sb.AppendLine();
    sb.AppendLine("| Mode | server MiB | client MiB |");
    sb.AppendLine("|---|---:|---:|");
    foreach (var p in main.Skip(1).Where(p => p.AdminPorts.Server == 0 && !p.Control))
        sb.AppendLine($"| {p.Name} | {F(p.IdleServerGrowth / 1048576.0, "0.0")} | {F(p.IdleClientGrowth / 1048576.0, "0.0")} |");
    sb.AppendLine();
    sb.AppendLine("**Forwarding as counted by Get-TunnelStats** (server / client), over the whole run:");
    sb.AppendLine();
    sb.AppendLine("| Path | server | client |");
    sb.AppendLine("|---|---|---|");
    foreach (var t in tunnels) sb.AppendLine($"| {t.Name} | `{t.ServerStats}` | `{t.ClientStats}` |");
    sb.AppendLine();

    var splice = main.Single(p => p.Name == "splice");
    var copy = main.Single(p => p.Name == "copy");
    var auto = main.Single(p => p.Name == "auto");
    double CpuPerGb(TunnelPath p) => (p.ServerCpu + p.ClientCpu) / (p.BulkBytes / 1e9);
    // Within one round the cases ran back to back, so the per-round ratio cancels most of the machine's drift.
    double Rr(TunnelPath p) => Stat.Median(p.RequestReply.Zip(copy.RequestReply, (a, b) => a.Rate / b.Rate));
    string Mark(bool ok) => ok ? "met" : "**missed**";
    var bulkRatio = RatioMedian(splice, x => x.BulkMBps);
    var autoBulkRatio = RatioMedian(auto, x => x.BulkMBps);
    var cpuCut = 1 - CpuPerGb(splice) / CpuPerGb(copy);
    var autoCpuCut = 1 - CpuPerGb(auto) / CpuPerGb(copy);
    var connRate = Stat.Median(auto.Connections.Select(c => c.Rate));
    var worstIdle = main.Skip(1).Max(p => p.IdleServerGrowth) / 1048576.0;
    var scrapedPath = all.Single(p => p.AdminPorts.Server != 0);
    var controlPath = all.Single(p => p.Control);
    // Per-round ratios to auto: the cases of one round ran back to back, so each ratio cancels most of the drift.
    IReadOnlyList<double> VsAuto(TunnelPath path, Func<TunnelPath, IReadOnlyList<double>> series) => series(path).Zip(series(auto), (a, b) => a / b).ToList();
    (string Name, Func<TunnelPath, IReadOnlyList<double>> Series)[] loads =
    [
        ("bulk", p => p.BulkMBps), ("new connections", p => p.Connections.Select(c => c.Rate).ToList()),
        ("request/reply", p => p.RequestReply.Select(c => c.Rate).ToList()),
    ];
    string Spread(IReadOnlyList<double> r) => $"{F(Stat.Median(r), "0.00")} ({F(r.Min(), "0.00")}–{F(r.Max(), "0.00")})";
    sb.AppendLine($"**Scraping**: \"auto + /metrics 1/s\" is the auto path with an admin endpoint on both ends, each read every second for the whole run ({scraper.Scrapes} scrapes, {scraper.Failures} failed, median {F(scraper.MedianMs, "0.0")} ms, {scraper.AverageBytes} B each); \"auto (control)\" is the same auto path once more, unscraped, so its ratio to auto is this machine's noise. Median of the per-round ratios to auto (range over the rounds).");
    sb.AppendLine();
    sb.AppendLine("| Load | scraped × auto | control × auto |");
    sb.AppendLine("|---|---:|---:|");
    var scrapeWithinNoise = scraper.Failures == 0 && scraper.Scrapes > 0;
    foreach (var (name, series) in loads)
    {
        var s = VsAuto(scrapedPath, series);
        var c = VsAuto(controlPath, series);
        // Within noise: no worse than the control's worst round, the spread two identical paths show on this machine.
        scrapeWithinNoise &= Stat.Median(s) >= Math.Min(c.Min(), 0.97);
        sb.AppendLine($"| {name} | {Spread(s)} | {Spread(c)} |");
    }
    sb.AppendLine();
    sb.AppendLine("| Target | Measured | |");
    sb.AppendLine("|---|---:|---|");
    sb.AppendLine($"| bulk ≥ 0.45 × direct (splice / auto) | {F(bulkRatio, "0.00")} / {F(autoBulkRatio, "0.00")} | {Mark(bulkRatio >= 0.45)} / {Mark(autoBulkRatio >= 0.45)} |");
    sb.AppendLine($"| CPU/GB ≥ 30 % below copy (splice / auto) | {F(cpuCut * 100, "0")} % / {F(autoCpuCut * 100, "0")} % | {Mark(cpuCut >= 0.30)} / {Mark(autoCpuCut >= 0.30)} |");
    sb.AppendLine($"| small request/reply not slower than copy, with splice-auto (auto, the default) | {F(Rr(auto), "0.00")} × copy | {Mark(Rr(auto) >= 0.97)} (3 % noise allowed) |");
    sb.AppendLine($"| (for reference: splice forced on every message) | {F(Rr(splice), "0.00")} × copy | {(Rr(splice) >= 0.97 ? "not slower" : "slower: two splices and a pipe cost more than a recv and a send for 32 bytes")} |");
    sb.AppendLine($"| ≥ 5,000 new connections/s (auto) | {F(connRate)} | {Mark(connRate >= 5000)} |");
    sb.AppendLine($"| ≤ 16 MiB server RSS per 1,000 idle (worst mode) | {F(worstIdle, "0.0")} | {Mark(worstIdle <= 16)} |");
    if (anchor is not null)
    {
        // Issue 13's targets against the HAProxy chain (the data plane that owns its event loops is to meet them).
        double Vs(Func<TunnelPath, IReadOnlyList<double>> series) => Stat.Median(series(auto).Zip(series(anchor), (a, b) => a / b));
        var rrLat = auto.RequestReply.SelectMany(c => c.LatenciesMs).ToArray();
        var anchorLat = anchor.RequestReply.SelectMany(c => c.LatenciesMs).ToArray();
        var p99Ratio = Stat.Percentile(rrLat, 99) / Stat.Percentile(anchorLat, 99);
        double CpuPerConn(TunnelPath p) => p.ConnectionCpu / p.Connections.Sum(c => c.Count);
        sb.AppendLine($"| request/reply ≥ 1.0 × HAProxy (auto) | {F(Vs(RrRates), "0.00")} | {Mark(Vs(RrRates) >= 1.0)} |");
        sb.AppendLine($"| request/reply p99 ≤ 1.1 × HAProxy's (auto) | {F(p99Ratio, "0.00")} | {Mark(p99Ratio <= 1.1)} |");
        sb.AppendLine($"| new connections ≥ 1.0 × HAProxy (auto) | {F(Vs(ConnRates), "0.00")} | {Mark(Vs(ConnRates) >= 1.0)} |");
        sb.AppendLine($"| tunnel CPU per connection ≤ HAProxy's (auto) | {F(CpuPerConn(auto) * 1e6, "0")} µs vs {F(CpuPerConn(anchor) * 1e6, "0")} µs | {Mark(CpuPerConn(auto) <= CpuPerConn(anchor))} |");
        sb.AppendLine($"| bulk ≥ 2 × HAProxy (auto) | {F(Vs(BulkRates), "0.00")} | {Mark(Vs(BulkRates) >= 2.0)} |");
    }
    sb.AppendLine($"| /metrics scraped every second: within noise of no scraping (each load's median ≥ the control's worst round, or ≥ 0.97) | see Scraping | {Mark(scrapeWithinNoise)} |");
    return sb.ToString();
}

/// <summary>One way to the sink: direct, or through a tunnel in one mode.</summary>
internal sealed class TunnelPath(string name, string mode, bool inline)
{
    public string Name { get; } = name;
    public string Mode { get; } = mode;
    public bool Inline { get; } = inline;
    /// <summary>The process users reach first (a tunnel's server, HAProxy's first hop), and the one next to the sink.</summary>
    public IMeasuredProcess? Server { get; set; }
    public IMeasuredProcess? Client { get; set; }
    /// <summary>Where users connect when it is not a tunnel client's public port (direct, HAProxy).</summary>
    public int DirectPort { get; init; }
    public int Port => DirectPort != 0 ? DirectPort : ((HostProcess)Client!).Port;
    public List<double> BulkMBps { get; } = new();
    public double ServerCpu { get; set; }
    public double ClientCpu { get; set; }
    public long BulkBytes { get; set; }
    public List<RunResult> Connections { get; } = new();
    public double ConnectionCpu { get; set; }
    public List<RunResult> RequestReply { get; } = new();
    public long IdleServerGrowth { get; set; }
    public long IdleClientGrowth { get; set; }
    public string? ServerStats { get; set; }
    public string? ClientStats { get; set; }
    /// <summary>The unscraped twin of auto, whose ratio to auto measures the noise.</summary>
    public bool Control { get; init; }
    /// <summary>Admin endpoint ports of the server and client (0: none).</summary>
    public (int Server, int Client) AdminPorts { get; init; }
}
