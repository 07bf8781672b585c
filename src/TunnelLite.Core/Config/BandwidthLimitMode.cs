namespace TunnelLite.Config;

/// <summary>Which end of a tunnel enforces a limit the client asks for (frp's <c>transport.bandwidthLimitMode</c>).</summary>
public enum BandwidthLimitMode
{
    /// <summary>The client limits its own connections (frp's default). The server's limit for the client's account applies
    /// as well, whatever the client does.</summary>
    Client = 0,
    /// <summary>The client asks the server to enforce it; the server applies the stricter of it and the account's limit.</summary>
    Server = 1,
}
