namespace TunnelLite.Config;

/// <summary>How a load-balancing group spreads users over its healthy members (loadBalancer.strategy).</summary>
public enum LoadBalancingStrategy
{
    /// <summary>Each healthy member in turn ("roundRobin").</summary>
    RoundRobin,
    /// <summary>The healthy member with the fewest active connections ("leastConn"); not in frp.</summary>
    LeastConnections,
}
