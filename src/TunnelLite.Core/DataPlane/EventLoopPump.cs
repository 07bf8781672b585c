using System.Net.Sockets;
using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;
using TunnelLite.Statistics;

namespace TunnelLite.DataPlane;

/// <summary>The event-loop data plane behind the pump interface: each pair of sockets is taken from the runtime
/// (<see cref="RuntimeSockets.Detach"/>) and handed to one of the owner's loops, which moves its bytes until both
/// directions end. Owned by one server or client, which disposes it when it stops.</summary>
public sealed class EventLoopPump : IForwardingPump, IDisposable
{
    private readonly EventLoopGroup _group;

    /// <summary>A pump in <paramref name="mode"/> (Copy, Splice or Auto, already resolved) on <paramref name="loops"/> loops.</summary>
    internal EventLoopPump(ForwardingMode mode, int loops)
    {
        Mode = mode;
        _group = new EventLoopGroup(loops);
        _group.Failed += e => Failed?.Invoke(e);
    }

    /// <inheritdoc />
    public ForwardingMode Mode { get; }

    /// <inheritdoc />
    public DataPlaneKind Plane => DataPlaneKind.EventLoops;

    /// <inheritdoc />
    public int EventLoops => _group.Count;

    /// <summary>Raised once when a loop dies; its connections were reset, and the owner should stop with this error.</summary>
    public event Action<Exception>? Failed;

    internal EventLoopGroup Group => _group;

    /// <inheritdoc />
    public Task RunAsync(Socket user, Socket service, TrafficCounters counters, CancellationToken cancellationToken)
    {
        int userFd = -1, serviceFd = -1;
        try
        {
            userFd = RuntimeSockets.Detach(user);
            serviceFd = RuntimeSockets.Detach(service);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Out of descriptors (or a socket already gone): the connection ends with a reset, as a failed pump's would.
            if (userFd >= 0) Interop.CloseWithReset(userFd);
            SocketClose.Reset(user);
            SocketClose.Reset(service);
            counters.RecordError($"The connection could not be handed to an event loop: {e.Message}");
            return Task.CompletedTask;
        }
        var pair = new SocketPair(userFd, serviceFd, counters, Mode);
        EventLoop loop;
        try
        {
            loop = _group.Next();
        }
        catch (ObjectDisposedException)
        {
            pair.AbortDetached();
            return pair.Completion;
        }
        loop.Post(new LoopWork(LoopWorkKind.Add, pair));
        // After the Add, so that an abort can never overtake it in the loop's queue.
        pair.AbortOn(loop, cancellationToken);
        return pair.Completion;
    }

    /// <summary>Stops the loops; pairs still on them are reset.</summary>
    public void Dispose() => _group.Dispose();
}
