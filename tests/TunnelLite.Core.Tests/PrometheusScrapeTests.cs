using TunnelLite.Admin;
using TunnelLite.Config;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>A real Prometheus server scrapes a real server's admin endpoint and finds the bytes that went through a tunnel.</summary>
public sealed class PrometheusScrapeTests
{
    [PrometheusFact]
    public async Task Prometheus_scrapes_the_admin_endpoint_with_basic_auth_and_finds_the_bytes_of_a_tunnel()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var options = TunnelFixture.ServerOptions();
        options.Admin = new AdminOptions { Address = "127.0.0.1", Port = 0, User = "prometheus", Password = "scrape password" };
        var server = await f.StartServerAsync(options);
        var clientOptions = TunnelFixture.ClientOptions(server);
        clientOptions.Tunnels.Add(new TunnelDefinition { Name = "a\"b\\c", LocalPort = echo.Port });
        var client = await f.StartClientAsync(clientOptions);
        using (var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort))
        {
            var (sent, received, _) = await Transfer.EchoRoundTripAsync(user, 123_456, seed: 7);
            Assert.Equal(sent, received);
        }

        await using var prometheus = await PrometheusServer.StartAsync(server.Admin!.Endpoint!, "prometheus", "scrape password");
        double? bytesIn = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline && bytesIn != 123_456)
        {
            await Task.Delay(500);
            bytesIn = await prometheus.QueryAsync("tunnellite_tunnel_bytes_total{job=\"tunnellite\",role=\"server\",tunnel=\"a\\\"b\\\\c\",direction=\"in\"}");
        }
        var (health, lastError) = await prometheus.TargetAsync();
        Assert.True(bytesIn == 123_456, $"Prometheus read {bytesIn?.ToString() ?? "nothing"}; target {health}: {lastError}");
        Assert.Equal("up", health);
        Assert.Equal("", lastError);
        Assert.Equal(123_456, await prometheus.QueryAsync("tunnellite_tunnel_bytes_total{tunnel=\"a\\\"b\\\\c\",direction=\"out\"}"));
        Assert.Equal(1, await prometheus.QueryAsync("tunnellite_clients_connected"));
        Assert.Equal(1, await prometheus.QueryAsync($"tunnellite_build_info{{version=\"{BuildInfo.Version}\",role=\"server\"}}"));
        Assert.True(await prometheus.QueryAsync("process_resident_memory_bytes") > 0);
        Assert.True(await prometheus.QueryAsync("process_open_fds") > 0);
    }
}
