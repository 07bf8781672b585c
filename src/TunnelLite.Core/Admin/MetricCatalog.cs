using System.Collections.Immutable;
using static TunnelLite.Admin.MetricType;

namespace TunnelLite.Admin;

/// <summary>Every metric of /metrics, declared once: name (with its unit: _bytes, _seconds, and _total for counters),
/// type, help text and how its value is read from a scrape's <see cref="MetricRows"/>, as HAProxy's stats-proxy.c
/// declares its ME_NEW_PX_* list. <see cref="PrometheusWriter"/> writes them in this order; a family with no sample
/// in a scrape (a server-only one on a client) is left out whole.
/// <para>Labels: <c>role</c> (server, client), <c>tunnel</c> and <c>client</c> (names, never session ids or addresses,
/// so that series stay bounded), <c>direction</c> (in: toward the local service, out: toward the user), <c>mode</c>
/// (splice, copy), <c>reason</c>, and on tunnellite_data_plane_info <c>plane</c> (eventloops, async) and
/// <c>event_loops</c>. The process's totals and the per-tunnel figures are separate families (tunnellite_bytes_total,
/// tunnellite_tunnel_bytes_total) so that summing a family never counts a byte twice.</para></summary>
internal static class MetricCatalog
{
    /// <summary>The traffic figures a server or client keeps both in total and per tunnel: each is declared once here and
    /// becomes tunnellite_{stem} (the totals, labelled role) and tunnellite_tunnel_{stem} (labelled role, tunnel, client).</summary>
    private static readonly (string Stem, MetricType Type, string Help, MetricSeries<StatsRow>[] Series)[] Traffic =
    [
        ("bytes_total", Counter, "Bytes forwarded; direction in is toward the local service, out toward the user.",
            [Stat("direction", "in", s => s.BytesIn), Stat("direction", "out", s => s.BytesOut)]),
        ("connections_opened_total", Counter, "User connections accepted.", [Stat(s => s.TotalConnections)]),
        ("connections_active", Gauge, "User connections open now.", [Stat(s => s.ActiveConnections)]),
        ("connections_failed_total", Counter,
            "User connections that failed: the local service refused or timed out, or no data connection came in time.",
            [Stat(s => s.FailedConnections)]),
        ("connections_reset_total", Counter,
            "User connections that ended in a reset once forwarding had begun: a peer reset or vanished, a send failed, or the tunnel closed or the process stopped under them.",
            [Stat(s => s.ResetConnections)]),
        ("connections_refused_total", Counter, "User connections refused at once because the tunnel was at its connection cap.",
            [Stat(s => s.RefusedConnections)]),
        ("connections_source_refused_total", Counter,
            "User connections refused at once for their source address, by the tunnel's allow and deny lists (allowSources, denySources).",
            [Stat(s => s.SourceRefusedConnections)]),
        ("connections_forwarded_total", Counter, "Connections forwarded, by mode: splice(2) or the buffered copy.",
            [Stat("mode", "splice", s => s.SplicedConnections), Stat("mode", "copy", s => s.CopiedConnections)]),
        ("splice_fallbacks_total", Counter,
            "Connections that were to be spliced but were copied: no pipe could be had, or splice(2) refused the socket.",
            [Stat(s => s.SpliceFallbacks)]),
    ];

    /// <summary>All families, in the order they are written. (After <see cref="Traffic"/>: static initializers run in
    /// the order they are written.)</summary>
    public static ImmutableArray<MetricFamily> All { get; } = Build();

