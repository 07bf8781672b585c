using System.Net;
using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Who may connect to a public port, end to end on loopback: users come from 127.0.0.1 and 127.0.0.2 (and ::1),
/// bound before they connect, so that one passes a list and another does not. On both data planes: the event loops judge
/// the address accept4 gave, the async plane the socket's.</summary>
public sealed class SourceListTests
{
    internal static async Task<Socket> ConnectFromAsync(string source, int port, string target = "127.0.0.1")
    {
        var from = IPAddress.Parse(source);
        var s = new Socket(from.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            s.Bind(new IPEndPoint(from, 0));
            await s.ConnectAsync(new IPEndPoint(IPAddress.Parse(target), port));
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>A user from <paramref name="source"/> whose bytes come back whole (by hash).</summary>
    internal static async Task AssertPassesAsync(string source, int port, int seed, string target = "127.0.0.1")
    {
        using var user = await ConnectFromAsync(source, port, target);
        var r = await Transfer.EchoRoundTripAsync(user, 256 * 1024, seed);
        Assert.Equal(r.Sent, r.Received);
        Assert.Equal(256 * 1024, r.ReceivedBytes);
    }

    /// <summary>A user from <paramref name="source"/> that is reset at once, without a byte.</summary>
    internal static async Task AssertResetAsync(string source, int port, string target = "127.0.0.1")
    {
        Socket user;
        try
        {
            user = await ConnectFromAsync(source, port, target);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return; // on loopback the reset can come before the connect is reported done: it then reports the reset
        }
        using var _ = user;
        var (bytes, reset) = await Transfer.DrainAsync(user, TimeSpan.FromSeconds(10));
        Assert.True(reset, $"a user from {source} was closed, not reset");
        Assert.Equal(0, bytes);
    }

    [Theory]
    [InlineData(DataPlaneKind.EventLoops)]
    [InlineData(DataPlaneKind.Async)]
    public async Task A_user_passes_the_servers_the_accounts_and_the_clients_lists_or_is_reset_counted_and_logged(DataPlaneKind plane)
    {
        await using var f = new TunnelFixture(plane: plane);
        await using var echo = new EchoService();
        var log = new TestLog();
        var so = TunnelFixture.ServerOptions();
        so.LoggerFactory = log;
        so.Token = "";
        so.DenySources.Add(SourceNetwork.Parse("127.0.0.3"));
        so.Clients.Add(new ClientAccount { Name = "alice", Token = "alice-secret", AllowSources = { SourceNetwork.Parse("127.0.0.0/8") } });
        so.Clients.Add(new ClientAccount { Name = "bob", Token = "bob-secret", AllowSources = { SourceNetwork.Parse("127.0.0.1") } });
        var server = await f.StartServerAsync(so);

        var ao = TunnelFixture.ClientOptions(server, token: "alice-secret");
        ao.Tunnels.Add(new TunnelDefinition { Name = "narrow", LocalPort = echo.Port, DenySources = [SourceNetwork.Parse("127.0.0.2")] });
        var alice = await f.StartClientAsync(ao);
        // Bob asks for a user his account does not allow: the client's list narrows the account's, never widens it.
        var bo = TunnelFixture.ClientOptions(server, token: "bob-secret");
        bo.Tunnels.Add(new TunnelDefinition { Name = "wider", LocalPort = echo.Port, AllowSources = [SourceNetwork.Parse("127.0.0.2")] });
        var bob = await f.StartClientAsync(bo);
        var narrow = alice.Tunnels.Single().RemotePort;
        var wider = bob.Tunnels.Single().RemotePort;

        await AssertPassesAsync("127.0.0.1", narrow, 1);
        await AssertResetAsync("127.0.0.2", narrow); // the client's denySources
        await AssertResetAsync("127.0.0.3", narrow); // the server's denySources
        await AssertResetAsync("127.0.0.1", wider); // not in the client's allowSources
        await AssertResetAsync("127.0.0.2", wider); // not in the account's
        await AssertPassesAsync("127.0.0.1", narrow, 2);

        var stats = server.GetTunnelStatistics().ToDictionary(s => s.Name);
        Assert.Equal(2, stats["narrow"].SourceRefusedConnections);
        Assert.Equal(2, stats["narrow"].TotalConnections); // refused users are not opened
        Assert.Equal(0, stats["narrow"].RefusedConnections); // nor refused for capacity
        Assert.Equal(2, stats["wider"].SourceRefusedConnections);
        Assert.Equal(0, stats["wider"].TotalConnections);
        Assert.Equal(4, server.GetStatistics().SourceRefusedConnections);
        Assert.Equal(0, server.Totals.ActiveConnections);

        var lines = log.Lines;
        Assert.Contains(lines, l => l.Contains("Reset a user from 127.0.0.2:") && l.Contains("tunnel narrow: in the client's denySources for it"));
        Assert.Contains(lines, l => l.Contains("Reset a user from 127.0.0.3:") && l.Contains("tunnel narrow: in the server's denySources"));
        Assert.Contains(lines, l => l.Contains("Reset a user from 127.0.0.1:") && l.Contains("tunnel wider: not in the client's allowSources for it"));
        Assert.Contains(lines, l => l.Contains("Reset a user from 127.0.0.2:") && l.Contains("tunnel wider: not in the allowSources of client account bob"));
    }

    [Theory]
    [InlineData(DataPlaneKind.EventLoops)]
    [InlineData(DataPlaneKind.Async)]
    public async Task On_a_dual_stack_port_an_IPv4_user_matches_IPv4_networks_and_an_IPv6_user_IPv6_ones(DataPlaneKind plane)
    {
        await using var f = new TunnelFixture(plane: plane);
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TunnelFixture.ServerOptions(bind: "::"));
        var o = TunnelFixture.ClientOptions(server);
        o.Tunnels.Add(new TunnelDefinition { Name = "dual", LocalPort = echo.Port, AllowSources = [SourceNetwork.Parse("127.0.0.1"), SourceNetwork.Parse("::1")] });
        var client = await f.StartClientAsync(o);
        var port = client.Tunnels.Single().RemotePort;

        await AssertPassesAsync("127.0.0.1", port, 3); // seen as ::ffff:127.0.0.1
        await AssertPassesAsync("::1", port, 4, target: "::1");
        await AssertResetAsync("127.0.0.2", port);
        Assert.Equal(1, server.GetTunnelStatistics().Single().SourceRefusedConnections);
        Assert.Equal(2, server.GetTunnelStatistics().Single().TotalConnections);
    }

    [Fact]
    public async Task A_bad_list_fails_that_tunnels_registration_and_not_the_session()
    {
        await using var f = new TunnelFixture();
        var server = await f.StartServerAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var c = new FrameConnection(await TunnelFixture.ConnectAsync(server.ControlEndpoint!.Port));
        await TestLogin.LoginAsync(c, TunnelFixture.Token, "raw-sources", cancellationToken: cts.Token);
        var many = Enumerable.Range(0, 257).Select(i => $"10.0.{i / 256}.{i % 256}").ToList();
        await c.SendAsync(new RegisterMessage
        {
            RequestId = 1,
            Tunnels =
            {
                new TunnelRequest { Name = "bad", AllowSources = ["10.0.0.0/8", "10.0.0.1/8"] },
                new TunnelRequest { Name = "many", DenySources = many },
                new TunnelRequest { Name = "good", AllowSources = ["127.0.0.1"] },
                new TunnelRequest { Name = "none" },
            },
        }, cts.Token);
        var results = (await c.ReadExpectedAsync<RegisterResultMessage>(cts.Token)).Results.ToDictionary(r => r.Name);
        Assert.Equal(TunnelErrorCode.BadRequest, results["bad"].Error);
        Assert.StartsWith("allowSources[1]: '10.0.0.1/8' has bits set", results["bad"].Message);
        Assert.Equal(TunnelErrorCode.BadRequest, results["many"].Error);
        Assert.Contains("at most 256", results["many"].Message);
        Assert.Equal(TunnelErrorCode.Unknown, results["good"].Error);
        Assert.True(results["good"].SourcesEnforced);
        Assert.True(results["good"].RemotePort > 0);
        Assert.False(results["none"].SourcesEnforced);
        Assert.Equal(new[] { "good", "none" }, server.GetTunnelStatistics().Select(t => t.Name));
        Assert.Equal(1, server.ClientCount);
    }

    [Fact]
    public async Task A_client_with_lists_refuses_a_server_that_does_not_confirm_them()
    {
        await using var echo = new EchoService();
        await using var old = new FakeServer(TunnelFixture.Token, askFor: 0);
        var o = new TunnelClientOptions
        {
            ServerAddress = "127.0.0.1", ServerPort = old.Port, Token = TunnelFixture.Token, PoolCount = 0, ConnectTimeout = TimeSpan.FromSeconds(5),
            Tunnels = { new TunnelDefinition { Name = "listed", LocalPort = echo.Port, AllowSources = [SourceNetwork.Parse("10.0.0.0/8")] } },
        };
        await using var client = new TunnelClient(o);
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync());
        Assert.Equal(TunnelErrorCode.VersionMismatch, e.Code);
        Assert.Contains("does not enforce allowSources and denySources", e.Message);

        // Without lists the same server is fine.
        o.Tunnels[0] = new TunnelDefinition { Name = "open", LocalPort = echo.Port };
        await using var plain = new TunnelClient(o);
        await plain.StartAsync();
        Assert.Equal(20000, plain.Tunnels.Single().RemotePort);
    }

    [Fact]
    public async Task Tunnels_whose_lists_pass_a_frame_register_in_several_and_all_are_enforced()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var o = TunnelFixture.ClientOptions(server);
        // 12 tunnels of 2 x 256 networks are some 90 KiB of JSON: more than one frame (64 KiB) holds.
        var allow = Enumerable.Range(0, 255).Select(i => SourceNetwork.Parse($"10.1.{i}.0/24")).Append(SourceNetwork.Parse("127.0.0.1")).ToArray();
        var deny = Enumerable.Range(0, 256).Select(i => SourceNetwork.Parse($"2001:db8:{i:x}::/48")).ToArray();
        for (var i = 0; i < 12; i++) o.Tunnels.Add(new TunnelDefinition { Name = $"big{i}", LocalPort = echo.Port, AllowSources = allow, DenySources = deny });
        var client = await f.StartClientAsync(o);
        Assert.All(client.Tunnels, t => Assert.True(t.RemotePort > 0));
        Assert.Equal(12, server.GetTunnelStatistics().Count);

        var last = client.Tunnels.Single(t => t.Name == "big11").RemotePort;
        await AssertPassesAsync("127.0.0.1", last, 5);
        await AssertResetAsync("127.0.0.2", last);
    }
}
