using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace TunnelLite.Bench;

/// <summary>Everything one bench run measured, for <see cref="BenchReport"/>.</summary>
/// <param name="Options">The command line.</param>
/// <param name="All">Every path, in the order of the tables: direct, the references, the TunnelLite paths.</param>
/// <param name="Direct">The sink without anything between.</param>
/// <param name="Anchor">The HAProxy chain; null where haproxy is not installed.</param>
/// <param name="Ssh">ssh -R; null where OpenSSH is not installed or did not start.</param>
/// <param name="References">One line per reference: what it is, or why its row is absent.</param>
/// <param name="Concurrency">The concurrent-connections test.</param>
/// <param name="Took">The run's time so far.</param>
/// <param name="Scraper">The /metrics scraper of the scraped twin.</param>
internal sealed record BenchRun(
    BenchOptions Options, TunnelPath[] All, TunnelPath Direct, TunnelPath? Anchor, TunnelPath? Ssh, IReadOnlyList<string> References,
    ConcurrencyResult Concurrency, TimeSpan Took, Scraper Scraper);

/// <summary>The markdown of a run: the tables per load, forwarding as Get-TunnelStats counted it, and the targets with
/// "met" or "**missed**".</summary>
internal static class BenchReport
{
    private static string F(double v, string fmt = "0") => double.IsNaN(v) || double.IsInfinity(v) ? "-" : v.ToString(fmt, CultureInfo.InvariantCulture);

    private static string N(long v) => v.ToString("#,0", CultureInfo.InvariantCulture);

    private static string Mark(bool ok) => ok ? "met" : "**missed**";

    private static IReadOnlyList<double> BulkRates(TunnelPath x) => x.BulkMBps;

    private static IReadOnlyList<double> ConnRates(TunnelPath x) => x.Connections.Select(c => c.Rate).ToList();

    private static IReadOnlyList<double> RrRates(TunnelPath x) => x.RequestReply.Select(c => c.Rate).ToList();

    /// <summary>The median of the per-round ratios of <paramref name="p"/> to <paramref name="to"/>: within one round the
    /// cases ran back to back, so each ratio cancels most of the machine's drift.</summary>
    private static double Ratio(TunnelPath p, TunnelPath to, Func<TunnelPath, IReadOnlyList<double>> series) =>
        Stat.Median(series(p).Zip(series(to), (a, b) => a / b));

    private static double CpuPerGb(TunnelPath p) => (p.ServerCpu + p.ClientCpu) / (p.BulkBytes / 1e9);

    private static double CpuPerConnection(TunnelPath p) => p.ConnectionCpu / p.Connections.Sum(c => c.Count);

    private static double P99(IEnumerable<RunResult> runs) => Stat.Percentile(runs.SelectMany(c => c.LatenciesMs), 99);

    /// <summary>The report of <paramref name="run"/>.</summary>
    public static string Write(BenchRun run)
    {
        var (o, all, direct, anchor) = (run.Options, run.All, run.Direct, run.Anchor);
        var sb = new StringBuilder();
        string VsAnchor(TunnelPath p, Func<TunnelPath, IReadOnlyList<double>> series) =>
            anchor is null || p == direct ? "-" : F(Ratio(p, anchor, series), "0.00");
        var loops = all.Select(p => p.ServerStats).OfType<HostStats>().FirstOrDefault(s => s.DataPlane == "EventLoops")?.EventLoops;

        sb.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores, Linux {Environment.OSVersion.Version}, " +
                      $"{RuntimeInformation.FrameworkDescription}; tunnel ends in separate pwsh processes, pool {o.PoolSize}; run took {run.Took:m\\:ss}" + (o.Quick ? " (quick)" : "") + ".");
        sb.AppendLine();
        sb.AppendLine($"**Paths**: copy, splice and auto run on the event-loop plane (`-DataPlane EventLoops`, the default loops: one per core, {(loops is { } n ? n.ToString(CultureInfo.InvariantCulture) : "?")} here); " +
                      "\"auto, 1 loop\" runs `-EventLoops 1` in each process, like for like with HAProxy's `nbthread 1`; \"(async)\" runs `-DataPlane Async`, the runtime's async sockets; " +
                      "\"auto + /metrics 1/s\" and \"auto (control)\" are twins of auto (see Scraping). References: " + string.Join("; ", run.References) + ".");
        sb.AppendLine();

