using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Load-balancing groups and health checks: several clients share one public port as a group, proved by its key;
/// users are spread by round robin or least connections, each checked by hash and by which service answered; a member
/// whose service fails its health checks is withdrawn and comes back; a single tunnel whose service fails keeps its port
/// and resets its users. On both planes (the group hands users to its members on the loops and on the async plane).</summary>
public abstract class LoadBalancingGroupTests : DataPathSuite
{
    private const string Key = "group key of the web pool";
    private static readonly HealthCheck FastCheck = new() { Interval = TimeSpan.FromMilliseconds(150), Timeout = TimeSpan.FromSeconds(1), MaxFailed = 2 };

    private static TunnelClientOptions Member(TunnelServer server, string name, int localPort, int remotePort, string group = "web", string key = Key,
        LoadBalancingStrategy strategy = LoadBalancingStrategy.RoundRobin, HealthCheck? check = null)
    {
        var o = TunnelFixture.ClientOptions(server);
        o.Tunnels.Add(new TunnelDefinition
        {
            Name = name, LocalPort = localPort, RemotePort = remotePort, Group = group, GroupKey = key, Strategy = strategy, HealthCheck = check,
        });
        return o;
    }

    private static async Task<byte> UserAsync(int port, int seed)
    {
        using var user = await TunnelFixture.ConnectAsync(port);
        return await TaggedEchoService.ServedByAsync(user, 64 * 1024, seed);
    }

