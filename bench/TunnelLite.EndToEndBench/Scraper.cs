using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Bench;

/// <summary>What Prometheus does to a TunnelLite end: GET /metrics every second, for the whole run, on both tunnel
/// processes of one path, so that the report can say what scraping costs the forwarding.</summary>
internal sealed class Scraper : IAsyncDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
    private readonly CancellationTokenSource _stop = new();
    private readonly List<double> _millis = new();
    private readonly Task _loop;
    private long _bytes;

    public Scraper(params int[] ports) => _loop = RunAsync(ports);

    public int Scrapes { get { lock (_millis) return _millis.Count; } }
    public int Failures { get; private set; }
    public double MedianMs { get { lock (_millis) return Stat.Median(_millis); } }
    public long AverageBytes { get { lock (_millis) return _millis.Count == 0 ? 0 : _bytes / _millis.Count; } }

    /// <summary>A free loopback port for an admin endpoint (bound and released: the host binds it a moment later).</summary>
    public static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private async Task RunAsync(int[] ports)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
                foreach (var port in ports)
                {
                    var clock = Stopwatch.StartNew();
                    try
                    {
                        var body = await _http.GetByteArrayAsync($"http://127.0.0.1:{port}/metrics", _stop.Token);
                        lock (_millis)
                        {
                            _millis.Add(clock.Elapsed.TotalMilliseconds);
                            _bytes += body.Length;
                        }
                    }
                    catch (HttpRequestException)
                    {
                        Failures++;
                    }
                }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _loop;
        _http.Dispose();
    }
}
