using System.Runtime.InteropServices;
using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;

namespace TunnelLite.DataPlane;

/// <summary>What one pass over a <see cref="Flow"/> ended with.</summary>
internal enum FlowStep
{
    /// <summary>Waiting for the source to become readable or the destination writable.</summary>
    Wait,
    /// <summary>Its turn's byte budget is spent while bytes still wait: run again after the other connections.</summary>
    Budget,
    /// <summary>The tunnel's bandwidth limit has no tokens for it now: run again when its bucket has (a timer).</summary>
    Throttled,
    /// <summary>The source ended and everything it sent was delivered: pass the end on.</summary>
    Ended,
    /// <summary>A system call failed (<see cref="Flow.Error"/>): reset the connection.</summary>
    Failed,
}

/// <summary>One direction of a <see cref="SocketPair"/>: from one socket to the other, on the loop's thread only.
/// <para>Like HAProxy's fd states, each end has a <em>ready</em> bit per direction: <see cref="Readable"/> and
/// <see cref="Writable"/> are set by edge-triggered events and cleared by EAGAIN (or, for reading, a short read), so no
/// system call is made on a socket known to have nothing to give or no room.</para>
/// <para>Copy: recv into a loop buffer, send it on. Splice: splice(2) socket → pipe → socket. Auto: recv up to
/// <see cref="SplicePump.SpliceThreshold"/> first; a full read means the bytes stream, and the rest of that burst is
/// spliced (small messages cost one recv and one send). A buffer is held only while it holds unsent bytes, a pipe only
/// for a burst: while the source stays readable or the pipe holds bytes.</para></summary>
internal sealed unsafe class Flow
{
    private const uint SpliceFlags = LinuxNative.SPLICE_F_MOVE | LinuxNative.SPLICE_F_NONBLOCK;

    private readonly ForwardingMode _mode;
    private byte[]? _buffer;
    private int _offset, _length;
    private bool _lastReadFull;
    private SplicePipe? _pipe;
    private bool _streaming; // Auto: this burst is being spliced
    private bool _copyOnly;  // no pipe could be had, or the socket cannot be spliced
    private int _uncounted;  // bytes of the engine's own at the head of the buffer (a StartWork frame), not the user's
    private int _allowance;  // tokens of Bucket taken and not yet read against

    public Flow(int from, int to, ForwardingMode mode)
    {
        From = from;
        To = to;
        _mode = mode;
    }

    public int From { get; }
    public int To { get; }

    /// <summary>The tunnel's bandwidth limit for this direction; null when unlimited. Reads and splices from the source are
    /// bounded by the tokens taken from it.</summary>
    public Forwarding.TokenBucket? Bucket { get; init; }

    /// <summary>The source may have bytes (or an end) to read. False at first: the pair registers both sockets
    /// (EPOLL_CTL_ADD), and epoll reports at once what is readable then, bytes that came before included; assuming them
    /// readable cost a recv that heard EAGAIN on each end of nearly every new pair.</summary>
    public bool Readable { get; set; }

    /// <summary>An event said the source hung up or failed (RDHUP, HUP, ERR): it is read until it returns its end or error.
    /// Until then a short read clears <see cref="Readable"/> (see <see cref="Run"/>).</summary>
    public bool SourceHungUp { get; set; }

    /// <summary>The destination may have room.</summary>
    public bool Writable { get; set; } = true;

    /// <summary>The source sent its end (a FIN: read returned 0).</summary>
    public bool SourceEnded { get; private set; }

    /// <summary>The end was passed on: the destination got a FIN.</summary>
    public bool FinSent { get; set; }

    /// <summary>Bytes moved with splice.</summary>
    public long Spliced { get; private set; }

    /// <summary>A splice was wanted but the flow copied instead (no pipe, or a socket splice refused).</summary>
    public bool FellBack { get; private set; }

    /// <summary>The errno of the failure when a pass returned <see cref="FlowStep.Failed"/>.</summary>
    public int Error { get; private set; }

