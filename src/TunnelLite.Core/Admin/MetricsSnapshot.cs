using TunnelLite.Statistics;

namespace TunnelLite.Admin;

/// <summary>Everything /metrics shows, read once per scrape, so that the writer is a pure function of it.</summary>
/// <param name="Role">Server or client.</param>
/// <param name="Summary">The process's totals as a server or client (all tunnels, past and present).</param>
/// <param name="Tunnels">Each tunnel registered now.</param>
/// <param name="Clients">Server: the clients connected now. Client: empty.</param>
/// <param name="ControlHeartbeatAgeSeconds">Client: seconds since it last heard from its server; null when not connected,
/// and on a server.</param>
/// <param name="AdminRefusals">The admin endpoint's own refusals by reason (bad_request, unauthorized, throttled,
/// host, connection_limit, ...), each counted since start.</param>
/// <param name="Process">The process_* readings; null (the default) to have <see cref="PrometheusWriter"/> read them
/// (<see cref="ProcessMetrics.Read"/>) as it writes. Tests pass fixed ones.</param>
internal sealed record MetricsSnapshot(
    TunnelRole Role,
    TunnelStats Summary,
    IReadOnlyList<TunnelStats> Tunnels,
    IReadOnlyList<TunnelClientInfo> Clients,
    double? ControlHeartbeatAgeSeconds,
    IReadOnlyList<KeyValuePair<string, long>> AdminRefusals,
    ProcessMetrics? Process = null);
