using System.Net.Sockets;
using TunnelLite.Statistics;

namespace TunnelLite.Forwarding;

/// <summary>Moves bytes both ways between two connected sockets until both directions have ended, then closes both.
/// Bytes from <c>user</c> to <c>service</c> count as "in", the other way as "out".
/// Half-close is honoured: the end of one direction is passed on with a FIN and the other direction keeps flowing.
/// A reset or error on either side resets both.</summary>
public interface IForwardingPump
{
    /// <summary>The mode this pump implements.</summary>
    ForwardingMode Mode { get; }

    /// <summary>The data plane that drives the sockets: <see cref="DataPlaneKind.Async"/> unless the pump runs on event loops.</summary>
    DataPlaneKind Plane => DataPlaneKind.Async;

    /// <summary>Event loops behind the pump; 0 on the async plane.</summary>
    int EventLoops => 0;

    /// <summary>Runs the pump; completes when both sockets are closed. Cancelling aborts both sockets with a reset.</summary>
    Task RunAsync(Socket user, Socket service, TrafficCounters counters, CancellationToken cancellationToken);
}
