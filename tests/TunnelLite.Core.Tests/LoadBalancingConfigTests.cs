using TunnelLite.Config;

namespace TunnelLite.Tests;

/// <summary>frp's loadBalancer.* and healthCheck.* keys in a [[proxies]] entry, and TunnelLite's loadBalancer.strategy.</summary>
public sealed class LoadBalancingConfigTests
{
    private const string ClientHead = "serverAddr = \"h\"\nauth.token = \"s\"\n";
    private const string Proxy = "[[proxies]]\nname = \"p\"\ntype = \"tcp\"\nlocalPort = 22\nremotePort = 20080\n";

    private static TunnelDefinition Load(string keys) => TunnelConfigLoader.ParseClient(ClientHead + Proxy + keys, "client.toml").Options.Tunnels.Single();

    private static TunnelConfigException Error(string keys) =>
        Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(ClientHead + Proxy + keys, "client.toml"));

    [Fact]
    public void Group_key_strategy_and_health_check_are_read_with_frps_defaults()
    {
        var t = Load("loadBalancer.group = \"web\"\nloadBalancer.groupKey = \"k3y\"\nloadBalancer.strategy = \"leastConn\"\nhealthCheck.type = \"tcp\"\n");
        Assert.Equal("web", t.Group);
        Assert.Equal("(secret)", t.GroupKey!.ToString());
        Assert.Equal(LoadBalancingStrategy.LeastConnections, t.Strategy);
        Assert.Equal(new HealthCheck { Interval = TimeSpan.FromSeconds(10), Timeout = TimeSpan.FromSeconds(3), MaxFailed = 1 }, t.HealthCheck);

        t = Load("healthCheck.type = \"tcp\"\nhealthCheck.intervalSeconds = 2\nhealthCheck.timeoutSeconds = 1\nhealthCheck.maxFailed = 3\n");
        Assert.Null(t.Group);
        Assert.Equal(new HealthCheck { Interval = TimeSpan.FromSeconds(2), Timeout = TimeSpan.FromSeconds(1), MaxFailed = 3 }, t.HealthCheck);
        Assert.Null(Load("").HealthCheck);
    }

    [Fact]
    public void A_group_needs_its_key_and_a_key_or_strategy_needs_a_group()
    {
        Assert.Contains("groupKey", Error("loadBalancer.group = \"web\"\n").Message);
        Assert.Contains("needs a group", Error("loadBalancer.groupKey = \"k\"\n").Message);
        Assert.Contains("needs a group", Error("loadBalancer.strategy = \"leastConn\"\n").Message);
        Assert.Contains("roundRobin", Error("loadBalancer.group = \"web\"\nloadBalancer.groupKey = \"k\"\nloadBalancer.strategy = \"random\"\n").Message);
    }

    [Fact]
    public void An_http_health_check_is_refused_and_a_bad_group_key_is_never_shown()
    {
        Assert.Contains("TCP connect", Error("healthCheck.type = \"http\"\n").Message);
        var e = Error("loadBalancer.group = \"web\"\nloadBalancer.groupKey = 12345\n");
        Assert.DoesNotContain("12345", e.Message);
        var longKey = new string('x', 300);
        Assert.DoesNotContain(longKey, Error($"loadBalancer.group = \"web\"\nloadBalancer.groupKey = \"{longKey}\"\n").Message);
    }
}
