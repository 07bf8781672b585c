using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Sessions are capped per account and per source: settled at login, the same whatever moves the bytes, so these
/// run once.</summary>
public sealed class SessionLimitLoginTests
{
    [Fact]
    public async Task Sessions_of_the_shared_token_are_capped_as_one_account()
    {
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.MaxSessionsPerAccount = 2;
        var server = await f.StartServerAsync(so);
        var first = await f.StartClientAsync(TunnelFixture.ClientOptions(server));
        await f.StartClientAsync(TunnelFixture.ClientOptions(server));
        var e = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(TunnelFixture.ClientOptions(server)).StartAsync());
        Assert.Equal(TunnelErrorCode.TooManySessions, e.Code);
        Assert.Contains("maxSessionsPerAccount", e.Message);
        Assert.Equal(1, server.GetStatistics().SessionsRefused);
        // A slot comes back when a session ends.
        await first.StopAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.ClientCount == 1, TimeSpan.FromSeconds(5)));
        await f.StartClientAsync(TunnelFixture.ClientOptions(server));
        Assert.Equal(2, server.ClientCount);
    }

    [Fact]
    public async Task Sessions_from_one_source_are_capped_whatever_their_accounts()
    {
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.MaxSessionsPerSource = 2;
        so.Clients.Add(new ClientAccount { Name = "a", Token = "token-of-a-8c1f" });
        so.Clients.Add(new ClientAccount { Name = "b", Token = "token-of-b-27d0" });
        var server = await f.StartServerAsync(so);
        await f.StartClientAsync(TunnelFixture.ClientOptions(server, token: "token-of-a-8c1f"));
        await f.StartClientAsync(TunnelFixture.ClientOptions(server, token: "token-of-b-27d0"));
        var e = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(TunnelFixture.ClientOptions(server)).StartAsync());
        Assert.Equal(TunnelErrorCode.TooManySessions, e.Code);
        Assert.Contains("maxSessionsPerSource", e.Message);
    }

    [Fact]
    public async Task A_reconnecting_client_replaces_its_own_session_even_at_the_cap()
    {
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.MaxSessionsPerAccount = 1;
        var server = await f.StartServerAsync(so);
        var first = await f.StartClientAsync(TunnelFixture.ClientOptions(server));
        // The same client id, as after a reconnect whose old session has not timed out yet.
        var again = new TunnelClient(TunnelFixture.ClientOptions(server)) { ClientId = first.ClientId };
        await again.StartAsync();
        await again.StopAsync();
    }
}

/// <summary>Tunnel quotas count every session of an account, and a session refused over the quota leaves the others'
/// tunnels serving. Run per pump, since those tunnels must carry their users whichever pump moves the bytes. On the
/// default plane in every mode; on the async plane in Auto only, as are the other limit, account, control-port and fuzz
/// suites: what they check is kept before and around the pump, which the data-path suites run on both planes in every
/// mode, and a run per mode and plane would cost the 2-core CI machine about 10 s for nothing the Auto run does not
/// check.</summary>
public abstract class SessionLimitTests : DataPathSuite
{
    [Fact]
    public async Task The_shared_tokens_tunnel_cap_counts_every_session()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var so = ServerOptions();
        so.MaxTunnelsPerClient = 2;
        var server = await f.StartServerAsync(so);
        var a = TunnelFixture.ClientOptions(server);
        a.Tunnels.Add(new TunnelDefinition { Name = "s1", LocalPort = echo.Port });
        a.Tunnels.Add(new TunnelDefinition { Name = "s2", LocalPort = echo.Port });
        var first = await f.StartClientAsync(a);
        var b = TunnelFixture.ClientOptions(server);
        b.Tunnels.Add(new TunnelDefinition { Name = "s3", LocalPort = echo.Port });
        var e = await Assert.ThrowsAsync<TunnelException>(() => f.StartClientAsync(b));
        Assert.Equal(TunnelErrorCode.QuotaExceeded, e.Code);
        Assert.Contains("shared token", e.Message);
        Assert.Equal(2, server.GetTunnelStatistics().Count);
        // The refusal is the second session's alone: the first one's tunnels still carry their users.
        foreach (var t in first.Tunnels)
        {
            using var user = await TunnelFixture.ConnectAsync(t.RemotePort);
            var r = await Transfer.EchoRoundTripAsync(user, 64 * 1024, t.RemotePort);
            Assert.Equal(r.Sent, r.Received);
        }
    }
}

public sealed class SessionLimitCopyTests : SessionLimitTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
}

public sealed class SessionLimitSpliceTests : SessionLimitTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
}

public sealed class SessionLimitAutoTests : SessionLimitTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

/// <summary>The runtime's async sockets, in the default mode only (see the suite).</summary>
public sealed class SessionLimitAsyncAutoTests : SessionLimitTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}
