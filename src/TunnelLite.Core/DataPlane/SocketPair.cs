using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;
using TunnelLite.Statistics;

namespace TunnelLite.DataPlane;

/// <summary>A user connection and the connection it is paired with, owned by one loop for their whole life.
/// <see cref="Up"/> carries user → service ("in"), <see cref="Down"/> service → user ("out"). Half-close is honoured:
/// the end of one direction goes on as a FIN and the other keeps flowing; a reset or error on either side resets both,
/// as the async pumps do.</summary>
internal sealed class SocketPair : LoopHandle
{
    /// <summary>Bytes one direction may move per turn before the loop serves the other connections.</summary>
    public const int BytesPerTurn = 256 * 1024;

    private readonly TrafficCounters _counters;
    private readonly TaskCompletionSource<int> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenRegistration _cancellation;
    private bool _closed;
    private bool _abortBeforeStart;
    private bool _connecting;  // the service end's connect is under way: no bytes move until it completes
    private long _connectDeadlineMs;

    private readonly byte[]? _toService;

    /// <summary>A pair of connected non-blocking descriptors, owned from now on. <paramref name="toService"/>: bytes of the
    /// engine's own to send to the service end before any of the user's (a StartWork frame), not counted as traffic.</summary>
    public SocketPair(int userFd, int serviceFd, TrafficCounters counters, ForwardingMode mode, byte[]? toService = null)
    {
        _toService = toService;
        UserFd = userFd;
        ServiceFd = serviceFd;
        _counters = counters;
        Up = new Flow(userFd, serviceFd, mode) { Bucket = counters.Shaper?.In };
        Down = new Flow(serviceFd, userFd, mode) { Bucket = counters.Shaper?.Out };
    }

    /// <summary>A pair whose service end (<paramref name="serviceFd"/>) has a non-blocking connect under way: bytes move
    /// once it completes; if it fails or <paramref name="connectDeadlineMs"/> (Environment.TickCount64 time) passes first,
    /// the pair ends with <see cref="ConnectError"/> set and the user's end reset.</summary>
    /// <remarks>
    /// <paramref name="describeFailure"/> turns the errno into the failure counted (before the user's end is reset, so
    /// that whoever sees the reset also sees the count). <paramref name="toService"/> (a PROXY protocol header) is sent as
    /// soon as the connect completes, whether or not the user has sent anything: a service that speaks first (SSH) must
    /// not wait for it.</remarks>
    public static SocketPair Connecting(int userFd, int serviceFd, TrafficCounters counters, ForwardingMode mode, long connectDeadlineMs, Func<int, string> describeFailure, byte[]? toService = null) =>
        new(userFd, serviceFd, counters, mode, toService) { _connecting = true, _connectDeadlineMs = connectDeadlineMs, _describeFailure = describeFailure };

    private Func<int, string>? _describeFailure;

    /// <summary>The <see cref="Completion"/> of a pair whose service end broke before it received the engine's bytes (the
    /// StartWork): the user was never served.</summary>
    public const int BrokeBeforeStart = -1;

    /// <summary>Why the service end's connect failed (an errno: ECONNREFUSED, ETIMEDOUT...), or 0. Read after <see cref="Completion"/>.</summary>
    public int ConnectError { get; private set; }

    public int UserFd { get; }
    public int ServiceFd { get; }
    public Flow Up { get; }
    public Flow Down { get; }

    /// <summary>Completes when both sockets are closed, with <see cref="ConnectError"/>: 0, a connect's errno, or
    /// <see cref="BrokeBeforeStart"/> (never faults: failures end in resets, as in the async pumps).</summary>
    public Task<int> Completion => _done.Task;

    /// <summary>Called as the pair ends, with what <see cref="Completion"/> completes with, on the loop's thread (or, for a
    /// pair that never reached a loop, the thread that found so): for owners whose bookkeeping at the end is a few counters,
    /// so that a connection's end costs no thread-pool hop. Set before the pair is posted; it must not throw or block.</summary>
    public Action<int>? Ended { get; set; }

