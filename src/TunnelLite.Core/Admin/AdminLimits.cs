namespace TunnelLite.Admin;

/// <summary>Every bound of the admin endpoint in one place, in the manner of Kestrel's KestrelServerLimits: what a
/// browser, a Prometheus scraper or a script needs, and little more, so that a stranger can hold almost nothing.</summary>
public sealed class AdminLimits
{
    /// <summary>The request line and all headers together. 8 KiB matches nginx's default large_client_header_buffers
    /// line size and is ample for a dashboard's requests with basic auth.</summary>
    public int MaxRequestHeadBytes { get; init; } = 8 * 1024;

    /// <summary>Headers in one request. Browsers send about 15.</summary>
    public int MaxHeaderCount { get; init; } = 64;

    /// <summary>The time a request may take to arrive, from its first byte (or from the connection) to the end of its
    /// headers: Kestrel's RequestHeadersTimeout is 30 s; a dashboard needs far less.</summary>
    public TimeSpan RequestHeadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an idle keep-alive connection stays open between requests (Kestrel: 130 s; nginx: 75 s).
    /// Prometheus scrapes every 15 s by default and the dashboard polls every 2 s, so both keep theirs.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The time an answer may take to be written to a slow reader before the connection is dropped.</summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Requests served on one connection before it is closed (nginx's keepalive_requests is 1000).</summary>
    public int MaxRequestsPerConnection { get; init; } = 1000;

    /// <summary>Connections open at once, over all sources.</summary>
    public int MaxConnections { get; init; } = 64;

    /// <summary>Connections open at once from one source (an IPv4 address or an IPv6 /64). A browser opens 6.</summary>
    public int MaxConnectionsPerSource { get; init; } = 16;

    /// <summary>Requests have no body here (GET, HEAD, DELETE); a declared body larger than this is refused with 413.</summary>
    public int MaxRequestBodyBytes { get; init; } = 0;

    /// <summary>Rejects values that would disable a bound.</summary>
    /// <exception cref="ArgumentException">A limit is out of range.</exception>
    public void Validate()
    {
        if (MaxRequestHeadBytes is < 256 or > 1024 * 1024) throw new ArgumentException("MaxRequestHeadBytes must be 256 to 1048576.");
        if (MaxHeaderCount is < 4 or > 1000) throw new ArgumentException("MaxHeaderCount must be 4 to 1000.");
        if (MaxConnections < 1 || MaxConnectionsPerSource < 1) throw new ArgumentException("The admin endpoint's connection limits must be at least 1.");
        if (MaxRequestsPerConnection < 1) throw new ArgumentException("MaxRequestsPerConnection must be at least 1.");
        if (RequestHeadTimeout <= TimeSpan.Zero || KeepAliveTimeout <= TimeSpan.Zero || ResponseTimeout <= TimeSpan.Zero)
            throw new ArgumentException("The admin endpoint's timeouts must be positive.");
    }
}
