using TunnelLite.Forwarding;
using TunnelLite.Statistics;

// Users see this type as TunnelLite.TunnelStats (Get-TunnelStats, format views, Export-Csv), so it lives in the root namespace.
namespace TunnelLite;

/// <summary>A point-in-time snapshot of one tunnel (or, with <see cref="TunnelRole.Server"/> and no tunnel, a whole server).</summary>
public sealed record TunnelStats
{
    /// <summary>Tunnel name, or the server's name.</summary>
    public required string Name { get; init; }
    /// <summary>Server or client end.</summary>
    public required TunnelRole Role { get; init; }
    /// <summary>Running, Reconnecting, Stopped...</summary>
    public required string State { get; init; }
    /// <summary>The client's name on the server, when known.</summary>
    public string? ClientName { get; init; }
    /// <summary>The server this snapshot is about, "host:port", for a client tunnel carried by several servers
    /// (<c>serverAddrs</c>, New-Tunnel -Server a,b): each server's object names its own, their sum names them all, comma
    /// separated. Null with one server.</summary>
    public string? Server { get; init; }
    /// <summary>With several servers, how many of them carry the tunnel now (on the sum's object); 0 otherwise.</summary>
    public int ServersConnected { get; init; }
    /// <summary>Public port (tunnels) or control port (servers).</summary>
    public int Port { get; init; }
    /// <summary>The local service (client tunnels).</summary>
    public string? LocalEndpoint { get; init; }
    /// <summary>Connections open now.</summary>
    public long ActiveConnections { get; init; }
    /// <summary>Connections since start.</summary>
    public long TotalConnections { get; init; }
    /// <summary>Connections that failed to be set up: the local service refused or did not answer in time, or (servers) no
    /// data connection came in time, or too many users were waiting.</summary>
    public long FailedConnections { get; init; }
    /// <summary>Connections that ended in a reset once forwarding had begun: a peer reset its side or vanished (a process
    /// killed at the other end, a server lost), a send failed, or the connection was cut (the tunnel closed, a stop, a
    /// drain's deadline). Each peer of such a connection saw a reset, not a clean end.</summary>
    public long ResetConnections { get; init; }
    /// <summary>User connections refused at once because the tunnel was at its connection cap (servers only).</summary>
    public long RefusedConnections { get; init; }
    /// <summary>User connections refused at once for their source address: denied, or not allowed, by the tunnel's source
    /// lists (the server's, the client account's, the client's own; servers only). Not in <see cref="RefusedConnections"/>,
    /// which counts users turned away for want of capacity.</summary>
    public long SourceRefusedConnections { get; init; }
    /// <summary>Bytes toward the local service.</summary>
    public long BytesIn { get; init; }
    /// <summary>Bytes toward the user.</summary>
    public long BytesOut { get; init; }
    /// <summary>Rate toward the local service over the last seconds.</summary>
    public double BytesInPerSec { get; init; }
    /// <summary>Rate toward the user over the last seconds.</summary>
    public double BytesOutPerSec { get; init; }
    /// <summary>Reconnects of the client.</summary>
    public long Reconnects { get; init; }
    /// <summary>Time since start; for a stopped tunnel, client or server, the time it ran until it stopped.</summary>
    public TimeSpan Uptime { get; init; }
    /// <summary>The forwarding mode in force: Copy, Splice, or Auto (splice what streams, copy what is small). Copy wherever
    /// splice(2) is not available, whatever was asked.</summary>
    public ForwardingMode ForwardingMode { get; init; }
    /// <summary>The data plane in force: EventLoops (Linux) or Async. Async under TLS, whose bytes pass through a stream.</summary>
    public DataPlaneKind DataPlane { get; init; }
    /// <summary>Event loops of the event-loop plane; 0 on the async plane.</summary>
    public int EventLoops { get; init; }
    /// <summary>Connections moved with splice.</summary>
    public long SplicedConnections { get; init; }
    /// <summary>Connections moved with the buffered copy only.</summary>
    public long CopiedConnections { get; init; }
    /// <summary>Connections that were to be spliced but copied because no pipe could be had or splice refused the socket.</summary>
    public long SpliceFallbacks { get; init; }
    /// <summary>Clients connected (servers only).</summary>
    public int Clients { get; init; }
    /// <summary>Tunnels registered (servers only).</summary>
    public int Tunnels { get; init; }
    /// <summary>Most recent error.</summary>
    public string? LastError { get; init; }
    /// <summary>When the most recent error happened.</summary>
    public DateTimeOffset? LastErrorTime { get; init; }
    /// <summary>When this snapshot was taken.</summary>
    public DateTimeOffset Timestamp { get; init; }
    /// <summary>The tunnel's bandwidth limit toward the local service, in bytes per second; 0 when unlimited. On the server,
    /// the stricter of its account's and what the client asked for; on the client, a limit it applies itself.</summary>
    public long BandwidthLimitIn { get; init; }
    /// <summary>The tunnel's bandwidth limit toward the user, in bytes per second; 0 when unlimited.</summary>
    public long BandwidthLimitOut { get; init; }
    /// <summary>Time during which a connection of the tunnel waited for its bandwidth limit (either direction; overlapping
    /// waits count once).</summary>
    public TimeSpan ThrottledTime { get; init; }

    // What the server refused (server objects only; zero elsewhere). Every bound a peer can hit is counted.

