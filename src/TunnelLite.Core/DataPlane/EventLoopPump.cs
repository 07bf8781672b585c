using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using TunnelLite.DataPlane.Native;
using TunnelLite.Protocol;
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
        return Start(new SocketPair(userFd, serviceFd, counters, Mode), cancellationToken);
    }

    /// <summary>Pairs a user's descriptor with a data connection's (<paramref name="dataFd"/>), both owned from now on,
    /// sending <paramref name="toService"/> (the StartWork frame) ahead of the user's bytes. <paramref name="ended"/> is
    /// called as both are closed (<see cref="SocketPair.Ended"/>): with 0, or <see cref="SocketPair.BrokeBeforeStart"/> when
    /// the data connection broke before the frame was sent.</summary>
    internal void Pair(int userFd, int dataFd, byte[] toService, TrafficCounters counters, CancellationToken cancellationToken, Action<int> ended) =>
        Start(new SocketPair(userFd, dataFd, counters, Mode, toService) { Ended = ended }, cancellationToken);

    /// <summary>Connects to <paramref name="service"/> from a loop (a non-blocking connect, no runtime socket) and, once
    /// connected, forwards between it and <paramref name="user"/>. Completes when both are closed, with 0, or with the
    /// errno of a connect that failed or did not complete within <paramref name="timeout"/> (then <paramref name="user"/>
    /// was reset and nothing was forwarded). <paramref name="preamble"/>, if any, reaches the service first, as soon as it
    /// is connected.</summary>
    /// <remarks>A failed connect is counted (<paramref name="describeFailure"/> gives its message from the errno) before
    /// <paramref name="user"/> is reset.</remarks>
    internal Task<int> ConnectAndRunAsync(Socket user, IPEndPoint service, TimeSpan timeout, TrafficCounters counters, Func<int, string> describeFailure, byte[]? preamble, CancellationToken cancellationToken)
    {
        int userFd;
        try
        {
            userFd = RuntimeSockets.Detach(user);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            var errno = e is SocketException s ? s.ErrorCode : Interop.ECONNABORTED;
            counters.ConnectionFailed(describeFailure(errno));
            SocketClose.Reset(user);
            return Task.FromResult(errno);
        }
        var target = new WorkTarget(service, timeout, counters, describeFailure, preamble);
        return StartConnect(userFd, target, out var error) is { } pair ? Start(pair, cancellationToken) : Task.FromResult(error);
    }

    /// <summary>Starts a non-blocking connect to <paramref name="target"/>'s service for <paramref name="userFd"/>: the
    /// pair to add to a loop, or null with the errno when the connect failed at once (then it was counted and
    /// <paramref name="userFd"/> reset). Any thread, a loop's included: nothing here waits.</summary>
    internal SocketPair? StartConnect(int userFd, WorkTarget target, out int error)
    {
        var fd = ConnectNonBlocking(target.Service, out error);
        if (fd < 0)
        {
            target.Counters.ConnectionFailed(target.DescribeFailure(error));
            Interop.CloseWithReset(userFd);
            return null;
        }
        var deadline = Environment.TickCount64 + (long)target.Timeout.TotalMilliseconds;
        return SocketPair.Connecting(userFd, fd, target.Counters, Mode, deadline, target.DescribeFailure, target.Preamble);
    }

    /// <summary>A new non-blocking socket (TCP_NODELAY) with its connect to <paramref name="to"/> under way; or -1 with the
    /// errno when the connect failed at once. Nothing here waits.</summary>
    private static unsafe int ConnectNonBlocking(IPEndPoint to, out int error)
    {
        var family = to.AddressFamily == AddressFamily.InterNetwork ? Interop.AF_INET : Interop.AF_INET6;
        var fd = Interop.Socket(family, Interop.SOCK_STREAM | Interop.SOCK_NONBLOCK | Interop.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            error = Marshal.GetLastPInvokeError();
            return -1;
        }
        Interop.SetNoDelay(fd);
        var address = stackalloc byte[Interop.SockAddrSize];
        var length = Interop.ToSockAddr(to, address);
        if (Interop.Connect(fd, address, length) != 0 && Marshal.GetLastPInvokeError() is var e && e != Interop.EINPROGRESS)
        {
            error = e;
            LinuxNative.Close(fd);
            return -1;
        }
        error = 0;
        return fd;
    }

    /// <summary>Opens a client's data connection from a loop: a non-blocking connect to <paramref name="server"/>, then
    /// <paramref name="hello"/> (the preamble and data hello), both within <paramref name="connectTimeout"/>; then it idles
    /// in the server's pool, on the loop, which reads its first frame. A StartWork is handled there: <paramref name="pair"/>
    /// (run on the loop) names the tunnel's local service, and the loop connects it and forwards, with no runtime socket
    /// and no hop to the thread pool, the pair's end included. Anything else comes back in the outcome too. Either of
    /// <paramref name="whileIdle"/> and <paramref name="orWhileIdle"/> closes it while it idles; <paramref name="forwarding"/>
    /// aborts its pair. <paramref name="completed"/> gets the outcome once, on the loop (or here, when the connect cannot
    /// start): it must be quick and never throw. Any thread, a loop's included: nothing here waits. Opened from a loop (a
    /// refill), it idles on that loop, so that each loop replaces what it served and the round robin of the first fill
    /// stays as it was.</summary>
    internal void OpenIdle(IPEndPoint server, byte[] hello, TimeSpan connectTimeout, Func<StartWorkMessage, WorkTarget?> pair,
        CancellationToken whileIdle, CancellationToken orWhileIdle, CancellationToken forwarding, Action<IdleOutcome> completed)
    {
        EventLoop loop;
        try
        {
            loop = _group.Local();
        }
        catch (ObjectDisposedException)
        {
            completed(new IdleOutcome(IdleEnd.Closed));
            return;
        }
        var fd = ConnectNonBlocking(server, out var error);
        if (fd < 0)
        {
            completed(new IdleOutcome(IdleEnd.Unreachable, Error: error));
            return;
        }
        var idle = new IdleWorkConnection(this, fd, hello, Environment.TickCount64 + (long)connectTimeout.TotalMilliseconds, pair, forwarding, completed);
        idle.AbortOn(loop, whileIdle, orWhileIdle); // before the post, as for pairs (Start)
        loop.Post(new LoopWork(LoopWorkKind.Add, idle));
    }

    /// <summary>Moves <paramref name="listener"/> (bound and listening, never used for async I/O) onto a loop, which
    /// accepts from now on and gives each new socket to <paramref name="accepted"/> on its thread.
    /// <see cref="CloseListenerAsync"/> closes it.</summary>
    /// <exception cref="SocketException">The descriptor could not be taken (EMFILE); the socket is left as it was.</exception>
    /// <exception cref="ObjectDisposedException">The loops are stopped; the socket is left as it was.</exception>
    internal LoopListener Listen(Socket listener, Action<int, IPEndPoint?> accepted, Action<int> failed)
    {
        var loop = _group.Next();
        var handle = new LoopListener(RuntimeSockets.Detach(listener), accepted, failed);
        handle.PostedTo(loop);
        loop.Post(new LoopWork(LoopWorkKind.Add, handle));
        return handle;
    }

    /// <summary>Puts a connection accepted on a loop's listener on that loop (it stays there for an instant), to wait for
    /// its opening (<see cref="LoopGreeting"/>). <paramref name="stopping"/> resets it, <paramref name="evicted"/> hands it off.</summary>
    internal void Greet(LoopGreeting greeting, CancellationToken stopping, CancellationToken evicted)
    {
        EventLoop loop;
        try
        {
            loop = _group.Local();
        }
        catch (ObjectDisposedException)
        {
            greeting.AbortDetached();
            return;
        }
        greeting.AbortOn(loop, stopping, evicted); // before the post, as for pairs (Start)
        loop.Post(new LoopWork(LoopWorkKind.Add, greeting));
    }

    /// <summary>Closes a listener of <see cref="Listen"/>; completes once its port is free.</summary>
    internal static Task CloseListenerAsync(LoopListener listener)
    {
        listener.PostedLoop!.Post(new LoopWork(LoopWorkKind.Abort, listener));
        return listener.Closed;
    }

    /// <summary>Puts <paramref name="pair"/> on <paramref name="on"/>, or on the next loop in turn.</summary>
    internal Task<int> Start(SocketPair pair, CancellationToken cancellationToken, EventLoop? on = null)
    {
        EventLoop loop;
        try
        {
            loop = on ?? _group.Next();
        }
        catch (ObjectDisposedException)
        {
            pair.AbortDetached();
            return pair.Completion;
        }
        // Registered before the pair is posted, so that the registration is in place before the loop can end the pair and
        // drop it (registered after, it could outlive a pair that ended first, one per connection for the owner's life).
        // An abort that comes first waits for the pair's start (SocketPair.Abort).
        pair.AbortOn(loop, cancellationToken);
        loop.Post(new LoopWork(LoopWorkKind.Add, pair));
        return pair.Completion;
    }

    /// <summary>Stops the loops; pairs still on them are reset.</summary>
    public void Dispose() => _group.Dispose();
}
