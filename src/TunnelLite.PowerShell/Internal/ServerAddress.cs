using System.Globalization;

namespace TunnelLite.PowerShell.Internal;

/// <summary>Parses "host:port", "[::1]:7000" or "host" (port 7000).</summary>
internal static class ServerAddress
{
    public const int DefaultPort = 7000;

    public static (string Host, int Port) Parse(string text)
    {
        var t = text.Trim();
        if (t.Length == 0) throw new FormatException("The server address is empty; use 'host:port', for example 'tunnel.example.net:7000'.");
        string host;
        string? port = null;
        if (t.StartsWith('['))
        {
            var close = t.IndexOf(']');
            if (close < 0) throw new FormatException($"'{text}' has '[' without ']'; write IPv6 servers as '[::1]:7000'.");
            host = t[1..close];
            if (close + 1 < t.Length)
            {
                if (t[close + 1] != ':') throw new FormatException($"'{text}' is not 'host:port'.");
                port = t[(close + 2)..];
            }
        }
        else if (t.Count(c => c == ':') > 1)
        {
            host = t; // a bare IPv6 address
        }
        else
        {
            var colon = t.LastIndexOf(':');
            host = colon < 0 ? t : t[..colon];
            if (colon >= 0) port = t[(colon + 1)..];
        }
        if (host.Length == 0) throw new FormatException($"'{text}' has no host; use 'host:port'.");
        if (port is null) return (host, DefaultPort);
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p < 1 || p > 65535)
            throw new FormatException($"'{port}' in '{text}' is not a port (1-65535).");
        return (host, p);
    }
}
