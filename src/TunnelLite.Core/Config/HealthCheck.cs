namespace TunnelLite.Config;

/// <summary>A TCP health check of a tunnel's local service (frp's <c>healthCheck.type = "tcp"</c>): the client connects to
/// the service every <see cref="Interval"/>; after <see cref="MaxFailed"/> failures in a row it withdraws the tunnel from
/// its users (from its group, or, alone, users are reset while the port stays bound), and after one success it puts it back.</summary>
public sealed record HealthCheck
{
    /// <summary>Between checks (healthCheck.intervalSeconds); default 10 s.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a connect may take (healthCheck.timeoutSeconds); default 3 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Failures in a row that withdraw the tunnel (healthCheck.maxFailed); default 1.</summary>
    public int MaxFailed { get; init; } = 1;

    /// <summary>Throws ArgumentException for values out of range.</summary>
    public void Validate()
    {
        if (Interval < TimeSpan.FromMilliseconds(100) || Interval > TimeSpan.FromHours(1))
            throw new ArgumentException("A health check interval must be from 0.1 s to 1 hour.");
        if (Timeout < TimeSpan.FromMilliseconds(50) || Timeout > TimeSpan.FromMinutes(1))
            throw new ArgumentException("A health check timeout must be from 0.05 s to 60 s.");
        if (MaxFailed is < 1 or > 100)
            throw new ArgumentException("A health check's maxFailed must be from 1 to 100.");
    }
}
