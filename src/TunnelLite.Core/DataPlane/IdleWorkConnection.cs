using System.Net.Sockets;
using System.Runtime.InteropServices;
using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;

namespace TunnelLite.DataPlane;

/// <summary>How a client's idle data connection left its loop.</summary>
internal enum IdleEnd
{
    /// <summary>A StartWork paired it and the loop served the user; <see cref="IdleOutcome.Error"/> is the pair's end
    /// (0, or the errno of a local connect that failed).</summary>
    Served,
    /// <summary>A frame for the control plane to handle (an error, a StartWork the loop could not serve); the connection
    /// comes back as <see cref="IdleOutcome.Socket"/>.</summary>
    Frame,
    /// <summary>The server closed it before any frame (an idle pooled connection it let go), or it was closed on stop.</summary>
    Closed,
    /// <summary>Reset before any frame: the server closed it while its first frame was pending; open another.</summary>
    ResetBeforeAnswer,
    /// <summary>The connect to the server failed or did not complete in time (<see cref="IdleOutcome.Error"/>: its errno);
    /// nothing was sent.</summary>
    Unreachable,
    /// <summary>A broken frame: a protocol error.</summary>
    Broken,
}

/// <summary>The outcome of <see cref="EventLoopPump.OpenIdle"/>.</summary>
internal sealed record IdleOutcome(IdleEnd End, Frame? Frame = null, Socket? Socket = null, int Error = 0);

/// <summary>A client's data connection, opened and idling in the server's pool on a loop: a non-blocking connect to the
/// server, the preamble and data hello sent, then it waits for the first frame without a buffer (a header's five bytes
/// and then the payload are read exactly, so that the user's bytes behind a StartWork stay in the socket for the pump).
/// On a StartWork it becomes a connecting <see cref="SocketPair"/> on the same loop. From the connect to the pair's end,
/// no runtime socket and no thread-pool hop.</summary>
internal sealed unsafe class IdleWorkConnection : LoopHandle
{
    private readonly EventLoopPump _pump;
    private readonly int _fd;
    private readonly Func<StartWorkMessage, WorkTarget?> _pair;
    private readonly CancellationToken _forwarding;
    private Action<IdleOutcome>? _completed;
    private readonly byte[] _header = new byte[ProtocolConstants.FrameHeaderSize];
    private readonly long _connectDeadlineMs;
    private byte[]? _hello; // the opening still to send; null once sent
    private int _helloSent;
    private bool _connecting;
    private byte[]? _payload;
    private int _got;
    private bool _done;
    private CancellationTokenRegistration _idleCancel, _idleCancel2;

    /// <param name="pump">The pump whose loops serve the pair.</param>
    /// <param name="fd">A non-blocking socket whose connect to the server is under way.</param>
    /// <param name="hello">The preamble and data hello, sent once the connect completes.</param>
    /// <param name="connectDeadlineMs">When the connect and the hello must be through (Environment.TickCount64 time).</param>
    /// <param name="pair">Loop thread: the local service for a StartWork, or null to hand the frame back.</param>
    /// <param name="forwarding">Aborts the pair once forwarding (a hard stop).</param>
    /// <param name="completed">Gets the outcome, once: on the loop's thread (or the thread that found the loop stopped), so
    /// it must be quick and never throw. A pair's end reaches the owner without a thread-pool hop.</param>
    public IdleWorkConnection(EventLoopPump pump, int fd, byte[] hello, long connectDeadlineMs, Func<StartWorkMessage, WorkTarget?> pair, CancellationToken forwarding, Action<IdleOutcome> completed)
    {
        _pump = pump;
        _fd = fd;
        _hello = hello;
        _connecting = true;
        _connectDeadlineMs = connectDeadlineMs;
        _pair = pair;
        _forwarding = forwarding;
        _completed = completed;
    }

    /// <summary>While idle, either token (the session closing, a stop) closes it.</summary>
    public void AbortOn(EventLoop loop, CancellationToken whileIdle, CancellationToken orWhileIdle)
    {
        PostedTo(loop);
        _idleCancel = Register(whileIdle);
        _idleCancel2 = Register(orWhileIdle);
    }

    private CancellationTokenRegistration Register(CancellationToken token) => token.CanBeCanceled
        ? token.UnsafeRegister(static (s, _) => ((IdleWorkConnection)s!).PostedLoop!.Post(new LoopWork(LoopWorkKind.Abort, (IdleWorkConnection)s!)), this)
        : default;

    private void Unregister()
    {
        _idleCancel.Unregister();
        _idleCancel2.Unregister();
    }

    // Hands the outcome over once (a pair's end comes once, but an abort may race with it).
    private void Complete(IdleOutcome outcome) => Interlocked.Exchange(ref _completed, null)?.Invoke(outcome);

    public override void Start()
    {
        if (_done)
        {
            // Closed by an abort that reached the loop before it: only the slot is left to free.
            Loop!.Detach(this);
            return;
        }
        if (!Loop!.Watch(this, _fd, 0, Interop.EpollEvents.In | Interop.EpollEvents.Out | Interop.EpollEvents.RdHup))
        {
            End(IdleEnd.Unreachable, reset: true, Marshal.GetLastPInvokeError());
            return;
        }
        Loop.Timers.Arm(this, _connectDeadlineMs);
        // The connect's outcome comes as an edge (writable, or an error).
    }

