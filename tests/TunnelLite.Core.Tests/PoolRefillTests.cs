using System.Text;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Protocol;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The pool refills without a control frame per user: a client that offers it (AuthMessage.RefillsPool) and a
/// server that agrees (AuthOkMessage.RefillsPool) replace a pooled data connection when its StartWork asks for it, and the
/// server sends RequestWorkConn only when the pool runs short. Old peers on either side keep a request per user. Real
/// server and client on 127.0.0.1, every user's bytes checked by SHA-256. The refill is the control plane's business, the
/// same whatever moves the bytes, so these run once.</summary>
public sealed class PoolRefillTests
{
    private static async Task WaitForPoolAsync(ClientSession session, TunnelClient client, int pool)
    {
        Assert.True(await TunnelFixture.WaitUntilAsync(() => session.IdleCount == pool && client.DataConnectionsOpen == pool, TimeSpan.FromSeconds(5)),
            $"pool {pool}: the server holds {session.IdleCount} idle, the client {client.DataConnectionsOpen} open");
    }

    private static async Task EchoAsync(int port, int size, int seed)
    {
        using var user = await TunnelFixture.ConnectAsync(port);
        var r = await Transfer.EchoRoundTripAsync(user, size, seed).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(r.Sent, r.Received);
    }

    /// <summary>A server, a proxy on the data path in front of it (the fixture owns it), and a client with a pool of
    /// <paramref name="pool"/> through the proxy, once its pool is full.</summary>
    private static async Task<(ClientSession Session, TunnelClient Client, DataPathProxy Proxy, int Port)> StartBehindProxyAsync(TunnelFixture f, EchoService echo, int pool)
    {
        var server = await f.StartServerAsync();
        var proxy = f.Own(new DataPathProxy(server.ControlEndpoint!.Port));
        var o = EchoClientOptions(server, echo, pool);
        o.ServerPort = proxy.Port;
        var client = await f.StartClientAsync(o);
        var session = server.Sessions.Single();
        await WaitForPoolAsync(session, client, pool);
        return (session, client, proxy, client.Tunnels.Single().RemotePort);
    }

    private static TunnelClientOptions EchoClientOptions(TunnelServer server, EchoService echo, int pool = 4)
    {
        var o = TunnelFixture.ClientOptions(server);
        o.PoolCount = pool;
        o.Tunnels.Add(new TunnelDefinition { Name = "echo", LocalPort = echo.Port });
        return o;
    }

    [Fact]
    public void The_new_fields_are_left_out_when_false_and_read_as_false_when_absent()
    {
        static string Json<T>(T m) where T : class => Encoding.UTF8.GetString(MessageSerializer.ToFrame(m).AsSpan(ProtocolConstants.FrameHeaderSize));
        // Off, the frames are byte for byte what a peer from before the refill sends and expects.
        Assert.DoesNotContain("refill", Json(new AuthMessage { ClientId = "c", PoolCount = 4 }), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("refill", Json(new AuthOkMessage { PoolCount = 4 }), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("refill", Json(new StartWorkMessage { Tunnel = "t" }), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"refillsPool\":true", Json(new AuthMessage { ClientId = "c", RefillsPool = true }));
        Assert.Contains("\"refillsPool\":true", Json(new AuthOkMessage { RefillsPool = true }));
        Assert.Contains("\"refill\":true", Json(new StartWorkMessage { Tunnel = "t", Refill = true }));
        // A frame without them (an older peer's) reads as off.
        var old = MessageSerializer.Read<StartWorkMessage>(new Frame(FrameType.StartWork, Encoding.UTF8.GetBytes("{\"tunnel\":\"t\"}")));
        Assert.False(old.Refill);
        Assert.False(MessageSerializer.Read<AuthOkMessage>(new Frame(FrameType.AuthOk, Encoding.UTF8.GetBytes("{\"poolCount\":4}"))).RefillsPool);
    }

    [Fact]
    public async Task Two_hundred_users_one_after_another_cost_no_request_after_the_first_fill_and_the_pool_keeps_its_size()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, client) = await f.StartEchoTunnelAsync(echo);
        var session = server.Sessions.Single();
        Assert.True(session.ClientRefills);
        await WaitForPoolAsync(session, client, 4);
        Assert.Equal(1, session.RequestFramesSent); // the first fill: one frame for the whole pool
        var port = client.Tunnels.Single().RemotePort;

        var (maxIdle, maxOpen) = (0, 0);
        for (var i = 0; i < 200; i++)
        {
            await EchoAsync(port, 4096, i);
            maxIdle = Math.Max(maxIdle, session.IdleCount);
            maxOpen = Math.Max(maxOpen, client.DataConnectionsOpen);
        }
        // Each user took a pooled connection whose StartWork asked for its replacement, and the replacement arrived well
        // before the pool could run dry (a user waits only when all four are taken): no request at all. Before, 200.
        Assert.Equal(1, session.RequestFramesSent);
        Assert.Equal(0, server.WorkConnectionRequests - 1);
        Assert.Equal(200, client.DataRefills);
        Assert.Equal(204, client.DataConnectionsOpened);
        await WaitForPoolAsync(session, client, 4);
        Assert.InRange(maxIdle, 0, 4);
        Assert.InRange(maxOpen, 0, 4);
        Assert.Equal(200, echo.Accepted);
    }

