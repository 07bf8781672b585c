using System.Globalization;
using System.Text.RegularExpressions;
using TunnelLite.Admin;
using TunnelLite.Forwarding;
using TunnelLite.Statistics;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>/metrics as PrometheusWriter writes it: the exact text of a small scrape, label escaping of hostile names,
/// never a duplicate series, and a realistic scrape through promtool check metrics (parser and lint).</summary>
public sealed class MetricsTests
{
    private static readonly ProcessMetrics FixedProcess = new(12.5, 1_700_000_000.25, 50_000_000, 300_000_000, 42, 1024);

    private static readonly string[] HostileNames =
    [
        "a\"b\\c", "line1\nline2", "<img src=x onerror=alert(1)>", "ünïcødé 😀 名前", "tab\tcr\r", "nul\0", "\\n", "\\\"",
        "x\uD800", "x\uDBFF", "\uDC00y", "trailing\\", "\"", " ", "}", "{a=\"b\"}", "a,b=c", new string('w', 128),
    ];

    [Fact]
    public void A_small_server_scrape_is_exactly_this()
    {
        var summary = new TunnelStats
        {
            Name = "server:7000", Role = TunnelRole.Server, State = "Running", Uptime = TimeSpan.FromSeconds(90.5),
            BytesIn = 1000, BytesOut = 2500, ActiveConnections = 2, TotalConnections = 10, FailedConnections = 1, ResetConnections = 5,
            RefusedConnections = 3, SourceRefusedConnections = 9, SplicedConnections = 6, CopiedConnections = 4, SpliceFallbacks = 1, Clients = 2, Tunnels = 1,
            HandshakesEvicted = 1, HandshakeTimeouts = 2, GarbageConnections = 3, LoginsFailed = 4, LoginsThrottled = 5,
            SessionsRefused = 6, DataConnectionsRefused = 7, DescriptorRefusals = 8, PendingHandshakes = 2,
            DataPlane = DataPlaneKind.EventLoops, EventLoops = 2,
        };
        var web = summary with { Name = "web", ClientName = "alice", Uptime = TimeSpan.FromSeconds(30), RefusedConnections = 0 };
        var snapshot = new MetricsSnapshot(TunnelRole.Server, summary, [web],
            [Client("1", "alice", 1.25), Client("2", "alice", 7.5)], null,
            [new("unauthorized", 3), new("throttled", 0)], FixedProcess);

        // The raw literal has no final line feed; the format wants one.
        var expected = $$"""
            # HELP tunnellite_build_info Always 1; the version of TunnelLite and the role of this process are its labels.
            # TYPE tunnellite_build_info gauge
            tunnellite_build_info{version="{{BuildInfo.Version}}",role="server"} 1
            # HELP tunnellite_data_plane_info Always 1; the data plane that moves the bytes (plane: eventloops or async) and its event loops (0 on the async plane) are its labels.
            # TYPE tunnellite_data_plane_info gauge
            tunnellite_data_plane_info{role="server",plane="eventloops",event_loops="2"} 1
            # HELP tunnellite_uptime_seconds Seconds since the server or client started.
            # TYPE tunnellite_uptime_seconds gauge
            tunnellite_uptime_seconds{role="server"} 90.5
            # HELP tunnellite_tunnels Tunnels registered now.
            # TYPE tunnellite_tunnels gauge
            tunnellite_tunnels{role="server"} 1
            # HELP tunnellite_bytes_total Bytes forwarded; direction in is toward the local service, out toward the user. All tunnels of this server or client.
            # TYPE tunnellite_bytes_total counter
            tunnellite_bytes_total{role="server",direction="in"} 1000
            tunnellite_bytes_total{role="server",direction="out"} 2500
            # HELP tunnellite_connections_opened_total User connections accepted. All tunnels of this server or client.
            # TYPE tunnellite_connections_opened_total counter
            tunnellite_connections_opened_total{role="server"} 10
            # HELP tunnellite_connections_active User connections open now. All tunnels of this server or client.
            # TYPE tunnellite_connections_active gauge
            tunnellite_connections_active{role="server"} 2
            # HELP tunnellite_connections_failed_total User connections that failed: the local service refused or timed out, or no data connection came in time. All tunnels of this server or client.
            # TYPE tunnellite_connections_failed_total counter
            tunnellite_connections_failed_total{role="server"} 1
            # HELP tunnellite_connections_reset_total User connections that ended in a reset once forwarding had begun: a peer reset or vanished, a send failed, or the tunnel closed or the process stopped under them. All tunnels of this server or client.
            # TYPE tunnellite_connections_reset_total counter
            tunnellite_connections_reset_total{role="server"} 5
            # HELP tunnellite_connections_refused_total User connections refused at once because the tunnel was at its connection cap. All tunnels of this server or client.
            # TYPE tunnellite_connections_refused_total counter
            tunnellite_connections_refused_total{role="server"} 3
            # HELP tunnellite_connections_source_refused_total User connections refused at once for their source address, by the tunnel's allow and deny lists (allowSources, denySources). All tunnels of this server or client.
            # TYPE tunnellite_connections_source_refused_total counter
            tunnellite_connections_source_refused_total{role="server"} 9
            # HELP tunnellite_connections_forwarded_total Connections forwarded, by mode: splice(2) or the buffered copy. All tunnels of this server or client.
            # TYPE tunnellite_connections_forwarded_total counter
            tunnellite_connections_forwarded_total{role="server",mode="splice"} 6
            tunnellite_connections_forwarded_total{role="server",mode="copy"} 4
            # HELP tunnellite_splice_fallbacks_total Connections that were to be spliced but were copied: no pipe could be had, or splice(2) refused the socket. All tunnels of this server or client.
            # TYPE tunnellite_splice_fallbacks_total counter
            tunnellite_splice_fallbacks_total{role="server"} 1
            # HELP tunnellite_clients_connected Server: client sessions connected now.
            # TYPE tunnellite_clients_connected gauge
            tunnellite_clients_connected 2
            # HELP tunnellite_client_sessions Server: client sessions connected now, per client name.
            # TYPE tunnellite_client_sessions gauge
            tunnellite_client_sessions{client="alice"} 2
            # HELP tunnellite_client_heartbeat_age_seconds Server: seconds since a client was last heard from, per client name (the oldest of its sessions).
            # TYPE tunnellite_client_heartbeat_age_seconds gauge
            tunnellite_client_heartbeat_age_seconds{client="alice"} 7.5
            # HELP tunnellite_handshakes_pending Server: connections to the control port that have not yet shown who they are.
            # TYPE tunnellite_handshakes_pending gauge
            tunnellite_handshakes_pending 2
            # HELP tunnellite_server_refusals_total Server: connections and logins refused or closed, by reason: handshake_evicted (room made for newer handshakes), handshake_timeout, garbage (not the protocol), login_failed (wrong proof), login_throttled (waiting after failures), session_limit, data_connection_refused, descriptor_limit.
            # TYPE tunnellite_server_refusals_total counter
            tunnellite_server_refusals_total{reason="handshake_evicted"} 1
            tunnellite_server_refusals_total{reason="handshake_timeout"} 2
            tunnellite_server_refusals_total{reason="garbage"} 3
            tunnellite_server_refusals_total{reason="login_failed"} 4
            tunnellite_server_refusals_total{reason="login_throttled"} 5
            tunnellite_server_refusals_total{reason="session_limit"} 6
            tunnellite_server_refusals_total{reason="data_connection_refused"} 7
            tunnellite_server_refusals_total{reason="descriptor_limit"} 8
            # HELP tunnellite_tunnel_bytes_total Bytes forwarded; direction in is toward the local service, out toward the user. Per tunnel registered now.
            # TYPE tunnellite_tunnel_bytes_total counter
            tunnellite_tunnel_bytes_total{role="server",tunnel="web",client="alice",direction="in"} 1000
            tunnellite_tunnel_bytes_total{role="server",tunnel="web",client="alice",direction="out"} 2500
            # HELP tunnellite_tunnel_connections_opened_total User connections accepted. Per tunnel registered now.
            # TYPE tunnellite_tunnel_connections_opened_total counter
            tunnellite_tunnel_connections_opened_total{role="server",tunnel="web",client="alice"} 10
            # HELP tunnellite_tunnel_connections_active User connections open now. Per tunnel registered now.
            # TYPE tunnellite_tunnel_connections_active gauge
            tunnellite_tunnel_connections_active{role="server",tunnel="web",client="alice"} 2
            # HELP tunnellite_tunnel_connections_failed_total User connections that failed: the local service refused or timed out, or no data connection came in time. Per tunnel registered now.
            # TYPE tunnellite_tunnel_connections_failed_total counter
            tunnellite_tunnel_connections_failed_total{role="server",tunnel="web",client="alice"} 1
            # HELP tunnellite_tunnel_connections_reset_total User connections that ended in a reset once forwarding had begun: a peer reset or vanished, a send failed, or the tunnel closed or the process stopped under them. Per tunnel registered now.
            # TYPE tunnellite_tunnel_connections_reset_total counter
            tunnellite_tunnel_connections_reset_total{role="server",tunnel="web",client="alice"} 5
            # HELP tunnellite_tunnel_connections_refused_total User connections refused at once because the tunnel was at its connection cap. Per tunnel registered now.
            # TYPE tunnellite_tunnel_connections_refused_total counter
            tunnellite_tunnel_connections_refused_total{role="server",tunnel="web",client="alice"} 0
            # HELP tunnellite_tunnel_connections_source_refused_total User connections refused at once for their source address, by the tunnel's allow and deny lists (allowSources, denySources). Per tunnel registered now.
            # TYPE tunnellite_tunnel_connections_source_refused_total counter
            tunnellite_tunnel_connections_source_refused_total{role="server",tunnel="web",client="alice"} 9
            # HELP tunnellite_tunnel_connections_forwarded_total Connections forwarded, by mode: splice(2) or the buffered copy. Per tunnel registered now.
            # TYPE tunnellite_tunnel_connections_forwarded_total counter
            tunnellite_tunnel_connections_forwarded_total{role="server",tunnel="web",client="alice",mode="splice"} 6
            tunnellite_tunnel_connections_forwarded_total{role="server",tunnel="web",client="alice",mode="copy"} 4
            # HELP tunnellite_tunnel_splice_fallbacks_total Connections that were to be spliced but were copied: no pipe could be had, or splice(2) refused the socket. Per tunnel registered now.
            # TYPE tunnellite_tunnel_splice_fallbacks_total counter
            tunnellite_tunnel_splice_fallbacks_total{role="server",tunnel="web",client="alice"} 1
            # HELP tunnellite_admin_refusals_total Requests the admin endpoint refused, by reason.
            # TYPE tunnellite_admin_refusals_total counter
            tunnellite_admin_refusals_total{reason="unauthorized"} 3
            tunnellite_admin_refusals_total{reason="throttled"} 0
            # HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
            # TYPE process_cpu_seconds_total counter
            process_cpu_seconds_total 12.5
            # HELP process_open_fds Number of open file descriptors.
            # TYPE process_open_fds gauge
            process_open_fds 42
            # HELP process_max_fds Maximum number of open file descriptors.
            # TYPE process_max_fds gauge
            process_max_fds 1024
            # HELP process_virtual_memory_bytes Virtual memory size in bytes.
            # TYPE process_virtual_memory_bytes gauge
            process_virtual_memory_bytes 300000000
            # HELP process_resident_memory_bytes Resident memory size in bytes.
            # TYPE process_resident_memory_bytes gauge
            process_resident_memory_bytes 50000000
            # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
            # TYPE process_start_time_seconds gauge
            process_start_time_seconds 1700000000.25
            """ + "\n";
        Assert.Equal(expected.ReplaceLineEndings("\n"), PrometheusWriter.Write(snapshot));
    }

