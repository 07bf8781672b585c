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
}
