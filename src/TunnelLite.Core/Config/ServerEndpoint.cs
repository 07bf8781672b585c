using System.Globalization;

namespace TunnelLite.Config;

/// <summary>A tunnel server's control endpoint: host name or address, and port.</summary>
/// <param name="Host">Host name or address (IPv6 without brackets).</param>
/// <param name="Port">The control port, 1-65535.</param>
public sealed record ServerEndpoint(string Host, int Port)
{
    /// <summary>The control port when none is given.</summary>
    public const int DefaultPort = 7000;

    /// <summary>"host:port", with an IPv6 host in brackets.</summary>
    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}" : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>True when both name the same endpoint (the host compared without case, as DNS does).</summary>
    internal bool SameAs(ServerEndpoint other) => Port == other.Port && string.Equals(Host, other.Host, StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses "host:port", "[::1]:7000" or "host" (port <see cref="DefaultPort"/>).</summary>
    /// <exception cref="FormatException">The text is not such an endpoint; the message says why.</exception>
    public static ServerEndpoint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
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
        if (port is null) return new ServerEndpoint(host, DefaultPort);
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p < 1 || p > 65535)
            throw new FormatException($"'{port}' in '{text}' is not a port (1-65535).");
        return new ServerEndpoint(host, p);
    }
}
