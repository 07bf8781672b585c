using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The statistics of what has stopped keep the Uptime it had when it stopped, instead of counting on.</summary>
public sealed class StoppedUptimeTests
{
    [Fact]
    public async Task A_removed_tunnel_a_stopped_client_and_a_stopped_server_keep_their_Uptime()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var o = TunnelFixture.ClientOptions(server);
        o.Tunnels.Add(new TunnelDefinition { Name = "removed", LocalPort = echo.Port });
        o.Tunnels.Add(new TunnelDefinition { Name = "kept", LocalPort = echo.Port });
        var client = await f.StartClientAsync(o);
        var removed = client.FindTunnel("removed")!;
        var kept = client.FindTunnel("kept")!;
        await Task.Delay(200);

        await client.RemoveTunnelAsync("removed");
        Assert.NotNull(removed.Stopped);
        Assert.Null(kept.Stopped);
        Assert.DoesNotContain(client.GetStatistics(), s => s.Name == "removed");
        var removedBefore = client.GetStatistics(removed).Uptime;
        var keptBefore = client.GetStatistics(kept).Uptime;
        await Task.Delay(300);
        Assert.Equal(removedBefore, client.GetStatistics(removed).Uptime);
        Assert.True(client.GetStatistics(kept).Uptime > keptBefore, "a running tunnel's Uptime goes on");

        await client.StopAsync();
        await server.StopAsync();
        Assert.True(removed.Stopped < kept.Stopped, "a removed tunnel keeps its own stop time");
        var first = (Removed: client.GetStatistics(removed), Kept: client.GetStatistics().Single(), Server: server.GetStatistics());
        await Task.Delay(1000);
        var second = (Removed: client.GetStatistics(removed), Kept: client.GetStatistics().Single(), Server: server.GetStatistics());

        Assert.Equal(removedBefore, second.Removed.Uptime);
        Assert.Equal(first.Kept.Uptime, second.Kept.Uptime);
        Assert.Equal(first.Server.Uptime, second.Server.Uptime);
        Assert.True(second.Kept.Uptime >= TimeSpan.FromMilliseconds(500), $"{second.Kept.Uptime}");
        Assert.True(second.Server.Uptime >= second.Kept.Uptime, "the server ran before and after the tunnel");
        Assert.Equal("Stopped", second.Kept.State);
        Assert.Equal("Stopped", second.Server.State);
        // The snapshot's own time still moves: only the Uptime stops.
        Assert.True(second.Server.Timestamp > first.Server.Timestamp);
    }
}