    /// <summary>Server: connections to the control port closed to make room for newer ones, at the per-source or the global
    /// cap on unfinished handshakes.</summary>
    public long HandshakesEvicted { get; init; }
    /// <summary>Server: connections closed for not sending their preamble, first frame or login in time.</summary>
    public long HandshakeTimeouts { get; init; }
    /// <summary>Server: connections closed for not speaking the protocol (garbage, HTTP, TLS on a plain port, bad frames).</summary>
    public long GarbageConnections { get; init; }
    /// <summary>Server: logins whose proof was checked and was wrong.</summary>
    public long LoginsFailed { get; init; }
    /// <summary>Server: logins refused without a check because their source or account must wait after failures.</summary>
    public long LoginsThrottled { get; init; }
    /// <summary>Server: logins refused at a session cap (transport.maxSessionsPerAccount, maxSessionsPerSource).</summary>
    public long SessionsRefused { get; init; }
    /// <summary>Server: data connections refused (unknown session, wrong proof, replayed or stale counter, pool full).</summary>
    public long DataConnectionsRefused { get; init; }
    /// <summary>Server: connections reset at once because the descriptor budget was reached.</summary>
    public long DescriptorRefusals { get; init; }
    /// <summary>Server: connections to the control port that have not yet shown who they are, now.</summary>
    public int PendingHandshakes { get; init; }
    /// <summary>Server: descriptors the process has open now (as the budget estimates them); 0 where unknown.</summary>
    public long OpenDescriptors { get; init; }
    /// <summary>Server: the process's descriptor limit (RLIMIT_NOFILE); 0 where there is none.</summary>
    public long DescriptorLimit { get; init; }

    /// <summary>Server: wrong group keys offered to join a load-balancing group, since start.</summary>
    public long GroupKeyFailures { get; init; }

    /// <summary>The load-balancing group the tunnel belongs to (loadBalancer.group); null for none.</summary>
    public string? Group { get; init; }

    /// <summary>False while the tunnel's health check finds its local service failing (it gets no users then); null for
    /// a summary.</summary>
    public bool? Healthy { get; init; }

    /// <summary>This snapshot with <paramref name="other"/>'s counts, bytes, rates, reconnects and throttled time added: the
    /// figures that add up when one tunnel's snapshots are merged (a tunnel on several servers, colliding /metrics series).
    /// Everything else (names, state, uptime, errors, limits) is this one's; the caller sets what it merges otherwise.</summary>
    internal TunnelStats PlusCounts(TunnelStats other) => this with
    {
        ActiveConnections = ActiveConnections + other.ActiveConnections,
        TotalConnections = TotalConnections + other.TotalConnections,
        FailedConnections = FailedConnections + other.FailedConnections,
        ResetConnections = ResetConnections + other.ResetConnections,
        RefusedConnections = RefusedConnections + other.RefusedConnections,
        SourceRefusedConnections = SourceRefusedConnections + other.SourceRefusedConnections,
        BytesIn = BytesIn + other.BytesIn,
        BytesOut = BytesOut + other.BytesOut,
        BytesInPerSec = BytesInPerSec + other.BytesInPerSec,
        BytesOutPerSec = BytesOutPerSec + other.BytesOutPerSec,
        Reconnects = Reconnects + other.Reconnects,
        SplicedConnections = SplicedConnections + other.SplicedConnections,
        CopiedConnections = CopiedConnections + other.CopiedConnections,
        SpliceFallbacks = SpliceFallbacks + other.SpliceFallbacks,
        ThrottledTime = ThrottledTime + other.ThrottledTime,
    };

    /// <summary>Fills the counter fields from <paramref name="c"/> at <paramref name="now"/>; the Uptime runs from
    /// <paramref name="started"/> to <paramref name="stopped"/>, or to now while it runs.</summary>
    internal static TunnelStats From(TrafficCounters c, DateTimeOffset now, DateTimeOffset started, string name, TunnelRole role, string state, IForwardingPump pump, DateTimeOffset? stopped = null)
    {
        var (rin, rout) = c.Rate(now);
        var err = c.LastError;
        return new TunnelStats
        {
            Name = name,
            Role = role,
            State = state,
            ActiveConnections = c.ActiveConnections,
            TotalConnections = c.TotalConnections,
            FailedConnections = c.FailedConnections,
            ResetConnections = c.ResetConnections,
            RefusedConnections = c.RefusedConnections,
            SourceRefusedConnections = c.SourceRefusedConnections,
            BytesIn = c.BytesIn,
            BytesOut = c.BytesOut,
            BytesInPerSec = Math.Round(rin, 1),
            BytesOutPerSec = Math.Round(rout, 1),
            Reconnects = c.Reconnects,
            Uptime = (stopped ?? now) - started,
            ForwardingMode = pump.Mode,
            DataPlane = pump.Plane,
            EventLoops = pump.EventLoops,
            SplicedConnections = c.SplicedConnections,
            CopiedConnections = c.CopiedConnections,
            SpliceFallbacks = c.SpliceFallbacks,
            LastError = err?.Message,
            LastErrorTime = err?.Time,
            Timestamp = now,
            BandwidthLimitIn = c.Shaper?.Limit.InBytesPerSecond ?? 0,
            BandwidthLimitOut = c.Shaper?.Limit.OutBytesPerSecond ?? 0,
            ThrottledTime = c.Shaper?.ThrottledTime ?? TimeSpan.Zero,
        };
    }
}
