using System.Net;
using TunnelLite.Config;
using TunnelLite.Server;

namespace TunnelLite.Tests;

/// <summary>Networks of the source lists: what parses and how it prints, what an address matches (an IPv4 user seen
/// through a dual-stack socket as IPv4), and one owner's allow and deny lists together.</summary>
public sealed class SourceNetworkTests
{
    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0/8", true, 8)]
    [InlineData("203.0.113.7", "203.0.113.7/32", true, 32)]
    [InlineData("203.0.113.7/32", "203.0.113.7/32", true, 32)]
    [InlineData("0.0.0.0/0", "0.0.0.0/0", true, 0)]
    [InlineData("  192.168.0.0/16 ", "192.168.0.0/16", true, 16)]
    [InlineData("2001:db8::/32", "2001:db8::/32", false, 32)]
    [InlineData("2001:DB8::1", "2001:db8::1/128", false, 128)]
    [InlineData("::/0", "::/0", false, 0)]
    [InlineData("::1", "::1/128", false, 128)]
    // An IPv4-mapped network is the IPv4 network it maps.
    [InlineData("::ffff:10.0.0.0/104", "10.0.0.0/8", true, 8)]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7/32", true, 32)]
    [InlineData("::ffff:0:0/96", "0.0.0.0/0", true, 0)]
    public void A_network_parses_and_prints_in_its_canonical_form(string text, string shown, bool isIPv4, int prefix)
    {
        var n = SourceNetwork.Parse(text);
        Assert.Equal(shown, n.ToString());
        Assert.Equal(isIPv4, n.IsIPv4);
        Assert.Equal(prefix, n.PrefixLength);
        Assert.Equal(n, SourceNetwork.Parse(n.ToString()));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("10", "not an IPv4 or IPv6 address")] // the runtime reads it as 0.0.0.10
    [InlineData("10.1", "not an IPv4 or IPv6 address")] // and this as 10.0.0.1
    [InlineData("010.0.0.1", "not an IPv4 or IPv6 address")] // and this as 8.0.0.1
    [InlineData("10.0.0.256", "not an IPv4 or IPv6 address")]
    [InlineData("example.com", "not an IPv4 or IPv6 address")]
    [InlineData("fe80::1%eth0", "not an IPv4 or IPv6 address")]
    [InlineData("10.0.0.0/33", "from 0 to 32")]
    [InlineData("2001:db8::/129", "from 0 to 128")]
    [InlineData("10.0.0.0/", "from 0 to 32")]
    [InlineData("10.0.0.0/-1", "from 0 to 32")]
    [InlineData("10.0.0.0/+8", "from 0 to 32")]
    [InlineData("10.0.0.0/0008", "from 0 to 32")]
    [InlineData("10.0.0.0/8/8", "from 0 to 32")]
    [InlineData("10.0.0.1/8", "write the network 10.0.0.0/8, or the one address 10.0.0.1/32")]
    [InlineData("2001:db8::1/32", "write the network 2001:db8::/32, or the one address 2001:db8::1/128")]
    [InlineData("0.0.0.1/0", "write the network 0.0.0.0/0")]
    public void Bad_text_is_refused_with_a_reason(string text, string reason)
    {
        Assert.False(SourceNetwork.TryParse(text, out _, out var error));
        Assert.Contains(reason, error);
        Assert.Contains(reason, Assert.Throws<FormatException>(() => SourceNetwork.Parse(text)).Message);
    }

    [Fact]
    public void Overlong_text_is_refused_before_it_is_parsed_and_quoted_short()
    {
        var text = new string('1', 10_000);
        Assert.False(SourceNetwork.TryParse(text, out _, out var error));
        Assert.Contains("longer than 64", error);
        Assert.True(error!.Length < 100);
    }

    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0", true)]
    [InlineData("10.0.0.0/8", "10.255.255.255", true)]
    [InlineData("10.0.0.0/8", "11.0.0.0", false)]
    [InlineData("10.0.0.0/8", "9.255.255.255", false)]
    [InlineData("203.0.113.7", "203.0.113.7", true)]
    [InlineData("203.0.113.7", "203.0.113.6", false)]
    [InlineData("203.0.113.7", "203.0.113.8", false)]
    [InlineData("0.0.0.0/0", "255.255.255.255", true)]
    [InlineData("0.0.0.0/0", "::1", false)] // IPv4 networks hold IPv4 users only
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::", false)]
    [InlineData("2001:db8::1", "2001:db8::1", true)]
    [InlineData("2001:db8::1", "2001:db8::2", false)]
    [InlineData("::/0", "2001:db8::1", true)]
    [InlineData("::/0", "10.0.0.1", false)] // IPv6 networks hold IPv6 users only
    // A dual-stack socket shows an IPv4 user as ::ffff:a.b.c.d: it matches IPv4 networks, not IPv6 ones.
    [InlineData("10.0.0.0/8", "::ffff:10.1.2.3", true)]
    [InlineData("10.0.0.0/8", "::ffff:11.1.2.3", false)]
    [InlineData("::/0", "::ffff:10.1.2.3", false)]
    [InlineData("::ffff:10.0.0.0/104", "10.9.9.9", true)]
    public void An_address_is_in_a_network_by_its_prefix(string network, string address, bool contained) =>
        Assert.Equal(contained, SourceNetwork.Parse(network).Contains(IPAddress.Parse(address)));