    /// <summary>A hard stop resets the pair: the loop is asked, from whatever thread cancels.</summary>
    public void AbortOn(EventLoop loop, CancellationToken cancellationToken)
    {
        PostedTo(loop);
        if (cancellationToken.CanBeCanceled)
            _cancellation = cancellationToken.UnsafeRegister(static (s, _) => ((SocketPair)s!).PostedLoop!.Post(new LoopWork(LoopWorkKind.Abort, (SocketPair)s!)), this);
    }

    private const Interop.EpollEvents Events = Interop.EpollEvents.In | Interop.EpollEvents.Out | Interop.EpollEvents.RdHup;

    /// <inheritdoc />
    public override void Start()
    {
        if (_abortBeforeStart && _connecting)
        {
            ConnectCompleted(Interop.ECONNABORTED);
            return;
        }
        if (_abortBeforeStart || !Loop!.Watch(this, UserFd, 0, Events) || !Loop.Watch(this, ServiceFd, 1, Events))
        {
            Close(reset: true);
            return;
        }
        // From now on only a clean end of both streams closes with FINs (see SocketClose.ResetIfAbandoned).
        Interop.SetLingerZero(UserFd, true);
        Interop.SetLingerZero(ServiceFd, true);
        if (_connecting)
        {
            Loop.Timers.Arm(this, _connectDeadlineMs);
            return; // the connect's outcome comes as an edge on the service end
        }
        if (_toService is not null) Up.Prefill(Loop, _toService);
        Progress(); // sends the engine's bytes, if any; what the ends have to read comes with the registration's events

    }

    /// <inheritdoc />
    public override void RunAgain() => Progress();

    /// <summary>Loop thread: an edge on one end. Errors and hang-ups set both bits, so the next call finds out what happened.</summary>
    public override void OnEvent(int end, Interop.EpollEvents events)
    {
        const Interop.EpollEvents readable = Interop.EpollEvents.In | Interop.EpollEvents.RdHup | Interop.EpollEvents.Hup | Interop.EpollEvents.Err;
        const Interop.EpollEvents writable = Interop.EpollEvents.Out | Interop.EpollEvents.Hup | Interop.EpollEvents.Err;
        var (reading, writing) = end == 0 ? (Up, Down) : (Down, Up);
        if ((events & readable) != 0) reading.Readable = true;
        if ((events & (Interop.EpollEvents.RdHup | Interop.EpollEvents.Hup | Interop.EpollEvents.Err)) != 0) reading.SourceHungUp = true;
        if ((events & writable) != 0) writing.Writable = true;
        if (_connecting)
        {
            if (end == 1 && (events & writable) != 0) ConnectCompleted(Interop.PendingError(ServiceFd));
            return;
        }
        Progress();
    }

    /// <inheritdoc />
    public override void OnTimer()
    {
        if (_connecting) ConnectCompleted(Interop.ETIMEDOUT);
        else Progress(); // a throttled direction's tokens are there
    }

    private void ConnectCompleted(int error)
    {
        _connecting = false;
        TimerDue = 0;
        if (error == 0)
        {
            if (_toService is not null) Up.Prefill(Loop!, _toService);
            Progress();
            return;
        }
        // As the async path does: the service was never reached, so the user's end learns it with a reset and nothing is
        // counted as forwarded.
        ConnectError = error;
        _counters.ConnectionFailed(_describeFailure!(error));
        _closed = true;
        Loop!.Detach(this);
        Interop.CloseWithReset(UserFd);
        LinuxNative.Close(ServiceFd);
        _cancellation.Unregister();
        Finish();
    }

    /// <summary>Loop thread: moves what can be moved, passes ends on, and closes the pair when both directions ended.</summary>
    public void Progress()
    {
        if (_closed) return;
        var loop = Loop!;
        var budget = BytesPerTurn;
        var up = Up.Run(this, loop, ref budget);
        budget = BytesPerTurn;
        var down = up == FlowStep.Failed ? FlowStep.Wait : Down.Run(this, loop, ref budget);
        if (up == FlowStep.Failed || down == FlowStep.Failed
            || (up == FlowStep.Ended && !Up.FinSent && !PassOn(Up, Down))
            || (down == FlowStep.Ended && !Down.FinSent && !PassOn(Down, Up)))
        {
            Close(reset: true);
            return;
        }
        if (Up.FinSent && Down.FinSent)
        {
            Close(reset: false);
            return;
        }
        if (up == FlowStep.Budget || down == FlowStep.Budget) loop.RunAgain(this);
        else if (up == FlowStep.Throttled || down == FlowStep.Throttled) ThrottleUntilTokens(loop, up, down);
    }

