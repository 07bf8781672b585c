using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace TunnelLite.Benchmarks;

/// <summary>Bytes one operation of a benchmark handles, for the columns below; null for benchmarks without a byte count.</summary>
internal static class BytesPerOperation
{
    public static long? Of(BenchmarkCase benchmarkCase)
    {
        var type = benchmarkCase.Descriptor.Type;
        if (type == typeof(PumpBenchmarks)) return PumpBenchmarks.BytesPerOperation(benchmarkCase.Parameters);
        if (type == typeof(FrameCodecBenchmarks)) return FrameCodecBenchmarks.BytesPerOperation(benchmarkCase.Parameters);
        return null;
    }

    /// <summary>1 MB = 10^6 bytes, as usual for throughput.</summary>
    public const double Megabyte = 1_000_000d;
}

/// <summary>Base of the two derived columns: shown after the built-in ones, numeric, and only where bytes are known.</summary>
internal abstract class DerivedColumn : IColumn
{
    public abstract string Id { get; }
    public abstract string ColumnName { get; }
    public abstract string Legend { get; }
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public abstract int PriorityInCategory { get; }
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public bool IsAvailable(Summary summary) => summary.BenchmarksCases.Any(c => BytesPerOperation.Of(c) is not null);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        var bytes = BytesPerOperation.Of(benchmarkCase);
        if (report is null || bytes is null or 0) return "-";
        var value = Compute(report, benchmarkCase, bytes.Value);
        return value is double v && double.IsFinite(v) ? v.ToString(Format(v), style.CultureInfo ?? CultureInfo.InvariantCulture) : "-";
    }

    protected abstract double? Compute(BenchmarkReport report, BenchmarkCase benchmarkCase, long bytesPerOperation);

    private static string Format(double v) => v >= 100 ? "N0" : v >= 1 ? "N1" : "N3";

    public override string ToString() => ColumnName;
}

/// <summary>MB/s: bytes per operation divided by the mean time of an operation.</summary>
internal sealed class ThroughputColumn : DerivedColumn
{
    public static readonly ThroughputColumn Instance = new();
    public override string Id => "TunnelLite.Throughput";
    public override string ColumnName => "MB/s";
    public override string Legend => "Throughput: bytes handled per operation / Mean, in MB/s (1 MB = 10^6 bytes)";
    public override int PriorityInCategory => 0;

    protected override double? Compute(BenchmarkReport report, BenchmarkCase benchmarkCase, long bytesPerOperation)
    {
        var meanNs = report.ResultStatistics?.Mean;
        return meanNs is > 0 ? bytesPerOperation / (meanNs.Value / 1e9) / BytesPerOperation.Megabyte : null;
    }
}

/// <summary>Alloc/MB: managed bytes allocated per operation (all threads) divided by the MB the operation handled.</summary>
internal sealed class AllocatedPerMegabyteColumn : DerivedColumn
{
    public static readonly AllocatedPerMegabyteColumn Instance = new();
    public override string Id => "TunnelLite.AllocPerMB";
    public override string ColumnName => "Alloc/MB";
    public override string Legend => "Managed bytes allocated per MB handled (Allocated / (bytes per operation / 10^6))";
    public override int PriorityInCategory => 1;

    protected override double? Compute(BenchmarkReport report, BenchmarkCase benchmarkCase, long bytesPerOperation)
    {
        var allocated = report.GcStats.GetBytesAllocatedPerOperation(benchmarkCase);
        return allocated is null ? null : allocated.Value / (bytesPerOperation / BytesPerOperation.Megabyte);
    }
}
