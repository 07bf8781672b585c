using TunnelLite.Diagnostics;

// Users see this type as TunnelLite.TunnelTestResult (Test-Tunnel, its format view), so it lives in the root namespace,
// next to TunnelStats.
namespace TunnelLite;

/// <summary>The outcome of one probe of a tunnel's public end (<see cref="TunnelProbe"/>): whether the local service behind
/// it answered, how, and how fast.</summary>
public sealed record TunnelTestResult
{
    /// <summary>The tunnel's name; null for an endpoint given by host and port.</summary>
    public string? Name { get; init; }
    /// <summary>The host that was probed, as given (a name or an address).</summary>
    public required string ComputerName { get; init; }
    /// <summary>The address connected to (or the last one tried); null when the name did not resolve.</summary>
    public string? RemoteAddress { get; init; }
    /// <summary>The public port probed.</summary>
    public required int RemotePort { get; init; }
    /// <summary>What the probe saw.</summary>
    public required TunnelTestReason Reason { get; init; }
    /// <summary>True when the local service is reachable: it sent bytes (<see cref="TunnelTestReason.Data"/>), or the
    /// connection stayed open for the whole timeout without a reset (<see cref="TunnelTestReason.TimedOutOpen"/>).</summary>
    public bool Reachable => Reason is TunnelTestReason.Data or TunnelTestReason.TimedOutOpen;
    /// <summary>How long the TCP connect to the public end took (name resolution not included); null when it did not connect.</summary>
    public TimeSpan? ConnectTime { get; init; }
    /// <summary>From the connection's opening to the first byte of a service that speaks first; null when none came.</summary>
    public TimeSpan? FirstByteTime { get; init; }
    /// <summary>How long the probe waited for the connection and, once connected, for a byte or a reset.</summary>
    public TimeSpan Timeout { get; init; }
    /// <summary>What the outcome means, in words.</summary>
    public required string Message { get; init; }
    /// <summary>When the probe started.</summary>
    public DateTimeOffset Timestamp { get; init; }
}
