using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Token rotation with overlap: an account (or the shared token) accepts its current token and, until its expiry,
/// the previous one, so that clients move over one by one. Real servers and clients on 127.0.0.1, bytes checked by hash.</summary>
public sealed class TokenRotationTests
{
    private const string NewToken = "rotation-new-Q7vYc2LmX9pR4tKw8sNf3hJ6";
    private const string OldToken = "rotation-old-Z3kPq8WnR5xT2mVb7cLy4gHd";
    private const string BobToken = "rotation-bob-M4nBv8CxZ2lKj6HgF3dSa9Qw";

    /// <summary>A server whose alice account (or, when <paramref name="shared"/>, whose shared token) rotates from
    /// <see cref="OldToken"/> to <see cref="NewToken"/>, the old one accepted until <paramref name="expires"/>; bob has a
    /// token of his own. Its log goes to <paramref name="log"/>.</summary>
    private static TunnelServerOptions Rotating(bool shared, DateTimeOffset expires, TestLog log)
    {
        var so = TunnelFixture.ServerOptions();
        so.LoggerFactory = log;
        // The old client reconnects after its session ends and is refused: no throttle, so that the checks below see
        // AuthenticationFailed rather than a wait.
        so.AuthFailureDelay = TimeSpan.Zero;
        so.Clients.Add(new ClientAccount { Name = "bob", Token = BobToken });
        if (shared)
        {
            so.Token = NewToken;
            so.PreviousToken = OldToken;
            so.PreviousTokenExpires = expires;
        }
        else
        {
            so.Token = "";
            so.Clients.Add(new ClientAccount { Name = "alice", Token = NewToken, PreviousToken = OldToken, PreviousTokenExpires = expires });
        }
        return so;
    }

    private static TunnelClientOptions Client(TunnelServer server, string token, EchoService echo, string tunnel, string? name = null)
    {
        var o = TunnelFixture.ClientOptions(server, token: token);
        o.ClientName = name;
        o.Tunnels.Add(new TunnelDefinition { Name = tunnel, LocalPort = echo.Port });
        return o;
    }

