using System.Globalization;
using System.Text;

namespace TunnelLite.Admin;

/// <summary>Writes a <see cref="MetricsSnapshot"/> as /metrics in the Prometheus text format 0.0.4: for each family of
/// <see cref="MetricCatalog"/>, # HELP, # TYPE, then all its samples together; invariant culture; a final line feed.
/// A pure function of the snapshot (and of the process readings, when the snapshot has none).</summary>
internal static class PrometheusWriter
{
    /// <summary>The Content-Type of the response (the text format 0.0.4, encoded as UTF-8 without a BOM).</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Writes <paramref name="snapshot"/> to <paramref name="output"/>; encode it as UTF-8 without a BOM.</summary>
    public static void Write(MetricsSnapshot snapshot, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(output);
        var rows = new MetricRows(snapshot);
        foreach (var family in MetricCatalog.All)
        {
            // The header goes out with the first sample: a family with none in this scrape is left out whole.
            var first = true;
            foreach (var sample in family.Samples(rows))
            {
                if (first) { output.Write(family.Header); first = false; }
                WriteSample(output, family.Name, sample);
            }
        }
    }

    /// <summary>The text of /metrics for <paramref name="snapshot"/>.</summary>
    public static string Write(MetricsSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        // About 120 characters a series; nine per-tunnel families: one allocation of the builder in most scrapes.
        var capacity = 8192 + 1200 * snapshot.Tunnels.Count + 160 * snapshot.Clients.Count;
        using var output = new StringWriter(new StringBuilder(capacity), CultureInfo.InvariantCulture);
        Write(snapshot, output);
        return output.ToString();
    }

    private static void WriteSample(TextWriter output, string name, MetricSample sample)
    {
        output.Write(name);
        var hasLabels = sample.Labels.Length > 0;
        if (hasLabels || sample.SeriesLabel is not null)
        {
            output.Write('{');
            output.Write(sample.Labels);
            if (hasLabels && sample.SeriesLabel is not null) output.Write(',');
            output.Write(sample.SeriesLabel);
            output.Write('}');
        }
        output.Write(' ');
        PrometheusText.WriteValue(output, sample.Value);
        output.Write('\n');
    }
}
