using System.Globalization;

namespace TunnelLite.Config;

/// <summary>A bandwidth limit per direction, in bytes per second, 0 for none: "in" toward the local service, "out" toward
/// the user. Written as frp writes it: a number and KB or MB, where KB is 2^10 and MB 2^20 bytes per second ("512KB",
/// "10MB", "1.5MB"); one value limits each direction on its own.</summary>
public readonly record struct BandwidthLimit(long InBytesPerSecond, long OutBytesPerSecond)
{
    /// <summary>No limit either way.</summary>
    public static BandwidthLimit None => default;

    /// <summary>The largest limit accepted: 1 TB/s is no limit a machine reaches, and the arithmetic stays far from overflow.</summary>
    public const long MaxBytesPerSecond = 1L << 40;

    /// <summary>Neither direction is limited.</summary>
    public bool IsNone => InBytesPerSecond == 0 && OutBytesPerSecond == 0;

    /// <summary>The same limit both ways.</summary>
    public static BandwidthLimit Both(long bytesPerSecond) => new(bytesPerSecond, bytesPerSecond);

    /// <summary>The stricter of two limits, direction by direction (0, none, yields to any limit).</summary>
    public BandwidthLimit Min(BandwidthLimit other) => new(Stricter(InBytesPerSecond, other.InBytesPerSecond), Stricter(OutBytesPerSecond, other.OutBytesPerSecond));

    private static long Stricter(long a, long b) => a == 0 ? b : b == 0 ? a : Math.Min(a, b);

    /// <summary>Parses frp's form ("512KB", "10MB", "1.5MB"; the unit in any case, spaces around it allowed; "" or "0" for
    /// none) into bytes per second.</summary>
    /// <exception cref="FormatException">Not a positive number followed by KB or MB, or above 1 TB/s.</exception>
    public static long ParseRate(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim();
        if (t.Length == 0 || t == "0") return 0;
        long unit = t.EndsWith("MB", StringComparison.OrdinalIgnoreCase) ? 1L << 20
            : t.EndsWith("KB", StringComparison.OrdinalIgnoreCase) ? 1L << 10
            : throw new FormatException($"'{text}' is not a bandwidth: write a number and KB or MB, as in frp (\"512KB\", \"10MB\"; KB = 1024 bytes per second).");
        if (!decimal.TryParse(t[..^2].TrimEnd(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) || number <= 0
            || number * unit > MaxBytesPerSecond)
            throw new FormatException($"'{text}' is not a bandwidth: the number must be above 0 and the rate at most 1048576MB (\"512KB\", \"10MB\").");
        return Math.Max(1, (long)(number * unit));
    }

    /// <summary>A rate in frp's form: whole MB or KB where it is one, else bytes ("10MB", "512KB", "1000B").</summary>
    public static string FormatRate(long bytesPerSecond) =>
        bytesPerSecond == 0 ? "none"
        : bytesPerSecond % (1L << 20) == 0 ? $"{bytesPerSecond >> 20}MB"
        : bytesPerSecond % (1L << 10) == 0 ? $"{bytesPerSecond >> 10}KB"
        : $"{bytesPerSecond}B";

    /// <inheritdoc />
    public override string ToString() => InBytesPerSecond == OutBytesPerSecond
        ? FormatRate(InBytesPerSecond)
        : $"in {FormatRate(InBytesPerSecond)}, out {FormatRate(OutBytesPerSecond)}";
}