    /// <summary>True when a user of <paramref name="port"/> is reset without a byte (on the loops the reset may come
    /// before the connect has returned).</summary>
    private static async Task<bool> ResetAsync(int port)
    {
        try
        {
            using var user = await TunnelFixture.ConnectAsync(port);
            var (bytes, reset) = await Transfer.DrainAsync(user, TimeSpan.FromSeconds(3));
            return bytes == 0 && reset;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    private static TunnelStats Stats(TunnelServer server, string name) => server.GetTunnelStatistics().Single(s => s.Name == name);

    [Fact]
    public async Task Two_clients_share_one_port_and_round_robin_alternates_their_services()
    {
        await using var f = NewFixture();
        await using var a = new TaggedEchoService((byte)'A');
        await using var b = new TaggedEchoService((byte)'B');
        var server = await f.StartServerAsync();
        var first = await f.StartClientAsync(Member(server, "web-a", a.Port, 0));
        var port = first.Tunnels.Single().RemotePort;
        var second = await f.StartClientAsync(Member(server, "web-b", b.Port, port));
        Assert.Equal(port, second.Tunnels.Single().RemotePort);

        var tags = new List<byte>();
        for (var i = 0; i < 6; i++) tags.Add(await UserAsync(port, i));
        for (var i = 1; i < tags.Count; i++) Assert.NotEqual(tags[i - 1], tags[i]);
        Assert.Equal(3, tags.Count(t => t == 'A'));

        var stats = server.GetTunnelStatistics();
        Assert.All(stats, s => Assert.Equal("web", s.Group));
        Assert.All(stats, s => Assert.Equal(port, s.Port));
        Assert.Equal(3, Stats(server, "web-a").TotalConnections);
        Assert.Equal(3, Stats(server, "web-b").TotalConnections);
    }

    [Fact]
    public async Task Least_connections_sends_a_user_to_the_member_with_fewer_active_connections()
    {
        await using var f = NewFixture();
        await using var a = new TaggedEchoService((byte)'A');
        await using var b = new TaggedEchoService((byte)'B');
        var server = await f.StartServerAsync();
        var first = await f.StartClientAsync(Member(server, "lc-a", a.Port, 0, group: "lc", strategy: LoadBalancingStrategy.LeastConnections));
        var port = first.Tunnels.Single().RemotePort;
        await f.StartClientAsync(Member(server, "lc-b", b.Port, port, group: "lc", strategy: LoadBalancingStrategy.LeastConnections));

        // One user held open on one member: the next goes to the other, whatever the turn.
        using var held = await TunnelFixture.ConnectAsync(port);
        var heldTag = (await Transfer.ReceiveExactlyAsync(held, 1, TimeSpan.FromSeconds(10)))[0];
        // (Each user is closed before the next comes, but the server learns of it a moment later: without the wait, the
        // next one could find the members even, and either would be right.)
        var other = heldTag == 'A' ? "lc-b" : "lc-a";
        for (var i = 0; i < 3; i++)
        {
            Assert.NotEqual(heldTag, await UserAsync(port, 10 + i));
            Assert.True(await TunnelFixture.WaitUntilAsync(() => Stats(server, other).ActiveConnections == 0, TimeSpan.FromSeconds(5)));
        }

        // A member asking for another strategy is refused: the group has one.
        await using var c = new TaggedEchoService((byte)'C');
        var e = await Assert.ThrowsAsync<TunnelException>(() => f.StartClientAsync(Member(server, "lc-c", c.Port, port, group: "lc")));
        Assert.Equal(TunnelErrorCode.BadRequest, e.Code);
        Assert.Contains("leastConn", e.Message);
    }

    [Fact]
    public async Task A_wrong_group_key_is_refused_and_counted_and_never_shown()
    {
        await using var f = NewFixture();
        await using var a = new TaggedEchoService((byte)'A');
        var server = await f.StartServerAsync();
        var first = await f.StartClientAsync(Member(server, "k-a", a.Port, 0, group: "k"));
        var port = first.Tunnels.Single().RemotePort;
        const string wrong = "not the key at all";
        var e = await Assert.ThrowsAsync<TunnelException>(() => f.StartClientAsync(Member(server, "k-b", a.Port, port, group: "k", key: wrong)));
        Assert.Equal(TunnelErrorCode.GroupKeyMismatch, e.Code);
        Assert.DoesNotContain(wrong, e.Message);
        Assert.DoesNotContain(Key, e.Message);
        Assert.Equal(1, server.GetStatistics().GroupKeyFailures);
        // The group goes on serving.
        Assert.Equal((byte)'A', await UserAsync(port, 1));
    }

    [Fact]
    public async Task A_group_and_a_tunnel_of_its_own_cannot_take_each_others_port()
    {
        await using var f = NewFixture();
        await using var a = new TaggedEchoService((byte)'A');
        var server = await f.StartServerAsync();
        var grouped = await f.StartClientAsync(Member(server, "g-a", a.Port, 0, group: "g"));
        var groupPort = grouped.Tunnels.Single().RemotePort;
        var alone = TunnelFixture.ClientOptions(server);
        alone.Tunnels.Add(new TunnelDefinition { Name = "alone", LocalPort = a.Port, RemotePort = groupPort });
        Assert.Equal(TunnelErrorCode.PortInUse, (await Assert.ThrowsAsync<TunnelException>(() => f.StartClientAsync(alone))).Code);

        var own = TunnelFixture.ClientOptions(server);
        own.Tunnels.Add(new TunnelDefinition { Name = "own", LocalPort = a.Port });
        var ownPort = (await f.StartClientAsync(own)).Tunnels.Single().RemotePort;
        // A group member, even of a new group with its own key, does not get a port bound by a tunnel of its own.
        Assert.Equal(TunnelErrorCode.PortInUse, (await Assert.ThrowsAsync<TunnelException>(() => f.StartClientAsync(Member(server, "g2", a.Port, ownPort, group: "other")))).Code);
        // Nor another group's port.
        Assert.Equal(TunnelErrorCode.PortInUse, (await Assert.ThrowsAsync<TunnelException>(() => f.StartClientAsync(Member(server, "g3", a.Port, groupPort, group: "other")))).Code);
    }

    [Fact]
    public async Task The_port_stays_with_the_group_while_a_member_is_left_and_is_freed_with_the_last()
    {
        await using var f = NewFixture();
        await using var a = new TaggedEchoService((byte)'A');
        await using var b = new TaggedEchoService((byte)'B');
        var server = await f.StartServerAsync();
        var first = await f.StartClientAsync(Member(server, "p-a", a.Port, 0, group: "p"));
        var port = first.Tunnels.Single().RemotePort;
        var second = await f.StartClientAsync(Member(server, "p-b", b.Port, port, group: "p"));
        await first.StopAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Count == 1, TimeSpan.FromSeconds(5)));
        for (var i = 0; i < 3; i++) Assert.Equal((byte)'B', await UserAsync(port, i));
        await second.StopAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Count == 0, TimeSpan.FromSeconds(5)));
        var own = TunnelFixture.ClientOptions(server);
        own.Tunnels.Add(new TunnelDefinition { Name = "own", LocalPort = a.Port, RemotePort = port });
        Assert.Equal(port, (await f.StartClientAsync(own)).Tunnels.Single().RemotePort);
    }

    [Fact]
    public async Task A_member_whose_service_goes_down_is_withdrawn_and_rejoins_when_it_is_back()
    {
        await using var f = NewFixture();
        await using var a = new TaggedEchoService((byte)'A');
        await using var b = new TaggedEchoService((byte)'B');
        var server = await f.StartServerAsync();
        var first = await f.StartClientAsync(Member(server, "h-a", a.Port, 0, group: "h", check: FastCheck));
        var port = first.Tunnels.Single().RemotePort;
        var second = await f.StartClientAsync(Member(server, "h-b", b.Port, port, group: "h", check: FastCheck));

        await b.DownAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => Stats(server, "h-b").Healthy == false, TimeSpan.FromSeconds(10)));
        Assert.False(second.Tunnels.Single().Healthy);
        Assert.False(second.GetStatistics().Single().Healthy);
        for (var i = 0; i < 6; i++) Assert.Equal((byte)'A', await UserAsync(port, i));
        Assert.Equal(0, Stats(server, "h-b").FailedConnections);

        b.Up();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => Stats(server, "h-b").Healthy == true, TimeSpan.FromSeconds(10)));
        var tags = new List<byte>();
        for (var i = 0; i < 4; i++) tags.Add(await UserAsync(port, 20 + i));
        Assert.Equal(2, tags.Count(t => t == 'B'));

        // Both down: the port stays bound, users are reset at once.
        await a.DownAsync();
        await b.DownAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().All(s => s.Healthy == false), TimeSpan.FromSeconds(10)));
        var before = server.GetStatistics().RefusedConnections;
        Assert.True(await ResetAsync(port));
        Assert.True(server.GetStatistics().RefusedConnections > before);
    }

    [Fact]
    public async Task A_single_tunnel_whose_service_fails_keeps_its_port_and_resets_users_at_once()
    {
        await using var f = NewFixture();
        await using var a = new TaggedEchoService((byte)'A');
        var server = await f.StartServerAsync();
        var o = TunnelFixture.ClientOptions(server);
        o.Tunnels.Add(new TunnelDefinition { Name = "solo", LocalPort = a.Port, HealthCheck = FastCheck });
        var client = await f.StartClientAsync(o);
        var port = client.Tunnels.Single().RemotePort;
        Assert.Equal((byte)'A', await UserAsync(port, 1));

        await a.DownAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => Stats(server, "solo").Healthy == false, TimeSpan.FromSeconds(10)));
        var started = Environment.TickCount64;
        Assert.True(await ResetAsync(port));
        Assert.True(Environment.TickCount64 - started < 2500, "reset at once, not after the user connection timeout");
        Assert.True(Stats(server, "solo").RefusedConnections >= 1);

        // Nobody else takes the port meanwhile.
        var other = TunnelFixture.ClientOptions(server);
        other.Tunnels.Add(new TunnelDefinition { Name = "thief", LocalPort = a.Port, RemotePort = port });
        Assert.Equal(TunnelErrorCode.PortInUse, (await Assert.ThrowsAsync<TunnelException>(() => f.StartClientAsync(other))).Code);

        a.Up();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => Stats(server, "solo").Healthy == true, TimeSpan.FromSeconds(10)));
        Assert.Equal((byte)'A', await UserAsync(port, 2));
    }
}

public sealed class LoadBalancingGroupAutoTests : LoadBalancingGroupTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

/// <summary>The runtime's async sockets (the group's accept loop rather than the loops').</summary>
public sealed class LoadBalancingGroupAsyncAutoTests : LoadBalancingGroupTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

/// <summary>Group keys sealed on the wire: opened only with the session key they were sealed with.</summary>
public sealed class GroupKeySealTests
{
    [Fact]
    public void A_sealed_key_opens_with_its_session_key_only()
    {
        var k1 = new byte[32];
        var k2 = new byte[32];
        k2[0] = 1;
        var sealedKey = Protocol.GroupKeySeal.Seal(k1, "secret"u8);
        Assert.Equal("secret"u8.ToArray(), Protocol.GroupKeySeal.Open(k1, sealedKey));
        Assert.Null(Protocol.GroupKeySeal.Open(k2, sealedKey));
        sealedKey[^1] ^= 1;
        Assert.Null(Protocol.GroupKeySeal.Open(k1, sealedKey));
        Assert.Null(Protocol.GroupKeySeal.Open(k1, new byte[5]));
    }
}
