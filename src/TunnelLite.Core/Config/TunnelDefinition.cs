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

    // Lists compare by reference in the record's equality; the empty one is always the same (empty) array.

    /// <summary>The most networks each of <see cref="AllowSources"/> and <see cref="DenySources"/> may hold: the server
    /// refuses a tunnel with more.</summary>
    public const int MaxSourceNetworks = 256;
}
