using TunnelLite.Forwarding;
using TunnelLite.Statistics;

// Users see this type as TunnelLite.TunnelStats (format views, Export-Csv headers), so it lives in the root namespace.
namespace TunnelLite;

/// <summary>Statistics of one tunnel or server at a point in time, as Get-TunnelStats returns them. Numbers stay numbers;
/// the default table view shows human units.</summary>
public sealed class TunnelStats
{
    /// <summary>Job or tunnel name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Server or Client.</summary>
    public TunnelRole Role { get; set; }
    /// <summary>Running, Reconnecting, Stopped...</summary>
    public string State { get; set; } = "";
    /// <summary>Connections open now.</summary>
    public long ActiveConnections { get; set; }
    /// <summary>Connections since start.</summary>
    public long TotalConnections { get; set; }
    /// <summary>Connections that failed (local service down, no data connection in time).</summary>
    public long FailedConnections { get; set; }
    /// <summary>Bytes carried toward the local service.</summary>
    public long BytesIn { get; set; }
    /// <summary>Bytes carried toward the user.</summary>
    public long BytesOut { get; set; }
    /// <summary>Recent rate toward the local service.</summary>
    public double BytesInPerSec { get; set; }
    /// <summary>Recent rate toward the user.</summary>
    public double BytesOutPerSec { get; set; }
    /// <summary>Times the client reconnected.</summary>
    public long Reconnects { get; set; }
    /// <summary>Time since the tunnel or server started.</summary>
    public TimeSpan Uptime { get; set; }
    /// <summary>Copy or Splice.</summary>
    public ForwardingMode ForwardingMode { get; set; }
    /// <summary>Most recent error, if any.</summary>
    public string? LastError { get; set; }
    /// <summary>When the most recent error happened.</summary>
    public DateTimeOffset? LastErrorTime { get; set; }
    /// <summary>When these figures were read.</summary>
    public DateTimeOffset Timestamp { get; set; }
    /// <summary>Id of the job in this session.</summary>
    public int JobId { get; set; }
    /// <summary>Public port (tunnels) or control port (servers).</summary>
    public int Port { get; set; }
    /// <summary>The local service (client tunnels).</summary>
    public string? LocalEndpoint { get; set; }
    /// <summary>Clients connected (servers).</summary>
    public int Clients { get; set; }
    /// <summary>Tunnels registered (servers).</summary>
    public int Tunnels { get; set; }
    /// <summary>Connections forwarded with splice(2).</summary>
    public long SplicedConnections { get; set; }
    /// <summary>Connections forwarded with the buffered copy.</summary>
    public long CopiedConnections { get; set; }

    /// <summary>Shapes an engine snapshot for PowerShell.</summary>
    public static TunnelStats From(TunnelStatistics s, int jobId, string? name = null) => new()
    {
        Name = name ?? s.Name,
        Role = s.Role,
        State = s.State,
        ActiveConnections = s.ActiveConnections,
        TotalConnections = s.TotalConnections,
        FailedConnections = s.FailedConnections,
        BytesIn = s.BytesIn,
        BytesOut = s.BytesOut,
        BytesInPerSec = Math.Round(s.BytesInPerSec, 1),
        BytesOutPerSec = Math.Round(s.BytesOutPerSec, 1),
        Reconnects = s.Reconnects,
        Uptime = s.Uptime,
        ForwardingMode = s.ForwardingMode,
        LastError = s.LastError,
        LastErrorTime = s.LastErrorTime,
        Timestamp = s.Timestamp,
        JobId = jobId,
        Port = s.Port,
        LocalEndpoint = s.LocalEndpoint,
        Clients = s.Clients,
        Tunnels = s.Tunnels,
        SplicedConnections = s.SplicedConnections,
        CopiedConnections = s.CopiedConnections,
    };
}
