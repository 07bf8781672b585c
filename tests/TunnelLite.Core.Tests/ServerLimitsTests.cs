using System.Net;
using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Failed logins throttled per source and account: the control port's business, the same whatever moves the bytes,
/// so these run once.</summary>
public sealed class ServerLimitsLoginTests
{
    [Fact]
    public async Task Failed_logins_are_throttled_per_address_with_a_growing_wait_and_the_right_token_gets_in_after_it()
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

    private static TimeSpan Fail(AuthThrottle t, SourcePrefix source, string? account = null)
    {
        var (verdict, wait) = t.Attempt(source, account, () => false);
        Assert.Equal(AuthThrottle.Verdict.Failed, verdict);
        return wait;
    }

    [Fact]
    public void The_wait_doubles_with_each_failure_up_to_the_cap_and_old_failures_are_forgiven()
    {
        long now = 0;
        var t = new AuthThrottle(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8), () => now);
        var a = SourcePrefix.Of(IPAddress.Parse("192.0.2.1"));
        void Pass(long ms) { now += ms; }
        Assert.Equal(TimeSpan.Zero, Fail(t, a));
        Assert.Equal(TimeSpan.FromSeconds(1), Fail(t, a));
        Pass(1_000);
        Assert.Equal(TimeSpan.FromSeconds(2), Fail(t, a));
        Pass(2_000);
        Assert.Equal(TimeSpan.FromSeconds(4), Fail(t, a));
        Pass(4_000);
        Assert.Equal(TimeSpan.FromSeconds(8), Fail(t, a));
        Pass(8_000);
        Assert.Equal(TimeSpan.FromSeconds(8), Fail(t, a));
        Assert.Equal(TimeSpan.FromSeconds(8), t.RemainingWait(a, null));
        Assert.Equal(TimeSpan.Zero, t.RemainingWait(SourcePrefix.Of(IPAddress.Parse("192.0.2.2")), null));
        // An IPv4 address seen through a dual-stack socket is the same source.
        Assert.Equal(TimeSpan.FromSeconds(8), t.RemainingWait(SourcePrefix.Of(IPAddress.Parse("192.0.2.1").MapToIPv6()), null));
        // Attempts during the wait are refused without the proof being checked.
        var (verdict, _) = t.Attempt(a, null, () => throw new InvalidOperationException("checked while throttled"));
        Assert.Equal(AuthThrottle.Verdict.Throttled, verdict);
        Pass(3_000);
        Assert.Equal(TimeSpan.FromSeconds(5), t.RemainingWait(a, null));
        Pass(30_000); // long after the wait: counted as a first failure again
        Assert.Equal(TimeSpan.Zero, Fail(t, a));
        Assert.Equal(TimeSpan.FromSeconds(1), Fail(t, a));
        Assert.Equal(1, t.Count);
    }

    [Fact]
    public void One_accounts_success_never_clears_another_accounts_failures_nor_unnamed_guesses()
    {
        long now = 0;
        var t = new AuthThrottle(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), () => now);
        var tenant = SourcePrefix.Of(IPAddress.Parse("198.51.100.9"));
        // A tenant alternates guesses at another account, and unnamed guesses, with its own successful logins.
        for (var i = 0; i < 6; i++)
        {
            var (v, _) = t.Attempt(tenant, i % 2 == 0 ? "victim" : null, () => false);
            if (v == AuthThrottle.Verdict.Throttled) break;
            now += (long)t.RemainingWait(tenant, "victim").TotalMilliseconds; // wait it out, so that the next guess is checked
            Assert.Equal(AuthThrottle.Verdict.Succeeded, t.Attempt(tenant, "tenant", () => true).Verdict);
            Assert.Equal(AuthThrottle.Verdict.Succeeded, t.Attempt(tenant, null, () => true).Verdict);
        }
        // Its failures still count: the next guess waits, doubling, whatever it does in between.
        Assert.True(Fail(t, tenant, "victim") >= TimeSpan.FromSeconds(16));
        // The named account has failures of its own, which another source's guess also sees.
        Assert.True(t.RemainingWait(SourcePrefix.Of(IPAddress.Parse("203.0.113.1")), "victim") > TimeSpan.Zero);
        Assert.Equal(TimeSpan.Zero, t.RemainingWait(SourcePrefix.Of(IPAddress.Parse("203.0.113.1")), "tenant"));
    }

    [Fact]
    public void A_success_of_the_named_account_clears_its_own_failures()
    {
        long now = 0;
        var t = new AuthThrottle(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), () => now);
        var a = SourcePrefix.Of(IPAddress.Parse("192.0.2.7"));
        Fail(t, a, "alice");
        Assert.Equal(TimeSpan.FromSeconds(1), Fail(t, a, "alice"));
        now += 1_000;
        Assert.Equal(AuthThrottle.Verdict.Succeeded, t.Attempt(a, "alice", () => true).Verdict);
        Assert.Equal(TimeSpan.Zero, t.RemainingWait(a, "alice"));
        Assert.Equal(0, t.Count);
    }

    [Fact]
    public void IPv6_sources_are_counted_per_64()
    {
        long now = 0;
        var t = new AuthThrottle(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), () => now);
        Fail(t, SourcePrefix.Of(IPAddress.Parse("2001:db8:1:2::1")));
        Fail(t, SourcePrefix.Of(IPAddress.Parse("2001:db8:1:2:ffff::9")));
        Assert.True(t.RemainingWait(SourcePrefix.Of(IPAddress.Parse("2001:db8:1:2::77")), null) > TimeSpan.Zero);
        Assert.Equal(TimeSpan.Zero, t.RemainingWait(SourcePrefix.Of(IPAddress.Parse("2001:db8:1:3::1")), null));
        Assert.Equal("2001:db8:1:2::/64", SourcePrefix.Of(IPAddress.Parse("2001:db8:1:2::1")).ToString());
    }

    [Fact]
    public void A_zero_delay_turns_the_throttle_off()
    {
        var t = new AuthThrottle(TimeSpan.Zero, TimeSpan.Zero);
        var lo = SourcePrefix.Of(IPAddress.Loopback);
        Assert.Equal(TimeSpan.Zero, Fail(t, lo));
        Assert.Equal(TimeSpan.Zero, Fail(t, lo));
        Assert.Equal(TimeSpan.Zero, t.RemainingWait(lo, null));
    }
}

