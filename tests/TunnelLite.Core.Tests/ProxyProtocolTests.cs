using System.Net;
using System.Net.Sockets;
using System.Text;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>A tunnel with -ProxyProtocol writes the user's real source and the public destination to its local service,
/// ahead of the user's bytes and even while the user stays silent; then the bytes flow as on any tunnel. Against a plain
/// socket that checks the header byte for byte, and against the real consumers users put behind such a tunnel: HAProxy
/// (accept-proxy) and nginx (proxy_protocol). Run on the event-loop plane, the async plane and TLS (the stream pump),
/// whose clients each write the header on their own path.</summary>
public abstract class ProxyProtocolTests : DataPathSuite
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);
    private static readonly IPAddress SecondLoopback = IPAddress.Parse("127.0.0.2");

    /// <summary>A server on every address ("::", dual-stack) and a client with one tunnel to <paramref name="servicePort"/>.</summary>
    private async Task<(TunnelServer Server, int RemotePort)> StartAsync(TunnelFixture f, int servicePort, ProxyProtocolVersion version)
    {
        var so = ServerOptions();
        so.BindAddress = "::";
        var server = await f.StartServerAsync(so);
        var co = TunnelFixture.ClientOptions(server);
        co.Tunnels.Add(new TunnelDefinition { Name = "proxied", LocalPort = servicePort, ProxyProtocol = version });
        var client = await f.StartClientAsync(co);
        return (server, client.Tunnels.Single().RemotePort);
    }

    /// <summary>A user connected from <paramref name="from"/> to the tunnel's public port on <paramref name="to"/>.</summary>
    private static async Task<Socket> ConnectFromAsync(IPAddress from, IPAddress to, int port)
    {
        var s = new Socket(from.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        s.Bind(new IPEndPoint(from, 0));
        await s.ConnectAsync(new IPEndPoint(to, port));
        return s;
    }

    [Theory]
    [InlineData(ProxyProtocolVersion.V1, "127.0.0.2", "127.0.0.1")]
    [InlineData(ProxyProtocolVersion.V2, "127.0.0.2", "127.0.0.1")]
    [InlineData(ProxyProtocolVersion.V1, "::1", "::1")]
    [InlineData(ProxyProtocolVersion.V2, "::1", "::1")]
    public async Task The_header_reaches_a_service_that_speaks_first_while_the_user_is_silent_then_bytes_flow_both_ways(ProxyProtocolVersion version, string from, string to)
    {
        if (from.Contains(':') && !Socket.OSSupportsIPv6) return;
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (server, remotePort) = await StartAsync(f, service.Port, version);

        using var user = await ConnectFromAsync(IPAddress.Parse(from), IPAddress.Parse(to), remotePort);
        using var accepted = await service.NextAsync(Prompt);
        // The user has sent nothing: the header comes anyway, exactly as the spec writes these endpoints (the IPv4 user of
        // the dual-stack listener as the IPv4 address it is, not ::ffff:127.0.0.2).
        var expected = ProxyProtocolHeader.Write(version,
            new IPEndPoint(IPAddress.Parse(from), ((IPEndPoint)user.LocalEndPoint!).Port), new IPEndPoint(IPAddress.Parse(to), remotePort));
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(await ReceiveExactlyAsync(accepted, expected.Length)));
        if (version == ProxyProtocolVersion.V1)
            Assert.StartsWith(from.Contains(':') ? "PROXY TCP6 ::1 ::1 " : "PROXY TCP4 127.0.0.2 127.0.0.1 ", Encoding.ASCII.GetString(expected));

        // The service speaks first, as SSH does; then a megabyte each way, checked by hash.
        var greeting = "SSH-2.0-OpenSSH_9.2\r\n"u8.ToArray();
        await accepted.SendAsync(greeting);
        Assert.Equal(greeting, await ReceiveExactlyAsync(user, greeting.Length));
        var up = Transfer.SendSeededAsync(user, 1 << 20, seed: 1);
        var down = Transfer.SendSeededAsync(accepted, 1 << 20, seed: 2);
        var (upReceived, downReceived) = (Download.Start(accepted, Prompt), Download.Start(user, Prompt));
        Assert.Equal(await up, (await upReceived.Completion).Hash);
        Assert.Equal(await down, (await downReceived.Completion).Hash);
        // The header is the engine's, not traffic: the tunnel counts the user's bytes only.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.Totals.BytesIn == 1 << 20, Prompt), $"in: {server.Totals.BytesIn}");
    }

    [Fact]
    public async Task A_tunnel_without_the_option_sends_the_service_the_users_bytes_only()
    {
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (_, remotePort) = await StartAsync(f, service.Port, ProxyProtocolVersion.None);
        using var user = await ConnectFromAsync(SecondLoopback, IPAddress.Loopback, remotePort);
        using var accepted = await service.NextAsync(Prompt);
        await user.SendAsync("hello"u8.ToArray());
        Assert.Equal("hello", Encoding.ASCII.GetString(await ReceiveExactlyAsync(accepted, 5)));
    }

    /// <summary>HAProxy and nginx read the header and answer with the addresses they took from it; asked over HTTP by a user
    /// on 127.0.0.2, so that the answer cannot be the client's own 127.0.0.1.</summary>
    private async Task AssertConsumerSeesTheUserAsync(ProxyProtocolConsumer consumer, ProxyProtocolVersion version)
    {
        await using var f = NewFixture();
        var (_, remotePort) = await StartAsync(f, consumer.Port, version);
        for (var i = 0; i < 3; i++)
        {
            using var user = await ConnectFromAsync(SecondLoopback, IPAddress.Loopback, remotePort);
            var userPort = ((IPEndPoint)user.LocalEndPoint!).Port;
            await user.SendAsync("GET / HTTP/1.1\r\nHost: proxied\r\nConnection: close\r\n\r\n"u8.ToArray());
            var (response, _) = await ReadToEndAsync(user);
            Assert.StartsWith("HTTP/1.1 200", response);
            Assert.EndsWith($"\r\n\r\n127.0.0.2 {userPort} 127.0.0.1 {remotePort}\n", response);
        }
    }

    [HaproxyFact]
    public async Task HAProxy_with_accept_proxy_sees_the_users_address_from_a_version_1_header()
    {
        await using var haproxy = await ProxyProtocolConsumer.StartHaproxyAsync();
        await AssertConsumerSeesTheUserAsync(haproxy, ProxyProtocolVersion.V1);
    }

    [HaproxyFact]
    public async Task HAProxy_with_accept_proxy_sees_the_users_address_from_a_version_2_header()
    {
        await using var haproxy = await ProxyProtocolConsumer.StartHaproxyAsync();
        await AssertConsumerSeesTheUserAsync(haproxy, ProxyProtocolVersion.V2);
    }

    [NginxFact]
    public async Task Nginx_with_proxy_protocol_sees_the_users_address_from_a_version_1_header()
    {
        await using var nginx = await ProxyProtocolConsumer.StartNginxAsync();
        await AssertConsumerSeesTheUserAsync(nginx, ProxyProtocolVersion.V1);
    }

    [NginxFact]
    public async Task Nginx_with_proxy_protocol_sees_the_users_address_from_a_version_2_header()
    {
        await using var nginx = await ProxyProtocolConsumer.StartNginxAsync();
        await AssertConsumerSeesTheUserAsync(nginx, ProxyProtocolVersion.V2);
    }

    private static Task<byte[]> ReceiveExactlyAsync(Socket s, int count) => Transfer.ReceiveExactlyAsync(s, count, Prompt);

    private static async Task<(string Text, int Bytes)> ReadToEndAsync(Socket s)
    {
        using var cts = new CancellationTokenSource(Prompt);
        var all = new MemoryStream();
        var buf = new byte[4096];
        for (int n; (n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0;) all.Write(buf, 0, n);
        return (Encoding.ASCII.GetString(all.ToArray()), (int)all.Length);
    }
}

public sealed class ProxyProtocolAutoTests : ProxyProtocolTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

public sealed class ProxyProtocolAsyncAutoTests : ProxyProtocolTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

/// <summary>Over TLS the client's data connections take the stream pump, which writes the header on a path of its own.</summary>
[Collection(EndToEndTlsCollection.Name)]
public sealed class ProxyProtocolTlsTests : ProxyProtocolTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
    protected override bool Tls => true;
}
