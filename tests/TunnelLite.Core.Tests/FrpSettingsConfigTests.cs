using TunnelLite.Config;

namespace TunnelLite.Tests;

/// <summary>frp keys that used to be ignored and now bind (maxPortsPerClient, userConnTimeout, transport.tls.force,
/// transport.protocol, a proxy's transport.useEncryption), and their clashes with TunnelLite's own keys.</summary>
public class FrpSettingsConfigTests
{
    private const string Token = "auth.token = \"s\"\n";
    private const string ClientHead = "serverAddr = \"h\"\n" + Token;
    private const string Proxy = "[[proxies]]\nname = \"p\"\ntype = \"tcp\"\nlocalPort = 22\n";

    private static TunnelServerOptions Server(string toml) => TunnelConfigLoader.ParseServer(Token + toml, "server.toml").Options;

    private static TunnelConfigException ServerError(string toml) =>
        Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + toml, "server.toml"));

    [Fact]
    public void MaxPortsPerClient_sets_the_tunnel_quota_of_an_account_and_0_means_no_limit()
    {
        Assert.Equal(10, Server("maxPortsPerClient = 10\n").MaxTunnelsPerClient);
        Assert.Equal(100_000, Server("maxPortsPerClient = 0\n").MaxTunnelsPerClient);
        Assert.Equal(128, Server("").MaxTunnelsPerClient);
        var e = ServerError("maxPortsPerClient = -1\n");
        Assert.Equal(("maxPortsPerClient", (int?)2), (e.Key, e.Line));
    }

    [Fact]
    public void UserConnTimeout_sets_the_user_connection_timeout()
    {
        Assert.Equal(TimeSpan.FromSeconds(25), Server("userConnTimeout = 25\n").UserConnectionTimeout);
        var e = ServerError("userConnTimeout = 0\n");
        Assert.Equal("userConnTimeout", e.Key);
    }

    [Fact]
    public void Tls_force_turns_tls_on()
    {
        Assert.True(Server("transport.tls.force = true\n").Tls.Enabled);
        Assert.False(Server("transport.tls.force = false\n").Tls.Enabled);
        Assert.True(Server("[transport.tls]\nforce = true\nenable = true\n").Tls.Enabled);
        Assert.Empty(TunnelConfigLoader.ParseServer(Token + "transport.tls.force = true\n", "server.toml").Warnings);
    }

    [Theory]
    [InlineData("maxPortsPerClient = 10\ntransport.maxTunnelsPerClient = 10\n", 10)]
    [InlineData("maxPortsPerClient = 0\ntransport.maxTunnelsPerClient = 100000\n", 100_000)]
    [InlineData("transport.maxTunnelsPerClient = 7\n", 7)]
    public void The_frp_and_TunnelLite_spellings_may_both_be_written_with_one_value(string toml, int expected) =>
        Assert.Equal(expected, Server(toml).MaxTunnelsPerClient);

    [Theory]
    [InlineData("maxPortsPerClient = 10\n[transport]\nmaxTunnelsPerClient = 20\n", 4, "transport.maxTunnelsPerClient = 20 contradicts maxPortsPerClient = 10 at line 2")]
    [InlineData("transport.maxTunnelsPerClient = 20\nmaxPortsPerClient = 0\n", 3, "maxPortsPerClient = 0 contradicts transport.maxTunnelsPerClient = 20 at line 2")]
    [InlineData("userConnTimeout = 10\ntransport.userConnectionTimeout = 30\n", 3, "transport.userConnectionTimeout = 30 contradicts userConnTimeout = 10 at line 2")]
    [InlineData("[transport.tls]\nforce = true\nenable = false\n", 4, "transport.tls.enable = false contradicts transport.tls.force = true at line 3")]
    [InlineData("[transport.tls]\nenable = true\nforce = false\n", 4, "transport.tls.force = false contradicts transport.tls.enable = true at line 3")]
    public void Different_values_under_both_spellings_are_an_error_naming_both(string toml, int line, string message)
    {
        var e = ServerError(toml);
        Assert.Equal(line, e.Line);
        Assert.Equal($"server.toml:{line}: {message.Split(' ')[0]}: {message}: both set the same thing; keep one", e.Message);
    }

    [Fact]
    public void Client_protocol_must_be_tcp()
    {
        Assert.Equal("h", TunnelConfigLoader.ParseClient(ClientHead + "transport.protocol = \"tcp\"\n", "client.toml").Options.ServerAddress);
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(ClientHead + "transport.protocol = \"wss\"\n", "client.toml"));
        Assert.Equal(("transport.protocol", (int?)3), (e.Key, e.Line));
        Assert.Contains("\"wss\" is not supported", e.Message);
    }

    [Fact]
    public void A_proxy_asking_for_encryption_needs_tls()
    {
        var e = Assert.Throws<TunnelConfigException>(() =>
            TunnelConfigLoader.ParseClient(ClientHead + Proxy + "transport.useEncryption = true\n", "client.toml"));
        Assert.Equal(("proxies[0].transport.useEncryption", (int?)7), (e.Key, e.Line));
        Assert.Contains("proxy 'p': useEncryption = true", e.Message);
        Assert.Contains("transport.tls.enable = true", e.Message);

        var withTls = TunnelConfigLoader.ParseClient(ClientHead + "transport.tls.enable = true\n" + Proxy + "transport.useEncryption = true\n", "client.toml");
        Assert.True(withTls.Options.Tls.Enabled);
        Assert.Empty(withTls.Warnings);
        Assert.Empty(TunnelConfigLoader.ParseClient(ClientHead + Proxy + "transport.useEncryption = false\n", "client.toml").Warnings);
    }

    [Fact]
    public void An_frps_toml_with_the_new_keys_loads()
    {
        const string toml = """
            bindAddr = "0.0.0.0"
            bindPort = 7000
            transport.maxPoolCount = 5
            transport.tls.force = true
            auth.method = "token"
            auth.token = "12345678"
            userConnTimeout = 10
            allowPorts = [
              { start = 2000, end = 3000 },
              { single = 3001 },
            ]
            maxPortsPerClient = 0
            udpPacketSize = 1500
            """;
        var r = TunnelConfigLoader.ParseServer(toml, "frps.toml");
        Assert.True(r.Options.Tls.Enabled);
        Assert.Equal(100_000, r.Options.MaxTunnelsPerClient);
        Assert.Equal(TimeSpan.FromSeconds(10), r.Options.UserConnectionTimeout);
        Assert.Equal("udpPacketSize", Assert.Single(r.Warnings).Key);
    }

    [Fact]
    public void A_proxys_transport_proxyProtocolVersion_selects_the_header_and_anything_else_is_an_error_at_its_line()
    {
        TunnelDefinition Tunnel(string line) => TunnelConfigLoader.ParseClient(ClientHead + Proxy + line, "client.toml").Options.Tunnels.Single();
        Assert.Equal(Protocol.ProxyProtocolVersion.V1, Tunnel("transport.proxyProtocolVersion = \"v1\"\n").ProxyProtocol);
        Assert.Equal(Protocol.ProxyProtocolVersion.V2, Tunnel("transport.proxyProtocolVersion = \"V2\"\n").ProxyProtocol);
        Assert.Equal(Protocol.ProxyProtocolVersion.None, Tunnel("transport.proxyProtocolVersion = \"\"\n").ProxyProtocol);
        Assert.Equal(Protocol.ProxyProtocolVersion.None, Tunnel("").ProxyProtocol);
        var e = Assert.Throws<TunnelConfigException>(() => Tunnel("transport.proxyProtocolVersion = \"v3\"\n"));
        Assert.Equal(("proxies[0].transport.proxyProtocolVersion", (int?)7), (e.Key, e.Line));
        Assert.Contains("\"v1\" (text) or \"v2\" (binary)", e.Message);
    }
}
