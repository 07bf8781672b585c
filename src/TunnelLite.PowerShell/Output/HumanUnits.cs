using System.Globalization;

namespace TunnelLite.PowerShell.Output;

/// <summary>Human units for the table views (the objects keep raw numbers).</summary>
public static class HumanUnits
{
    private static readonly string[] Units = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };

    /// <summary>1536 → "1.5 KiB".</summary>
    public static string Bytes(double bytes)
    {
        var i = 0;
        while (Math.Abs(bytes) >= 1024 && i < Units.Length - 1)
        {
            bytes /= 1024;
            i++;
        }
        return i == 0 ? $"{bytes.ToString("0", CultureInfo.InvariantCulture)} B" : $"{bytes.ToString("0.0", CultureInfo.InvariantCulture)} {Units[i]}";
    }

    /// <summary>1536 → "1.5 KiB/s".</summary>
    public static string Rate(double bytesPerSecond) => Bytes(bytesPerSecond) + "/s";

    /// <summary>A compact duration: "45s", "12m03s", "3h07m", "2d04h".</summary>
    public static string Duration(TimeSpan t) =>
        t.TotalDays >= 1 ? $"{(int)t.TotalDays}d{t.Hours:00}h"
        : t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s"
        : $"{(int)t.TotalSeconds}s";
}
