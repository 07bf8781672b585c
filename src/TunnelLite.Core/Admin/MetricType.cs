namespace TunnelLite.Admin;

/// <summary>The two metric types /metrics uses. Histograms and summaries are not needed: TunnelLite keeps no
/// distributions, only counts and levels.</summary>
internal enum MetricType
{
    /// <summary>Only goes up (until the process or the tunnel restarts); its name ends in _total.</summary>
    Counter,
    /// <summary>A level that goes up and down.</summary>
    Gauge,
}
