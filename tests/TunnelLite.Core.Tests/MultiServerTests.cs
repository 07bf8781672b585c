using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>One client, several servers (active-active): the same tunnel registered on two real servers at once. The
/// servers bind different loopback addresses (127.0.0.2 and 127.0.0.3), so that both can open the same public port.</summary>
public class MultiServerTests
{
    private static readonly IPAddress AddressA = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress AddressB = IPAddress.Parse("127.0.0.3");

    private static TunnelServerOptions ServerOn(IPAddress address, int controlPort = 0)
    {
        var o = TunnelFixture.ServerOptions(bind: address.ToString());
        o.ControlPort = controlPort;
        return o;
    }

    /// <summary>A port free on both server addresses now.</summary>
    private static int FreePort()
    {
        for (var attempt = 0; ; attempt++)
        {
            var port = LoopbackPort.Free();
            try
            {
                foreach (var a in new[] { AddressA, AddressB })
                {
                    using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    s.Bind(new IPEndPoint(a, port));
                }
                return port;
            }
            catch (SocketException) when (attempt < 20)
            {
            }
        }
    }

    /// <summary>Client options with one tunnel "echo" at <paramref name="remotePort"/> on every server listed.</summary>
    private static TunnelClientOptions ClientFor(EchoService echo, int remotePort, params ServerEndpoint[] servers)
    {
        var o = new TunnelClientOptions
        {
            Servers = servers.ToList(),
            Token = TunnelFixture.Token,
            PoolCount = 2,
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
            HeartbeatTimeout = TimeSpan.FromSeconds(4),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
            LoggerFactory = TunnelFixture.Log,
        };
        o.Tunnels.Add(new TunnelDefinition { Name = "echo", LocalPort = echo.Port, RemotePort = remotePort });
        return o;
    }

    private static ServerEndpoint Endpoint(TunnelServer server) => new(server.Options.BindAddress, server.ControlEndpoint!.Port);

    private static async Task AssertEchoAsync(IPAddress address, int port, int size, int seed)
    {
        using var user = await TunnelFixture.ConnectAsync(port, address);
        var r = await Transfer.EchoRoundTripAsync(user, size, seed);
        Assert.Equal(r.Sent, r.Received);
    }

    [Fact]
    public async Task Users_reach_the_service_through_each_server_and_a_killed_server_loses_only_its_own_users()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var a = new TunnelServer(ServerOn(AddressA));
        await a.StartAsync();
        var controlA = a.ControlEndpoint!.Port;
        var b = await f.StartServerAsync(ServerOn(AddressB));
        var port = FreePort();
        await using var client = new MultiServerClient(ClientFor(echo, port, Endpoint(a), Endpoint(b)));
        try
        {
            var tunnels = await client.StartAsync();
            Assert.Equal(port, tunnels.Single().RemotePort);
            // One data plane for both servers' connections: one set of event loops, not one per server.
            Assert.Same(client.Clients[0].Pump, client.Clients[1].Pump);
            Assert.True(await TunnelFixture.WaitUntilAsync(() => client.ConnectedServers == 2, TimeSpan.FromSeconds(10)));
            await AssertEchoAsync(AddressA, port, 512 * 1024, 1);
            await AssertEchoAsync(AddressB, port, 512 * 1024, 2);

            // A user on A, paired and echoing, and a transfer through B that is half done when A goes.
            using var userA = await TunnelFixture.ConnectAsync(port, AddressA);
            await userA.SendAsync(new byte[] { 42 }, SocketFlags.None);
            Assert.Equal(42, (await Transfer.ReceiveExactlyAsync(userA, 1, TimeSpan.FromSeconds(10)))[0]);
            using var userB = await TunnelFixture.ConnectAsync(port, AddressB);
            var data = new byte[8 * 1024 * 1024];
            new Random(3).NextBytes(data);
            var received = Task.Run(async () =>
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buf = new byte[64 * 1024];
                while (await userB.ReceiveAsync(buf, SocketFlags.None) is var n and > 0) hash.AppendData(buf, 0, n);
                return Convert.ToHexString(hash.GetHashAndReset());
            });
            await userB.SendAsync(data.AsMemory(0, data.Length / 2), SocketFlags.None);

            await a.DisposeAsync();