    private static async Task AssertEchoAsync(TunnelClient client, int seed)
    {
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
        var r = await Transfer.EchoRoundTripAsync(user, 256 * 1024, seed);
        Assert.Equal(r.Sent, r.Received);
        Assert.Equal(256 * 1024, r.ReceivedBytes);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Clients_with_the_new_and_the_previous_token_both_carry_bytes_and_the_log_names_the_token_never_its_value(bool shared)
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var expires = DateTimeOffset.UtcNow.AddHours(1);
        var server = await f.StartServerAsync(Rotating(shared, expires, log));
        // The account named by one client (checked against alice's tokens only), not by the other (checked against all):
        // both must find the token they proved, and the server must prove that same token back (the client checks it).
        var current = await f.StartClientAsync(Client(server, NewToken, echo, "new", shared ? null : "alice"));
        var previous = await f.StartClientAsync(Client(server, OldToken, echo, "old"));
        await AssertEchoAsync(current, 1);
        await AssertEchoAsync(previous, 2);

        var clients = server.GetClients();
        var onNew = clients.Single(c => c.Tunnels.Contains("new"));
        var onOld = clients.Single(c => c.Tunnels.Contains("old"));
        Assert.Equal(TokenKind.Current, onNew.Token);
        Assert.Null(onNew.TokenExpires);
        Assert.Equal(TokenKind.Previous, onOld.Token);
        Assert.Equal(expires, onOld.TokenExpires);
        Assert.Equal(shared ? null : "alice", onOld.Account);
        Assert.Equal(onNew.Account, onOld.Account);

        var lines = log.Lines;
        var until = $"accepted until {TokenRotationKeys.Show(expires)}";
        Assert.Contains(lines, l => l.Contains(shared ? "authenticated with the shared token" : "authenticated with its current token", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(shared ? $"authenticated with the previous shared token (auth.previousToken, {until})" : $"authenticated with its previous token ({until})", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"is {until}; the sessions that prove it end then", StringComparison.Ordinal));
        AssertNoTokenIn(lines);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task At_expiry_the_previous_tokens_sessions_end_their_ports_are_freed_and_it_is_refused_while_the_new_token_keeps_carrying(bool shared)
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var expires = DateTimeOffset.UtcNow.AddSeconds(2.5);
        var server = await f.StartServerAsync(Rotating(shared, expires, log));
        var current = await f.StartClientAsync(Client(server, NewToken, echo, "new"));
        var previous = await f.StartClientAsync(Client(server, OldToken, echo, "old"));
        var bob = await f.StartClientAsync(Client(server, BobToken, echo, "bob"));
        await AssertEchoAsync(previous, 3);
        Assert.Equal(3, server.ClientCount);

        // The timer ends the old session at the expiry (not before), and its tunnel is unregistered.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetClients().All(c => c.Token == TokenKind.Current) && server.ClientCount == 2, TimeSpan.FromSeconds(15)),
            log.Tail());
        Assert.True(DateTimeOffset.UtcNow >= expires);
        Assert.DoesNotContain(server.GetTunnelStatistics(), t => t.Name == "old");
        Assert.Contains(log.Lines, l => l.Contains("has expired; ending its session", StringComparison.Ordinal));

        // A login with the previous token is now refused like a wrong token, and counted so.
        var failedBefore = server.GetStatistics().LoginsFailed;
        var refused = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(Client(server, OldToken, echo, "again")).StartAsync());
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, refused.Code);
        Assert.True(server.GetStatistics().LoginsFailed > failedBefore);

        // The new token's session and bob's are untouched and keep carrying bytes.
        await AssertEchoAsync(current, 4);
        await AssertEchoAsync(bob, 5);
        Assert.Equal(2, server.ClientCount);
        AssertNoTokenIn(log.Lines);
    }

    [Fact]
    public async Task One_timer_ends_each_previous_token_at_its_own_expiry_earliest_first()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var first = DateTimeOffset.UtcNow.AddSeconds(2);
        var second = first.AddSeconds(2);
        var so = Rotating(shared: false, first, log);
        so.Token = NewToken + "-shared";
        so.PreviousToken = OldToken + "-shared";
        so.PreviousTokenExpires = second;
        var server = await f.StartServerAsync(so);
        var alice = await f.StartClientAsync(Client(server, OldToken, echo, "alice-old"));
        var sharedOld = await f.StartClientAsync(Client(server, OldToken + "-shared", echo, "shared-old"));

        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().All(t => t.Name != "alice-old"), TimeSpan.FromSeconds(10)), log.Tail());
        // alice's previous token expired; the shared one has not yet, and its session still carries bytes.
        if (DateTimeOffset.UtcNow < second - TimeSpan.FromMilliseconds(500))
        {
            Assert.Contains(server.GetTunnelStatistics(), t => t.Name == "shared-old");
            await AssertEchoAsync(sharedOld, 6);
        }
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.ClientCount == 0, TimeSpan.FromSeconds(10)), log.Tail());
        Assert.True(DateTimeOffset.UtcNow >= second);
    }

    [Fact]
    public async Task A_previous_token_already_expired_at_start_is_refused_and_the_log_says_so()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var server = await f.StartServerAsync(Rotating(shared: false, DateTimeOffset.UtcNow.AddMinutes(-1), log));
        var e = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(Client(server, OldToken, echo, "late", "alice")).StartAsync());
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, e.Code);
        var current = await f.StartClientAsync(Client(server, NewToken, echo, "on-time", "alice"));
        await AssertEchoAsync(current, 7);
        Assert.Contains(log.Lines, l => l.Contains("The previous token of client 'alice' expired at", StringComparison.Ordinal));
        AssertNoTokenIn(log.Lines);
    }

    [Fact]
    public void Options_refuse_a_previous_token_without_expiry_an_expiry_without_token_and_any_token_twice()
    {
        static void Refused(Action<TunnelServerOptions> change, string phrase)
        {
            var so = TunnelFixture.ServerOptions();
            so.Clients.Add(new ClientAccount { Name = "alice", Token = NewToken });
            change(so);
            var e = Assert.Throws<ArgumentException>(() => new TunnelServer(so));
            Assert.Contains(phrase, e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(OldToken, e.Message, StringComparison.Ordinal);
        }
        var soon = DateTimeOffset.UtcNow.AddDays(1);
        Refused(so => so.PreviousToken = OldToken, "auth.previousTokenExpires");
        Refused(so => so.PreviousTokenExpires = soon, "no previous token");
        Refused(so => so.Clients[0].PreviousToken = OldToken, "previousTokenExpires");
        Refused(so => so.Clients[0].PreviousTokenExpires = soon, "no previous token");
        Refused(so => (so.PreviousToken, so.PreviousTokenExpires) = (so.Token, soon), "rotation needs a new token");
        Refused(so => (so.Clients[0].PreviousToken, so.Clients[0].PreviousTokenExpires) = (NewToken, soon), "unique");
        Refused(so => (so.Clients[0].PreviousToken, so.Clients[0].PreviousTokenExpires) = (TunnelFixture.Token, soon), "unique");
        Refused(so => (so.PreviousToken, so.PreviousTokenExpires) = (NewToken, soon), "unique");
        Refused(so =>
        {
            (so.PreviousToken, so.PreviousTokenExpires) = (OldToken, soon);
            so.Clients.Add(new ClientAccount { Name = "bob", Token = BobToken, PreviousToken = OldToken, PreviousTokenExpires = soon });
        }, "unique");
    }

    /// <summary>No line shows a token, or a piece of one.</summary>
    private static void AssertNoTokenIn(IReadOnlyList<string> lines)
    {
        Assert.NotEmpty(lines);
        foreach (var token in new[] { NewToken, OldToken, BobToken })
            foreach (var part in Enumerable.Range(0, token.Length - 9).Select(i => token.Substring(i, 10)))
                Assert.DoesNotContain(lines, l => l.Contains(part, StringComparison.Ordinal));
    }
}
