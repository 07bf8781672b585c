using System.Net.Sockets;
using TunnelLite.Config;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>User connections whose data connections never arrive: each waits its deadline and is counted, and nothing is
/// left behind that could stop the tunnel from serving once data connections flow again.</summary>
public sealed class LostDataConnectionTests
{
    [Fact]
    public async Task Three_thousand_users_whose_data_connections_never_arrive_leave_the_tunnel_serving()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var so = TunnelFixture.ServerOptions();
        so.UserConnectionTimeout = TimeSpan.FromSeconds(1);
        var server = await f.StartServerAsync(so);
        await using var proxy = new DataPathProxy(server.ControlEndpoint!.Port);
        var o = TunnelFixture.ClientOptions(server);
        o.ServerPort = proxy.Port;
        o.HeartbeatTimeout = TimeSpan.FromSeconds(30);
        o.Tunnels.Add(new TunnelDefinition { Name = "lost", LocalPort = echo.Port });
        var client = await f.StartClientAsync(o);
        var port = client.Tunnels.Single().RemotePort;
        Assert.True(await TunnelFixture.WaitUntilAsync(() => echo.Accepted == 0 && server.GetStatistics().PendingHandshakes == 0, TimeSpan.FromSeconds(5)));

        // From now on the client's data connections reach nobody.
        proxy.Blackhole = true;
        var closed = 0;
        var served = 0; // the first users take the data connections pooled before the path broke
        for (var batch = 0; batch < 3; batch++)
        {
            var users = await Task.WhenAll(Enumerable.Range(0, 1000).Select(async _ =>
            {
                try { return await TunnelFixture.ConnectAsync(port); }
                catch (SocketException) { Interlocked.Increment(ref closed); return null; } // refused at once: closed too
            }));
            // Each is closed by the server, at its deadline or at once (beyond the cap on waiting users), none left hanging.
            await Task.WhenAll(users.Where(u => u is not null).Select(async u =>
            {
                using (u)
                {
                    try
                    {
                        var (bytes, _) = await Transfer.DrainAsync(u!, TimeSpan.FromSeconds(5));
                        if (bytes == 0) Interlocked.Increment(ref closed);
                    }
                    catch (OperationCanceledException)
                    {
                        Interlocked.Increment(ref served);
                    }
                }
            }));
        }
        Assert.InRange(served, 0, o.PoolCount);
        Assert.Equal(3000, closed + served);
        Assert.True(proxy.Held <= o.PoolCount + Client.TunnelClient.DataConnectionMargin, $"the client opened {proxy.Held} data connections into the void");

        // The path heals: the held connections end, and the tunnel serves again, without the client reconnecting.
        proxy.Blackhole = false;
        proxy.ReleaseHeld();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 20; i++)
        {
            using var user = await TunnelFixture.ConnectAsync(port);
            var r = await Transfer.EchoRoundTripAsync(user, 64 * 1024, seed: i).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(r.Sent, r.Received);
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"serving again took {clock.Elapsed}");
        Assert.Equal(0, client.Totals.Reconnects);
        var stats = server.GetStatistics();
        Assert.True(stats.FailedConnections >= 2900, $"failed {stats.FailedConnections}");
    }
}
