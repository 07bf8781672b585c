using System.Net;
using Microsoft.Extensions.Logging;
using TunnelLite.Logging;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The rate-limited, summing-up log of what strangers do (StrangerLog), driven by a simulated clock.</summary>
public class StrangerLogTests
{
    private long _now = 1_000_000;
    private readonly CapturingLog _log = new();

    private StrangerLog NewLog(int maxSources = StrangerLog.DefaultMaxSources) => new(_log, () => _now, maxSources: maxSources);

    private static IPEndPoint V4(int a, int b, int c, int d, int port = 40000) => new(new IPAddress(new[] { (byte)a, (byte)b, (byte)c, (byte)d }), port);

    private static bool IsSummary(CapturingLog.Entry e) => e.Message.Contains(" in the last ", StringComparison.Ordinal);

    private List<CapturingLog.Entry> Lines(string phrase) =>
        _log.Entries.Where(e => e.Message.Contains(phrase, StringComparison.Ordinal)).ToList();

    [Fact]
    public void A_flood_from_64_sources_gives_five_lines_and_one_summary_per_kind()
    {
        var strangers = NewLog();
        var top = V4(127, 0, 0, 1);
        // 10,000 events per kind over 10 s: half from 127.0.0.1, the rest spread over 63 other addresses.
        for (var i = 0; i < 10_000; i++)
        {
            _now = 1_000_000 + i;
            var remote = i % 2 == 0 ? top : V4(10, 0, 0, 1 + i / 2 % 63);
            strangers.Report(StrangerEvent.Garbage, remote, "A connection must open with Hello or DataHello, not Data.");
            strangers.Report(StrangerEvent.AuthenticationFailed, remote, "it may try again in 2 s");
        }
        _now = 1_000_000 + 10_000;
        strangers.Flush();

        var garbage = Lines("garbage").Concat(Lines("not speaking the TunnelLite protocol")).ToList();
        Assert.Equal(5, garbage.Count(e => !IsSummary(e)));
        var summary = Assert.Single(garbage, IsSummary);
        Assert.Equal("10000 connections closed for garbage in the last 10 s: 5000 from 127.0.0.1 and 5000 from 63 other addresses; " +
            "the first 5 were logged one by one.", summary.Message);
        Assert.Equal(LogLevel.Warning, summary.Level);

        var auth = Lines("uthentication").ToList();
        Assert.Equal(5, auth.Count(e => !IsSummary(e)));
        Assert.Contains("10000 failed authentications in the last 10 s: 5000 from 127.0.0.1 and 5000 from 63 other addresses",
            Assert.Single(auth, IsSummary).Message);
        Assert.Equal(12, _log.Entries.Count);
    }

    [Fact]
    public void Single_lines_name_the_endpoint_and_escape_the_detail()
    {
        var strangers = NewLog();
        strangers.Report(StrangerEvent.Garbage, V4(192, 0, 2, 9, 5555), "bad\n[12:00:00] Authentication succeeded\u001B[2J");
        strangers.Report(StrangerEvent.HandshakeTimeout, null);
        var lines = _log.Entries;
        Assert.Equal(@"Closed 192.0.2.9:5555 for not speaking the TunnelLite protocol: bad\n[12:00:00] Authentication succeeded\x1B[2J", lines[0].Message);
        Assert.Equal("Closed an unknown address for not completing its handshake in time.", lines[1].Message);
        Assert.DoesNotContain(lines, e => e.Message.Contains('\n') || e.Message.Contains('\u001B'));
    }

    [Fact]
    public void Security_kinds_carry_the_security_event_id()
    {
        var strangers = NewLog();
        foreach (var kind in Enum.GetValues<StrangerEvent>())
            for (var i = 0; i < 7; i++)
                strangers.Report(kind, V4(198, 51, 100, 1));
        _now += 10_000;
        strangers.Flush();

        var kinds = Enum.GetValues<StrangerEvent>().Length;
        StrangerEvent[] securityKinds = [StrangerEvent.AuthenticationFailed, StrangerEvent.Throttled, StrangerEvent.AdminLoginFailed];
        var security = _log.Entries.Where(e => LogEvents.IsSecurity(e.EventId)).ToList();
        Assert.Equal(securityKinds.Length * 6, security.Count);
        Assert.All(security, e => Assert.True(e.Message.Contains("uthentication") || e.Message.Contains("throttled") || e.Message.Contains("dmin login"), e.Message));
        Assert.Contains(security, e => e.Message.StartsWith("7 failed admin logins in the last 10 s, all from 198.51.100.1", StringComparison.Ordinal));
        Assert.Contains(security, e => e.Message.StartsWith("7 logins refused while throttled in the last 10 s, all from 198.51.100.1", StringComparison.Ordinal));
        Assert.Contains(security, e => e.Message.StartsWith("7 failed authentications in the last 10 s, all from 198.51.100.1", StringComparison.Ordinal));
        var others = _log.Entries.Where(e => !LogEvents.IsSecurity(e.EventId)).ToList();
        Assert.Equal((kinds - securityKinds.Length) * 6, others.Count);
        Assert.All(others, e => Assert.Equal(LogEvents.Stranger, e.EventId));
    }