    [Fact]
    public async Task A_burst_of_a_hundred_users_on_a_pool_of_two_all_get_through_and_the_pool_ends_at_its_size()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, client) = await f.StartEchoTunnelAsync(echo, o => o.PoolCount = 2);
        // Connections stalled for the grace on a saturated machine would be asked for again, and the extra ones would idle
        // past the burst: this test is about the burst, so the grace is at its ceiling (half the 5 s user deadline).
        server.RefillGrace = TimeSpan.FromSeconds(5);
        var session = server.Sessions.Single();
        await WaitForPoolAsync(session, client, 2);
        var port = client.Tunnels.Single().RemotePort;

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 100).Select(i => EchoAsync(port, 16 * 1024, i))).WaitAsync(TimeSpan.FromSeconds(20));
        var took = clock.Elapsed;
        // The users beyond the pool were asked for as they came (never more than one connection per user), and the
        // connections that brought them were not replaced again: the pool ends the burst at its size, not at 2 + 98.
        var requested = session.ConnectionsRequested - 2;
        Assert.InRange(requested, 1, 100);
        await WaitForPoolAsync(session, client, 2);
        Assert.Equal(100, echo.Accepted);
        Assert.Equal(100, server.GetTunnelStatistics().Single().TotalConnections);
        Assert.Equal(0, server.GetTunnelStatistics().Single().FailedConnections);
        Assert.True(took < TimeSpan.FromSeconds(10), $"the burst took {took}");
    }

    [Fact]
    public async Task A_client_that_does_not_offer_the_refill_gets_a_request_per_user_as_before()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var client = f.Own(new TunnelClient(EchoClientOptions(server, echo)) { OffersPoolRefill = false });
        await client.StartAsync();
        var session = server.Sessions.Single();
        Assert.False(session.ClientRefills);
        await WaitForPoolAsync(session, client, 4);
        var port = client.Tunnels.Single().RemotePort;

        for (var i = 0; i < 20; i++) await EchoAsync(port, 4096, i);
        Assert.Equal(1 + 20, session.RequestFramesSent);
        Assert.Equal(0, client.DataRefills);
        Assert.Equal(4 + 20, client.DataConnectionsOpened);
        await WaitForPoolAsync(session, client, 4);
    }

    [Fact]
    public async Task A_server_that_does_not_agree_keeps_a_request_per_user_and_the_client_never_opens_two_replacements()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = f.Own(new TunnelServer(TunnelFixture.ServerOptions()) { AcceptsClientRefill = false });
        await server.StartAsync();
        var client = await f.StartClientAsync(EchoClientOptions(server, echo));
        var session = server.Sessions.Single();
        Assert.False(session.ClientRefills);
        await WaitForPoolAsync(session, client, 4);
        var port = client.Tunnels.Single().RemotePort;

        var maxOpen = 0;
        for (var i = 0; i < 20; i++)
        {
            await EchoAsync(port, 4096, i);
            maxOpen = Math.Max(maxOpen, client.DataConnectionsOpen);
        }
        // One connection per user, the one the server asked for: the client refilled nothing by itself.
        Assert.Equal(1 + 20, session.RequestFramesSent);
        Assert.Equal(0, client.DataRefills);
        Assert.Equal(4 + 20, client.DataConnectionsOpened);
        // The request for a user comes before its StartWork, so for a moment one more than the pool is open.
        Assert.InRange(maxOpen, 0, 4 + 1);
        await WaitForPoolAsync(session, client, 4);
    }

    [Fact]
    public async Task A_pooled_connection_that_dies_at_the_server_is_asked_for_again_once()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (session, client, proxy, port) = await StartBehindProxyAsync(f, echo, pool: 4);

        // The server's end is reset; the client's end sees an orderly close, as when the server drops an idle connection,
        // so the client does not open another by itself.
        Assert.True(proxy.ResetOldestForwarded(clientEnd: false));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.DataConnectionsOpen == 3, TimeSpan.FromSeconds(5)));
        for (var i = 0; i < 8; i++) await EchoAsync(port, 4096, i);
        // The user who found it dead made the server ask for one, and no more.
        Assert.Equal(1 + 1, session.RequestFramesSent);
        await WaitForPoolAsync(session, client, 4);
    }

    [Fact]
    public async Task A_pooled_connection_reset_at_the_client_is_opened_again_by_the_client_and_not_asked_for_twice()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (session, client, proxy, port) = await StartBehindProxyAsync(f, echo, pool: 4);

        // A reset before any frame is what the server's handshake eviction looks like: the client opens another at once.
        Assert.True(proxy.ResetOldestForwarded(clientEnd: true));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => session.IdleCount == 5, TimeSpan.FromSeconds(5)), $"idle {session.IdleCount}");
        for (var i = 0; i < 8; i++) await EchoAsync(port, 4096, i);
        // Not replaced twice: the pool ends at its size, not 5. Found first, the dead one costs no request (the pool is
        // whole without it); found after a live one was taken, it costs one, since that take, counting the dead one idle,
        // asked for no refill.
        Assert.InRange(session.RequestFramesSent - 1, 0, 1);
        await WaitForPoolAsync(session, client, 4);
    }

    [Fact]
    public async Task A_user_whose_data_connections_are_lost_on_the_way_waits_the_grace_not_its_deadline()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (session, client, proxy, port) = await StartBehindProxyAsync(f, echo, pool: 2);

        // Two users take the pool; the refills their StartWork asked for are held on the way. The third user finds the
        // pool empty and counts on them.
        proxy.Blackhole = true;
        for (var i = 0; i < 2; i++) await EchoAsync(port, 4096, i);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => proxy.Held == 2, TimeSpan.FromSeconds(5)), $"held {proxy.Held}");
        proxy.Blackhole = false;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // With none arriving for the grace (1 s) the server gives them up and asks, well before the user's deadline (5 s):
        // for the user, then at its take for the pool.
        await EchoAsync(port, 4096, 2);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(3.5));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => session.ConnectionsRequested >= 2 + 1 + 1, TimeSpan.FromSeconds(5)),
            $"{session.ConnectionsRequested} connections requested");
        await TunnelFixture.WaitUntilAsync(() => session.IdleCount == 2, TimeSpan.FromSeconds(5));
        clock.Restart();
        for (var i = 3; i < 10; i++) await EchoAsync(port, 4096, i);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"7 more users took {clock.Elapsed}");
        Assert.True(await TunnelFixture.WaitUntilAsync(() => session.IdleCount == 2, TimeSpan.FromSeconds(5)), $"idle {session.IdleCount}");
    }

    [Fact]
    public async Task Connections_that_are_only_slow_are_not_asked_for_again_one_for_one()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (session, client, proxy, port) = await StartBehindProxyAsync(f, echo, pool: 2);

        // Twenty users at once; every data connection the client opens for them is held for 2.5 s, as by a saturated
        // machine or a slow link, then delivered.
        proxy.Blackhole = true;
        var users = Enumerable.Range(0, 20).Select(i => EchoAsync(port, 4096, i)).ToList();
        await Task.Delay(2500);
        var requested = session.ConnectionsRequested - 2;
        proxy.Blackhole = false;
        proxy.ForwardHeld();
        await Task.WhenAll(users).WaitAsync(TimeSpan.FromSeconds(10));
        // The two users who took the pool asked for refills in their StartWork; those cover two of the other 18, and 16
        // were asked for as the users came. After each grace (1 s) with nothing arriving, one more was asked for, then
        // two: not all eighteen each time, which a client that is behind would have to open on top.
        Assert.InRange(requested, 16, 16 + 1 + 2 + 4);
        Assert.Equal(20, echo.Accepted);
    }

    [Fact]
    public async Task A_hostile_server_that_pairs_every_connection_at_once_gets_one_replacement_per_pairing_within_the_bound()
    {
        await using var local = new EchoService();
        await using var fake = new FakeServer(TunnelFixture.Token, askFor: 4, pairOnArrival: 200, pairTunnel: "web");
        var o = HostileClientOptions(fake.Port, local.Port);
        await using var client = new TunnelClient(o);
        await client.StartAsync();
        Assert.True(fake.ClientOfferedRefill);

        var maxOpen = 0;
        var watch = Task.Run(async () =>
        {
            while (fake.Paired < 200 || fake.DataConnections < 204)
            {
                maxOpen = Math.Max(maxOpen, client.DataConnectionsOpen);
                await Task.Delay(1);
            }
        });
        await watch.WaitAsync(TimeSpan.FromSeconds(20));
        await Task.Delay(500); // and no more come
        // Each pairing asked for one replacement, which the client opened: the first 4, then one per pairing.
        Assert.Equal(4 + 200, fake.DataConnections);
        Assert.Equal(200, client.DataRefills);
        Assert.InRange(maxOpen, 0, 4 + TunnelClient.DataConnectionMargin);
        Assert.InRange(client.DataConnectionsOpen, 0, 4);
    }

    [Fact]
    public async Task A_server_that_asks_for_refills_the_client_did_not_offer_gets_none()
    {
        await using var local = new EchoService();
        await using var fake = new FakeServer(TunnelFixture.Token, askFor: 4, pairOnArrival: 4, pairTunnel: "web");
        await using var client = new TunnelClient(HostileClientOptions(fake.Port, local.Port)) { OffersPoolRefill = false };
        await client.StartAsync();
        Assert.False(fake.ClientOfferedRefill);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => fake.Paired == 4, TimeSpan.FromSeconds(5)));
        await Task.Delay(500);
        Assert.Equal(4, fake.DataConnections);
        Assert.Equal(0, client.DataRefills);
    }

    private static TunnelClientOptions HostileClientOptions(int port, int localPort)
    {
        var o = new TunnelClientOptions
        {
            ServerAddress = "127.0.0.1",
            ServerPort = port,
            Token = TunnelFixture.Token,
            PoolCount = 4,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
            HeartbeatTimeout = TimeSpan.FromSeconds(30),
            LoggerFactory = TunnelFixture.Log,
        };
        o.Tunnels.Add(new TunnelDefinition { Name = "web", LocalPort = localPort });
        return o;
    }
}
