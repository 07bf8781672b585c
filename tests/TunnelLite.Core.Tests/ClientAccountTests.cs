using System.Net;
using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Per-client tokens: each [[clients]] account logs in with its own token, is known by its name, binds only
/// its own ports and holds at most its quota of tunnels. Run per pump, since every account's tunnels must carry their
/// users whichever pump moves the bytes. On the default plane in every mode; on the async plane in Auto only, as are
/// the other limit, account, control-port and fuzz suites: what they check is kept before and around the pump, which
/// the data-path suites run on both planes in every mode, and a run per mode and plane would cost the 2-core CI machine
/// about 10 s for nothing the Auto run does not check.</summary>
public abstract class ClientAccountTests : DataPathSuite
{
    /// <summary><paramref name="so"/> with two accounts: alice, limited to ports 21100-21109 and two tunnels, and bob.</summary>
    internal static TunnelServerOptions WithAccounts(TunnelServerOptions so, string sharedToken = "")
    {
        so.Token = sharedToken;
        so.AllowPorts.Add(new PortRange(1024, 65535));
        so.Clients.Add(new ClientAccount { Name = "alice", Token = "alice-secret", AllowPorts = { new PortRange(21100, 21109) }, MaxTunnels = 2 });
        so.Clients.Add(new ClientAccount { Name = "bob", Token = "bob-secret" });
        return so;
    }

    internal static TunnelClientOptions Client(TunnelServer server, string token, EchoService echo, params (string Name, int RemotePort)[] tunnels)
    {
        var o = TunnelFixture.ClientOptions(server, token: token);
        foreach (var (name, port) in tunnels) o.Tunnels.Add(new TunnelDefinition { Name = name, LocalPort = echo.Port, RemotePort = port });
        return o;
    }

    [Fact]
    public async Task Each_client_logs_in_with_its_own_token_and_is_named_in_the_statistics()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(WithAccounts(ServerOptions()));
        var alice = await f.StartClientAsync(Client(server, "alice-secret", echo, ("a1", 0)));
        var bob = await f.StartClientAsync(Client(server, "bob-secret", echo, ("b1", 0)));
        Assert.InRange(alice.Tunnels.Single().RemotePort, 21100, 21109);

