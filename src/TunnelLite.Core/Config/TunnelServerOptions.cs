using Microsoft.Extensions.Logging;

namespace TunnelLite.Config;

/// <summary>Settings of a <see cref="Server.TunnelServer"/>. Defaults are safe for a server that faces the internet.</summary>
public sealed class TunnelServerOptions
{
    /// <summary>The admin endpoint (metrics, health, JSON API, dashboard): frp's webServer.* keys, -AdminEndpoint. Off by default.</summary>
    public Admin.AdminOptions Admin { get; set; } = new();

    /// <summary>Address the control port and the public ports bind to. "0.0.0.0" for all IPv4, "::" for IPv4 and IPv6.</summary>
    public string BindAddress { get; set; } = "0.0.0.0";

    /// <summary>The control port clients connect to (control and data connections). 0 picks a free port.</summary>
    public int ControlPort { get; set; } = 7000;

    /// <summary>The shared secret, for clients without an account of their own. Never sent over the wire. May be empty when
    /// <see cref="Clients"/> lists every client.</summary>
    public Security.Secret Token { get; set; } = Security.Secret.Empty;

    /// <summary>The shared token before <see cref="Token"/>, still accepted until <see cref="PreviousTokenExpires"/> so that
    /// clients move to the new one one by one (auth.previousToken); empty for none.</summary>
    public Security.Secret PreviousToken { get; set; } = Security.Secret.Empty;

    /// <summary>When <see cref="PreviousToken"/> stops being accepted; the sessions that proved it end then
    /// (auth.previousTokenExpires). Required with a previous token, and only with one.</summary>
    public DateTimeOffset? PreviousTokenExpires { get; set; }

    /// <summary>Clients with their own tokens, ports and tunnel quota (config <c>[[clients]]</c>).</summary>
    public List<ClientAccount> Clients { get; set; } = new();

    /// <summary>Ports clients may bind. Empty means any port.</summary>
    public List<PortRange> AllowPorts { get; set; } = new();

    /// <summary>Networks users of every tunnel may come from (allowSources); empty allows every address. A user must pass
    /// these, its tunnel's client account's (<see cref="ClientAccount.AllowSources"/>) and the client's own lists.</summary>
    public List<SourceNetwork> AllowSources { get; set; } = new();

    /// <summary>Networks users of every tunnel may not come from (denySources); it wins over every allow list.</summary>
    public List<SourceNetwork> DenySources { get; set; } = new();

    /// <summary>The most networks one of the server's lists (its own or an account's) may hold: every user is matched
    /// against them, one by one.</summary>
    public const int MaxSourceNetworks = 1024;

    /// <summary>Cap on the idle data connections a client may keep pooled (frp: transport.maxPoolCount).</summary>
    public int MaxPoolCount { get; set; } = 50;

    /// <summary>Interval of the server's heartbeats to clients.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A client silent for this long is dropped and its ports are freed (frp: transport.heartbeatTimeout).</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The default of <see cref="DescriptorReserve"/>.</summary>
    public const int DefaultDescriptorReserve = 512;

