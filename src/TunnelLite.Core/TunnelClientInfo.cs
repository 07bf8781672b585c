// Users see this type as TunnelLite.TunnelClientInfo (Get-TunnelClient, the admin endpoint's /api/v1/clients), so it
// lives in the root namespace, next to TunnelStats.
namespace TunnelLite;

/// <summary>One client connected to a server, as its operator sees it: who it is, where it connects from, and its tunnels.</summary>
public sealed record TunnelClientInfo
{
    /// <summary>The session's id on the server; <c>Disconnect-TunnelClient -Id</c> and <c>DELETE /api/v1/clients/{id}</c> take it.</summary>
    public required string Id { get; init; }
    /// <summary>The client's name: its account, or for the shared token the name it gave (its host name by default).</summary>
    public string? Name { get; init; }
    /// <summary>The account whose token it proved; null for the shared token.</summary>
    public string? Account { get; init; }
    /// <summary>Which token it proved: Current, or Previous while its account's (or the shared) token is rotated.</summary>
    public TokenKind Token { get; init; }
    /// <summary>When the token it proved stops being accepted, and this session ends: set for a Previous token only.</summary>
    public DateTimeOffset? TokenExpires { get; init; }
    /// <summary>Where its control connection comes from (address:port).</summary>
    public required string RemoteAddress { get; init; }
    /// <summary>The software it says it runs (for example "TunnelLite 0.1.0.0"), as text.</summary>
    public string? Version { get; init; }
    /// <summary>When its session opened.</summary>
    public DateTimeOffset ConnectedSince { get; init; }
    /// <summary>When the server last heard from it (a heartbeat or any other frame).</summary>
    public DateTimeOffset LastHeartbeat { get; init; }
    /// <summary>Seconds since <see cref="LastHeartbeat"/>, when this record was made.</summary>
    public double HeartbeatAgeSeconds { get; init; }
    /// <summary>The names of its tunnels on this server.</summary>
    public IReadOnlyList<string> Tunnels { get; init; } = Array.Empty<string>();
    /// <summary>Pooled data connections it was granted.</summary>
    public int PoolCount { get; init; }
    /// <summary>Which server this is on: the admin endpoint it was read from, or the server job's name.</summary>
    public string? Server { get; init; }
}