    [Fact]
    public void Matching_allocates_nothing()
    {
        var filter = new SourceFilter([SourceNetwork.Parse("192.0.2.0/24"), SourceNetwork.Parse("2001:db8::/32")], [SourceNetwork.Parse("192.0.2.99")]);
        var users = new[] { IPAddress.Parse("192.0.2.1"), IPAddress.Parse("192.0.2.99"), IPAddress.Parse("198.51.100.1"), IPAddress.Parse("::ffff:192.0.2.1"), IPAddress.Parse("2001:db8::5") };
        foreach (var u in users) filter.Judge(u); // warm up (JIT)
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
            foreach (var u in users) filter.Judge(u);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void An_empty_allow_list_allows_everyone_and_the_deny_list_wins()
    {
        var none = new SourceFilter(null, null);
        Assert.True(none.IsEmpty);
        Assert.Equal(SourceVerdict.Passes, none.Judge(IPAddress.Parse("203.0.113.1")));
        Assert.Equal(SourceVerdict.Passes, none.Judge((IPAddress?)null));

        var denyOnly = new SourceFilter(null, [SourceNetwork.Parse("203.0.113.0/24")]);
        Assert.Equal(SourceVerdict.Denied, denyOnly.Judge(IPAddress.Parse("203.0.113.1")));
        Assert.Equal(SourceVerdict.Passes, denyOnly.Judge(IPAddress.Parse("198.51.100.1")));
        Assert.Equal(SourceVerdict.Passes, denyOnly.Judge((IPAddress?)null)); // no allow list: an unknown address passes

        var both = new SourceFilter([SourceNetwork.Parse("10.0.0.0/8")], [SourceNetwork.Parse("10.6.0.0/16")]);
        Assert.Equal(SourceVerdict.Passes, both.Judge(IPAddress.Parse("10.5.0.1")));
        Assert.Equal(SourceVerdict.Denied, both.Judge(IPAddress.Parse("10.6.0.1"))); // in both: deny wins
        Assert.Equal(SourceVerdict.NotAllowed, both.Judge(IPAddress.Parse("192.0.2.1")));
        Assert.Equal(SourceVerdict.NotAllowed, both.Judge((IPAddress?)null)); // an allow list lets no unknown address in
    }

    [Fact]
    public void A_user_must_pass_the_server_the_account_and_the_client_and_the_reason_names_who_refused()
    {
        var server = new SourceFilter(null, [SourceNetwork.Parse("10.66.0.0/16")]);
        var account = new SourceFilter([SourceNetwork.Parse("10.0.0.0/8")], null);
        // The client asks for more than its account may have: 192.0.2.0/24 stays out all the same.
        var client = new SourceFilter([SourceNetwork.Parse("10.1.0.0/16"), SourceNetwork.Parse("192.0.2.0/24")], null);
        var policy = TunnelSourcePolicy.For("web", server, account, "alice", client)!;
        IPEndPoint User(string a) => new(IPAddress.Parse(a), 40000);

        Assert.Null(policy.Refusal(User("10.1.2.3")));
        Assert.Null(policy.Refusal(User("::ffff:10.1.2.3")));
        Assert.Equal("tunnel web: in the server's denySources", policy.Refusal(User("10.66.1.1")));
        Assert.Equal("tunnel web: not in the allowSources of client account alice", policy.Refusal(User("192.0.2.1")));
        Assert.Equal("tunnel web: not in the client's allowSources for it", policy.Refusal(User("10.2.0.1")));
        Assert.Equal("tunnel web: not in the allowSources of client account alice", policy.Refusal(null));

        Assert.Null(TunnelSourcePolicy.For("web", new SourceFilter(null, null), null, null, new SourceFilter(null, null)));
    }

    [Fact]
    public void A_clients_lists_are_checked_entry_by_entry_and_bounded()
    {
        var ok = SourceFilter.FromRequest(["10.0.0.0/8", "2001:db8::/32"], ["10.1.0.0/16"]);
        Assert.Equal(SourceVerdict.Denied, ok.Judge(IPAddress.Parse("10.1.0.1")));
        Assert.True(SourceFilter.FromRequest(null, []).IsEmpty);

        var bad = Assert.Throws<TunnelException>(() => SourceFilter.FromRequest(["10.0.0.0/8", "10.0.0.1/8"], null));
        Assert.Equal(TunnelErrorCode.BadRequest, bad.Code);
        Assert.StartsWith("allowSources[1]: '10.0.0.1/8' has bits set", bad.Message);

        var escaped = Assert.Throws<TunnelException>(() => SourceFilter.FromRequest(null, [null, "\u001b[31mred"]));
        Assert.StartsWith("denySources[0]: An empty string", escaped.Message);
        escaped = Assert.Throws<TunnelException>(() => SourceFilter.FromRequest(null, ["\u001b[31mred"]));
        Assert.False(escaped.Message.Contains((char)0x1b)); // escaped: \x1B

        var many = Enumerable.Range(0, TunnelDefinition.MaxSourceNetworks + 1).Select(i => $"10.0.{i / 256}.{i % 256}").ToArray();
        var tooMany = Assert.Throws<TunnelException>(() => SourceFilter.FromRequest(null, many));
        Assert.Equal(TunnelErrorCode.BadRequest, tooMany.Code);
        Assert.Contains("at most 256", tooMany.Message);
        Assert.False(SourceFilter.FromRequest(many[..^1], null).IsEmpty);
    }
}
