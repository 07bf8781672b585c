using TunnelLite.Statistics;

namespace TunnelLite.Admin;

/// <summary>What a server or a client shows through its admin endpoint. The endpoint knows nothing else of either.</summary>
internal interface IAdminSource
{
    /// <summary>Server or client.</summary>
    TunnelRole Role { get; }

    /// <summary>The process's totals as a server or client.</summary>
    TunnelStats Summary();

    /// <summary>Each tunnel registered now.</summary>
    IReadOnlyList<TunnelStats> Tunnels();

    /// <summary>Server: the clients connected now. Client: empty.</summary>
    IReadOnlyList<TunnelClientInfo> Clients();

    /// <summary>Client: seconds since it last heard from its server (null when not connected). Server: null.</summary>
    double? ControlHeartbeatAgeSeconds { get; }

    /// <summary>Whether the whole (null) or one tunnel is ready, and why not.</summary>
    Readiness Ready(string? tunnel);

    /// <summary>Recent events (clients connected and gone, failures), newest last.</summary>
    RecentEvents Events { get; }

    /// <summary>Disconnects a client and keeps it out for <paramref name="ban"/>; null when no client has that id.</summary>
    /// <exception cref="NotSupportedException">This is a client, which has no clients.</exception>
    Task<TunnelClientInfo?> DisconnectClientAsync(string id, TimeSpan ban);

    /// <summary>Server: reads its own configuration file again (the one it was started with; never a path or contents from
    /// the request) and applies it, or refuses it whole.</summary>
    /// <exception cref="Config.TunnelConfigException">The file is invalid: nothing changed.</exception>
    /// <exception cref="TunnelException">ReloadRefused: nothing changed.</exception>
    /// <exception cref="NotSupportedException">This is a client.</exception>
    Task<ServerReloadResult> ReloadAsync();

    /// <summary>Server: starts a drain (<see cref="Server.TunnelServer.BeginDrain"/>) and returns at once; null times are
    /// the server's own (transport.drainDelay, transport.drainTimeout).</summary>
    /// <exception cref="InvalidOperationException">The server is stopping or stopped.</exception>
    /// <exception cref="NotSupportedException">This is a client.</exception>
    ServerDrain BeginDrain(TimeSpan? delay, TimeSpan? timeout);
}

/// <summary>A readiness answer: ready or not, and a sentence saying why.</summary>
/// <param name="IsReady">True when ready.</param>
/// <param name="Reason">Why (or why not), for people reading the 503's body.</param>
/// <param name="Found">False when a tunnel was asked for that does not exist.</param>
/// <param name="Draining">True when not ready because the server drains: the body says so, for balancers and people.</param>
internal readonly record struct Readiness(bool IsReady, string Reason, bool Found = true, bool Draining = false);
