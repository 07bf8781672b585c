using System.Net.Sockets;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>User connections whose data connections never arrive: each waits its deadline and is counted, and nothing is
/// left behind that could stop the tunnel from serving once data connections flow again. Run per pump, which carries the
/// users served before the path broke and after it healed; three batches of a thousand in the default mode on the default
/// plane, one in the others (the waiting users never reach a pump).</summary>
public abstract class LostDataConnectionTests : DataPathSuite
{
    [Fact]
    public async Task Users_by_the_thousand_whose_data_connections_never_arrive_leave_the_tunnel_serving()
    {
        var batches = FullLoad ? 3 : 1;
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var so = ServerOptions();
        so.UserConnectionTimeout = TimeSpan.FromSeconds(1);
        var server = await f.StartServerAsync(so);
        await using var proxy = new DataPathProxy(server.ControlEndpoint!.Port);
        var o = TunnelFixture.ClientOptions(server);
        o.ServerPort = proxy.Port;
        o.HeartbeatTimeout = TimeSpan.FromSeconds(30);
        // Over TLS a data connection on the broken path stalls in its handshake, and at the connect timeout an owed one
        // takes its place: past the test's length, so that what the proxy holds is what the client keeps open at once (the
        // bound), as in the clear, where nothing ends a held data connection.
        o.ConnectTimeout = TimeSpan.FromSeconds(30);
        o.Tunnels.Add(new TunnelDefinition { Name = "lost", LocalPort = echo.Port });
        var client = await f.StartClientAsync(o);
        var port = client.Tunnels.Single().RemotePort;
        Assert.True(await TunnelFixture.WaitUntilAsync(() => echo.Accepted == 0 && server.GetStatistics().PendingHandshakes == 0, TimeSpan.FromSeconds(5)));

        // From now on the client's data connections reach nobody.
        proxy.Blackhole = true;
        var closed = 0;
        var served = 0; // the first users take the data connections pooled before the path broke
        for (var batch = 0; batch < batches; batch++)
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
        Assert.Equal(batches * 1000, closed + served);
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
        Assert.True(stats.FailedConnections >= batches * 1000 - 100, $"failed {stats.FailedConnections}");
    }
}

public sealed class LostDataConnectionCopyTests : LostDataConnectionTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
}

public sealed class LostDataConnectionSpliceTests : LostDataConnectionTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
}

public sealed class LostDataConnectionAutoTests : LostDataConnectionTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

public sealed class LostDataConnectionAsyncCopyTests : LostDataConnectionTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

public sealed class LostDataConnectionAsyncSpliceTests : LostDataConnectionTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

public sealed class LostDataConnectionAsyncAutoTests : LostDataConnectionTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

/// <summary>Over TLS the client's data connections stall in their TLS handshake on the broken path; with the other TLS
/// suites, one class at a time.</summary>
[Collection(EndToEndTlsCollection.Name)]
public sealed class LostDataConnectionTlsTests : LostDataConnectionTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
    protected override bool Tls => true;
}