        foreach (var c in new[] { alice, bob })
        {
            using var user = await TunnelFixture.ConnectAsync(c.Tunnels.Single().RemotePort);
            var r = await Transfer.EchoRoundTripAsync(user, 256 * 1024, 7);
            Assert.Equal(r.Sent, r.Received);
        }
        var stats = server.GetTunnelStatistics().ToDictionary(s => s.Name);
        Assert.Equal("alice", stats["a1"].ClientName);
        Assert.Equal("bob", stats["b1"].ClientName);
    }

    [Fact]
    public async Task The_shared_token_still_works_beside_the_accounts_and_has_no_client_name_of_an_account()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(WithAccounts(ServerOptions(), sharedToken: TunnelFixture.Token));
        var client = await f.StartClientAsync(Client(server, TunnelFixture.Token, echo, ("shared", 0)));
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
        var r = await Transfer.EchoRoundTripAsync(user, 64 * 1024, 8);
        Assert.Equal(r.Sent, r.Received);
        Assert.NotEqual("alice", server.GetTunnelStatistics().Single().ClientName);
    }

    [Fact]
    public async Task A_client_cannot_bind_outside_its_own_ports_even_where_the_server_allows_it()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(WithAccounts(ServerOptions()));
        var e = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(Client(server, "alice-secret", echo, ("out", 21200))).StartAsync());
        Assert.Equal(TunnelErrorCode.PortNotAllowed, e.Code);
        Assert.Contains("21100-21109", e.Message);
        // Checked by a connect, not a bind: the same test runs at the same time in the other modes, and two binds collide.
        var nobody = await Assert.ThrowsAsync<SocketException>(() => TunnelFixture.ConnectAsync(21200));
        Assert.Equal(SocketError.ConnectionRefused, nobody.SocketErrorCode); // the refused port was not bound
        // bob has no ranges of his own: the server's apply.
        var bob = await f.StartClientAsync(Client(server, "bob-secret", echo, ("bob-high", 0)));
        Assert.True(bob.Tunnels.Single().RemotePort >= 1024);
    }

    [Fact]
    public async Task A_client_holds_at_most_its_quota_of_tunnels()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(WithAccounts(ServerOptions()));
        var e = await Assert.ThrowsAsync<TunnelException>(() =>
            new TunnelClient(Client(server, "alice-secret", echo, ("q1", 0), ("q2", 0), ("q3", 0))).StartAsync());
        Assert.Equal(TunnelErrorCode.QuotaExceeded, e.Code);
        Assert.Contains("at most 2", e.Message);
        // The refused start said goodbye; the server ends that session, and frees the two tunnels it had granted, a moment
        // later (as after any stop): until then they count against alice's quota.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.ClientCount == 0, TimeSpan.FromSeconds(5)));

        var alice = await f.StartClientAsync(Client(server, "alice-secret", echo, ("q1", 0), ("q2", 0)));
        Assert.Equal(2, alice.Tunnels.Count);
        var more = await Assert.ThrowsAsync<TunnelException>(() => alice.AddTunnelAsync(new TunnelDefinition { Name = "q3", LocalPort = echo.Port }));
        Assert.Equal(TunnelErrorCode.QuotaExceeded, more.Code);
        await alice.RemoveTunnelAsync("q2");
        await alice.AddTunnelAsync(new TunnelDefinition { Name = "q3", LocalPort = echo.Port });
        Assert.Contains(server.GetTunnelStatistics(), s => s.Name == "q3" && s.ClientName == "alice");
    }

    [Fact]
    public async Task One_account_cannot_end_another_accounts_session_by_reusing_its_client_id()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(WithAccounts(ServerOptions()));
        var alice = await f.StartClientAsync(Client(server, "alice-secret", echo, ("victim", 0)));
        // The client id is not a secret (a session replaces an older one of the same client): it must not let bob end alice's.
        var bob = f.Own(new TunnelClient(Client(server, "bob-secret", echo, ("intruder", 0))) { ClientId = alice.ClientId });
        await bob.StartAsync();
        Assert.Equal(2, server.ClientCount);
        using var user = await TunnelFixture.ConnectAsync(alice.Tunnels.Single().RemotePort);
        var r = await Transfer.EchoRoundTripAsync(user, 64 * 1024, 9);
        Assert.Equal(r.Sent, r.Received);
    }
}

public sealed class ClientAccountCopyTests : ClientAccountTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
}

public sealed class ClientAccountSpliceTests : ClientAccountTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
}

public sealed class ClientAccountAutoTests : ClientAccountTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

/// <summary>The runtime's async sockets, in the default mode only (see the suite).</summary>
public sealed class ClientAccountAsyncAutoTests : ClientAccountTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

/// <summary>Account options and logins that fail: settled before any tunnel exists, the same whatever moves the bytes, so
/// these run once.</summary>
public sealed class ClientAccountLoginTests
{
    [Fact]
    public async Task Without_a_shared_token_an_unknown_token_is_rejected()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(ClientAccountTests.WithAccounts(TunnelFixture.ServerOptions()));
        var e = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(ClientAccountTests.Client(server, "mallory", echo, ("m", 0))).StartAsync());
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, e.Code);
        Assert.Equal(0, server.ClientCount);
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("alice", "")]
    public void Options_reject_accounts_without_name_or_token(string name, string token)
    {
        var so = TunnelFixture.ServerOptions();
        so.Clients.Add(new ClientAccount { Name = name, Token = token });
        Assert.Throws<ArgumentException>(() => new TunnelServer(so));
    }

    [Fact]
    public void Options_reject_a_token_shared_by_two_accounts_or_with_the_shared_token()
    {
        var so = TunnelFixture.ServerOptions();
        so.Clients.Add(new ClientAccount { Name = "a", Token = TunnelFixture.Token });
        Assert.Contains("unique", Assert.Throws<ArgumentException>(() => new TunnelServer(so)).Message);
        so.Clients.Clear();
        so.Clients.Add(new ClientAccount { Name = "a", Token = "same" });
        so.Clients.Add(new ClientAccount { Name = "b", Token = "same" });
        Assert.Contains("unique", Assert.Throws<ArgumentException>(() => new TunnelServer(so)).Message);
    }
}