    [Fact]
    public void Every_family_is_named_as_Prometheus_asks_and_shows_up_on_a_server_or_a_client()
    {
        var names = MetricCatalog.All.Select(f => f.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (var f in MetricCatalog.All)
        {
            Assert.Matches("^(tunnellite|process)_[a-z_]+[a-z]$", f.Name);
            Assert.True(f.Type == MetricType.Counter == f.Name.EndsWith("_total", StringComparison.Ordinal), $"{f.Name}: counters and only counters end in _total");
            Assert.DoesNotMatch("_(ms|milliseconds|kb|kib|mb|mib|minutes|hours)(_|$)", f.Name);
        }
        var shown = Exposition.Parse(PrometheusWriter.Write(Realistic(TunnelRole.Server)))
            .Concat(Exposition.Parse(PrometheusWriter.Write(Realistic(TunnelRole.Client)))).Select(f => f.Name).ToHashSet();
        Assert.Equal(names.Order(), shown.Order());
    }

    [Theory]
    [InlineData(0d, "0")]
    [InlineData(42d, "42")]
    [InlineData(-3d, "-3")]
    [InlineData(0.1d, "0.1")]
    [InlineData(1.5e-7, "1.5E-07")]
    [InlineData(9007199254740991d, "9007199254740991")]
    [InlineData(9223372036854775807d, "9.223372036854776E+18")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    public void Values_are_spelled_as_Prometheus_reads_them(double value, string text)
    {
        var output = new StringWriter();
        PrometheusText.WriteValue(output, value);
        Assert.Equal(text, output.ToString());
        Assert.Equal(value, Exposition.ParseValue(text), 15);
    }

    [Fact]
    public void A_culture_with_a_decimal_comma_changes_nothing()
    {
        var snapshot = Realistic(TunnelRole.Client) with { Process = FixedProcess };
        var invariant = PrometheusWriter.Write(snapshot);
        var saved = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
            Assert.Equal(invariant, PrometheusWriter.Write(snapshot));
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
        Assert.Contains("tunnellite_control_heartbeat_age_seconds 3.25\n", invariant);
    }

    [Fact]
    public void Hostile_names_are_escaped_and_read_back_as_they_were()
    {
        var summary = Stats("server:7000", TunnelRole.Server, null, 1);
        var tunnels = HostileNames.Select((n, i) => Stats(n, TunnelRole.Server, HostileNames[^(i + 1)], i + 1)).ToList();
        var clients = HostileNames.Select((n, i) => Client($"{i}", n, i)).ToList();
        var text = PrometheusWriter.Write(new MetricsSnapshot(TunnelRole.Server, summary, tunnels, clients, null, [new("a\"b\nc", 1)], FixedProcess));

        Assert.Contains("tunnel=\"a\\\"b\\\\c\"", text);                    // a"b\c
        Assert.Contains("tunnel=\"line1\\nline2\"", text);                      // a line feed is \n, never a line break
        Assert.Contains("tunnel=\"<img src=x onerror=alert(1)>\"", text);        // no HTML escaping in this format
        Assert.Contains("tunnel=\"ünïcødé 😀 名前\"", text);
        Assert.Contains("tunnel=\"trailing\\\\\"", text);
        Assert.Contains("reason=\"a\\\"b\\nc\"", text);

        // Read back, every name is what it was, except that a lone surrogate (not encodable as UTF-8) became U+FFFD;
        // "x\uD800" and "x\uDBFF" are then the same series, summed.
        static string Encodable(string s) => System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(s));
        var families = Exposition.Parse(text).ToDictionary(f => f.Name);
        var read = families["tunnellite_tunnel_connections_active"].Samples;
        Assert.Equal(HostileNames.Select(Encodable).Distinct().Order(StringComparer.Ordinal), read.Select(s => s.Label("tunnel")!).Order(StringComparer.Ordinal));
        Assert.Equal(tunnels.Sum(t => t.ActiveConnections), read.Sum(s => s.Value));
        Assert.Equal(HostileNames.Select(Encodable).Distinct().Order(StringComparer.Ordinal),
            families["tunnellite_client_sessions"].Samples.Select(s => s.Label("client")!).Order(StringComparer.Ordinal));
        Assert.Equal("a\"b\nc", Assert.Single(families["tunnellite_admin_refusals_total"].Samples).Label("reason"));
    }

    [Fact]
    public void No_series_appears_twice_and_what_collides_is_summed()
    {
        // Two servers in one process may both have a tunnel "web" of client "alice"; names that differ only in a lone
        // surrogate are written the same; no client name and an empty one are the same label; a client tunnel "web" is
        // a different series from the server's.
        IReadOnlyList<TunnelStats> first =
        [
            Stats("web", TunnelRole.Server, "alice", 1), Stats("x\uD800", TunnelRole.Server, null, 2),
            Stats("db", TunnelRole.Server, null, 3), Stats("web", TunnelRole.Client, "alice", 4),
        ];
        IReadOnlyList<TunnelStats> second =
        [
            Stats("web", TunnelRole.Server, "alice", 10), Stats("x\uDBFF", TunnelRole.Server, "", 20),
            Stats("db", TunnelRole.Server, "", 30), Stats("web", TunnelRole.Server, "bob", 40),
        ];
        MetricsSnapshot Of(IReadOnlyList<TunnelStats> tunnels, IReadOnlyList<TunnelClientInfo> clients, IReadOnlyList<KeyValuePair<string, long>> refusals) =>
            new(TunnelRole.Server, Stats("server", TunnelRole.Server, null, 0), tunnels, clients, null, refusals, FixedProcess);
        var a = Exposition.Parse(PrometheusWriter.Write(Of(first, [Client("1", "alice", 2)], [new("host", 1)])));
        var b = Exposition.Parse(PrometheusWriter.Write(Of(second, [Client("2", "alice", 9), Client("3", null, 1, "bob")], [new("host", 2)])));
        var both = Exposition.Parse(PrometheusWriter.Write(Of([.. first, .. second],
            [Client("1", "alice", 2), Client("2", "alice", 9), Client("3", null, 1, "bob")], [new("host", 1), new("host", 2)])));

        // Exposition.Parse has already refused any duplicate series; each merged series is the sum of its parts.
        static Dictionary<string, double> Values(IEnumerable<ExpositionFamily> families, string prefix) =>
            families.Where(f => f.Name.StartsWith(prefix, StringComparison.Ordinal)).SelectMany(f => f.Samples).ToDictionary(s => s.Key, s => s.Value);
        var sum = Values(a, "tunnellite_tunnel_");
        foreach (var (key, value) in Values(b, "tunnellite_tunnel_")) sum[key] = sum.GetValueOrDefault(key) + value;
        Assert.Equal(sum.OrderBy(kv => kv.Key, StringComparer.Ordinal), Values(both, "tunnellite_tunnel_").OrderBy(kv => kv.Key, StringComparer.Ordinal));
        var families = both.ToDictionary(f => f.Name);
        Assert.Equal(5, families["tunnellite_tunnel_connections_active"].Samples.Count);
        Assert.Equal([("server", 7L)], families["tunnellite_tunnels"].Samples.Where(s => s.Label("role") == "server").Select(s => (s.Label("role")!, (long)s.Value)));
        Assert.Equal(3d, Assert.Single(families["tunnellite_admin_refusals_total"].Samples).Value);
        var ages = families["tunnellite_client_heartbeat_age_seconds"].Samples.ToDictionary(s => s.Label("client")!, s => s.Value);
        Assert.Equal(new Dictionary<string, double> { ["alice"] = 9, ["bob"] = 1 }, ages);
        Assert.Equal(2d, families["tunnellite_client_sessions"].Samples.Single(s => s.Label("client") == "alice").Value);
    }

    [Fact]
    public void A_client_shows_its_control_connection_and_no_server_figures()
    {
        var connected = Exposition.Parse(PrometheusWriter.Write(Realistic(TunnelRole.Client))).ToDictionary(f => f.Name);
        Assert.Equal(1d, Assert.Single(connected["tunnellite_control_connected"].Samples).Value);
        Assert.Equal(3.25, Assert.Single(connected["tunnellite_control_heartbeat_age_seconds"].Samples).Value);
        Assert.Equal(17d, Assert.Single(connected["tunnellite_reconnects_total"].Samples).Value);
        Assert.DoesNotContain("tunnellite_clients_connected", connected.Keys);
        Assert.DoesNotContain("tunnellite_server_refusals_total", connected.Keys);
        Assert.All(connected["tunnellite_tunnel_bytes_total"].Samples, s => Assert.Equal("client", s.Label("role")));

        var reconnecting = Exposition.Parse(PrometheusWriter.Write(Realistic(TunnelRole.Client) with { ControlHeartbeatAgeSeconds = null }))
            .ToDictionary(f => f.Name);
        Assert.Equal(0d, Assert.Single(reconnecting["tunnellite_control_connected"].Samples).Value);
        Assert.DoesNotContain("tunnellite_control_heartbeat_age_seconds", reconnecting.Keys);
    }

    [PromtoolTheory]
    [InlineData(TunnelRole.Server, false)]
    [InlineData(TunnelRole.Client, false)]
    [InlineData(TunnelRole.Server, true)]
    public void Promtool_check_metrics_passes_a_realistic_scrape(TunnelRole role, bool bothRoles)
    {
        var snapshot = Realistic(role);
        if (bothRoles) snapshot = snapshot with { Tunnels = [.. snapshot.Tunnels, .. Realistic(TunnelRole.Client).Tunnels] };
        var text = PrometheusWriter.Write(snapshot);
        Assert.NotEmpty(Exposition.Parse(text));

        var (exitCode, output) = Promtool.CheckMetrics(text);

        Assert.True(exitCode == 0 && output.Length == 0, $"promtool check metrics exited {exitCode}:\n{output}");
    }

    /// <summary>A scrape as a busy process might give: 50 tunnels (hostile names among them, names shared by several
    /// tunnels of different clients), 20 client sessions (names shared, one without a name), counters up to long.MaxValue,
    /// and the real process readings.</summary>
    private static MetricsSnapshot Realistic(TunnelRole role)
    {
        var random = new Random(12);
        string?[] clientNames = ["alice", "bob", "ci-runner-7", .. HostileNames.Take(6), null];
        var tunnels = Enumerable.Range(0, 50).Select(i =>
            Stats(i < HostileNames.Length ? HostileNames[i] : $"svc-{i % 40}", role, clientNames[i % clientNames.Length], random.Next(0, 1000))
                with { BytesOut = i == 7 ? long.MaxValue : random.NextInt64(0, 1L << 50) }).ToList();
        var summary = Stats(role == TunnelRole.Server ? "server:7000" : "client", role, null, tunnels.Sum(t => t.ActiveConnections)) with
        {
            Reconnects = role == TunnelRole.Client ? 17 : 0,
            Clients = role == TunnelRole.Server ? 20 : 0,
            HandshakesEvicted = 3, LoginsFailed = 120, GarbageConnections = 5_000, PendingHandshakes = 4,
        };
        var clients = role == TunnelRole.Server
            ? Enumerable.Range(0, 20).Select(i => Client($"s{i}", clientNames[i % clientNames.Length], random.NextDouble() * 30, i % 3 == 0 ? "acct" : null)).ToList()
            : [];
        return new MetricsSnapshot(role, summary, tunnels, clients, role == TunnelRole.Client ? 3.25 : null,
            [new("bad_request", 2), new("unauthorized", 40), new("throttled", 7), new("host", 0), new("connection_limit", 1)]);
    }

    private static TunnelStats Stats(string name, TunnelRole role, string? client, long active) => new()
    {
        Name = name, Role = role, State = "Running", ClientName = client, Uptime = TimeSpan.FromMinutes(active),
        ActiveConnections = active, TotalConnections = 10 * active + 1, FailedConnections = active / 3, RefusedConnections = active / 5,
        BytesIn = 1000 * active, BytesOut = 3000 * active, SplicedConnections = 6 * active, CopiedConnections = 4 * active, SpliceFallbacks = active / 7,
    };

    private static TunnelClientInfo Client(string id, string? name, double heartbeatAge, string? account = null) => new()
    {
        Id = id, Name = name, Account = account, RemoteAddress = $"192.0.2.{id.Length}:5{id.Length}000", HeartbeatAgeSeconds = heartbeatAge,
    };
}
