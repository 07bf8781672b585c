using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Security;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>A server and a client warn at start about each weak token, naming it by its role and never showing it.</summary>
public sealed class WeakTokenWarningTests
{
    private static List<string> Warnings(TestLog log) =>
        log.Tail(2000).Split('\n').Where(l => l.Contains(" Warning: ", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task A_server_with_the_token_change_me_warns_once_without_showing_it_and_so_does_its_client()
    {
        var log = new TestLog();
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.Token = "change-me";
        so.LoggerFactory = log;
        var server = await f.StartServerAsync(so);

        var serverWarnings = Warnings(log);
        var warning = Assert.Single(serverWarnings);
        Assert.Contains("The shared token (auth.token, -Token) is weak: it is a well-known example value.", warning);
        Assert.Contains("New-TunnelToken", warning);
        Assert.DoesNotContain("change-me", log.Tail(2000), StringComparison.OrdinalIgnoreCase);

        var co = TunnelFixture.ClientOptions(server, token: "change-me");
        co.LoggerFactory = log;
        await f.StartClientAsync(co);
        var clientWarning = Assert.Single(Warnings(log).Except(serverWarnings));
        Assert.Contains("The token (auth.token, -Token) is weak: it is a well-known example value.", clientWarning);
        Assert.DoesNotContain("change-me", log.Tail(2000), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_server_warns_about_each_weak_account_by_name_and_not_about_strong_tokens()
    {
        var log = new TestLog();
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.Token = TokenStrength.NewToken();
        so.Clients.Add(new ClientAccount { Name = "alice", Token = "alice-secret" });
        so.Clients.Add(new ClientAccount { Name = "bob", Token = TokenStrength.NewToken(128) });
        so.LoggerFactory = log;
        await f.StartServerAsync(so);

        var warning = Assert.Single(Warnings(log));
        Assert.Contains("The token of client 'alice' ([[clients]]) is weak: it has about ", warning);
        Assert.DoesNotContain("alice-secret", log.Tail(2000));
    }

    [Fact]
    public async Task A_server_and_a_client_with_a_strong_token_do_not_warn()
    {
        var log = new TestLog();
        await using var f = new TunnelFixture();
        var token = TokenStrength.NewToken();
        var so = TunnelFixture.ServerOptions();
        so.Token = token;
        so.LoggerFactory = log;
        var server = await f.StartServerAsync(so);
        var co = TunnelFixture.ClientOptions(server, token: token);
        co.LoggerFactory = log;
        await f.StartClientAsync(co);
        Assert.Empty(Warnings(log));
    }
}
