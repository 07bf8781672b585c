using TunnelLite.Statistics;

namespace TunnelLite.Admin;

/// <summary>Something that yields samples: a row of <see cref="MetricRows"/> whose labels are already rendered.</summary>
internal interface IMetricRow
{
    /// <summary>The row's label pairs as written between braces (escaped), or empty for none.</summary>
    string Labels { get; }
}

/// <summary>The rows of one scrape: a <see cref="MetricsSnapshot"/> arranged as the catalog's families read it, with
/// every row's labels rendered once.
/// <para>No two rows of a list have the same labels, which is what keeps /metrics free of duplicate series (the same
/// name and labels twice, which Prometheus rejects for the whole scrape): rows are grouped by their labels as written,
/// after escaping, so tunnels that share a name and role (two servers in one process) or whose names differ only in
/// what escaping maps to the same text are summed into one series, and client sessions that share a name are one
/// series with the largest heartbeat age. Client names only, never session ids or addresses, so the series stay
/// bounded.</para></summary>
internal sealed class MetricRows : IMetricRow
{
    public MetricRows(MetricsSnapshot snapshot)
    {
        Snapshot = snapshot;
        Process = snapshot.Process ?? ProcessMetrics.Read();
        var role = RoleName(snapshot.Role);
        Totals = [new StatsRow(PrometheusText.Labels("role", role), snapshot.Summary)];
        BuildInfo = [new CountRow(PrometheusText.Labels("version", Admin.BuildInfo.Version, "role", role), 1)];
        DataPlaneInfo = [new CountRow(PrometheusText.Labels("role", role, "plane", PlaneName(snapshot.Summary.DataPlane),
            "event_loops", snapshot.Summary.EventLoops.ToString(System.Globalization.CultureInfo.InvariantCulture)), 1)];
        Server = snapshot.Role == TunnelRole.Server ? [this] : [];
        Client = snapshot.Role == TunnelRole.Client ? [this] : [];
        Tunnels = GroupTunnels(snapshot.Tunnels);
        TunnelCounts = CountTunnels(snapshot.Role, snapshot.Tunnels);
        ClientNames = snapshot.Role == TunnelRole.Server ? GroupClients(snapshot.Clients) : [];
        AdminRefusals = SumByLabel(snapshot.AdminRefusals.Select(r => new CountRow(PrometheusText.Labels("reason", r.Key), r.Value)));
    }

    /// <summary>The snapshot these rows come from.</summary>
    public MetricsSnapshot Snapshot { get; }
    /// <summary>The process readings: the snapshot's, or read when these rows were made.</summary>
    public ProcessMetrics Process { get; }
    /// <summary>As a row, the scrape as a whole: it has no labels.</summary>
    public string Labels => "";

    /// <summary>This scrape as one row, for the process and build families.</summary>
    public IReadOnlyList<MetricRows> Whole => [this];
    /// <summary>This scrape as one row on a server; no row on a client (server-only families are left out).</summary>
    public IReadOnlyList<MetricRows> Server { get; }
    /// <summary>This scrape as one row on a client; no row on a server.</summary>
    public IReadOnlyList<MetricRows> Client { get; }
    /// <summary>The process's totals, labelled with its role.</summary>
    public IReadOnlyList<StatsRow> Totals { get; }
    /// <summary>One row labelled version and role, of value 1.</summary>
    public IReadOnlyList<CountRow> BuildInfo { get; }
    /// <summary>One row labelled role, plane and event_loops, of value 1: fixed for the life of the process, so the labels
    /// stay bounded (two planes, at most <see cref="Forwarding.PumpSelector.MaxEventLoops"/> loops).</summary>
    public IReadOnlyList<CountRow> DataPlaneInfo { get; }
    /// <summary>One row per role, tunnel name and client name, ordered by labels.</summary>
    public IReadOnlyList<StatsRow> Tunnels { get; }
    /// <summary>Tunnels registered now, per role (this process's role always, even at 0).</summary>
    public IReadOnlyList<CountRow> TunnelCounts { get; }
    /// <summary>Server: one row per client name, ordered by labels.</summary>
    public IReadOnlyList<ClientNameRow> ClientNames { get; }
    /// <summary>The admin endpoint's refusals, one row per reason, in the order it gave them.</summary>
    public IReadOnlyList<CountRow> AdminRefusals { get; }

