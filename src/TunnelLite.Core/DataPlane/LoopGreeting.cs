using System.Runtime.InteropServices;
using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;

namespace TunnelLite.DataPlane;

/// <summary>A new connection to the control port, accepted on a loop, until its opening shows what it is. The opening is
/// only peeked at (MSG_PEEK), so nothing is taken from anyone else: a client's data connection (the preamble and a
/// <see cref="FrameType.DataHello"/> no larger than <see cref="MaxDataHello"/>) is read on the loop and given to
/// <c>dataHello</c> there, with no runtime socket and no thread-pool hop; anything else (a login, TLS, garbage, a peer
/// that stays silent past the deadline or closes, an eviction) goes to <c>handOff</c> with its bytes unread, for the
/// control plane to handle as it handles every connection.</summary>
internal sealed unsafe class LoopGreeting : LoopHandle
{
    /// <summary>The largest data hello read on the loop (one is about 150 bytes); a larger one goes to the control plane,
    /// which refuses it as it would refuse any malformed one.</summary>
    public const int MaxDataHello = 1024;

    private static readonly int Opening = ProtocolConstants.Preamble.Length + ProtocolConstants.FrameHeaderSize;

    private readonly int _fd;
    private readonly long _deadlineMs;
    private readonly Action<int, Frame> _dataHello;
    private readonly Action<int> _handOff;
    private readonly Action<int> _abandoned;
    private CancellationTokenRegistration _stopping;
    private CancellationTokenRegistration _evicted;
    private volatile bool _isEvicted;
    private bool _done;

    /// <param name="fd">The accepted socket (non-blocking), owned from now on.</param>
    /// <param name="deadlineMs">When its opening must be complete (Environment.TickCount64 time); then it is handed off.</param>
    /// <param name="dataHello">Loop thread: the socket, its preamble and data hello read, and that frame.</param>
    /// <param name="handOff">Loop thread (or the thread that found the loop stopped): the socket, nothing read.</param>
    /// <param name="abandoned">The socket was reset on a stop (loop thread, or the thread that found the loop stopped).</param>
    public LoopGreeting(int fd, long deadlineMs, Action<int, Frame> dataHello, Action<int> handOff, Action<int> abandoned)
    {
        _fd = fd;
        _deadlineMs = deadlineMs;
        _dataHello = dataHello;
        _handOff = handOff;
        _abandoned = abandoned;
    }

    /// <summary>Any thread, before posting: <paramref name="stopping"/> resets it; <paramref name="evicted"/> hands it off
    /// (the control plane reports the eviction and resets it).</summary>
    public void AbortOn(EventLoop loop, CancellationToken stopping, CancellationToken evicted)
    {
        PostedTo(loop);
        _stopping = stopping.UnsafeRegister(static s => ((LoopGreeting)s!).PostAbort(), this);
        _evicted = evicted.UnsafeRegister(static s =>
        {
            var g = (LoopGreeting)s!;
            g._isEvicted = true;
            g.PostAbort();
        }, this);
    }

    private void PostAbort() => PostedLoop!.Post(new LoopWork(LoopWorkKind.Abort, this));

    public override void Start()
    {
        if (_done)
        {
            Loop!.Detach(this); // aborted before it started: only the slot is left to free
            return;
        }
        if (!Loop!.Watch(this, _fd, 0, Interop.EpollEvents.In | Interop.EpollEvents.RdHup))
        {
            HandOff();
            return;
        }
        Loop.Timers.Arm(this, _deadlineMs);
        // No peek now: the registration (EPOLL_CTL_ADD) reports at once what is readable, an opening that came before it
        // included, and a peek before the opening arrives would only hear EAGAIN.
    }

    public override void OnEvent(int end, Interop.EpollEvents events) => Peek();

    public override void OnTimer() => HandOff();

    private void Peek()
    {
        if (_done) return;
        var buffer = stackalloc byte[Opening + MaxDataHello];
        var n = Interop.Recv(_fd, buffer, (nuint)(Opening + MaxDataHello), Interop.MSG_PEEK | Interop.MSG_DONTWAIT);
        if (n < 0 && Marshal.GetLastPInvokeError() is LinuxNative.EAGAIN or LinuxNative.EINTR) return;
        if (n <= 0)
        {
            // Closed or broken before its opening: the control plane finds out and handles it as it always has.
            HandOff();
            return;
        }
        var got = new ReadOnlySpan<byte>(buffer, (int)n);
        var preamble = ProtocolConstants.Preamble;
        if (!got[..Math.Min(got.Length, preamble.Length)].SequenceEqual(preamble[..Math.Min(got.Length, preamble.Length)]))
        {
            HandOff(); // not TunnelLite (TLS, HTTP, garbage)
            return;
        }
        if (got.Length < Opening) return; // the rest of the opening comes with the next edge
        var header = got.Slice(preamble.Length, ProtocolConstants.FrameHeaderSize);
        var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header);
        if (header[4] != (byte)FrameType.DataHello || length > MaxDataHello)
        {
            HandOff();
            return;
        }
        if (got.Length < Opening + (int)length) return;
        // All of it is here: take it for real (exactly the opening, so that nothing after it is consumed).
        var payload = got.Slice(Opening, (int)length).ToArray();
        var taken = Interop.Recv(_fd, buffer, (nuint)(Opening + (int)length), Interop.MSG_DONTWAIT);
        if (taken != Opening + (int)length)
        {
            HandOff(); // cannot happen short of a broken kernel; the control plane copes
            return;
        }
        Finish();
        _dataHello(_fd, new Frame(FrameType.DataHello, payload));
    }

    // Off this loop with the descriptor still open: out of the loop's epoll set, the slot freed, the cancellations undone.
    private void Finish()
    {
        _done = true;
        TimerDue = 0;
        _stopping.Unregister();
        _evicted.Unregister();
        Loop!.Release(this, _fd); // a descriptor that epoll refused is simply not found there
    }

    private void HandOff()
    {
        Finish();
        _handOff(_fd);
    }

    /// <inheritdoc />
    public override void Abort()
    {
        if (_done) return;
        if (Loop is null)
        {
            _done = true; // not started yet: Start frees the slot
            End();
            return;
        }
        Finish();
        End();
    }

    /// <inheritdoc />
    public override void AbortDetached()
    {
        if (_done) return;
        _done = true;
        _stopping.Unregister();
        _evicted.Unregister();
        End();
    }

    // Evicted: the control plane reports it and resets the socket. Stopping, or the loop going away: reset here.
    private void End()
    {
        if (_isEvicted) _handOff(_fd);
        else
        {
            Interop.CloseWithReset(_fd);
            _abandoned(_fd);
        }
    }
}