        sb.AppendLine($"**Bulk**: one connection downloads {o.BulkBytes >> 20} MiB from the sink; {o.BulkRounds} rounds, cases alternated; median MB/s, median of the per-round ratios to direct; CPU of each process on the path per GB moved.");
        sb.AppendLine();
        sb.AppendLine("| Path | MB/s | × direct | × HAProxy | server CPU s/GB | client CPU s/GB | tunnel CPU s/GB |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var p in all)
        {
            var gb = p.BulkBytes / 1e9;
            sb.AppendLine(p.Server is null
                ? $"| {p.Name} | {F(Stat.Median(p.BulkMBps))} | 1.00 | - | - | - | - |"
                : $"| {p.Name} | {F(Stat.Median(p.BulkMBps))} | {F(Ratio(p, direct, BulkRates), "0.00")} | {VsAnchor(p, BulkRates)} | {F(p.ServerCpu / gb, "0.00")} | {F(p.ClientCpu / gb, "0.00")} | {F(CpuPerGb(p), "0.00")} |");
        }
        sb.AppendLine();
        sb.AppendLine($"**New connections**: 16 loops, each connection sends a {Sink.RequestSize} B request, reads a {Sink.ReplySize} B reply, and ends; {o.Rounds} rounds of {o.RunTime.TotalSeconds:0} s; latency from connect to reply; CPU (user + system) of both processes on the path per connection.");
        sb.AppendLine();
        sb.AppendLine("| Path | conn/s | × direct | × HAProxy | p50 ms | p99 ms | failed | tunnel CPU ms/conn |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var p in all)
        {
            var lat = p.Connections.SelectMany(c => c.LatenciesMs).ToArray();
            sb.AppendLine($"| {p.Name} | {F(Stat.Median(p.Connections.Select(c => c.Rate)))} | {F(Ratio(p, direct, ConnRates), "0.00")} | {VsAnchor(p, ConnRates)} | {F(Stat.Percentile(lat, 50), "0.00")} | {F(Stat.Percentile(lat, 99), "0.00")} | {p.Connections.Sum(c => c.Failures)} | {(p.Server is null ? "-" : F(CpuPerConnection(p) * 1000, "0.000"))} |");
        }
        sb.AppendLine();
        sb.AppendLine($"**Request/reply**: 50 keep-alive connections, each sending a {Sink.RequestSize} B request and waiting for its {Sink.ReplySize} B reply (a key-value GET); {o.RequestReplyRounds} rounds of {o.RequestReplyTime.TotalSeconds:0.#} s, cases alternated; median req/s, median of the per-round ratios.");
        sb.AppendLine();
        sb.AppendLine("| Path | req/s | × direct | × HAProxy | × copy | p50 ms | p99 ms |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        var copy = all.Single(p => p.Name == "copy");
        foreach (var p in all)
        {
            var lat = p.RequestReply.SelectMany(c => c.LatenciesMs).ToArray();
            var vsCopy = p.IsTunnelLite ? F(Ratio(p, copy, RrRates), "0.00") : "-";
            sb.AppendLine($"| {p.Name} | {F(Stat.Median(p.RequestReply.Select(c => c.Rate)))} | {F(Ratio(p, direct, RrRates), "0.00")} | {VsAnchor(p, RrRates)} | {vsCopy} | {F(Stat.Percentile(lat, 50), "0.000")} | {F(Stat.Percentile(lat, 99), "0.000")} |");
        }
        sb.AppendLine();
        sb.AppendLine($"**Idle connections**: RSS growth of each process on the path with {N(o.IdleConnections)} idle connections open through it (each did one exchange), measured on freshly started processes before the other loads; each TunnelLite process collects its garbage fully before each sample, so that what is counted is what the connections hold.");
        sb.AppendLine();
        sb.AppendLine("| Path | server MiB | client MiB |");
        sb.AppendLine("|---|---:|---:|");
        foreach (var p in all.Where(p => p.IdleMeasured))
            sb.AppendLine($"| {p.Name} | {F(p.IdleServerGrowth / 1048576.0, "0.0")} | {F(p.IdleClientGrowth / 1048576.0, "0.0")} |");
        sb.AppendLine();
        WriteConcurrency(sb, run.Concurrency);
        WriteForwarding(sb, all, run.Concurrency);
        var scrapeWithinNoise = WriteScraping(sb, all, run.Scraper);
        WriteTargets(sb, run, scrapeWithinNoise);
        return sb.ToString();
    }

    private static void WriteConcurrency(StringBuilder sb, ConcurrencyResult c)
    {
        sb.AppendLine($"**Concurrent connections**: a server and client of their own (event loops, auto, transport.maxConnectionsPerTunnel and maxPendingUserConnections raised to 10,000) carry {N(c.Count)} connections through one tunnel, opened {ConcurrencyTest.Batch} at a time in {F(c.OpenSeconds, "0.0")} s, each echoing a request of its own that is checked byte for byte; " +
                      "with all open, each is checked once more; descriptors of each process counted in /proc/PID/fd (before → all open → 2 s after closing), RSS growth per 1,000 open (each process collecting its garbage fully before each sample)." +
                      (c.Note is null ? "" : $" Fewer than {N(ConcurrencyTest.Target)}: {c.Note}."));
        sb.AppendLine();
        sb.AppendLine("| Connections | opened | verified | failed | still right with all open | server descriptors | client descriptors | server MiB per 1,000 | client MiB per 1,000 |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        sb.AppendLine($"| {N(c.Count)} | {N(c.Opened)} | {N(c.Verified)} | {N(c.Failed)} | {N(c.Rechecked)} | {N(c.Baseline.Server)} → {N(c.Peak.Server)} → {N(c.AfterClose.Server)} | {N(c.Baseline.Client)} → {N(c.Peak.Client)} → {N(c.AfterClose.Client)} | {F(c.ServerMiBPer1000, "0.0")} | {F(c.ClientMiBPer1000, "0.0")} |");
        sb.AppendLine();
        static string Reasons(IReadOnlyDictionary<string, int> e) => string.Join("; ", e.OrderByDescending(kv => kv.Value).Select(kv => $"{N(kv.Value)} × {kv.Key}"));
        if (c.Errors.Count > 0) sb.AppendLine($"Failed when opened: {Reasons(c.Errors)}.{WhyRefused(c)}").AppendLine();
        if (c.RecheckErrors.Count > 0) sb.AppendLine($"Failed with all open: {Reasons(c.RecheckErrors)}.").AppendLine();
    }

    /// <summary>What the server says about the users it reset at its descriptor budget, if it reset any.</summary>
    private static string WhyRefused(ConcurrencyResult c)
    {
        var s = c.ServerStats;
        if (s.DescriptorRefusals == 0) return "";
        // DescriptorBudget: the data plane stops at the limit minus transport.descriptorReserve (512 by default), and one
        // tunnel may hold at most what the others leave free, so a lone tunnel gets half of that, two descriptors a user.
        return $" The server reset {N(s.DescriptorRefusals)} users at its descriptor budget ({N(c.Peak.Server)} of {N(s.DescriptorLimit)} descriptors open at the peak): " +
               $"one tunnel may hold at most what the other tunnels leave free, so a lone tunnel stops near a quarter of the limit in users " +
               $"(about {N((s.DescriptorLimit - 512) / 4)} here), below {N(ConcurrencyTest.Target)} whatever maxConnectionsPerTunnel says.";
    }

    private static void WriteForwarding(StringBuilder sb, TunnelPath[] all, ConcurrencyResult c)
    {
        sb.AppendLine("**Forwarding as counted by Get-TunnelStats**, over the whole run: the mode, plane and loops in force on each end, connections spliced, copied and fallen back to copy, all connections and those that failed or were refused.");
        sb.AppendLine();
        sb.AppendLine("| Path | end | mode | plane | loops | spliced | copied | fallbacks | total | failed | refused |");
        sb.AppendLine("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
        void Row(string path, string end, HostStats? s)
        {
            if (s is null) return;
            sb.AppendLine($"| {path} | {end} | {s.ForwardingMode} | {s.DataPlane} | {s.EventLoops} | {N(s.SplicedConnections)} | {N(s.CopiedConnections)} | {N(s.SpliceFallbacks)} | {N(s.TotalConnections)} | {N(s.FailedConnections)} | {N(s.RefusedConnections)} |");
        }
        foreach (var t in all.Where(p => p.IsTunnelLite))
        {
            Row(t.Name, "server", t.ServerStats);
            Row(t.Name, "client", t.ClientStats);
        }
        Row($"{N(c.Count)} concurrent", "server", c.ServerStats);
        Row($"{N(c.Count)} concurrent", "client", c.ClientStats);
        sb.AppendLine();
    }

    /// <summary>The scraping table; returns whether scraping stayed within the noise.</summary>
    private static bool WriteScraping(StringBuilder sb, TunnelPath[] all, Scraper scraper)
    {
        var auto = all.Single(p => p.Name == "auto");
        var scraped = all.Single(p => p.Scraped);
        var control = all.Single(p => p.Control);
        // Per-round ratios to auto: the cases of one round ran back to back, so each ratio cancels most of the drift.
        IReadOnlyList<double> VsAuto(TunnelPath path, Func<TunnelPath, IReadOnlyList<double>> series) => series(path).Zip(series(auto), (a, b) => a / b).ToList();
        string Spread(IReadOnlyList<double> r) => $"{F(Stat.Median(r), "0.00")} ({F(r.Min(), "0.00")}–{F(r.Max(), "0.00")})";
        sb.AppendLine($"**Scraping**: \"auto + /metrics 1/s\" is the auto path with an admin endpoint on both ends, each read every second for the whole run ({scraper.Scrapes} scrapes, {scraper.Failures} failed, median {F(scraper.MedianMs, "0.0")} ms, {scraper.AverageBytes} B each); \"auto (control)\" is the same auto path once more, unscraped, so its ratio to auto is this machine's noise. Median of the per-round ratios to auto (range over the rounds).");
        sb.AppendLine();
        sb.AppendLine("| Load | scraped × auto | control × auto |");
        sb.AppendLine("|---|---:|---:|");
        var withinNoise = scraper.Failures == 0 && scraper.Scrapes > 0;
        foreach (var (name, series) in new (string, Func<TunnelPath, IReadOnlyList<double>>)[] { ("bulk", BulkRates), ("new connections", ConnRates), ("request/reply", RrRates) })
        {
            var s = VsAuto(scraped, series);
            var c = VsAuto(control, series);
            // Within noise: no worse than the control's worst round, the spread two identical paths show on this machine.
            withinNoise &= Stat.Median(s) >= Math.Min(c.Min(), 0.97);
            sb.AppendLine($"| {name} | {Spread(s)} | {Spread(c)} |");
        }
        sb.AppendLine();
        return withinNoise;
    }

    private static void WriteTargets(StringBuilder sb, BenchRun run, bool scrapeWithinNoise)
    {
        var (all, direct, anchor) = (run.All, run.Direct, run.Anchor);
        TunnelPath Named(string name) => all.Single(p => p.Name == name);
        var (copy, splice, auto, oneLoop) = (Named("copy"), Named("splice"), Named("auto"), Named("auto, 1 loop"));
        var bulkRatio = Ratio(splice, direct, BulkRates);
        var autoBulkRatio = Ratio(auto, direct, BulkRates);
        var cpuCut = 1 - CpuPerGb(splice) / CpuPerGb(copy);
        var autoCpuCut = 1 - CpuPerGb(auto) / CpuPerGb(copy);
        var connRate = Stat.Median(auto.Connections.Select(c => c.Rate));
        var tunnelLite = all.Where(p => p.IsTunnelLite && p.IdleMeasured).ToList();
        var worstIdle = tunnelLite.Max(p => p.IdleServerGrowth) / 1048576.0;
        var worstIdleName = tunnelLite.MaxBy(p => p.IdleServerGrowth)!.Name;

        sb.AppendLine("| Target | Measured | |");
        sb.AppendLine("|---|---:|---|");
        // The targets of issue 4 and the scraping issue, kept: the event-loop plane must not lose what they won.
        sb.AppendLine($"| bulk ≥ 0.45 × direct (splice / auto) | {F(bulkRatio, "0.00")} / {F(autoBulkRatio, "0.00")} | {Mark(bulkRatio >= 0.45)} / {Mark(autoBulkRatio >= 0.45)} |");
        sb.AppendLine($"| CPU/GB ≥ 30 % below copy (splice / auto) | {F(cpuCut * 100, "0")} % / {F(autoCpuCut * 100, "0")} % | {Mark(cpuCut >= 0.30)} / {Mark(autoCpuCut >= 0.30)} |");
        var rrAuto = Ratio(auto, copy, RrRates);
        var rrSplice = Ratio(splice, copy, RrRates);
        sb.AppendLine($"| small request/reply not slower than copy, with splice-auto (auto, the default) | {F(rrAuto, "0.00")} × copy | {Mark(rrAuto >= 0.97)} (3 % noise allowed) |");
        sb.AppendLine($"| (for reference: splice forced on every message) | {F(rrSplice, "0.00")} × copy | {(rrSplice >= 0.97 ? "not slower" : "slower: two splices and a pipe cost more than a recv and a send for 32 bytes")} |");
        sb.AppendLine($"| ≥ 5,000 new connections/s (auto) | {F(connRate)} | {Mark(connRate >= 5000)} |");
        sb.AppendLine($"| ≤ 16 MiB server RSS per 1,000 idle (worst TunnelLite path: {worstIdleName}) | {F(worstIdle, "0.0")} | {Mark(worstIdle <= 16)} |");
        sb.AppendLine($"| /metrics scraped every second: within noise of no scraping (each load's median ≥ the control's worst round, or ≥ 0.97) | see Scraping | {Mark(scrapeWithinNoise)} |");

        // Issue 13's targets, judged on the event-loop plane: like for like with HAProxy (one loop per process) and with the
        // default loops.
        var judged = new[] { oneLoop, auto };
        string Both(Func<TunnelPath, string> measured) => string.Join(" / ", judged.Select(measured));
        string Marks(Func<TunnelPath, bool> ok) => string.Join(" / ", judged.Select(p => Mark(ok(p))));
        const string Who = "(auto, 1 loop / auto)";
        if (anchor is null)
        {
            sb.AppendLine($"| issue 13's targets against the HAProxy chain {Who} | - | not judged: {run.References[0]} |");
        }
        else
        {
            // Per round, as the rates: one stalled round of either side would otherwise decide the pooled p99.
            double P99Ratio(TunnelPath p) => Stat.Median(p.RequestReply.Zip(anchor.RequestReply, (a, b) => P99([a]) / P99([b])));
            sb.AppendLine($"| request/reply ≥ 1.0 × HAProxy, aiming at 1.2 × {Who} | {Both(p => F(Ratio(p, anchor, RrRates), "0.00"))} | {Marks(p => Ratio(p, anchor, RrRates) >= 1.0)}{(judged.All(p => Ratio(p, anchor, RrRates) >= 1.2) ? " (aim reached)" : "")} |");
            sb.AppendLine($"| request/reply p99 ≤ 1.1 × HAProxy's (median of the per-round ratios) {Who} | {Both(p => F(P99Ratio(p), "0.00"))} | {Marks(p => P99Ratio(p) <= 1.1)} |");
            sb.AppendLine($"| new connections ≥ 1.0 × HAProxy {Who} | {Both(p => F(Ratio(p, anchor, ConnRates), "0.00"))} | {Marks(p => Ratio(p, anchor, ConnRates) >= 1.0)} |");
            sb.AppendLine($"| tunnel CPU per connection ≤ HAProxy's ({F(CpuPerConnection(anchor) * 1e6, "0")} µs) {Who} | {Both(p => F(CpuPerConnection(p) * 1e6, "0") + " µs")} | {Marks(p => CpuPerConnection(p) <= CpuPerConnection(anchor))} |");
            sb.AppendLine($"| bulk ≥ 2 × HAProxy {Who} | {Both(p => F(Ratio(p, anchor, BulkRates), "0.00"))} | {Marks(p => Ratio(p, anchor, BulkRates) >= 2.0)} |");
        }
        sb.AppendLine($"| bulk ≥ 0.5 × direct {Who} | {Both(p => F(Ratio(p, direct, BulkRates), "0.00"))} | {Marks(p => Ratio(p, direct, BulkRates) >= 0.5)} |");
        // Idle: every event-loop path, by its worse process; the other paths are in the idle table for comparison.
        var eventLoopPaths = all.Where(p => p.OnEventLoops && p.IdleMeasured).ToList();
        double WorstMiB(TunnelPath p) => Math.Max(p.IdleServerGrowth, p.IdleClientGrowth) / 1048576.0;
        var c = run.Concurrency;
        sb.AppendLine($"| idle ≤ 4 MiB RSS growth per 1,000 open tunneled connections in each process (event-loop paths, the worse process; {string.Join(" / ", eventLoopPaths.Select(p => p.Name))}) | {string.Join(" / ", eventLoopPaths.Select(p => F(WorstMiB(p), "0.0")))} (at {N(c.Verified)}: server {F(c.ServerMiBPer1000, "0.0")}, client {F(c.ClientMiBPer1000, "0.0")}) | {string.Join(" / ", eventLoopPaths.Select(p => Mark(WorstMiB(p) <= 4)))} |");
        var refused = c.ServerStats.DescriptorRefusals > 0 ? $" ({N(c.ServerStats.DescriptorRefusals)} reset by the server's descriptor budget: see Concurrent connections)" : "";
        sb.AppendLine($"| {N(ConcurrencyTest.Target)} concurrent tunneled connections through one tunnel, each checked byte for byte, descriptors counted | {N(c.Verified)} of {N(c.Count)} verified, {N(c.Rechecked)} right with all open, {N(c.Failed)} failed{refused}; descriptors server {N(c.Peak.Server)}, client {N(c.Peak.Client)} | {Mark(c.Passed)} |");
    }
}
