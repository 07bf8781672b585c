using Microsoft.Extensions.Logging;

namespace TunnelLite.Config;

/// <summary>Settings of a <see cref="Client.TunnelClient"/>.</summary>
public sealed class TunnelClientOptions
{
    /// <summary>Host name or address of the tunnel server (frp: serverAddr).</summary>
    public string ServerAddress { get; set; } = "127.0.0.1";

    /// <summary>Several servers that carry the same tunnels at once, each over its own control connection, pool, heartbeats
    /// and reconnects (active-active; config key serverAddrs, TunnelLite's own: frp has one server per client). Empty, the
    /// default, for the one server of <see cref="ServerAddress"/> and <see cref="ServerPort"/>, which a list replaces. With
    /// more than one, every tunnel needs a fixed remote port, so that users find it at the same port on each server.</summary>
    public List<ServerEndpoint> Servers { get; set; } = new();

    /// <summary>At most this many servers in <see cref="Servers"/>: each costs a control connection and a pool.</summary>
    public const int MaxServers = 16;

    /// <summary>The servers in force: <see cref="Servers"/>, or the one of <see cref="ServerAddress"/> and <see cref="ServerPort"/>.</summary>
    public IReadOnlyList<ServerEndpoint> EffectiveServers => Servers is { Count: > 0 } list ? list : new[] { new ServerEndpoint(ServerAddress, ServerPort) };

    /// <summary>A copy for the one server <paramref name="server"/> of a client with several: the same settings, its own
    /// tunnel list, no admin endpoint (the client with several servers has one for all of them).</summary>
    internal TunnelClientOptions ForServer(ServerEndpoint server)
    {
        var copy = (TunnelClientOptions)MemberwiseClone();
        copy.ServerAddress = server.Host;
        copy.ServerPort = server.Port;
        copy.Servers = new();
        copy.Tunnels = new(Tunnels);
        copy.Admin = new();
        return copy;
    }

    /// <summary>The admin endpoint (metrics, health, JSON API, dashboard): frp's webServer.* keys, -AdminEndpoint. Off by default.</summary>
    public Admin.AdminOptions Admin { get; set; } = new();

    /// <summary>The server's control port (frp: serverPort).</summary>
    public int ServerPort { get; set; } = 7000;

    /// <summary>The shared secret, or the client's own token. Never sent over the wire.</summary>
    public Security.Secret Token { get; set; } = Security.Secret.Empty;

    /// <summary>The client's name in its hello; null for the host name. When it names a server's <c>[[clients]]</c> account,
    /// <see cref="Token"/> must be that account's token: the server checks only that one, and throttles failures per account
    /// too. Any other name is checked like no name (against the shared token and every account) and, for the shared token,
    /// names the client in the server's statistics. So a shared-token client whose host name is an account's name must set
    /// another name here.</summary>
    public string? ClientName { get; set; }

    /// <summary>Idle authenticated data connections kept open so that a user connection is paired without a round trip (frp: transport.poolCount).</summary>
    public int PoolCount { get; set; } = 4;

    /// <summary>Interval of the client's heartbeats (frp: transport.heartbeatInterval).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The server is deemed gone after this much silence and the client reconnects (frp: transport.heartbeatTimeout).</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline for connecting, authenticating and registering.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Deadline for connecting to the local service of a tunnel.</summary>
    public TimeSpan LocalConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First delay before reconnecting; it doubles (with jitter) up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Cap of the reconnect delay.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The tunnels to register.</summary>
    public List<TunnelDefinition> Tunnels { get; set; } = new();

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

    /// <summary>TLS towards the server (transport.tls.*); off by default.</summary>
    public ClientTlsOptions Tls { get; set; } = new();