    /// <summary>A connection that has not completed its handshake by then is closed.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A new connection must send its preamble and first frame (after TLS, when on) within this time, or it is
    /// closed: a real client sends them at once, a silent stranger should not hold a slot for the whole handshake timeout.</summary>
    public TimeSpan PreambleTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Cap on connections to the control port that have not yet shown who they are (no first frame yet, or a login
    /// not yet through). At the cap the oldest such connection is closed to make room for the new one.</summary>
    public int MaxPendingHandshakes { get; set; } = 256;

    /// <summary>The same cap per source address (IPv4) or /64 (IPv6): at it, the source's own oldest pending connection
    /// is closed to make room. A client's burst of data connections stays well below it (pool plus a margin).</summary>
    public int MaxPendingHandshakesPerSource { get; set; } = 64;

    /// <summary>Cap on the sessions (logged-in control connections) of one account; the shared token is one account.</summary>
    public int MaxSessionsPerAccount { get; set; } = 64;

    /// <summary>Cap on the sessions from one source address (IPv4) or /64 (IPv6), whatever their accounts.</summary>
    public int MaxSessionsPerSource { get; set; } = 32;

    /// <summary>Descriptors kept for the control port and logins: user connections, their data connections and splice pipes
    /// stop at RLIMIT_NOFILE minus this; a user beyond it is reset at once.</summary>
    public int DescriptorReserve { get; set; } = DefaultDescriptorReserve;

    /// <summary>How long a user connection waits for a data connection from the client before it is closed
    /// (transport.userConnectionTimeout; frp: userConnTimeout).</summary>
    public TimeSpan UserConnectionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Cap on user connections waiting for a data connection, per tunnel.</summary>
    public int MaxPendingUserConnections { get; set; } = 1024;

    /// <summary>Cap on the tunnels one account may hold at once over all its sessions, for the shared token (one account)
    /// and for accounts without a maxTunnels of their own: without it, one client could bind every allowed port
    /// (transport.maxTunnelsPerClient; frp: maxPortsPerClient, whose 0 means 100,000).</summary>
    public int MaxTunnelsPerClient { get; set; } = 128;

    /// <summary>Cap on user connections open at once through one tunnel; users beyond it are refused at once and counted in
    /// <see cref="TunnelStats.RefusedConnections"/>.</summary>
    public int MaxConnectionsPerTunnel { get; set; } = 4096;

    /// <summary>After the second failed authentication in a row, the source (and the account, when the hello names one) may
    /// not try again for this long, doubling with each further failure (up to <see cref="MaxAuthFailureDelay"/>); a success
    /// clears only the named account's own failures. Zero turns the throttle off.</summary>
    public TimeSpan AuthFailureDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait <see cref="AuthFailureDelay"/> grows to.</summary>
    public TimeSpan MaxAuthFailureDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long <see cref="Server.TunnelServer.StopAsync"/> (and a drain, once it stopped accepting) lets active
    /// connections finish before it closes them (transport.drainTimeout).</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a drain (<see cref="Server.TunnelServer.BeginDrain"/>: Stop-Tunnel -Drain, POST /api/v1/drain) keeps
    /// serving everyone while /ready answers 503, before it stops accepting: long enough for a balancer's health checks to
    /// mark the server down (transport.drainDelay; HAProxy's default: 3 failed checks 2 s apart).</summary>
    public TimeSpan DrainDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest <see cref="DrainDelay"/> and <see cref="DrainTimeout"/>: an hour.</summary>
    public static readonly TimeSpan MaxDrainTime = TimeSpan.FromHours(1);

    /// <summary>How bytes are moved: Auto (splice(2) on Linux where it applies, else copy), Copy or Splice
    /// (config key transport.forwardingMode). Auto defers to the TUNNELLITE_FORWARDING_MODE environment variable when set.</summary>
    public Forwarding.ForwardingMode ForwardingMode { get; set; } = Forwarding.ForwardingMode.Auto;

    /// <summary>What drives the sockets of paired connections: Auto (event loops on Linux, the async plane elsewhere),
    /// EventLoops or Async (config key transport.dataPlane). Auto defers to the TUNNELLITE_DATA_PLANE environment variable
    /// when set. TLS data connections always take the async plane: their bytes pass through an SslStream.</summary>
    public Forwarding.DataPlaneKind DataPlane { get; set; } = Forwarding.DataPlaneKind.Auto;

    /// <summary>Event loops of the event-loop plane (config key transport.eventLoops): 0, the default, means one per core;
    /// at most <see cref="Forwarding.PumpSelector.MaxEventLoops"/>.</summary>
    public int EventLoops { get; set; }

    /// <summary>TLS on the control port (transport.tls.*); off by default.</summary>
    public ServerTlsOptions Tls { get; set; } = new();

    /// <summary>Where the engine logs; null for no logging.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Token is null) throw new ArgumentException("Token must not be null; use Secret.Empty for none.", nameof(Token));
        if (Token.IsEmpty && Clients.Count == 0)
            throw new ArgumentException("A token is required (auth.token), or clients with their own tokens ([[clients]]): clients prove they know one before they can open tunnels.", nameof(Token));
        if (PreviousToken is null) throw new ArgumentException("PreviousToken must not be null; use Secret.Empty for none.", nameof(PreviousToken));
        if (!PreviousToken.IsEmpty && PreviousTokenExpires is null)
            throw new ArgumentException("A previous token needs the time it stops being accepted (auth.previousTokenExpires).", nameof(PreviousTokenExpires));
        if (PreviousToken.IsEmpty && PreviousTokenExpires is not null)
            throw new ArgumentException("PreviousTokenExpires is set, but there is no previous token (auth.previousToken).", nameof(PreviousTokenExpires));
        ValidateClients();
        Admin.Validate();
        if (ControlPort < 0 || ControlPort > 65535) throw new ArgumentException($"ControlPort {ControlPort} is not a port (0-65535).", nameof(ControlPort));
        if (MaxPoolCount < 0 || MaxPoolCount > 1000) throw new ArgumentException($"MaxPoolCount {MaxPoolCount} must be between 0 and 1000.", nameof(MaxPoolCount));
        if (!Enum.IsDefined(DataPlane)) throw new ArgumentException($"DataPlane {(int)DataPlane} is not a data plane (Auto, EventLoops or Async).", nameof(DataPlane));
        // 0 means one per core; a negative count or thousands of threads is a mistake, not a wish.
        if (EventLoops < 0 || EventLoops > Forwarding.PumpSelector.MaxEventLoops)
            throw new ArgumentException($"EventLoops {EventLoops} must be between 0 (one per core) and {Forwarding.PumpSelector.MaxEventLoops}.", nameof(EventLoops));
        if (HeartbeatInterval <= TimeSpan.Zero) throw new ArgumentException("HeartbeatInterval must be positive.", nameof(HeartbeatInterval));
        if (HeartbeatTimeout <= HeartbeatInterval) throw new ArgumentException("HeartbeatTimeout must be longer than HeartbeatInterval.", nameof(HeartbeatTimeout));
        if (HandshakeTimeout <= TimeSpan.Zero) throw new ArgumentException("HandshakeTimeout must be positive.", nameof(HandshakeTimeout));
        if (UserConnectionTimeout <= TimeSpan.Zero) throw new ArgumentException("UserConnectionTimeout must be positive.", nameof(UserConnectionTimeout));
        if (PreambleTimeout <= TimeSpan.Zero) throw new ArgumentException("PreambleTimeout must be positive.", nameof(PreambleTimeout));
        if (MaxPendingHandshakes < 1) throw new ArgumentException("MaxPendingHandshakes must be at least 1.", nameof(MaxPendingHandshakes));
        if (MaxPendingHandshakesPerSource < 1) throw new ArgumentException("MaxPendingHandshakesPerSource must be at least 1.", nameof(MaxPendingHandshakesPerSource));
        if (MaxSessionsPerAccount < 1) throw new ArgumentException("MaxSessionsPerAccount must be at least 1.", nameof(MaxSessionsPerAccount));
        if (MaxSessionsPerSource < 1) throw new ArgumentException("MaxSessionsPerSource must be at least 1.", nameof(MaxSessionsPerSource));
        if (DescriptorReserve < 64) throw new ArgumentException("DescriptorReserve must be at least 64.", nameof(DescriptorReserve));
        if (MaxPendingUserConnections < 1) throw new ArgumentException("MaxPendingUserConnections must be at least 1.", nameof(MaxPendingUserConnections));
        if (MaxTunnelsPerClient < 1) throw new ArgumentException("MaxTunnelsPerClient must be at least 1.", nameof(MaxTunnelsPerClient));
        if (MaxConnectionsPerTunnel < 1) throw new ArgumentException("MaxConnectionsPerTunnel must be at least 1.", nameof(MaxConnectionsPerTunnel));
        if (AuthFailureDelay < TimeSpan.Zero || MaxAuthFailureDelay < AuthFailureDelay)
            throw new ArgumentException("AuthFailureDelay must be zero or positive, and MaxAuthFailureDelay at least as long.", nameof(AuthFailureDelay));
        if (DrainTimeout < TimeSpan.Zero || DrainTimeout > MaxDrainTime) throw new ArgumentException("DrainTimeout must be from 0 to 3600 seconds.", nameof(DrainTimeout));
        if (DrainDelay < TimeSpan.Zero || DrainDelay > MaxDrainTime) throw new ArgumentException("DrainDelay must be from 0 to 3600 seconds.", nameof(DrainDelay));
        if (Tls is null) throw new ArgumentException("Tls must not be null.", nameof(Tls));
        Tls.Validate();
        if (AllowSources is null || AllowSources.Count > MaxSourceNetworks)
            throw new ArgumentException($"AllowSources must hold at most {MaxSourceNetworks} networks.", nameof(AllowSources));
        if (DenySources is null || DenySources.Count > MaxSourceNetworks)
            throw new ArgumentException($"DenySources must hold at most {MaxSourceNetworks} networks.", nameof(DenySources));
    }

