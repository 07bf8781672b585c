using System.Globalization;

namespace TunnelLite.Config;

/// <summary>An inclusive range of TCP ports, such as 20000-20100 or the single port 8080.</summary>
public readonly record struct PortRange
{
    /// <summary>Creates a range; both ends must be valid ports (1-65535) and <paramref name="start"/> &lt;= <paramref name="end"/>.</summary>
    public PortRange(int start, int end)
    {
        if (start < 1 || start > 65535) throw new ArgumentOutOfRangeException(nameof(start), start, "A port must be between 1 and 65535.");
        if (end < start || end > 65535) throw new ArgumentOutOfRangeException(nameof(end), end, $"The end of a port range must be between {start} and 65535.");
        Start = start;
        End = end;
    }

    /// <summary>First port of the range.</summary>
    public int Start { get; }

    /// <summary>Last port of the range (inclusive).</summary>
    public int End { get; }

    /// <summary>Number of ports in the range.</summary>
    public int Count => End - Start + 1;

    /// <summary>True when <paramref name="port"/> lies in the range.</summary>
    public bool Contains(int port) => port >= Start && port <= End;

    /// <summary>Parses "20000-20100" or "8080".</summary>
    /// <exception cref="FormatException">The text is not a port or a range of ports; the message is for the user as it is.</exception>
    public static PortRange Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim();
        var dash = t.IndexOf('-');
        // Checked here rather than left to the constructor, whose ArgumentOutOfRangeException would put "(Parameter 'end')"
        // and "Actual value was" into a message meant for someone who typed -AllowPorts.
        var start = ParsePort(text, dash < 0 ? t : t[..dash]);
        var end = dash < 0 ? start : ParsePort(text, t[(dash + 1)..]);
        if (end < start)
            throw new FormatException($"'{text}' is not a valid port range: it ends at {end}, below its start {start}. Write the lower port first, as in 20000-20100.");
        return new PortRange(start, end);
    }

    private static int ParsePort(string text, string s)
    {
        if (!int.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var p))
            throw new FormatException($"'{s.Trim()}' is not a port number; use a port such as 8080 or a range such as 20000-20100.");
        if (p is < 1 or > 65535)
            throw new FormatException($"'{text}' is not a valid port range: {p} is not a port (1-65535).");
        return p;
    }

    /// <inheritdoc />
    public override string ToString() => Start == End ? Start.ToString(CultureInfo.InvariantCulture) : $"{Start}-{End}";
}