    public override void OnEvent(int end, Interop.EpollEvents events)
    {
        if (_connecting)
        {
            if ((events & (Interop.EpollEvents.Out | Interop.EpollEvents.Err | Interop.EpollEvents.Hup)) == 0) return;
            _connecting = false;
            if (Interop.PendingError(_fd) is var error && error != 0)
            {
                End(IdleEnd.Unreachable, reset: false, error);
                return;
            }
        }
        if (_hello is not null && !SendHello()) return;
        Read();
    }

    public override void OnTimer()
    {
        if (_hello is not null) End(IdleEnd.Unreachable, reset: true, Interop.ETIMEDOUT);
    }

    // Sends what is left of the opening; true once all of it went (then the deadline is off and the wait for a frame begins).
    private bool SendHello()
    {
        while (_helloSent < _hello!.Length)
        {
            nint n;
            fixed (byte* p = _hello) n = Interop.Send(_fd, p + _helloSent, (nuint)(_hello.Length - _helloSent), Interop.MSG_DONTWAIT | Interop.MSG_NOSIGNAL);
            if (n >= 0)
            {
                _helloSent += (int)n;
                continue;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == LinuxNative.EAGAIN) return false; // the rest goes at the next writable edge
            if (errno == LinuxNative.EINTR) continue;
            // Reset before anything was answered: the server dropped it at once (a flood of strangers); open another.
            End(errno is Interop.ECONNRESET or Interop.EPIPE ? IdleEnd.ResetBeforeAnswer : IdleEnd.Unreachable, reset: true, errno);
            return false;
        }
        _hello = null;
        TimerDue = 0;
        return true;
    }

    private void Read()
    {
        while (!_done)
        {
            var header = _got < _header.Length;
            var length = header ? _header.Length - _got : _payload!.Length - (_got - _header.Length);
            nint n;
            if (header)
                fixed (byte* p = _header) n = Interop.Recv(_fd, p + _got, (nuint)length, Interop.MSG_DONTWAIT);
            else
                fixed (byte* p = _payload) n = Interop.Recv(_fd, p + (_got - _header.Length), (nuint)length, Interop.MSG_DONTWAIT);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == LinuxNative.EAGAIN) return;
                if (errno == LinuxNative.EINTR) continue;
                End(_got == 0 && errno == Interop.ECONNRESET ? IdleEnd.ResetBeforeAnswer : IdleEnd.Broken, reset: true);
                return;
            }
            if (n == 0)
            {
                End(_got == 0 ? IdleEnd.Closed : IdleEnd.Broken, reset: false);
                return;
            }
            _got += (int)n;
            if (_got == _header.Length)
            {
                int size;
                try
                {
                    size = FrameCodec.ParseHeader(_header, out _);
                }
                catch (ProtocolException)
                {
                    End(IdleEnd.Broken, reset: true);
                    return;
                }
                _payload = new byte[size];
            }
            if (_got == _header.Length + (_payload?.Length ?? -1)) Dispatch();
        }
    }

    private void Dispatch()
    {
        FrameCodec.ParseHeader(_header, out var type);
        var frame = new Frame(type, _payload);
        WorkTarget? target = null;
        if (type == FrameType.StartWork)
        {
            try
            {
                target = _pair(MessageSerializer.Read<StartWorkMessage>(frame));
            }
            catch (Exception e) when (e is ProtocolException or System.Text.Json.JsonException)
            {
                End(IdleEnd.Broken, reset: true);
                return;
            }
        }
        if (target is null)
        {
            // Not for the loop: the control plane takes the frame and the connection back.
            _done = true;
            LeaveLoop();
            Complete(RuntimeSockets.Adopt(_fd, out _) is { } socket ? new IdleOutcome(IdleEnd.Frame, frame, socket) : new IdleOutcome(IdleEnd.Broken));
            return;
        }
        // Paired: the same descriptor becomes the user end of a connecting pair on this loop.
        _done = true;
        LeaveLoop();
        var pair = _pump.StartConnect(_fd, target, out var error);
        if (pair is null)
        {
            Complete(new IdleOutcome(IdleEnd.Served, Error: error));
            return;
        }
        // The outcome goes to the owner on the loop as the pair ends.
        pair.Ended = error => Complete(new IdleOutcome(IdleEnd.Served, Error: error));
        _pump.Start(pair, _forwarding, Loop);
    }

    // Takes the descriptor out of this loop's epoll set and frees the slot, leaving the descriptor open.
    private void LeaveLoop()
    {
        Unregister();
        Loop!.Release(this, _fd);
    }

    private void End(IdleEnd end, bool reset, int error = 0)
    {
        if (_done) return;
        _done = true;
        TimerDue = 0;
        Unregister();
        Loop?.Detach(this);
        if (reset) Interop.CloseWithReset(_fd);
        else LinuxNative.Close(_fd);
        Complete(new IdleOutcome(end, Error: error));
    }

    public override void Abort() => End(IdleEnd.Closed, reset: false);

    public override void AbortDetached()
    {
        if (_done) return;
        _done = true;
        Unregister();
        LinuxNative.Close(_fd);
        Complete(new IdleOutcome(IdleEnd.Closed));
    }
}