    /// <summary>Moves what can be moved now, up to <paramref name="budget"/> bytes (a turn may overshoot by one read).</summary>
    public FlowStep Run(SocketPair pair, EventLoop loop, ref int budget)
    {
        while (true)
        {
            if (_length > 0)
            {
                if (!Writable) return FlowStep.Wait;
                nint sent;
                fixed (byte* p = _buffer) sent = Interop.Send(To, p + _offset, (nuint)_length, Interop.MSG_DONTWAIT | Interop.MSG_NOSIGNAL);
                if (sent < 0)
                {
                    if (SendFailed() is { } step) return step;
                    continue;
                }
                _offset += (int)sent;
                _length -= (int)sent;
                budget -= (int)sent;
                var own = Math.Min(_uncounted, (int)sent);
                _uncounted -= own;
                if (sent > own) pair.Count(this, sent - own);
                // A full read hints that more is waiting (copy keeps the buffer for it); otherwise give it back.
                if (_length == 0 && (!_lastReadFull || _streaming)) ReleaseBuffer(loop);
                continue;
            }
            if (_pipe is { Buffered: > 0 } pipe)
            {
                if (!Writable) return FlowStep.Wait;
                var sent = LinuxNative.Splice(pipe.ReadFd, 0, To, 0, (nuint)pipe.Buffered, SpliceFlags);
                if (sent <= 0)
                {
                    if (sent == 0) return Fail(Interop.EPIPE);
                    if (SendFailed() is { } step) return step;
                    continue;
                }
                pipe.Buffered -= (int)sent;
                Spliced += sent;
                budget -= (int)sent;
                pair.Count(this, sent);
                continue;
            }
            // The pipe is empty: keep it only while this burst goes on.
            if (_pipe is not null && (!Readable || SourceEnded || (_mode == ForwardingMode.Auto && !_streaming))) ReleasePipe(loop);
            if (SourceEnded) return FlowStep.Ended;
            if (!Readable)
            {
                ReturnAllowance(); // an idle connection holds no tokens that the tunnel's others could use
                return FlowStep.Wait;
            }
            if (budget <= 0) return FlowStep.Budget;
            if (Bucket is not null && _allowance <= 0 && (_allowance = Bucket.Take(SocketPair.BytesPerTurn)) == 0) return FlowStep.Throttled;
            var limit = Bucket is null ? int.MaxValue : _allowance;
            if (_streaming || (_mode == ForwardingMode.Splice && !_copyOnly))
            {
                if (_pipe is null && (_pipe = loop.Pipes.TryRent()) is null)
                {
                    CopyFromNowOn();
                    continue;
                }
                var got = LinuxNative.Splice(From, 0, _pipe.WriteFd, 0, (nuint)Math.Min(_pipe.Capacity, limit), SpliceFlags);
                if (got > 0)
                {
                    _pipe.Buffered += (int)got;
                    if (Bucket is not null) _allowance -= (int)got;
                    continue;
                }
                if (got == 0)
                {
                    SourceEnded = true;
                    continue;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == LinuxNative.EAGAIN)
                {
                    Readable = false;
                    _streaming = false;
                    continue;
                }
                if (errno == LinuxNative.EINTR) continue;
                if (errno is LinuxNative.EINVAL or LinuxNative.ENOSYS && Spliced == 0)
                {
                    // This socket pair cannot be spliced: copy it instead, before any byte moved.
                    CopyFromNowOn();
                    continue;
                }
                return Fail(errno);
            }
            var size = Math.Min(_mode == ForwardingMode.Auto && !_copyOnly ? SplicePump.SpliceThreshold : LoopBuffers.Size, limit);
            _buffer ??= loop.Buffers.Rent();
            nint read;
            fixed (byte* p = _buffer) read = Interop.Recv(From, p, (nuint)size, Interop.MSG_DONTWAIT);
            if (read > 0)
            {
                _offset = 0;
                _length = (int)read;
                if (Bucket is not null) _allowance -= (int)read;
                _lastReadFull = read == size;
                if (_lastReadFull && _mode == ForwardingMode.Auto && !_copyOnly) _streaming = true;
                // A short read emptied the socket, and with edge-triggered events whatever comes next brings a new edge: no
                // recv just to hear EAGAIN (HAProxy's raw_sock does the same). An end already announced is read for.
                if (!_lastReadFull && !SourceHungUp) Readable = false;
                continue;
            }
            if (read == 0)
            {
                SourceEnded = true;
                ReleaseBuffer(loop);
                continue;
            }
            var e = Marshal.GetLastPInvokeError();
            if (e == LinuxNative.EAGAIN)
            {
                Readable = false;
                ReleaseBuffer(loop);
                return FlowStep.Wait;
            }
            if (e != LinuxNative.EINTR) return Fail(e);
        }
    }

    /// <summary>Some of the engine's own bytes (<see cref="Prefill"/>) have not been sent yet.</summary>
    public bool PrefillPending => _uncounted > 0;

    /// <summary>Loop thread, before the first pass: bytes of the engine's own to send ahead of anything the source sends
    /// (they are not counted as traffic).</summary>
    public void Prefill(EventLoop loop, ReadOnlySpan<byte> bytes)
    {
        _buffer = loop.Buffers.Rent();
        bytes.CopyTo(_buffer);
        _offset = 0;
        _length = bytes.Length;
        _uncounted = bytes.Length;
    }

    // Shared by the two send paths: EAGAIN clears the ready bit and waits, EINTR retries (null), anything else fails.
    private FlowStep? SendFailed()
    {
        var errno = Marshal.GetLastPInvokeError();
        if (errno == LinuxNative.EAGAIN)
        {
            Writable = false;
            return FlowStep.Wait;
        }
        return errno == LinuxNative.EINTR ? null : Fail(errno);
    }

    private FlowStep Fail(int errno)
    {
        Error = errno;
        return FlowStep.Failed;
    }

    private void CopyFromNowOn()
    {
        _copyOnly = true;
        _streaming = false;
        FellBack = true;
    }

    private void ReleaseBuffer(EventLoop loop)
    {
        if (_buffer is null) return;
        loop.Buffers.Return(_buffer);
        _buffer = null;
        _length = 0;
    }

    private void ReleasePipe(EventLoop loop)
    {
        if (_pipe is null) return;
        loop.Pipes.Return(_pipe);
        _pipe = null;
    }

    private void ReturnAllowance()
    {
        if (_allowance <= 0) return;
        Bucket!.Return(_allowance);
        _allowance = 0;
    }

    /// <summary>Gives back the buffer and the pipe (a pipe still holding bytes is closed, never pooled), and the tokens.</summary>
    public void Release(EventLoop loop)
    {
        ReturnAllowance();
        ReleaseBuffer(loop);
        ReleasePipe(loop);
    }
}
