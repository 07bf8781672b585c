using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>A client gives a name in its hello, its host name by default. A name that is an account is that account (its
/// token only); any other name never breaks a login and names a shared-token client in the server's statistics.</summary>
public sealed class ClientNameTests
{
    private static TunnelServerOptions SharedAndAlice()
    {
        var so = TunnelFixture.ServerOptions();
        so.Clients.Add(new ClientAccount { Name = "alice", Token = "alice-secret-token-3c9f" });
        return so;
    }

    private static TunnelClientOptions Client(TunnelServer server, EchoService echo, string tunnel, string token = TunnelFixture.Token, string? name = null)
    {
        var o = TunnelFixture.ClientOptions(server, token: token);
        o.ClientName = name;
        o.Tunnels.Add(new TunnelDefinition { Name = tunnel, LocalPort = echo.Port });
        return o;
    }

    [Fact]
    public async Task A_shared_token_client_is_named_by_its_host_name_by_default_or_by_the_name_it_gives()
    {
        Assert.Equal(Environment.MachineName, TunnelClient.HostName());
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(SharedAndAlice());
        var byHost = await f.StartClientAsync(Client(server, echo, "by-host"));
        var byName = await f.StartClientAsync(Client(server, echo, "by-name", name: "build-agent-7"));
        Assert.Equal(Environment.MachineName, byHost.ClientName);
        var stats = server.GetTunnelStatistics().ToDictionary(s => s.Name);
        Assert.Equal(Environment.MachineName, stats["by-host"].ClientName);
        Assert.Equal("build-agent-7", stats["by-name"].ClientName);
        Assert.Equal("build-agent-7", byName.GetStatistics().Single().ClientName);
    }

    [Fact]
    public async Task An_account_client_that_gives_another_name_is_still_its_account()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(SharedAndAlice());
        await f.StartClientAsync(Client(server, echo, "alice-laptop", token: "alice-secret-token-3c9f", name: "laptop"));
        Assert.Equal("alice", server.GetTunnelStatistics().Single().ClientName);
    }

    [Fact]
    public async Task A_shared_token_client_named_like_an_account_fails_and_must_choose_another_name()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(SharedAndAlice());
        var e = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(Client(server, echo, "clash", name: "alice")).StartAsync());
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, e.Code);
        await f.StartClientAsync(Client(server, echo, "clash", name: "alice-pc"));
    }

    [Fact]
    public async Task Failed_logins_under_made_up_names_add_no_account_to_the_throttle()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var so = SharedAndAlice();
        // Waits of a few milliseconds: this test counts the throttle's entries, it does not wait for them.
        so.AuthFailureDelay = TimeSpan.FromMilliseconds(1);
        so.MaxAuthFailureDelay = TimeSpan.FromMilliseconds(5);
        var server = await f.StartServerAsync(so);
        async Task<TunnelErrorCode> FailAsync(string name)
        {
            await Task.Delay(20);
            var e = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(Client(server, echo, "guess", token: "wrong-token", name: name)).StartAsync());
            return e.Code;
        }
        for (var i = 0; i < 20; i++) Assert.Equal(TunnelErrorCode.AuthenticationFailed, await FailAsync($"made-up-{i}"));
        Assert.Equal(20, server.GetStatistics().LoginsFailed);
        Assert.Equal(0, server.Throttle.AccountCount);
        // A failure under an account's name counts for that account, from any address.
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, await FailAsync("alice"));
        Assert.Equal(1, server.Throttle.AccountCount);
    }
}
