namespace TunnelLite.Statistics;

/// <summary>Which end of a tunnel a statistics record describes.</summary>
public enum TunnelRole
{
    /// <summary>The public server.</summary>
    Server,
    /// <summary>The client behind NAT.</summary>
    Client,
}
