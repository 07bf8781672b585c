using TunnelLite.Config;

namespace TunnelLite.Tests;

/// <summary>allowSources and denySources in the files: at the top of a server's, in its [[clients]] entries, in a
/// client's [[proxies]]; a bad entry fails the load naming the key, the entry and the value.</summary>
public sealed class SourceConfigTests
{
    private const string Token = "auth.token = \"secret\"\n";
    private const string ProxyHead = "serverAddr = \"example.com\"\n" + Token + "[[proxies]]\nname = \"ssh\"\ntype = \"tcp\"\nlocalPort = 22\n";

    private static SourceNetwork[] Networks(params string[] texts) => texts.Select(SourceNetwork.Parse).ToArray();

    [Fact]
    public void A_servers_file_sets_its_own_lists_and_each_accounts()
    {
        var o = TunnelConfigLoader.ParseServer(Token + """
            allowSources = ["10.0.0.0/8", "2001:db8::/32"]
            denySources = ["10.66.0.0/16"]

            [[clients]]
            name = "alice"
            token = "alice-secret"
            allowSources = ["10.1.0.0/16", "203.0.113.7"]
            denySources = ["10.1.2.0/24"]

            [[clients]]
            name = "bob"
            token = "bob-secret"
            """, "server.toml").Options;
        Assert.Equal(Networks("10.0.0.0/8", "2001:db8::/32"), o.AllowSources);
        Assert.Equal(Networks("10.66.0.0/16"), o.DenySources);
        Assert.Equal(Networks("10.1.0.0/16", "203.0.113.7/32"), o.Clients[0].AllowSources);
        Assert.Equal(Networks("10.1.2.0/24"), o.Clients[0].DenySources);
        Assert.Empty(o.Clients[1].AllowSources);
        Assert.Empty(o.Clients[1].DenySources);
    }

    [Fact]
    public void A_clients_proxy_sets_its_lists()
    {
        var o = TunnelConfigLoader.ParseClient(ProxyHead + "allowSources = [\"192.0.2.0/24\", \"::1\"]\ndenySources = [\"192.0.2.9\"]\n"
            + "[[proxies]]\nname = \"web\"\ntype = \"tcp\"\nlocalPort = 80\n", "client.toml").Options;
        Assert.Equal(Networks("192.0.2.0/24", "::1/128"), o.Tunnels[0].AllowSources);
        Assert.Equal(Networks("192.0.2.9/32"), o.Tunnels[0].DenySources);
        Assert.Empty(o.Tunnels[1].AllowSources);
        Assert.Empty(o.Tunnels[1].DenySources);
    }

    [Fact]
    public void A_bad_network_fails_the_load_naming_key_entry_and_value()
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + "allowSources = [\"10.0.0.0/8\", \"10.0.0.1/8\"]\n", "server.toml"));
        Assert.Equal(2, e.Line);
        Assert.Equal("allowSources[1]", e.Key);
        Assert.Contains("'10.0.0.1/8' has bits set beyond its /8 prefix: write the network 10.0.0.0/8, or the one address 10.0.0.1/32", e.Message);

        e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + "[[clients]]\nname = \"alice\"\ntoken = \"alice-secret\"\ndenySources = [\"example.com\"]\n", "server.toml"));
        Assert.Equal("clients[0].denySources[0]", e.Key);
        Assert.Contains("'example.com' is not an IPv4 or IPv6 address", e.Message);

        e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(ProxyHead + "allowSources = [\"10.0.0.0/33\"]\n", "client.toml"));
        Assert.Equal("proxies[0].allowSources[0]", e.Key);
        Assert.Contains("proxy 'ssh'", e.Message);
        Assert.Contains("from 0 to 32", e.Message);

        e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + "allowSources = [10]\n", "server.toml"));
        Assert.Equal("allowSources[0]", e.Key);
        Assert.Contains("expected a network as a string", e.Message);

        e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + "denySources = \"10.0.0.0/8\"\n", "server.toml"));
        Assert.Equal("denySources", e.Key);
        Assert.Contains("expected an array", e.Message);
    }

    [Fact]
    public void Lists_are_bounded()
    {
        string List(int n) => "[" + string.Join(", ", Enumerable.Range(0, n).Select(i => $"\"10.{i / 65536}.{i / 256 % 256}.{i % 256}\"")) + "]";
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(ProxyHead + $"denySources = {List(TunnelDefinition.MaxSourceNetworks + 1)}\n", "client.toml"));
        Assert.Equal("proxies[0].denySources", e.Key);
        Assert.Contains("257 networks are more than the 256 a list may hold", e.Message);
        Assert.Equal(TunnelDefinition.MaxSourceNetworks, TunnelConfigLoader.ParseClient(ProxyHead + $"denySources = {List(256)}\n", "client.toml").Options.Tunnels[0].DenySources.Count);

        e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + $"allowSources = {List(TunnelServerOptions.MaxSourceNetworks + 1)}\n", "server.toml"));
        Assert.Equal("allowSources", e.Key);
        Assert.Equal(TunnelServerOptions.MaxSourceNetworks, TunnelConfigLoader.ParseServer(Token + $"allowSources = {List(1024)}\n", "server.toml").Options.AllowSources.Count);
    }

    [Fact]
    public void A_misspelled_key_is_an_unknown_key_not_an_open_port()
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + "allowSource = [\"10.0.0.0/8\"]\n", "server.toml"));
        Assert.Contains("did you mean allowSources?", e.Message);
    }
}
