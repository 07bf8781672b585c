namespace TunnelLite.Bench;

internal static class Stat
{
    public static double Median(IEnumerable<double> values) => Percentile(values, 50);

    /// <summary>Nearest-rank percentile.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var a = values.ToArray();
        if (a.Length == 0) return double.NaN;
        Array.Sort(a);
        var rank = (int)Math.Ceiling(p / 100 * a.Length);
        return a[Math.Clamp(rank - 1, 0, a.Length - 1)];
    }
}
