namespace TunnelLite.Config;

/// <summary>One tunnel a client asks the server for: users on the server's <see cref="RemotePort"/> reach <see cref="LocalAddress"/>:<see cref="LocalPort"/> on the client.</summary>
public sealed record TunnelDefinition
{
    /// <summary>Unique name of the tunnel on its server.</summary>
    public required string Name { get; init; }

    /// <summary>Host or address of the local service, as seen from the client. Default 127.0.0.1.</summary>
    public string LocalAddress { get; init; } = "127.0.0.1";

    /// <summary>Port of the local service.</summary>
    public required int LocalPort { get; init; }

    /// <summary>Public port on the server; 0 lets the server pick a free one from its allowed ranges.</summary>
    public int RemotePort { get; init; }

    /// <summary>The PROXY protocol header written to the local service ahead of each user's bytes, so that it sees the
    /// user's real address (frp's <c>transport.proxyProtocolVersion</c>); None (the default) writes none.</summary>
    public Protocol.ProxyProtocolVersion ProxyProtocol { get; init; }

    /// <summary>The bandwidth the tunnel may use, per direction (frp's <c>transport.bandwidthLimit</c>); none by default.
    /// Enforced by <see cref="BandwidthLimitMode"/>'s end.</summary>
    public BandwidthLimit BandwidthLimit { get; init; }

    /// <summary>Which end enforces <see cref="BandwidthLimit"/>: the client itself (the default, as in frp) or the server.</summary>
    public BandwidthLimitMode BandwidthLimitMode { get; init; }

    /// <summary>Networks users of this tunnel may come from (allowSources, New-Tunnel -AllowSource); empty allows every
    /// address. The server enforces them on top of its own lists, which they cannot widen.</summary>
    public IReadOnlyList<SourceNetwork> AllowSources { get; init; } = Array.Empty<SourceNetwork>();

    /// <summary>Networks users of this tunnel may not come from (denySources, New-Tunnel -DenySource); wins over the allow lists.</summary>
    public IReadOnlyList<SourceNetwork> DenySources { get; init; } = Array.Empty<SourceNetwork>();

    /// <summary>The load-balancing group the tunnel joins (frp's <c>loadBalancer.group</c>, New-Tunnel -Group): tunnels of
    /// several clients in one group share one public port, and the server spreads users over them. Null for none.</summary>
    public string? Group { get; init; }

    /// <summary>The group's key (frp's <c>loadBalancer.groupKey</c>, New-Tunnel -GroupKey): it proves membership; required
    /// with <see cref="Group"/>. Sealed with the session key on the wire, never logged.</summary>
    public Security.Secret? GroupKey { get; init; }

    /// <summary>How the group spreads users (loadBalancer.strategy, a TunnelLite extension): round robin (the default) or
    /// the member with the fewest active connections. The group's first member sets it; the others must ask for the same.</summary>
    public LoadBalancingStrategy Strategy { get; init; }

    /// <summary>The health check of the local service (frp's <c>healthCheck.*</c> with type "tcp", New-Tunnel -HealthCheck);
    /// null for none.</summary>
    public HealthCheck? HealthCheck { get; init; }

    /// <summary>Throws ArgumentException when the group or the health check is not usable: a group needs a name of 1-128
    /// printable characters and a key of 1-256 bytes.</summary>
    internal void ValidateBalancing()
    {
        if (Group is not null)
        {
            if (Group.Length is 0 or > 128 || !Logging.PeerText.IsPrintable(Group))
                throw new ArgumentException($"Tunnel '{Name}': a group name must be 1-128 printable characters.");
            if (GroupKey is null || GroupKey.IsEmpty || GroupKey.Utf8.Length > Protocol.GroupKeySeal.MaxKeyBytes)
                throw new ArgumentException($"Tunnel '{Name}': a tunnel of group '{Group}' needs its group key (1-{Protocol.GroupKeySeal.MaxKeyBytes} bytes; loadBalancer.groupKey, -GroupKey).");
        }
        else if (GroupKey is { IsEmpty: false })
            throw new ArgumentException($"Tunnel '{Name}': a group key without a group (loadBalancer.group, -Group).");
        HealthCheck?.Validate();
    }

    // Lists compare by reference in the record's equality; the empty one is always the same (empty) array.

    /// <summary>The most networks each of <see cref="AllowSources"/> and <see cref="DenySources"/> may hold: the server
    /// refuses a tunnel with more.</summary>
    public const int MaxSourceNetworks = 256;
}
