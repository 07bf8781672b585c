using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
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
    /// <summary>A broken frame: a protocol error.</summary>
    Broken,
}

/// <summary>The outcome of <see cref="EventLoopPump.IdleAsync"/>.</summary>
internal sealed record IdleOutcome(IdleEnd End, Frame? Frame = null, Socket? Socket = null, int Error = 0);

/// <summary>A client's data connection idling in the server's pool, on a loop: it waits for the first frame without a
/// buffer (a header's five bytes and then the payload are read exactly, so that the user's bytes behind a StartWork stay
/// in the socket for the pump), and on a StartWork it becomes a connecting <see cref="SocketPair"/> on the same loop.</summary>
internal sealed unsafe class IdleWorkConnection : LoopHandle
{
    private readonly EventLoopPump _pump;
    private readonly int _fd;
    private readonly Func<StartWorkMessage, WorkTarget?> _pair;
    private readonly CancellationToken _forwarding;
    private readonly TaskCompletionSource<IdleOutcome> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _header = new byte[ProtocolConstants.FrameHeaderSize];
    private byte[]? _payload;
    private int _got;
    private bool _done;
    private CancellationTokenRegistration _idleCancel;

    public IdleWorkConnection(EventLoopPump pump, int fd, Func<StartWorkMessage, WorkTarget?> pair, CancellationToken forwarding)
    {
        _pump = pump;
        _fd = fd;
        _pair = pair;
        _forwarding = forwarding;
    }

    public Task<IdleOutcome> Outcome => _outcome.Task;

    /// <summary>While idle, <paramref name="whileIdle"/> (the session closing, or a stop) closes it.</summary>
    public void AbortOn(EventLoop loop, CancellationToken whileIdle)
    {
        PostedTo(loop);
        if (whileIdle.CanBeCanceled)
            _idleCancel = whileIdle.UnsafeRegister(static (s, _) => ((IdleWorkConnection)s!).PostedLoop!.Post(new LoopWork(LoopWorkKind.Abort, (IdleWorkConnection)s!)), this);
    }

    public override void Start()
    {
        if (_done)
        {
            // Closed by an abort that reached the loop before it: only the slot is left to free.
            Loop!.Detach(this);
            return;
        }
        if (!Loop!.Watch(this, _fd, 0, Interop.EpollEvents.In | Interop.EpollEvents.RdHup))
        {
            End(IdleEnd.Closed, reset: true);
            return;
        }
        Read();
    }

    public override void OnEvent(int end, Interop.EpollEvents events) => Read();

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
            _outcome.TrySetResult(new IdleOutcome(IdleEnd.Frame, frame, new Socket(new SafeSocketHandle(_fd, ownsHandle: true))));
            return;
        }
        // Paired: the same descriptor becomes the user end of a connecting pair on this loop.
        _done = true;
        LeaveLoop();
        var pair = _pump.StartConnect(_fd, target, out var error);
        if (pair is null)
        {
            _outcome.TrySetResult(new IdleOutcome(IdleEnd.Served, Error: error));
            return;
        }
        _pump.Start(pair, _forwarding).ContinueWith(static (t, s) => ((TaskCompletionSource<IdleOutcome>)s!).TrySetResult(new IdleOutcome(IdleEnd.Served, Error: t.Result)),
            _outcome, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    // Takes the descriptor out of this loop's epoll set and frees the slot, leaving the descriptor open.
    private void LeaveLoop()
    {
        _idleCancel.Unregister();
        Interop.EpollCtl(Loop!.EpollFd, Interop.EPOLL_CTL_DEL, _fd, 0, 0);
        Loop.Detach(this);
    }

    private void End(IdleEnd end, bool reset)
    {
        if (_done) return;
        _done = true;
        _idleCancel.Unregister();
        Loop?.Detach(this);
        if (reset) Interop.CloseWithReset(_fd);
        else LinuxNative.Close(_fd);
        _outcome.TrySetResult(new IdleOutcome(end));
    }

    public override void Abort() => End(IdleEnd.Closed, reset: false);

    public override void AbortDetached()
    {
        if (_done) return;
        _done = true;
        _idleCancel.Unregister();
        LinuxNative.Close(_fd);
        _outcome.TrySetResult(new IdleOutcome(IdleEnd.Closed));
    }
}