/// <summary>The server's limits on what goes through its public ports: a cap on connections per tunnel, on users
/// waiting for a data connection, on the tunnels of a client. Run per pump: a slot under a cap comes back only when the
/// pump of its connection reports the end. On the default plane in every mode; on the async plane in Auto only, as are
/// the other limit, account, control-port and fuzz suites: what they check is kept before and around the pump, which
/// the data-path suites run on both planes in every mode, and a run per mode and plane would cost the 2-core CI machine
/// about 10 s for nothing the Auto run does not check.</summary>
public abstract class ServerLimitsTests : DataPathSuite
{
    [Fact]
    public async Task Users_beyond_the_per_tunnel_cap_are_refused_at_once_and_counted()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var so = ServerOptions();
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
        await using var f = NewFixture();
        var so = ServerOptions();
        so.UserConnectionTimeout = TimeSpan.FromSeconds(1);
        so.MaxPendingUserConnections = 2;
        var server = await f.StartServerAsync(so);
        // A client that registers a tunnel but never opens a data connection, so that users can only wait.
        var (control, port) = await RawControlClient.RegisterAsync(server, TunnelFixture.Token, "stingy", "starved");
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
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var so = ServerOptions();
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

public sealed class ServerLimitsCopyTests : ServerLimitsTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
}

public sealed class ServerLimitsSpliceTests : ServerLimitsTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
}

public sealed class ServerLimitsAutoTests : ServerLimitsTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

/// <summary>The runtime's async sockets, in the default mode only (see the suite).</summary>
public sealed class ServerLimitsAsyncAutoTests : ServerLimitsTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

/// <summary>Through the stream pump that TLS uses; with the other TLS suites, one class at a time.</summary>
[Collection(EndToEndTlsCollection.Name)]
public sealed class ServerLimitsTlsTests : ServerLimitsTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
    protected override bool Tls => true;
}
