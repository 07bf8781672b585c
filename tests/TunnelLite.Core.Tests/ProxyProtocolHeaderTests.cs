using System.Net;
using System.Text;
using TunnelLite.Protocol;

namespace TunnelLite.Tests;

/// <summary>The PROXY protocol headers byte for byte against the examples and layout of HAProxy's proxy-protocol.txt (the
/// real consumers, HAProxy and nginx, are tested end to end elsewhere).</summary>
public sealed class ProxyProtocolHeaderTests
{
    private static IPEndPoint E(string address, int port) => new(IPAddress.Parse(address), port);

    [Fact]
    public void Version_1_is_the_spec_line_for_IPv4_and_IPv6()
    {
        Assert.Equal("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
            Encoding.ASCII.GetString(ProxyProtocolHeader.Write(ProxyProtocolVersion.V1, E("192.168.0.1", 56324), E("192.168.0.11", 443))));
        Assert.Equal("PROXY TCP6 2001:db8::1 2001:db8::2 65535 1\r\n",
            Encoding.ASCII.GetString(ProxyProtocolHeader.Write(ProxyProtocolVersion.V1, E("2001:db8::1", 65535), E("2001:db8::2", 1))));
        // The longest possible line fits the spec's 107 bytes.
        var longest = ProxyProtocolHeader.Write(ProxyProtocolVersion.V1,
            E("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535), E("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535));
        Assert.True(longest.Length <= ProxyProtocolHeader.MaxV1Length, $"{longest.Length} bytes");
    }

    [Fact]
    public void Version_2_is_the_spec_layout_for_IPv4_and_IPv6()
    {
        var v4 = ProxyProtocolHeader.Write(ProxyProtocolVersion.V2, E("172.19.0.1", 42578), E("172.19.0.3", 80));
        // As HAProxy itself writes it (0xa652 = 42578, 0x50 = 80).
        Assert.Equal(Convert.FromHexString("0D0A0D0A000D0A515549540A" + "21" + "11" + "000C" + "AC130001" + "AC130003" + "A652" + "0050"), v4);

        var v6 = ProxyProtocolHeader.Write(ProxyProtocolVersion.V2, E("2001:db8::1", 1), E("::1", 2));
        Assert.Equal(16 + 36, v6.Length);
        Assert.Equal(0x21, v6[12]);
        Assert.Equal(0x21, v6[13]);
        Assert.Equal(36, (v6[14] << 8) | v6[15]);
        Assert.Equal(IPAddress.Parse("2001:db8::1").GetAddressBytes(), v6[16..32]);
        Assert.Equal(IPAddress.IPv6Loopback.GetAddressBytes(), v6[32..48]);
        Assert.Equal(new byte[] { 0, 1, 0, 2 }, v6[48..52]);
    }

    [Theory]
    [InlineData(ProxyProtocolVersion.V1)]
    [InlineData(ProxyProtocolVersion.V2)]
    public void A_user_on_a_dual_stack_listener_is_written_as_the_IPv4_address_it_is(ProxyProtocolVersion version)
    {
        var mapped = ProxyProtocolHeader.Write(version, E("::ffff:10.1.2.3", 5000), E("::ffff:127.0.0.1", 7000));
        var plain = ProxyProtocolHeader.Write(version, E("10.1.2.3", 5000), E("127.0.0.1", 7000));
        Assert.Equal(plain, mapped);
    }

    [Fact]
    public void Mixed_families_are_written_as_IPv6_and_None_has_no_header()
    {
        var line = Encoding.ASCII.GetString(ProxyProtocolHeader.Write(ProxyProtocolVersion.V1, E("10.0.0.1", 1), E("2001:db8::9", 2)));
        Assert.Equal("PROXY TCP6 ::ffff:10.0.0.1 2001:db8::9 1 2\r\n", line);
        Assert.Throws<ArgumentException>(() => ProxyProtocolHeader.Write(ProxyProtocolVersion.None, E("10.0.0.1", 1), E("10.0.0.2", 2)));
    }

    /// <summary>What a server sent in StartWork is not trusted: without a valid address and port on both ends (an older
    /// server, or a hostile one), the header says it knows nothing, and the service falls back to the connection's own
    /// addresses; it is never an address the server made up in a malformed form.</summary>
    [Theory]
    [InlineData(null, 1)]
    [InlineData("not an address", 1)]
    [InlineData("10.0.0.1\r\nGET / HTTP/1.1", 1)]
    [InlineData("10.0.0.1", 65536)]
    [InlineData("10.0.0.1", -1)]
    public void A_missing_or_malformed_source_gives_the_header_that_says_unknown(string? address, int port)
    {
        var source = address is null ? null : new AddressAndPort { Address = address, Port = port };
        var destination = new AddressAndPort { Address = "127.0.0.1", Port = 7000 };
        Assert.Equal("PROXY UNKNOWN\r\n", Encoding.ASCII.GetString(ProxyProtocolHeader.For(ProxyProtocolVersion.V1, source, destination)));
        // v2: the signature, version 2 with the LOCAL command, family UNSPEC and no address block.
        Assert.Equal(Convert.FromHexString("0D0A0D0A000D0A515549540A" + "20" + "00" + "0000"), ProxyProtocolHeader.For(ProxyProtocolVersion.V2, source, destination));
        Assert.Equal("PROXY TCP4 10.0.0.1 127.0.0.1 1 7000\r\n", Encoding.ASCII.GetString(ProxyProtocolHeader.For(ProxyProtocolVersion.V1,
            new AddressAndPort { Address = "10.0.0.1", Port = 1 }, destination)));
    }
}
