namespace TunnelLite.Admin;

/// <summary>The request line and the headers the admin endpoint acts on; every other header is skipped.</summary>
internal sealed class HttpRequestHead
{
    /// <summary>GET, HEAD, DELETE... as sent (methods are case-sensitive).</summary>
    public required string Method { get; init; }
    /// <summary>The path's segments, each percent-decoded ("/api/v1/tunnels/a%2Fb" is api, v1, tunnels, a/b).</summary>
    public required string[] Segments { get; init; }
    /// <summary>The path as segments joined by '/', for logs and exact matches ("/" for the root).</summary>
    public string Path => "/" + string.Join('/', Segments);
    /// <summary>The query string without '?', still encoded; empty when there is none.</summary>
    public required string Query { get; init; }
    /// <summary>1 for HTTP/1.1, 0 for HTTP/1.0.</summary>
    public int MinorVersion { get; init; }
    /// <summary>The Host header; null when absent (allowed in HTTP/1.0 only).</summary>
    public string? Host { get; set; }
    /// <summary>The Authorization header.</summary>
    public string? Authorization { get; set; }
    /// <summary>The Origin header, which browsers send on cross-origin and on non-GET requests.</summary>
    public string? Origin { get; set; }
    /// <summary>The declared body length; 0 when none.</summary>
    public long ContentLength { get; set; }
    /// <summary>Whether a Transfer-Encoding header came (a body this endpoint does not take).</summary>
    public bool HasTransferEncoding { get; set; }
    /// <summary>Connection: close (or HTTP/1.0 without keep-alive).</summary>
    public bool Close { get; set; }

    /// <summary>The value of query parameter <paramref name="name"/>, decoded; null when absent.</summary>
    public string? QueryValue(string name)
    {
        foreach (var part in Query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            var key = eq < 0 ? part : part[..eq];
            if (Uri.UnescapeDataString(key.Replace('+', ' ')) == name)
                return eq < 0 ? "" : Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' '));
        }
        return null;
    }
}
