namespace TunnelLite.Config;

/// <summary>One client of a server with its own token (config <c>[[clients]]</c>): what it may bind and how much.
/// A client that proves this token is known by <see cref="Name"/> on the server and in its statistics.</summary>
public sealed class ClientAccount
{
    /// <summary>The client's name on the server (statistics, logs). 1-128 printable characters, unique per server.</summary>
    public string Name { get; set; } = "";

    /// <summary>This client's own secret; unique per server, and not the shared token.</summary>
    public Security.Secret Token { get; set; } = Security.Secret.Empty;

    /// <summary>The token this client had before <see cref="Token"/>, still accepted until <see cref="PreviousTokenExpires"/>
    /// so that its processes move to the new one one by one; empty for none. Unique like <see cref="Token"/>.</summary>
    public Security.Secret PreviousToken { get; set; } = Security.Secret.Empty;

    /// <summary>When <see cref="PreviousToken"/> stops being accepted; the sessions that proved it end then. Required with a
    /// previous token, and only with one.</summary>
    public DateTimeOffset? PreviousTokenExpires { get; set; }

    /// <summary>Ports this client may bind; empty means the server's <see cref="TunnelServerOptions.AllowPorts"/>. A port must
    /// be allowed by both.</summary>
    public List<PortRange> AllowPorts { get; set; } = new();

    /// <summary>How many tunnels this client may have registered at once; 0 means no limit.</summary>
    public int MaxTunnels { get; set; }

    /// <summary>The bandwidth each of this client's tunnels may use, per direction (config <c>bandwidthLimit</c>,
    /// <c>bandwidthLimitIn</c>, <c>bandwidthLimitOut</c>); the server enforces it whatever the client asks, and a client's
    /// own smaller limit wins.</summary>
    public BandwidthLimit BandwidthLimit { get; set; }

    /// <summary>Networks users of this client's tunnels may come from (allowSources); empty allows every address. A user
    /// must also pass the server's lists and the client's own: the client can narrow this, never widen it.</summary>
    public List<SourceNetwork> AllowSources { get; set; } = new();

    /// <summary>Networks users of this client's tunnels may not come from (denySources); it wins over every allow list.</summary>
    public List<SourceNetwork> DenySources { get; set; } = new();
}
