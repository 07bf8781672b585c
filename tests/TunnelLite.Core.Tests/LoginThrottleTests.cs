using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Protocol;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Guessing a token against a live server: the throttle counts parallel guesses one by one, per source and per
/// named account, and a tenant's own logins do not wash its guesses away.</summary>
public sealed class LoginThrottleTests
{
    private static async Task<TunnelErrorCode?> GuessAsync(int port, string token, string? account = null)
    {
        try
        {
            using var c = new FrameConnection(await TunnelFixture.ConnectAsync(port));
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await TestLogin.LoginAsync(c, token, $"guess-{Guid.NewGuid():N}", 0, account, cts.Token);
            return null;
        }
        catch (TunnelException e)
        {
            return e.Code;
        }
    }

    [Fact]
    public async Task Two_hundred_parallel_wrong_proofs_are_checked_a_few_at_most_and_the_rest_throttled()
    {
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.AuthFailureDelay = TimeSpan.FromSeconds(2);
        so.MaxPendingHandshakes = 512;
        so.MaxPendingHandshakesPerSource = 512; // this test is about the throttle, not admission
        so.HandshakeTimeout = TimeSpan.FromSeconds(15);
        so.PreambleTimeout = TimeSpan.FromSeconds(15);
        var server = await f.StartServerAsync(so);
        var port = server.ControlEndpoint!.Port;

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => GuessAsync(port, $"wrong-{i}")));
        var failed = outcomes.Count(o => o == TunnelErrorCode.AuthenticationFailed);
        var throttled = outcomes.Count(o => o == TunnelErrorCode.AuthenticationThrottled);
        Assert.Equal(200, failed + throttled);
        // The first failure is free and the second starts a 2 s wait, doubling; a slow machine may spread the 200 over a
        // few waits, each letting one more guess through.
        Assert.InRange(failed, 2, 5);
        var stats = server.GetStatistics();
        Assert.Equal(failed, stats.LoginsFailed);
        Assert.Equal(throttled, stats.LoginsThrottled);
    }

    [Fact]
    public async Task A_tenant_alternating_its_own_logins_with_guesses_at_another_account_gains_nothing()
    {
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.Token = "";
        so.AuthFailureDelay = TimeSpan.FromSeconds(2);
        so.Clients.Add(new ClientAccount { Name = "tenant", Token = "tenant-own-token-7f3a9c" });
        so.Clients.Add(new ClientAccount { Name = "victim", Token = "victim-secret-token-91be" });
        var server = await f.StartServerAsync(so);
        var port = server.ControlEndpoint!.Port;

        var guessesChecked = 0;
        var ownLogins = 0;
        for (var round = 0; round < 8; round++)
        {
            // Its own login, which under the old throttle cleared the address's failures...
            if (await GuessAsync(port, "tenant-own-token-7f3a9c", "tenant") is null) ownLogins++;
            // ...then a guess at the victim's token, naming the victim, and one naming nobody (tried against every token).
            foreach (var account in new[] { "victim", null })
                if (await GuessAsync(port, $"guess-{round}", account) == TunnelErrorCode.AuthenticationFailed) guessesChecked++;
        }
        Assert.Equal(2, guessesChecked);
        Assert.True(ownLogins >= 1, "the tenant's first own login should have got in");
        Assert.True(server.GetStatistics().LoginsThrottled >= 10);
        // The victim's account has failures of its own: a guess naming it waits whatever the address.
        var late = await GuessAsync(port, "another-guess", "victim");
        Assert.Equal(TunnelErrorCode.AuthenticationThrottled, late);
    }

    [Fact]
    public async Task A_client_that_names_its_account_is_checked_against_that_token_only_and_any_other_name_like_none()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var so = TunnelFixture.ServerOptions();
        so.Clients.Add(new ClientAccount { Name = "alice", Token = "alice-token-5d1e8b2c" });
        var server = await f.StartServerAsync(so);
        var o = TunnelFixture.ClientOptions(server, token: "alice-token-5d1e8b2c");
        o.ClientName = "alice";
        o.Tunnels.Add(new TunnelDefinition { Name = "named", LocalPort = echo.Port });
        await using var alice = new TunnelClient(o);
        await alice.StartAsync();
        Assert.Equal("alice", server.GetTunnelStatistics().Single().ClientName);
        // The shared token under alice's name is wrong: a hello that names an account proves that account's token.
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, await GuessAsync(server.ControlEndpoint!.Port, TunnelFixture.Token, "alice"));
        // A name that is no account (a host name, say) is just a name: the shared token gets in under it, and so does
        // alice's own token, as without a name.
        Assert.Null(await GuessAsync(server.ControlEndpoint!.Port, TunnelFixture.Token, "nobody"));
        Assert.Null(await GuessAsync(server.ControlEndpoint!.Port, "alice-token-5d1e8b2c", "nobody"));
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, await GuessAsync(server.ControlEndpoint!.Port, "wrong-token", "nobody"));
    }
}