    [Fact]
    public void A_quiet_kind_gives_no_summary()
    {
        var strangers = NewLog();
        for (var i = 0; i < 3; i++) strangers.Report(StrangerEvent.SessionLimit, V4(192, 0, 2, 1));
        for (var i = 0; i < 50; i++) strangers.Report(StrangerEvent.Garbage, V4(192, 0, 2, 2));
        _now += 10_000;
        strangers.Flush();
        strangers.Flush(force: true);

        Assert.Equal(3, Lines("session limit").Count);
        Assert.DoesNotContain(Lines("session"), IsSummary);
        Assert.Single(_log.Entries, IsSummary);
    }

    [Fact]
    public void A_window_ends_on_the_next_report_and_a_new_one_logs_again()
    {
        var strangers = NewLog();
        var remote = V4(203, 0, 113, 5);
        for (var i = 0; i < 8; i++) strangers.Report(StrangerEvent.DataConnectionRefused, remote);
        Assert.Equal(5, _log.Entries.Count);
        _now += 9_999;
        strangers.Flush();
        Assert.Equal(5, _log.Entries.Count);

        // No Flush: the next report ends the window, and its summary comes before the report's own line.
        _now += 1;
        strangers.Report(StrangerEvent.DataConnectionRefused, remote);
        var entries = _log.Entries;
        Assert.Equal(7, entries.Count);
        Assert.Equal("8 data connections refused in the last 10 s, all from 203.0.113.5; the first 5 were logged one by one.", entries[5].Message);
        Assert.False(IsSummary(entries[6]));
        for (var i = 0; i < 10; i++) strangers.Report(StrangerEvent.DataConnectionRefused, remote);
        Assert.Equal(11, _log.Entries.Count);
    }

    [Fact]
    public void A_report_of_one_kind_ends_the_window_of_another()
    {
        var strangers = NewLog();
        for (var i = 0; i < 6; i++) strangers.Report(StrangerEvent.HandshakeEvicted, V4(192, 0, 2, 3));
        _now += 10_000;
        strangers.Report(StrangerEvent.Garbage, V4(192, 0, 2, 4));
        Assert.Single(Lines("6 connections closed before their handshake to make room for others in the last 10 s"));
    }

    [Fact]
    public void A_forced_flush_ends_open_windows()
    {
        var strangers = NewLog();
        for (var i = 0; i < 6; i++) strangers.Report(StrangerEvent.DescriptorRefusal, V4(192, 0, 2, 3));
        _now += 2_000;
        strangers.Flush();
        Assert.DoesNotContain(_log.Entries, IsSummary);
        strangers.Flush(force: true);
        Assert.Contains("6 connections reset at the descriptor budget in the last 2 s", Assert.Single(_log.Entries, IsSummary).Message);
    }

    [Fact]
    public void Memory_stays_bounded_and_the_heaviest_source_is_found_among_100000()
    {
        var strangers = NewLog();
        var heavy = V4(198, 51, 100, 7);
        for (var i = 0; i < 100_000; i++)
        {
            strangers.Report(StrangerEvent.Garbage, V4(10, i >> 16 & 0xFF, i >> 8 & 0xFF, i & 0xFF));
            if (i % 2 == 0) strangers.Report(StrangerEvent.Garbage, heavy);
            Assert.True(strangers.TrackedSources(StrangerEvent.Garbage) <= StrangerLog.DefaultMaxSources);
        }
        Assert.Equal(StrangerLog.DefaultMaxSources, strangers.TrackedSources(StrangerEvent.Garbage));
        _now += 10_000;
        strangers.Flush();

        var summary = Assert.Single(_log.Entries, IsSummary).Message;
        Assert.StartsWith("150000 connections closed for garbage in the last 10 s: at least ", summary, StringComparison.Ordinal);
        Assert.Contains(" from 198.51.100.7 and the rest from at least 64 other addresses", summary, StringComparison.Ordinal);
        Assert.Equal(0, strangers.TrackedSources(StrangerEvent.Garbage));
    }

    [Fact]
    public void Sources_are_IPv4_addresses_and_IPv6_prefixes()
    {
        var strangers = NewLog();
        // One host spreading over its /64, and an IPv4 client seen through a dual-stack socket.
        for (var i = 1; i <= 6; i++)
            strangers.Report(StrangerEvent.Garbage, new IPEndPoint(IPAddress.Parse($"2001:db8:1:2::{i:x}"), 1000));
        for (var i = 0; i < 6; i++)
            strangers.Report(StrangerEvent.HandshakeTimeout, new IPEndPoint(IPAddress.Parse("::ffff:192.0.2.77"), 1000 + i));
        _now += 10_000;
        strangers.Flush();

        Assert.Contains("6 connections closed for garbage in the last 10 s, all from 2001:db8:1:2::/64", Lines("for garbage").Single().Message);
        Assert.Contains("all from 192.0.2.77;", Lines("no handshake in time").Single().Message);
    }

    [Fact]
    public void Concurrent_reports_are_all_counted()
    {
        var strangers = NewLog();
        Parallel.For(0, 8, t =>
        {
            for (var i = 0; i < 2_500; i++) strangers.Report(StrangerEvent.Throttled, V4(10, 1, t, i % 4));
        });
        _now += 10_000;
        strangers.Flush();

        Assert.Equal(5, _log.Entries.Count(e => !IsSummary(e)));
        Assert.StartsWith("20000 logins refused while throttled in the last 10 s: ", Assert.Single(_log.Entries, IsSummary).Message, StringComparison.Ordinal);
        Assert.Contains("from 31 other addresses", Assert.Single(_log.Entries, IsSummary).Message, StringComparison.Ordinal);
    }
}
