namespace TunnelLite.Admin;

/// <summary>One sample of a family: the row's labels, the series' own label (such as <c>direction="in"</c>), the value.</summary>
internal readonly record struct MetricSample(string Labels, string? SeriesLabel, double Value);

/// <summary>One series of a family per row: an optional label of its own (<c>direction="in"</c>) and how its value is
/// read from the row; a null value leaves the sample out (a reading this platform lacks, a client not connected).</summary>
internal sealed record MetricSeries<TRow>(string? Label, Func<TRow, double?> Value);

/// <summary>One metric as /metrics shows it: name, type, help text, and its samples for a scrape. The HELP and TYPE lines
/// are rendered once, here, since they are the same at every scrape.</summary>
internal abstract class MetricFamily
{
    protected MetricFamily(string name, MetricType type, string help)
    {
        Name = name;
        Type = type;
        Help = help;
        Header = $"# HELP {name} {PrometheusText.HelpText(help)}\n# TYPE {name} {(type == MetricType.Counter ? "counter" : "gauge")}\n";
    }

    /// <summary>The full metric name (tunnellite_... or process_...).</summary>
    public string Name { get; }
    /// <summary>Counter or gauge.</summary>
    public MetricType Type { get; }
    /// <summary>What it counts or measures, for # HELP.</summary>
    public string Help { get; }
    /// <summary>The # HELP and # TYPE lines, each ending in a line feed.</summary>
    public string Header { get; }

    /// <summary>This family's samples in <paramref name="rows"/>, in the order they are written.</summary>
    public abstract IEnumerable<MetricSample> Samples(MetricRows rows);
}

/// <summary>A family whose samples come from one kind of row: each row (a tunnel, a client name, the process) gives one
/// sample per series.</summary>
internal sealed class MetricFamily<TRow> : MetricFamily where TRow : IMetricRow
{
    private readonly Func<MetricRows, IReadOnlyList<TRow>> _rows;
    private readonly MetricSeries<TRow>[] _series;

    public MetricFamily(string name, MetricType type, string help, Func<MetricRows, IReadOnlyList<TRow>> rows, params MetricSeries<TRow>[] series)
        : base(name, type, help)
    {
        _rows = rows;
        _series = series;
    }

    /// <inheritdoc />
    public override IEnumerable<MetricSample> Samples(MetricRows rows)
    {
        foreach (var row in _rows(rows))
        {
            foreach (var s in _series)
            {
                if (s.Value(row) is { } value) yield return new MetricSample(row.Labels, s.Label, value);
            }
        }
    }
}
