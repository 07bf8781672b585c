namespace TunnelLite.Admin;
// TEMPORARY placeholder until the metrics branch is merged; not to be committed.
internal static class PrometheusWriter
{
    public static string Write(MetricsSnapshot s) => "# placeholder\n";
}
