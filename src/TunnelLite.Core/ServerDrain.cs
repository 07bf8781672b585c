// Users see this type as TunnelLite.ServerDrain (Stop-Tunnel -AdminEndpoint -Drain, the admin endpoint's POST /api/v1/drain),
// so it lives in the root namespace, next to ServerReloadResult.
namespace TunnelLite;

/// <summary>A drain of a server for a rolling upgrade: for <see cref="DelaySeconds"/> its /ready answers 503 while it still
/// serves everyone, so that a balancer moves new users away; then it stops accepting (public ports and control port) and
/// lets live connections finish for up to <see cref="TimeoutSeconds"/>, and stops.</summary>
public sealed record ServerDrain
{
    /// <summary>The server: its job's name, or the admin endpoint's URL it was drained through.</summary>
    public string? Server { get; init; }

    /// <summary>When the drain began.</summary>
    public DateTimeOffset Started { get; init; }

    /// <summary>How long /ready answers 503 before the server stops accepting (transport.drainDelay, -DrainDelaySec).</summary>
    public double DelaySeconds { get; init; }

    /// <summary>How long live connections may go on once it stopped accepting (transport.drainTimeout, -DrainTimeoutSec).</summary>
    public double TimeoutSeconds { get; init; }

    /// <summary>When the server stops accepting new users: <see cref="Started"/> plus the delay.</summary>
    public DateTimeOffset StopsAccepting { get; init; }

    /// <summary>True when the server was draining already: this is the drain that was asked for first (a drain is idempotent).</summary>
    public bool AlreadyDraining { get; init; }
}