            // A's user ends; B's transfer completes intact; the client retries A and still serves through B.
            var endA = await Transfer.DrainAsync(userA, TimeSpan.FromSeconds(10));
            Assert.Equal(0, endA.Bytes);
            await userB.SendAsync(data.AsMemory(data.Length / 2), SocketFlags.None);
            userB.Shutdown(SocketShutdown.Send);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(data)), await received.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(await TunnelFixture.WaitUntilAsync(() => client.Clients[0].State == ClientState.Reconnecting, TimeSpan.FromSeconds(10)));
            Assert.Equal(ClientState.Connected, client.Clients[1].State);
            Assert.Equal(ClientState.Connected, client.State);
            Assert.Equal(1, client.ConnectedServers);
            await AssertEchoAsync(AddressB, port, 256 * 1024, 4);
            await Assert.ThrowsAsync<SocketException>(() => TunnelFixture.ConnectAsync(port, AddressA));

            // A comes back on its control port: the client registers there again and users through A work.
            a = new TunnelServer(ServerOn(AddressA, controlA));
            await a.StartAsync();
            Assert.True(await TunnelFixture.WaitUntilAsync(() => client.ConnectedServers == 2, TimeSpan.FromSeconds(15)));
            Assert.True(client.Clients[0].Totals.Reconnects >= 1);
            await AssertEchoAsync(AddressA, port, 512 * 1024, 5);

            // Statistics per server, and their sum.
            var stats = client.GetStatistics(client.FindTunnels("echo"));
            Assert.Equal(3, stats.Count);
            Assert.Equal($"{Endpoint(a)},{Endpoint(b)}", stats[0].Server);
            Assert.Equal(2, stats[0].ServersConnected);
            Assert.Equal(Endpoint(a).ToString(), stats[1].Server);
            Assert.Equal(Endpoint(b).ToString(), stats[2].Server);
            Assert.Equal(stats[1].TotalConnections + stats[2].TotalConnections, stats[0].TotalConnections);
            Assert.Equal(stats[1].BytesIn + stats[2].BytesIn, stats[0].BytesIn);
            Assert.True(stats[1].BytesIn >= 1024 * 1024 + 1, $"A carried {stats[1].BytesIn} bytes in");
            Assert.True(stats[2].BytesIn >= 8 * 1024 * 1024, $"B carried {stats[2].BytesIn} bytes in");
            Assert.Equal("Connected", stats[0].State);
            // The user on A was reset when A went, and counted there; B's transfer ended cleanly.
            Assert.Equal(1, stats[1].ResetConnections);
            Assert.Equal(0, stats[2].ResetConnections);
            Assert.Equal(1, stats[0].ResetConnections);
        }
        finally
        {
            await client.StopAsync(TimeSpan.Zero);
            await a.DisposeAsync();
        }
    }

    [Fact]
    public async Task Start_returns_once_one_server_confirmed_and_registers_on_the_other_when_it_starts()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var a = await f.StartServerAsync(ServerOn(AddressA));
        var controlB = FreePort();
        var port = FreePort();
        await using var client = new MultiServerClient(ClientFor(echo, port, Endpoint(a), new ServerEndpoint(AddressB.ToString(), controlB)));
        await client.StartAsync();
        Assert.Equal(ClientState.Connected, client.State);
        Assert.Equal(ClientState.Connected, client.Clients[0].State);
        Assert.Equal(ClientState.Reconnecting, client.Clients[1].State);
        Assert.Equal(TunnelErrorCode.ServerUnreachable, client.Clients[1].LastError?.Code);
        await AssertEchoAsync(AddressA, port, 256 * 1024, 6);

        await f.StartServerAsync(ServerOn(AddressB, controlB));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.Clients[1].State == ClientState.Connected, TimeSpan.FromSeconds(15)));
        Assert.Equal(port, client.Clients[1].FindTunnel("echo")!.RemotePort);
        await AssertEchoAsync(AddressB, port, 256 * 1024, 7);
        await client.StopAsync(TimeSpan.Zero);
        Assert.Equal(ClientState.Stopped, client.State);
        Assert.True(client.Completion.IsCompleted);
    }

    [Fact]
    public async Task The_admin_endpoint_shows_each_tunnel_once_summed_over_the_servers()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var a = await f.StartServerAsync(ServerOn(AddressA));
        var b = await f.StartServerAsync(ServerOn(AddressB));
        var port = FreePort();
        var options = ClientFor(echo, port, Endpoint(a), Endpoint(b));
        options.Admin = new Admin.AdminOptions { Address = "127.0.0.1", Port = 0 };
        await using var client = new MultiServerClient(options);
        await client.StartAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.ConnectedServers == 2, TimeSpan.FromSeconds(10)));
        await AssertEchoAsync(AddressA, port, 64 * 1024, 8);
        await AssertEchoAsync(AddressB, port, 64 * 1024, 9);
        var admin = client.Admin!.Endpoint!;

        var ready = await RawHttp.RequestAsync(admin, "GET", "/ready?tunnel=echo");
        Assert.Equal(200, ready.Status);
        Assert.Contains("2 of 2 servers", ready.Body);
        var tunnels = await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels");
        Assert.Equal(200, tunnels.Status);
        var only = System.Text.Json.JsonDocument.Parse(tunnels.Body).RootElement.EnumerateArray().Single();
        Assert.Equal("echo", only.GetProperty("Name").GetString());
        Assert.Equal(2, only.GetProperty("ServersConnected").GetInt32());
        Assert.Equal(2 * 64 * 1024, only.GetProperty("BytesIn").GetInt64());
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/metrics")).Status);
    }

    [Fact]
    public async Task Start_fails_with_the_first_servers_error_when_no_server_confirms_and_nothing_keeps_trying()
    {
        await using var echo = new EchoService();
        var client = new MultiServerClient(ClientFor(echo, FreePort(),
            new ServerEndpoint(AddressA.ToString(), FreePort()), new ServerEndpoint(AddressB.ToString(), FreePort())));
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync());
        Assert.Equal(TunnelErrorCode.ServerUnreachable, e.Code);
        Assert.All(client.Clients, c => Assert.Equal(ClientState.Stopped, c.State));
        Assert.True(client.Completion.IsCompleted);
    }

    [Fact]
    public void Several_servers_need_fixed_remote_ports_and_distinct_servers()
    {
        var auto = new TunnelClientOptions
        {
            Token = TunnelFixture.Token,
            Servers = { new ServerEndpoint("a", 7000), new ServerEndpoint("b", 7000) },
            Tunnels = { new TunnelDefinition { Name = "web", LocalPort = 80 } },
        };
        var e = Assert.Throws<ArgumentException>(auto.Validate);
        Assert.Contains("'web'", e.Message);
        Assert.Contains("remote port", e.Message);

        var twice = new TunnelClientOptions
        {
            Token = TunnelFixture.Token,
            Servers = { new ServerEndpoint("a", 7000), new ServerEndpoint("A", 7000) },
            Tunnels = { new TunnelDefinition { Name = "web", LocalPort = 80, RemotePort = 8080 } },
        };
        Assert.Contains("twice", Assert.Throws<ArgumentException>(twice.Validate).Message);

        // One server in the list is the single-server case: a port picked by the server is fine.
        var one = new TunnelClientOptions { Token = TunnelFixture.Token, Servers = { new ServerEndpoint("a", 7001) }, Tunnels = { new TunnelDefinition { Name = "web", LocalPort = 80 } } };
        one.Validate();
        Assert.Equal(new ServerEndpoint("a", 7001), one.EffectiveServers.Single());
    }

    [Theory]
    [InlineData("a.example.net:7001", "a.example.net", 7001)]
    [InlineData("a.example.net", "a.example.net", 7000)]
    [InlineData("[::1]:7002", "::1", 7002)]
    [InlineData("::1", "::1", 7000)]
    public void An_endpoint_parses_as_host_and_port(string text, string host, int port) =>
        Assert.Equal(new ServerEndpoint(host, port), ServerEndpoint.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("a:0")]
    [InlineData("a:x")]
    [InlineData("[::1")]
    [InlineData(":7000")]
    public void A_bad_endpoint_is_a_format_error(string text) => Assert.Throws<FormatException>(() => ServerEndpoint.Parse(text));

    private const string Proxy = "auth.token = \"secret\"\n[[proxies]]\nname = \"web\"\ntype = \"tcp\"\nlocalPort = 80\nremotePort = 8080\n";

    [Fact]
    public void The_config_lists_servers_in_serverAddrs()
    {
        var o = TunnelConfigLoader.ParseClient("serverAddrs = [\"a.example.net:7001\", \"[::1]\"]\n" + Proxy, "c.toml").Options;
        Assert.Equal(new[] { new ServerEndpoint("a.example.net", 7001), new ServerEndpoint("::1", 7000) }, o.Servers);
        Assert.Equal(2, o.EffectiveServers.Count);
    }

    [Theory]
    [InlineData("serverAddr = \"a\"\nserverAddrs = [\"b:7000\"]\n", "serverAddr and serverAddrs")]
    [InlineData("serverAddrs = [\"b:7000\"]\nserverPort = 7001\n", "serverPort and serverAddrs")]
    [InlineData("serverAddrs = []\n", "list 1 to")]
    [InlineData("serverAddrs = [\"a:7000\", \"A:7000\"]\n", "listed twice")]
    [InlineData("serverAddrs = [\"a:99999\"]\n", "is not a port")]
    [InlineData("serverAddrs = [7000]\n", "expected a server as a string")]
    [InlineData("serverAddrs = \"a:7000\"\n", "expected an array")]
    public void A_bad_serverAddrs_is_a_config_error_that_names_the_key(string head, string expected)
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(head + Proxy, "c.toml"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("serverAddr", e.Message);
    }

    [Fact]
    public void Several_servers_in_the_config_with_a_proxy_without_remotePort_is_an_error_at_serverAddrs()
    {
        var text = "serverAddrs = [\"a:7000\", \"b:7000\"]\nauth.token = \"secret\"\n[[proxies]]\nname = \"web\"\ntype = \"tcp\"\nlocalPort = 80\n";
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(text, "c.toml"));
        Assert.Contains("serverAddrs", e.Message);
        Assert.Contains("remote port", e.Message);
    }
}
