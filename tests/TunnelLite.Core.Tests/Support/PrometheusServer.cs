using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace TunnelLite.Tests.Support;

/// <summary>A real Prometheus server (Debian package prometheus) on 127.0.0.1, scraping one target every second into a
/// temporary folder: what a user points at a TunnelLite admin endpoint.</summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    /// <summary>Why the scrape tests skip (or, under CI=true, fail).</summary>
    public const string MissingReason = "prometheus is not installed (apt-get install prometheus; build.ps1 Test installs it where it can)";

    /// <summary>prometheus's path; null when it is missing.</summary>
    public static string? Path { get; } = ExternalTool.Find("prometheus");

    private readonly Process _process;
    private readonly string _folder;
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Task<string> _log;

    private PrometheusServer(Process process, string folder, int port)
    {
        _process = process;
        _folder = folder;
        _log = process.StandardError.ReadToEndAsync();
        _http.BaseAddress = new Uri($"http://127.0.0.1:{port}/");
    }

    /// <summary>Starts Prometheus scraping <paramref name="target"/> (host:port) every second, with basic auth when a
    /// user is given, and waits until it is ready.</summary>
    public static async Task<PrometheusServer> StartAsync(IPEndPoint target, string? user = null, string? password = null)
    {
        var folder = Directory.CreateTempSubdirectory("tunnellite-prometheus-").FullName;
        var config = System.IO.Path.Combine(folder, "prometheus.yml");
        var auth = user is null ? "" : $"""

                basic_auth:
                  username: {user}
                  password: {password}
            """;
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 900ms
            scrape_configs:
              - job_name: tunnellite
                static_configs:
                  - targets: ['{target}']{auth}
            """);
        var port = LoopbackPort.Free();
        var start = new ProcessStartInfo(ExternalTool.Require(Path, MissingReason),
        [
            $"--config.file={config}", $"--storage.tsdb.path={System.IO.Path.Combine(folder, "data")}",
            $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        ])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var server = new PrometheusServer(Process.Start(start)!, folder, port);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (server._process.HasExited) throw new InvalidOperationException($"prometheus exited: {await server._log}");
            try
            {
                if ((await server._http.GetAsync("-/ready")).IsSuccessStatusCode) return server;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(200);
        }
        await server.DisposeAsync();
        throw new TimeoutException("prometheus was not ready within 30 s");
    }

    /// <summary>The value of an instant PromQL query's first sample; null when it has none.</summary>
    public async Task<double?> QueryAsync(string promql)
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync($"api/v1/query?query={Uri.EscapeDataString(promql)}"));
        var result = doc.RootElement.GetProperty("data").GetProperty("result");
        return result.GetArrayLength() == 0 ? null : double.Parse(result[0].GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The scrape target's health ("up", "down", "unknown") and its last error.</summary>
    public async Task<(string Health, string LastError)> TargetAsync()
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync("api/v1/targets"));
        var target = doc.RootElement.GetProperty("data").GetProperty("activeTargets")[0];
        return (target.GetProperty("health").GetString()!, target.GetProperty("lastError").GetString()!);
    }

    public async ValueTask DisposeAsync()
    {
        try { _process.Kill(true); } catch (InvalidOperationException) { }
        await _process.WaitForExitAsync();
        _process.Dispose();
        _http.Dispose();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A test that needs a real Prometheus server: skipped, saying why, where it is missing, except under CI=true.</summary>
public sealed class PrometheusFactAttribute : FactAttribute
{
    public PrometheusFactAttribute()
    {
        if (PrometheusServer.Path is null && !ExternalTool.MustRun) Skip = PrometheusServer.MissingReason;
    }
}
