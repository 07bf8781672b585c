using BenchmarkDotNet.Attributes;
using TunnelLite.Admin;
using TunnelLite.Statistics;

namespace TunnelLite.Benchmarks;

/// <summary>/metrics of a busy server: <see cref="PrometheusWriter.Write(MetricsSnapshot)"/> of 1,000 tunnels of 100 clients (about
/// 9,000 tunnel series plus the clients' and the process's). The admin endpoint renders it at each scrape, on the
/// request's thread; the goal is well under 50 ms.</summary>
[MemoryDiagnoser]
public class MetricsBenchmarks
{
    private const int TunnelCount = 1_000;
    private const int ClientCount = 100;
    private MetricsSnapshot _snapshot = null!;
    private MetricsSnapshot _withProcess = null!;
    private AdminServer _admin = null!;
    private HttpClient _http = null!;

    [GlobalSetup]
    public void GlobalSetup()
    {
        var random = new Random(42);
        var tunnels = Enumerable.Range(0, TunnelCount).Select(i => new TunnelStats
        {
            Name = $"svc-{i:D4}", Role = TunnelRole.Server, State = "Running", ClientName = $"client-{i % ClientCount:D3}",
            ActiveConnections = random.Next(0, 50), TotalConnections = random.NextInt64(0, 1L << 32),
            FailedConnections = random.Next(0, 1000), RefusedConnections = random.Next(0, 10),
            BytesIn = random.NextInt64(0, 1L << 45), BytesOut = random.NextInt64(0, 1L << 45),
            SplicedConnections = random.Next(0, 100_000), CopiedConnections = random.Next(0, 100_000), SpliceFallbacks = random.Next(0, 100),
        }).ToList();
        var clients = Enumerable.Range(0, ClientCount).Select(i => new TunnelClientInfo
        {
            Id = $"{i:x16}", Name = $"client-{i:D3}", RemoteAddress = $"198.51.100.{i}:{40_000 + i}", HeartbeatAgeSeconds = random.NextDouble() * 10,
        }).ToList();
        var summary = new TunnelStats
        {
            Name = "server:7000", Role = TunnelRole.Server, State = "Running", Uptime = TimeSpan.FromDays(3), Clients = ClientCount,
            Tunnels = TunnelCount, BytesIn = tunnels.Sum(t => t.BytesIn), BytesOut = tunnels.Sum(t => t.BytesOut),
        };
        _snapshot = new MetricsSnapshot(TunnelRole.Server, summary, tunnels, clients, null,
            [new("bad_request", 1), new("unauthorized", 2), new("throttled", 3)]);
        _withProcess = _snapshot with { Process = ProcessMetrics.Read() };
        _admin = new AdminServer(new AdminOptions { Address = "127.0.0.1", Port = 0 }, new FixedSource(summary, tunnels, clients), null,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        _admin.StartAsync().GetAwaiter().GetResult();
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(_admin.Url!) };
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        _http.Dispose();
        _admin.StopAsync().GetAwaiter().GetResult();
    }

    /// <summary>A whole scrape as Prometheus sees it: GET /metrics over keep-alive HTTP from a real admin endpoint.</summary>
    [Benchmark]
    public async Task<int> ScrapeOverHttp() => (await _http.GetByteArrayAsync("metrics")).Length;

    /// <summary>What a scrape costs: the process readings (/proc) and the text.</summary>
    [Benchmark(Baseline = true)]
    public string Render() => PrometheusWriter.Write(_snapshot);

    /// <summary>The text alone, from readings taken beforehand.</summary>
    [Benchmark]
    public string RenderTextOnly() => PrometheusWriter.Write(_withProcess);

    /// <summary>The process readings alone.</summary>
    [Benchmark]
    public object ReadProcess() => ProcessMetrics.Read();
}

/// <summary>A server of 1,000 tunnels as its admin endpoint sees it, frozen.</summary>
internal sealed class FixedSource(TunnelStats summary, IReadOnlyList<TunnelStats> tunnels, IReadOnlyList<TunnelClientInfo> clients) : IAdminSource
{
    public TunnelRole Role => TunnelRole.Server;
    public TunnelStats Summary() => summary;
    public IReadOnlyList<TunnelStats> Tunnels() => tunnels;
    public IReadOnlyList<TunnelClientInfo> Clients() => clients;
    public double? ControlHeartbeatAgeSeconds => null;
    public RecentEvents Events { get; } = new();
    public Readiness Ready(string? tunnel) => new(true, "fixed");
    public Task<TunnelClientInfo?> DisconnectClientAsync(string id, TimeSpan ban) => Task.FromResult<TunnelClientInfo?>(null);
}
