using System.Globalization;

namespace TunnelLite.PowerShell.Output;

/// <summary>Human units for the format views (the objects keep raw numbers). Short enough for tables that fit 80 columns.</summary>
public static class HumanUnits
{
    private static readonly string[] Units = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };

    /// <summary>At most 7 characters with IEC units, as <c>ls -h</c> shows sizes: one decimal below 10, none from 10, and the
    /// next unit from 1000 (so never "1000 KiB"): 54 → "54 B", 1536 → "1.5 KiB", 317440 → "310 KiB", 1000 → "1.0 KiB".</summary>
    public static string Bytes(double bytes)
    {
        if (double.IsNaN(bytes) || double.IsInfinity(bytes)) return bytes.ToString(CultureInfo.InvariantCulture);
        var sign = bytes < 0 ? "-" : "";
        var v = Math.Abs(bytes);
        var i = 0;
        while (i < Units.Length - 1 && Shown(v, i) >= 1000)
        {
            v /= 1024;
            i++;
        }
        var shown = Shown(v, i);
        var digits = i > 0 && shown < 10 ? "0.0" : "0";
        return $"{sign}{shown.ToString(digits, CultureInfo.InvariantCulture)} {Units[i]}";
    }

    // The value as it will be printed: whole bytes, one decimal below 10 (9.96 prints as 10), whole numbers from there.
    private static double Shown(double v, int unit) =>
        unit > 0 && Math.Round(v, 1, MidpointRounding.AwayFromZero) < 10 ? Math.Round(v, 1, MidpointRounding.AwayFromZero) : Math.Round(v, MidpointRounding.AwayFromZero);

    /// <summary>1536 → "1.5 KiB/s".</summary>
    public static string Rate(double bytesPerSecond) => Bytes(bytesPerSecond) + "/s";

    /// <summary>"2.9 MiB (3000103)": the human figure and the exact count; below 1000 bytes just "54 B".</summary>
    public static string BytesExact(long bytes) =>
        Math.Abs(bytes) < 1000 ? Bytes(bytes) : $"{Bytes(bytes)} ({bytes.ToString(CultureInfo.InvariantCulture)})";

    /// <summary>A compact duration of at most 6 characters: "45s", "12m03s", "3h07m", "2d04h", "123d".</summary>
    public static string Duration(TimeSpan t) =>
        t.TotalDays >= 100 ? $"{(int)t.TotalDays}d"
        : t.TotalDays >= 1 ? $"{(int)t.TotalDays}d{t.Hours:00}h"
        : t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s"
        : $"{Math.Max(0, (int)t.TotalSeconds)}s";

    /// <summary>A short time of at most 7 characters, for latencies: "0.42 ms", "8.5 ms", "123 ms", "1.25 s", "12.5 s", "300 s";
    /// empty for null (nothing was timed).</summary>
    public static string Latency(TimeSpan? t)
    {
        if (t is not { } v) return "";
        var ms = Math.Max(0, v.TotalMilliseconds);
        return Math.Round(ms, 2) < 1 ? ms.ToString("0.00", CultureInfo.InvariantCulture) + " ms"
            : Math.Round(ms, 1) < 10 ? ms.ToString("0.0", CultureInfo.InvariantCulture) + " ms"
            : Math.Round(ms) < 1000 ? ms.ToString("0", CultureInfo.InvariantCulture) + " ms"
            : Math.Round(ms / 1000, 2) < 10 ? (ms / 1000).ToString("0.00", CultureInfo.InvariantCulture) + " s"
            : Math.Round(ms / 1000, 1) < 100 ? (ms / 1000).ToString("0.0", CultureInfo.InvariantCulture) + " s"
            : (ms / 1000).ToString("0", CultureInfo.InvariantCulture) + " s";
    }

    /// <summary>"3h07m (03:07:12)": the compact duration and the exact one to the second ("2d04h (2.04:13:07)").</summary>
    public static string DurationExact(TimeSpan t) =>
        $"{Duration(t)} ({TimeSpan.FromTicks(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond).ToString("c", CultureInfo.InvariantCulture)})";
}
