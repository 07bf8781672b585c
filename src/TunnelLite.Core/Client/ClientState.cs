namespace TunnelLite.Client;

/// <summary>Where a <see cref="TunnelClient"/> stands.</summary>
public enum ClientState
{
    /// <summary>Not started.</summary>
    NotStarted,
    /// <summary>First connection in progress.</summary>
    Connecting,
    /// <summary>Connected, tunnels registered.</summary>
    Connected,
    /// <summary>Lost the server; retrying with backoff.</summary>
    Reconnecting,
    /// <summary>Stopped for good.</summary>
    Stopped,
}
