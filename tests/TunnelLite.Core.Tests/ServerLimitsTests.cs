using System.Net;
using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The server's limits against abuse: failed logins throttled per address, a cap on connections per tunnel.</summary>
public sealed class ServerLimitsTests
{
    [Fact]
    public async Task Failed_logins_are_throttled_per_address_with_a_growing_wait_and_a_success_clears_it()
    {
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.AuthFailureDelay = TimeSpan.FromSeconds(2);
        var server = await f.StartServerAsync(so);

        // The first failure costs nothing (a mistyped token is retried at once); the second starts the wait.
        foreach (var guess in new[] { "guess-1", "guess-2" })
        {
            var failed = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(TunnelFixture.ClientOptions(server, token: guess)).StartAsync());
            Assert.Equal(TunnelErrorCode.AuthenticationFailed, failed.Code);
        }
        // Within the wait, even the right token is turned away, without its proof being checked.
        var throttled = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(TunnelFixture.ClientOptions(server)).StartAsync());
        Assert.Equal(TunnelErrorCode.AuthenticationThrottled, throttled.Code);
        Assert.Contains("try again in", throttled.Message);

        await Task.Delay(2100);
        await using var ok = new TunnelClient(TunnelFixture.ClientOptions(server));
        await ok.StartAsync();
        Assert.Equal(1, server.ClientCount);
    }

    [Fact]
    public void The_wait_doubles_with_each_failure_up_to_the_cap_and_old_failures_are_forgiven()
    {
        long now = 0;
        var t = new AuthThrottle(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8), () => now);
        var a = IPAddress.Parse("192.0.2.1");
        Assert.Equal(TimeSpan.Zero, t.Failed(a));
        Assert.Equal(TimeSpan.FromSeconds(1), t.Failed(a));
        Assert.Equal(TimeSpan.FromSeconds(2), t.Failed(a));
        Assert.Equal(TimeSpan.FromSeconds(4), t.Failed(a));
        Assert.Equal(TimeSpan.FromSeconds(8), t.Failed(a));
        Assert.Equal(TimeSpan.FromSeconds(8), t.Failed(a));
        Assert.Equal(TimeSpan.FromSeconds(8), t.RemainingWait(a));
        Assert.Equal(TimeSpan.Zero, t.RemainingWait(IPAddress.Parse("192.0.2.2")));
        // An IPv4 address seen through a dual-stack socket is the same address.
        Assert.Equal(TimeSpan.FromSeconds(8), t.RemainingWait(a.MapToIPv6()));
        now += 3_000;
        Assert.Equal(TimeSpan.FromSeconds(5), t.RemainingWait(a));
        now += 30_000; // long after the wait: counted as a first failure again
        Assert.Equal(TimeSpan.Zero, t.Failed(a));
        Assert.Equal(TimeSpan.FromSeconds(1), t.Failed(a));
        t.Succeeded(a);
        Assert.Equal(TimeSpan.Zero, t.RemainingWait(a));
        Assert.Equal(0, t.Count);
    }

    [Fact]
    public void A_zero_delay_turns_the_throttle_off()
    {
        var t = new AuthThrottle(TimeSpan.Zero, TimeSpan.Zero);
        Assert.Equal(TimeSpan.Zero, t.Failed(IPAddress.Loopback));
        Assert.Equal(TimeSpan.Zero, t.RemainingWait(IPAddress.Loopback));
    }

    [Fact]
    public async Task Users_beyond_the_per_tunnel_cap_are_refused_at_once_and_counted()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var so = TunnelFixture.ServerOptions();
        so.MaxConnectionsPerTunnel = 3;
        var server = await f.StartServerAsync(so);
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(new TunnelDefinition { Name = "capped", LocalPort = echo.Port });
        var client = await f.StartClientAsync(options);
        var port = client.Tunnels.Single().RemotePort;

        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var s = await TunnelFixture.ConnectAsync(port);
                held.Add(s);
                // One byte echoed proves the connection is paired and counted as active.
                await s.SendAsync(new byte[] { (byte)i }, SocketFlags.None);
                var b = new byte[1];
                Assert.Equal(1, await s.ReceiveAsync(b, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10)));
            }
            // The reset can even beat the end of connect() on loopback.
            var reset = false;
            try
            {
                using var extra = await TunnelFixture.ConnectAsync(port);
                var (bytes, wasReset) = await Transfer.DrainAsync(extra, TimeSpan.FromSeconds(5));
                Assert.Equal(0, bytes);
                reset = wasReset;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                reset = true;
            }
            Assert.True(reset, "the extra user should be reset at once");
            var stats = server.GetTunnelStatistics().Single();
            Assert.Equal(1, stats.RefusedConnections);
            Assert.Equal(3, stats.ActiveConnections);
            Assert.Equal(1, server.GetStatistics().RefusedConnections);
        }
        finally
        {
            foreach (var s in held) s.Dispose();
        }
        // Once the held users leave, new ones get through again.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Single().ActiveConnections == 0, TimeSpan.FromSeconds(10)));
        using var again = await TunnelFixture.ConnectAsync(port);
        var r = await Transfer.EchoRoundTripAsync(again, 32 * 1024, 3);
        Assert.Equal(r.Sent, r.Received);
    }

    [Fact]
    public async Task A_user_waits_for_a_data_connection_only_until_the_deadline_and_waiting_users_are_capped()
    {
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.UserConnectionTimeout = TimeSpan.FromSeconds(1);
        so.MaxPendingUserConnections = 2;
        var server = await f.StartServerAsync(so);
        // A client that registers a tunnel but never opens a data connection, so that users can only wait.
        var (control, port) = await RawControlClient.RegisterAsync(server.ControlEndpoint!.Port, TunnelFixture.Token, "stingy", "starved");
        using var c = control;

        var started = DateTime.UtcNow;
        using var first = await TunnelFixture.ConnectAsync(port);
        using var second = await TunnelFixture.ConnectAsync(port);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Single().ActiveConnections == 2, TimeSpan.FromSeconds(5)));
        // A third waiting user is over the cap: closed at once, counted as failed.
        try
        {
            using var third = await TunnelFixture.ConnectAsync(port);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Closed so fast that the reset beat the end of connect(): refused all the same.
        }
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Single().FailedConnections == 1, TimeSpan.FromSeconds(5)));
        Assert.Contains("Too many user connections waiting", server.GetTunnelStatistics().Single().LastError);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1), "the third user should not wait for the deadline");
        // The two waiting ones are closed at the deadline, not held for ever.
        var (_, _) = await Transfer.DrainAsync(first, TimeSpan.FromSeconds(5));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(4));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Single().FailedConnections == 3, TimeSpan.FromSeconds(5)));
        Assert.Contains("No data connection from the client within 1 s", server.GetTunnelStatistics().Single().LastError);
    }

    [Fact]
    public async Task A_client_of_the_shared_token_holds_at_most_the_servers_tunnel_cap()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var so = TunnelFixture.ServerOptions();
        so.MaxTunnelsPerClient = 2;
        var server = await f.StartServerAsync(so);
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(new TunnelDefinition { Name = "t1", LocalPort = echo.Port });
        options.Tunnels.Add(new TunnelDefinition { Name = "t2", LocalPort = echo.Port });
        var client = await f.StartClientAsync(options);
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.AddTunnelAsync(new TunnelDefinition { Name = "t3", LocalPort = echo.Port }));
        Assert.Equal(TunnelErrorCode.QuotaExceeded, e.Code);
        Assert.Contains("maxTunnelsPerClient", e.Message);
        Assert.Equal(2, server.GetTunnelStatistics().Count);
    }
}