    /// <summary>The bandwidth limit stopped a direction: its readiness stays as it is (edge-triggered, no new event would
    /// come), and the loop's timer runs the pair again when the bucket that is empty has tokens. No spinning, no thread.</summary>
    private void ThrottleUntilTokens(EventLoop loop, FlowStep up, FlowStep down)
    {
        var delay = Math.Min(up == FlowStep.Throttled ? Up.Bucket!.DelayMs() : int.MaxValue, down == FlowStep.Throttled ? Down.Bucket!.DelayMs() : int.MaxValue);
        var due = Environment.TickCount64 + delay;
        if (TimerDue == 0 || TimerDue > due) loop.Timers.Arm(this, due);
    }

    /// <summary>Loop thread: resets both ends (hard stop, or the loop is going away).</summary>
    public override void Abort()
    {
        if (_closed) return;
        if (Loop is null)
        {
            // Cancelled before its Add reached the loop: it is reset as soon as it starts.
            _abortBeforeStart = true;
            return;
        }
        if (_connecting) ConnectCompleted(Interop.ECONNABORTED);
        else Close(reset: true);
    }

    /// <summary>Resets both descriptors of a pair that never reached a loop.</summary>
    public override void AbortDetached()
    {
        _closed = true;
        Interop.CloseWithReset(UserFd);
        Interop.CloseWithReset(ServiceFd);
        _cancellation.Unregister();
        _counters.Forwarded(ForwardingMode.Copy, fellBack: false);
        _counters.ConnectionReset();
        Finish();
    }

    public void Count(Flow flow, long bytes)
    {
        if (ReferenceEquals(flow, Up)) _counters.AddIn(bytes);
        else _counters.AddOut(bytes);
    }

    /// <summary>The source of <paramref name="flow"/> ended: FIN the destination, unless the end was a reset in disguise
    /// (see <see cref="StreamEnds"/>: Linux reports a socket's error once, so the read may see a plain end; a zero-byte
    /// send fails on a reset socket and succeeds on a half-closed one). The probe proves nothing once this side sent its
    /// own FIN on that socket, and is skipped then.</summary>
    private static bool PassOn(Flow flow, Flow other)
    {
        if (!other.FinSent && !AcceptsSend(flow.From)) return false;
        Interop.Shutdown(flow.To, Interop.SHUT_WR);
        flow.FinSent = true;
        return true;
    }

    private static unsafe bool AcceptsSend(int fd) => Interop.Send(fd, null, 0, Interop.MSG_DONTWAIT | Interop.MSG_NOSIGNAL) >= 0;

    private void Close(bool reset)
    {
        _closed = true;
        if (reset && Up.PrefillPending) ConnectError = BrokeBeforeStart;
        TimerDue = 0;
        var loop = Loop!;
        Up.Release(loop);
        Down.Release(loop);
        loop.Detach(this);
        if (reset)
        {
            Interop.CloseWithReset(UserFd);
            Interop.CloseWithReset(ServiceFd);
            // A data connection that broke before its StartWork is the owner's failure to count, not a reset stream.
            if (ConnectError != BrokeBeforeStart) _counters.ConnectionReset();
        }
        else
        {
            Interop.CloseGracefully(UserFd);
            Interop.CloseGracefully(ServiceFd);
        }
        _cancellation.Unregister();
        var spliced = Up.Spliced + Down.Spliced > 0;
        _counters.Forwarded(spliced ? ForwardingMode.Splice : ForwardingMode.Copy, Up.FellBack || Down.FellBack);
        Finish();
    }

    private void Finish()
    {
        Ended?.Invoke(ConnectError);
        _done.TrySetResult(ConnectError);
    }
}