    /// <summary>Where the engine logs; null for no logging.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    private void ValidateServers()
    {
        if (Servers is null) throw new ArgumentException("Servers must not be null.", nameof(Servers));
        if (Servers.Count > MaxServers) throw new ArgumentException($"{Servers.Count} servers are more than the {MaxServers} a client may use (serverAddrs).", nameof(Servers));
        for (var i = 0; i < Servers.Count; i++)
        {
            var s = Servers[i];
            if (s is null || string.IsNullOrWhiteSpace(s.Host)) throw new ArgumentException($"Server {i + 1} has no host (serverAddrs).", nameof(Servers));
            if (s.Port < 1 || s.Port > 65535) throw new ArgumentException($"Server {s.Host}: port {s.Port} is not a port (1-65535).", nameof(Servers));
            for (var j = 0; j < i; j++)
                if (Servers[j].SameAs(s)) throw new ArgumentException($"Server {s} is listed twice (serverAddrs); each server carries the tunnels once.", nameof(Servers));
        }
        if (Servers.Count > 1 && Tunnels?.FirstOrDefault(t => t.RemotePort == 0) is { } auto)
            throw new ArgumentException($"Tunnel '{auto.Name}' has no remotePort: with several servers every tunnel needs a fixed remote port, the same on each server.", nameof(Servers));
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ServerAddress)) throw new ArgumentException("A server address is required (serverAddr).", nameof(ServerAddress));
        if (ServerPort < 1 || ServerPort > 65535) throw new ArgumentException($"ServerPort {ServerPort} is not a port (1-65535).", nameof(ServerPort));
        ValidateServers();
        if (Token is null || Token.IsEmpty) throw new ArgumentException("A token is required (auth.token).", nameof(Token));
        Admin.Validate();
        if (ClientName is not null && (ClientName.Length is 0 or > 128 || !Logging.PeerText.IsPrintable(ClientName)))
            throw new ArgumentException("A client name must be 1-128 printable characters (clientName).", nameof(ClientName));
        if (PoolCount < 0 || PoolCount > 1000) throw new ArgumentException($"PoolCount {PoolCount} must be between 0 and 1000.", nameof(PoolCount));
        if (!Enum.IsDefined(DataPlane)) throw new ArgumentException($"DataPlane {(int)DataPlane} is not a data plane (Auto, EventLoops or Async).", nameof(DataPlane));
        // 0 means one per core; a negative count or thousands of threads is a mistake, not a wish.
        if (EventLoops < 0 || EventLoops > Forwarding.PumpSelector.MaxEventLoops)
            throw new ArgumentException($"EventLoops {EventLoops} must be between 0 (one per core) and {Forwarding.PumpSelector.MaxEventLoops}.", nameof(EventLoops));
        if (HeartbeatInterval <= TimeSpan.Zero) throw new ArgumentException("HeartbeatInterval must be positive.", nameof(HeartbeatInterval));
        if (HeartbeatTimeout <= HeartbeatInterval) throw new ArgumentException("HeartbeatTimeout must be longer than HeartbeatInterval.", nameof(HeartbeatTimeout));
        if (ReconnectMinDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectMinDelay) throw new ArgumentException("Reconnect delays must be positive and ReconnectMaxDelay >= ReconnectMinDelay.", nameof(ReconnectMaxDelay));
        if (Tls is null) throw new ArgumentException("Tls must not be null.", nameof(Tls));
        Tls.Validate();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in Tunnels)
        {
            if (string.IsNullOrWhiteSpace(t.Name)) throw new ArgumentException("Every tunnel needs a name.", nameof(Tunnels));
            if (t.Name.Length > 128) throw new ArgumentException($"Tunnel name '{t.Name[..32]}...' is longer than 128 characters.", nameof(Tunnels));
            if (!names.Add(t.Name)) throw new ArgumentException($"Tunnel name '{t.Name}' is used twice.", nameof(Tunnels));
            if (t.LocalPort < 1 || t.LocalPort > 65535) throw new ArgumentException($"Tunnel '{t.Name}': localPort {t.LocalPort} is not a port (1-65535).", nameof(Tunnels));
            if (t.RemotePort < 0 || t.RemotePort > 65535) throw new ArgumentException($"Tunnel '{t.Name}': remotePort {t.RemotePort} is not a port (0-65535).", nameof(Tunnels));
            t.ValidateBalancing();
            if (t.AllowSources is null || t.DenySources is null || t.AllowSources.Count > TunnelDefinition.MaxSourceNetworks || t.DenySources.Count > TunnelDefinition.MaxSourceNetworks)
                throw new ArgumentException($"Tunnel '{t.Name}': allowSources and denySources must each hold at most {TunnelDefinition.MaxSourceNetworks} networks.", nameof(Tunnels));
        }
    }
}
