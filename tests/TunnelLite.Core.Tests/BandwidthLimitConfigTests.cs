using TunnelLite.Config;
using TunnelLite.Forwarding;

namespace TunnelLite.Tests;

/// <summary>Bandwidth limits as written (frp's "512KB" / "10MB", KB = 2^10 and MB = 2^20 bytes per second) in both files,
/// and the token bucket's promise: no burst above 100 ms of the rate.</summary>
public sealed class BandwidthLimitConfigTests
{
    private const string Token = "auth.token = \"s\"\n";
    private const string ClientHead = "serverAddr = \"h\"\n" + Token;
    private const string Proxy = "[[proxies]]\nname = \"p\"\ntype = \"tcp\"\nlocalPort = 22\n";

    [Theory]
    [InlineData("512KB", 512 * 1024L)]
    [InlineData("10MB", 10 * 1024 * 1024L)]
    [InlineData("1.5MB", 1536 * 1024L)]
    [InlineData("64kb", 64 * 1024L)]
    [InlineData(" 2 MB ", 2 * 1024 * 1024L)]
    [InlineData("", 0L)]
    [InlineData("0", 0L)]
    public void Rates_are_read_in_frps_units(string text, long bytesPerSecond) => Assert.Equal(bytesPerSecond, BandwidthLimit.ParseRate(text));

    [Theory]
    [InlineData("10")]
    [InlineData("10GB")]
    [InlineData("-1MB")]
    [InlineData("0KB")]
    [InlineData("MB")]
    [InlineData("1e3KB")]
    [InlineData("2000000MB")]
    public void Anything_else_is_refused_with_the_form_to_write(string text) =>
        Assert.Contains("\"512KB\"", Assert.Throws<FormatException>(() => BandwidthLimit.ParseRate(text)).Message);

    [Fact]
    public void The_stricter_limit_wins_direction_by_direction_and_none_yields()
    {
        var account = new BandwidthLimit(100, 0);
        var wish = new BandwidthLimit(200, 50);
        Assert.Equal(new BandwidthLimit(100, 50), account.Min(wish));
        Assert.Equal(wish, BandwidthLimit.None.Min(wish));
        Assert.Equal("in 1MB, out 512KB", new BandwidthLimit(1 << 20, 512 << 10).ToString());
    }

    [Fact]
    public void A_server_account_takes_bandwidthLimit_and_a_direction_of_its_own_wins_over_it()
    {
        var options = TunnelConfigLoader.ParseServer(Token + """
            [[clients]]
            name = "a"
            token = "a-secret"
            bandwidthLimit = "10MB"
            bandwidthLimitOut = "1MB"
            [[clients]]
            name = "b"
            token = "b-secret"
            """, "server.toml").Options;
        Assert.Equal(new BandwidthLimit(10 << 20, 1 << 20), options.Clients[0].BandwidthLimit);
        Assert.True(options.Clients[1].BandwidthLimit.IsNone);
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + "[[clients]]\nname = \"a\"\ntoken = \"x\"\nbandwidthLimit = \"10Mbps\"\n", "server.toml"));
        Assert.Equal(("clients[0].bandwidthLimit", (int?)5), (e.Key, e.Line));
    }

    [Fact]
    public void A_proxy_takes_frps_transport_bandwidthLimit_and_bandwidthLimitMode()
    {
        TunnelDefinition Tunnel(string lines) => TunnelConfigLoader.ParseClient(ClientHead + Proxy + lines, "client.toml").Options.Tunnels.Single();
        var t = Tunnel("transport.bandwidthLimit = \"512KB\"\ntransport.bandwidthLimitMode = \"server\"\n");
        Assert.Equal((BandwidthLimit.Both(512 << 10), BandwidthLimitMode.Server), (t.BandwidthLimit, t.BandwidthLimitMode));
        t = Tunnel("transport.bandwidthLimit = \"1MB\"\ntransport.bandwidthLimitIn = \"2MB\"\n");
        Assert.Equal((new BandwidthLimit(2 << 20, 1 << 20), BandwidthLimitMode.Client), (t.BandwidthLimit, t.BandwidthLimitMode));
        var e = Assert.Throws<TunnelConfigException>(() => Tunnel("transport.bandwidthLimitMode = \"both\"\n"));
        Assert.Equal(("proxies[0].transport.bandwidthLimitMode", (int?)7), (e.Key, e.Line));
    }

    [Fact]
    public void A_bucket_never_grants_more_than_100_ms_of_its_rate_at_once()
    {
        var bucket = new TokenBucket(1 << 20);
        var first = bucket.Take(int.MaxValue);
        Assert.InRange(first, (1 << 20) / 10 - 1, (1 << 20) / 10);
        Assert.Equal(0, bucket.Take(int.MaxValue)); // empty until the next 16 KiB have come
        Assert.InRange(bucket.DelayMs(), 1, 16);
        bucket.Return(1000);
        Assert.Equal(1000, bucket.Take(1000));
    }
}
