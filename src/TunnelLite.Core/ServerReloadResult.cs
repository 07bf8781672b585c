// Users see this type as TunnelLite.ServerReloadResult (Update-TunnelServer, the admin endpoint's POST /api/v1/reload), so
// it lives in the root namespace, next to TunnelClientInfo.
namespace TunnelLite;

/// <summary>What a reload of a server's configuration changed: names only (of keys, accounts, tunnels), never a value of a
/// token or password.</summary>
public sealed record ServerReloadResult
{
    /// <summary>The server: its job's name, or the admin endpoint's URL it was reloaded through.</summary>
    public string? Server { get; init; }
    /// <summary>The file read; null when the options were given directly.</summary>
    public string? ConfigPath { get; init; }
    /// <summary>When the new configuration took effect.</summary>
    public DateTimeOffset Time { get; init; }
    /// <summary>The server-wide keys whose value changed (auth.token, allowPorts, transport.maxTunnelsPerClient...).</summary>
    public IReadOnlyList<string> ChangedKeys { get; init; } = Array.Empty<string>();
    /// <summary>[[clients]] accounts new in the file.</summary>
    public IReadOnlyList<string> ClientsAdded { get; init; } = Array.Empty<string>();
    /// <summary>[[clients]] accounts gone from the file: their sessions ended and their ports were freed.</summary>
    public IReadOnlyList<string> ClientsRemoved { get; init; } = Array.Empty<string>();
    /// <summary>[[clients]] accounts whose token, ports, quota, bandwidth or source lists changed.</summary>
    public IReadOnlyList<string> ClientsChanged { get; init; } = Array.Empty<string>();
    /// <summary>Sessions the reload ended, as "name (address): why".</summary>
    public IReadOnlyList<string> SessionsEnded { get; init; } = Array.Empty<string>();
    /// <summary>Tunnels the reload closed because their port is no longer allowed, as "name (port N)".</summary>
    public IReadOnlyList<string> TunnelsClosed { get; init; } = Array.Empty<string>();
    /// <summary>Tunnels whose bandwidth limit or source lists were changed in place.</summary>
    public int TunnelsUpdated { get; init; }
    /// <summary>What the file's loader noted (ignored frp keys, loose permissions).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = Array.Empty<string>();
    /// <summary>False when the new configuration is the running one.</summary>
    public bool Changed => ChangedKeys.Count + ClientsAdded.Count + ClientsRemoved.Count + ClientsChanged.Count + SessionsEnded.Count + TunnelsClosed.Count + TunnelsUpdated > 0;
}
