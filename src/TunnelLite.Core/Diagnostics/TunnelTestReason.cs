namespace TunnelLite.Diagnostics;

/// <summary>What a probe of a tunnel's public end saw (<see cref="TunnelProbe"/>). <see cref="Data"/> and
/// <see cref="TimedOutOpen"/> mean that the local service behind the tunnel is reachable; the others that it is not, or
/// that the public end itself is not.</summary>
public enum TunnelTestReason
{
    /// <summary>The service sent bytes first (an SSH or SMTP banner, a database greeting): reachable.</summary>
    Data,
    /// <summary>The connection stayed open, silent and without a reset, for the whole timeout: the local service accepted it
    /// and waits for the user to speak first (HTTP, most request/reply protocols). Reachable.</summary>
    TimedOutOpen,
    /// <summary>The connection was reset before any byte came. A TunnelLite server does that at once when its client cannot
    /// reach the local service, or when no client serves the tunnel in time.</summary>
    Reset,
    /// <summary>The connection was closed (FIN) before any byte came: something accepted it and hung up without a word.</summary>
    Closed,
    /// <summary>The public end refused the connection: nothing listens on that port (no such tunnel, or the server is down).</summary>
    Refused,
    /// <summary>No answer to the connection attempt within the timeout (a firewall that drops packets, a host that is down).</summary>
    ConnectTimeout,
    /// <summary>The host name did not resolve to an address within the timeout.</summary>
    NameNotResolved,
    /// <summary>Another network error before the connection opened (no route to the host, network down); the message says which.</summary>
    NetworkError,
}