    /// <summary>The role as a label value.</summary>
    public static string RoleName(TunnelRole role) => role switch
    {
        TunnelRole.Server => "server",
        TunnelRole.Client => "client",
        _ => role.ToString().ToLowerInvariant(),
    };

    /// <summary>The plane as a label value, spelled as the transport.dataPlane key takes it: eventloops, async.</summary>
    public static string PlaneName(Forwarding.DataPlaneKind plane) => plane.ToString().ToLowerInvariant();

    private static List<StatsRow> GroupTunnels(IReadOnlyList<TunnelStats> tunnels)
    {
        var byLabels = new Dictionary<string, TunnelStats>(tunnels.Count, StringComparer.Ordinal);
        foreach (var t in tunnels)
        {
            var labels = PrometheusText.Labels("role", RoleName(t.Role), "tunnel", t.Name, "client", t.ClientName);
            byLabels[labels] = byLabels.TryGetValue(labels, out var seen) ? Sum(seen, t) : t;
        }
        var rows = byLabels.Select(kv => new StatsRow(kv.Key, kv.Value)).ToList();
        rows.Sort((a, b) => string.CompareOrdinal(a.Labels, b.Labels));
        return rows;
    }

    // Every TunnelStats figure that a per-tunnel family reads must be one that PlusCounts adds, or merged tunnels would
    // show only the first one's (MetricsTests checks this for each family).
    private static TunnelStats Sum(TunnelStats a, TunnelStats b) => a.PlusCounts(b);

    private static List<CountRow> CountTunnels(TunnelRole role, IReadOnlyList<TunnelStats> tunnels)
    {
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal) { [RoleName(role)] = 0 };
        foreach (var t in tunnels) counts[RoleName(t.Role)] = counts.GetValueOrDefault(RoleName(t.Role)) + 1;
        return counts.Select(kv => new CountRow(PrometheusText.Labels("role", kv.Key), kv.Value)).ToList();
    }

    private static List<ClientNameRow> GroupClients(IReadOnlyList<TunnelClientInfo> clients)
    {
        var byLabels = new Dictionary<string, ClientNameRow>(StringComparer.Ordinal);
        foreach (var c in clients)
        {
            var labels = PrometheusText.Labels("client", c.Name ?? c.Account);
            byLabels[labels] = byLabels.TryGetValue(labels, out var seen)
                ? seen with { HeartbeatAgeSeconds = Math.Max(seen.HeartbeatAgeSeconds, c.HeartbeatAgeSeconds), Sessions = seen.Sessions + 1 }
                : new ClientNameRow(labels, c.HeartbeatAgeSeconds, 1);
        }
        var rows = byLabels.Values.ToList();
        rows.Sort((a, b) => string.CompareOrdinal(a.Labels, b.Labels));
        return rows;
    }

    private static List<CountRow> SumByLabel(IEnumerable<CountRow> rows)
    {
        var result = new List<CountRow>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var r in rows)
        {
            if (index.TryGetValue(r.Labels, out var i)) result[i] = result[i] with { Count = result[i].Count + r.Count };
            else { index[r.Labels] = result.Count; result.Add(r); }
        }
        return result;
    }
}

/// <summary>A row of TunnelStats figures: the process's totals or one tunnel's.</summary>
internal readonly record struct StatsRow(string Labels, TunnelStats Stats) : IMetricRow;

/// <summary>A row of one count: a reason's refusals, a role's tunnels, build info's 1.</summary>
internal readonly record struct CountRow(string Labels, long Count) : IMetricRow;

/// <summary>Server: the sessions of one client name now and the largest of their heartbeat ages.</summary>
internal readonly record struct ClientNameRow(string Labels, double HeartbeatAgeSeconds, int Sessions) : IMetricRow;
