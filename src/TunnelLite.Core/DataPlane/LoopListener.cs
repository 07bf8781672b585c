using System.Net;
using System.Runtime.InteropServices;
using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;

namespace TunnelLite.DataPlane;

/// <summary>A public port's listening socket on a loop: one listener per port (not SO_REUSEPORT: another process of the
/// same user could then bind the port too and take a share of its users). It accepts until EAGAIN, at most
/// <see cref="AcceptsPerTurn"/> at a time before the loop serves its connections, and gives each new socket to its owner
/// on the loop's thread. When accept fails for want of descriptors it waits <see cref="RetryMs"/> on the loop's timer and
/// tries again, as the async accept loop does.</summary>
internal sealed unsafe class LoopListener : LoopHandle
{
    private const int AcceptsPerTurn = 64;
    private const int RetryMs = 100;

    private readonly int _fd;
    private readonly Action<int, IPEndPoint?> _accepted;
    private readonly Action<int> _failed;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _isClosed;

    /// <summary>A listener on <paramref name="fd"/> (listening, owned from now on). <paramref name="accepted"/> gets each
    /// new non-blocking socket and its peer; <paramref name="failed"/> an accept error's errno. Both run on the loop.</summary>
    public LoopListener(int fd, Action<int, IPEndPoint?> accepted, Action<int> failed)
    {
        _fd = fd;
        _accepted = accepted;
        _failed = failed;
    }

    /// <summary>Completes once the listening socket is closed (the port is free).</summary>
    public Task Closed => _closed.Task;

    public override void Start()
    {
        if (!Loop!.Watch(this, _fd, 0, Interop.EpollEvents.In))
        {
            _failed(Marshal.GetLastPInvokeError());
            Abort();
            return;
        }
        Accept();
    }

    public override void OnEvent(int end, Interop.EpollEvents events) => Accept();

    public override void RunAgain() => Accept();

    public override void OnTimer() => Accept();

    private void Accept()
    {
        if (_isClosed) return;
        var address = stackalloc byte[Interop.SockAddrSize];
        for (var i = 0; i < AcceptsPerTurn; i++)
        {
            var length = (uint)Interop.SockAddrSize;
            var fd = Interop.Accept4(_fd, address, &length, Interop.SOCK_NONBLOCK | Interop.SOCK_CLOEXEC);
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == LinuxNative.EAGAIN) return;
                if (errno is LinuxNative.EINTR or Interop.ECONNABORTED) continue;
                // Out of descriptors (or worse): the backlog keeps the users; try again shortly, not at the next edge only.
                _failed(errno);
                Loop!.Timers.Arm(this, Environment.TickCount64 + RetryMs);
                return;
            }
            Interop.SetNoDelay(fd); // as every tunnel socket: small messages go at once
            _accepted(fd, Interop.ToEndPoint(address));
        }
        Loop!.RunAgain(this);
    }

    public override void Abort()
    {
        if (_isClosed) return;
        _isClosed = true;
        TimerDue = 0;
        Loop?.Detach(this);
        LinuxNative.Close(_fd);
        _closed.TrySetResult();
    }

    public override void AbortDetached()
    {
        _isClosed = true;
        LinuxNative.Close(_fd);
        _closed.TrySetResult();
    }
}
