using Microsoft.Extensions.Logging;

namespace TunnelLite.Config;

/// <summary>Settings of a <see cref="Server.TunnelServer"/>. Defaults are safe for a server that faces the internet.</summary>
public sealed class TunnelServerOptions
{
    /// <summary>Address the control port and the public ports bind to. "0.0.0.0" for all IPv4, "::" for IPv4 and IPv6.</summary>
    public string BindAddress { get; set; } = "0.0.0.0";

    /// <summary>The control port clients connect to (control and data connections). 0 picks a free port.</summary>
    public int ControlPort { get; set; } = 7000;

    /// <summary>The shared secret. Never sent over the wire.</summary>
    public string Token { get; set; } = "";

    /// <summary>Ports clients may bind. Empty means any port.</summary>
    public List<PortRange> AllowPorts { get; set; } = new();

    /// <summary>Cap on the idle data connections a client may keep pooled (frp: transport.maxPoolCount).</summary>
    public int MaxPoolCount { get; set; } = 50;

    /// <summary>Interval of the server's heartbeats to clients.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A client silent for this long is dropped and its ports are freed (frp: transport.heartbeatTimeout).</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A connection that has not completed its handshake by then is closed.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Cap on connections to the control port that have not yet authenticated; extra ones are closed at once.</summary>
    public int MaxPendingHandshakes { get; set; } = 256;

    /// <summary>How long a user connection waits for a data connection from the client before it is closed.</summary>
    public TimeSpan UserConnectionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Cap on user connections waiting for a data connection, per tunnel.</summary>
    public int MaxPendingUserConnections { get; set; } = 1024;

    /// <summary>How long <see cref="Server.TunnelServer.StopAsync"/> lets active connections drain before it closes them.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How bytes are moved: Auto (splice(2) on Linux where it applies, else copy), Copy or Splice
    /// (config key transport.forwardingMode). Auto defers to the TUNNELLITE_FORWARDING_MODE environment variable when set.</summary>
    public Forwarding.ForwardingMode ForwardingMode { get; set; } = Forwarding.ForwardingMode.Auto;

    /// <summary>TLS on the control port (transport.tls.*); off by default.</summary>
    public ServerTlsOptions Tls { get; set; } = new();

    /// <summary>Where the engine logs; null for no logging.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Token)) throw new ArgumentException("A token is required (auth.token): clients prove they know it before they can open tunnels.", nameof(Token));
        if (ControlPort < 0 || ControlPort > 65535) throw new ArgumentException($"ControlPort {ControlPort} is not a port (0-65535).", nameof(ControlPort));
        if (MaxPoolCount < 0 || MaxPoolCount > 1000) throw new ArgumentException($"MaxPoolCount {MaxPoolCount} must be between 0 and 1000.", nameof(MaxPoolCount));
        if (HeartbeatInterval <= TimeSpan.Zero) throw new ArgumentException("HeartbeatInterval must be positive.", nameof(HeartbeatInterval));
        if (HeartbeatTimeout <= HeartbeatInterval) throw new ArgumentException("HeartbeatTimeout must be longer than HeartbeatInterval.", nameof(HeartbeatTimeout));
        if (HandshakeTimeout <= TimeSpan.Zero) throw new ArgumentException("HandshakeTimeout must be positive.", nameof(HandshakeTimeout));
        if (UserConnectionTimeout <= TimeSpan.Zero) throw new ArgumentException("UserConnectionTimeout must be positive.", nameof(UserConnectionTimeout));
        if (MaxPendingHandshakes < 1) throw new ArgumentException("MaxPendingHandshakes must be at least 1.", nameof(MaxPendingHandshakes));
        if (MaxPendingUserConnections < 1) throw new ArgumentException("MaxPendingUserConnections must be at least 1.", nameof(MaxPendingUserConnections));
        if (Tls is null) throw new ArgumentException("Tls must not be null.", nameof(Tls));
        Tls.Validate();
    }
}