    private static ImmutableArray<MetricFamily> Build() =>
    [
        Family("tunnellite_build_info", Gauge, "Always 1; the version of TunnelLite and the role of this process are its labels.",
            r => r.BuildInfo, Count()),
        Family("tunnellite_data_plane_info", Gauge,
            "Always 1; the data plane that moves the bytes (plane: eventloops or async) and its event loops (0 on the async plane) are its labels.",
            r => r.DataPlaneInfo, Count()),
        Family("tunnellite_uptime_seconds", Gauge, "Seconds since the server or client started.", r => r.Totals, Stat(s => s.Uptime.TotalSeconds)),
        Family("tunnellite_tunnels", Gauge, "Tunnels registered now.", r => r.TunnelCounts, Count()),
        .. Traffic.Select(t => Family($"tunnellite_{t.Stem}", t.Type, $"{t.Help} All tunnels of this server or client.", r => r.Totals, t.Series)),

        OnServer("tunnellite_clients_connected", Gauge, "Server: client sessions connected now.", r => r.Snapshot.Summary.Clients),
        Family("tunnellite_client_sessions", Gauge, "Server: client sessions connected now, per client name.",
            r => r.ClientNames, new MetricSeries<ClientNameRow>(null, c => c.Sessions)),
        Family("tunnellite_client_heartbeat_age_seconds", Gauge,
            "Server: seconds since a client was last heard from, per client name (the oldest of its sessions).",
            r => r.ClientNames, new MetricSeries<ClientNameRow>(null, c => c.HeartbeatAgeSeconds)),
        OnServer("tunnellite_handshakes_pending", Gauge, "Server: connections to the control port that have not yet shown who they are.",
            r => r.Snapshot.Summary.PendingHandshakes),
        Family("tunnellite_server_refusals_total", Counter,
            "Server: connections and logins refused or closed, by reason: handshake_evicted (room made for newer handshakes), "
            + "handshake_timeout, garbage (not the protocol), login_failed (wrong proof), login_throttled (waiting after failures), "
            + "session_limit, data_connection_refused, descriptor_limit.",
            r => r.Server,
            Refusal("handshake_evicted", s => s.HandshakesEvicted),
            Refusal("handshake_timeout", s => s.HandshakeTimeouts),
            Refusal("garbage", s => s.GarbageConnections),
            Refusal("login_failed", s => s.LoginsFailed),
            Refusal("login_throttled", s => s.LoginsThrottled),
            Refusal("session_limit", s => s.SessionsRefused),
            Refusal("data_connection_refused", s => s.DataConnectionsRefused),
            Refusal("descriptor_limit", s => s.DescriptorRefusals)),

        OnClient("tunnellite_reconnects_total", Counter, "Client: times it reconnected to its server.", r => r.Snapshot.Summary.Reconnects),
        OnClient("tunnellite_control_connected", Gauge, "Client: 1 while its control connection to the server is up, 0 while it reconnects.",
            r => r.Snapshot.ControlHeartbeatAgeSeconds is null ? 0 : 1),
        OnClient("tunnellite_control_heartbeat_age_seconds", Gauge, "Client: seconds since it last heard from its server; absent while not connected.",
            r => r.Snapshot.ControlHeartbeatAgeSeconds),

        .. Traffic.Select(t => Family($"tunnellite_tunnel_{t.Stem}", t.Type, $"{t.Help} Per tunnel registered now.", r => r.Tunnels, t.Series)),

        Family("tunnellite_admin_refusals_total", Counter, "Requests the admin endpoint refused, by reason.", r => r.AdminRefusals, Count()),

        // client_golang's process collector names and help texts, so that existing dashboards and alerts apply.
        OfProcess("process_cpu_seconds_total", Counter, "Total user and system CPU time spent in seconds.", p => p.CpuSeconds),
        OfProcess("process_open_fds", Gauge, "Number of open file descriptors.", p => p.OpenFds),
        OfProcess("process_max_fds", Gauge, "Maximum number of open file descriptors.", p => p.MaxFds),
        OfProcess("process_virtual_memory_bytes", Gauge, "Virtual memory size in bytes.", p => p.VirtualMemoryBytes),
        OfProcess("process_resident_memory_bytes", Gauge, "Resident memory size in bytes.", p => p.ResidentMemoryBytes),
        OfProcess("process_start_time_seconds", Gauge, "Start time of the process since unix epoch in seconds.", p => p.StartTimeSeconds),
    ];

    private static MetricFamily Family<TRow>(string name, MetricType type, string help, Func<MetricRows, IReadOnlyList<TRow>> rows,
        params MetricSeries<TRow>[] series) where TRow : IMetricRow => new MetricFamily<TRow>(name, type, help, rows, series);

    /// <summary>One unlabelled sample on a server, none on a client.</summary>
    private static MetricFamily OnServer(string name, MetricType type, string help, Func<MetricRows, double?> value) =>
        Family(name, type, help, r => r.Server, new MetricSeries<MetricRows>(null, value));

    /// <summary>One unlabelled sample on a client, none on a server.</summary>
    private static MetricFamily OnClient(string name, MetricType type, string help, Func<MetricRows, double?> value) =>
        Family(name, type, help, r => r.Client, new MetricSeries<MetricRows>(null, value));

    /// <summary>One unlabelled sample from the process readings; none where this platform lacks the reading.</summary>
    private static MetricFamily OfProcess(string name, MetricType type, string help, Func<ProcessMetrics, double?> value) =>
        Family(name, type, help, r => r.Whole, new MetricSeries<MetricRows>(null, r => value(r.Process)));

    private static MetricSeries<StatsRow> Stat(Func<TunnelStats, double> value) => new(null, r => value(r.Stats));

    private static MetricSeries<StatsRow> Stat(string label, string labelValue, Func<TunnelStats, double> value) =>
        new(PrometheusText.Labels(label, labelValue), r => value(r.Stats));

    private static MetricSeries<CountRow> Count() => new(null, r => r.Count);

    private static MetricSeries<MetricRows> Refusal(string reason, Func<TunnelStats, double> value) =>
        new(PrometheusText.Labels("reason", reason), r => value(r.Snapshot.Summary));
}