    private void ValidateClients()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        // A token must say who the client is: no two accounts, nor an account and the shared token, may share one, current
        // or previous (a login would match two credentials, and the server would prove the wrong one back).
        var tokens = new List<Security.Secret> { Token };
        if (!PreviousToken.IsEmpty)
        {
            if (PreviousToken.SameAs(Token)) throw new ArgumentException("The previous shared token (auth.previousToken) is the current one; a rotation needs a new token.", nameof(PreviousToken));
            tokens.Add(PreviousToken);
        }
        foreach (var c in Clients)
        {
            if (string.IsNullOrWhiteSpace(c.Name) || c.Name.Length > 128 || c.Name.Any(char.IsControl))
                throw new ArgumentException("Each client needs a name of 1-128 printable characters.", nameof(Clients));
            if (!names.Add(c.Name)) throw new ArgumentException($"Client '{c.Name}' is listed twice.", nameof(Clients));
            if (c.Token is null || c.Token.IsEmpty) throw new ArgumentException($"Client '{c.Name}' has no token.", nameof(Clients));
            if (tokens.Any(t => t.SameAs(c.Token)))
                throw new ArgumentException($"Client '{c.Name}' has a token that another client or the shared auth.token (current or previous) also has; each must be unique.", nameof(Clients));
            tokens.Add(c.Token);
            if (c.PreviousToken is null) throw new ArgumentException($"Client '{c.Name}': PreviousToken must not be null; use Secret.Empty for none.", nameof(Clients));
            if (!c.PreviousToken.IsEmpty)
            {
                if (c.PreviousTokenExpires is null)
                    throw new ArgumentException($"Client '{c.Name}' has a previous token but not the time it stops being accepted (previousTokenExpires).", nameof(Clients));
                if (tokens.Any(t => t.SameAs(c.PreviousToken)))
                    throw new ArgumentException($"Client '{c.Name}' has a previous token that is its current token, or a token of another client or of the shared auth.token (current or previous); each must be unique.", nameof(Clients));
                tokens.Add(c.PreviousToken);
            }
            else if (c.PreviousTokenExpires is not null)
            {
                throw new ArgumentException($"Client '{c.Name}' has previousTokenExpires but no previous token.", nameof(Clients));
            }
            if (c.MaxTunnels < 0) throw new ArgumentException($"Client '{c.Name}': maxTunnels must be 0 (no limit) or more.", nameof(Clients));
            if (c.AllowSources is null || c.DenySources is null || c.AllowSources.Count > MaxSourceNetworks || c.DenySources.Count > MaxSourceNetworks)
                throw new ArgumentException($"Client '{c.Name}': allowSources and denySources must each hold at most {MaxSourceNetworks} networks.", nameof(Clients));
        }
    }
}
