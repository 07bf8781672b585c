using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using TunnelLite.Statistics;

namespace TunnelLite.Forwarding;

/// <summary>The zero-copy pump for Linux: per direction, socket → pipe → socket with splice(2), so the bytes of a stream
/// never enter user space. No thread is held: it waits for readability with a zero-byte receive in the runtime's socket
/// engine, and when the destination is full it moves the head of the pipe through a small pooled buffer with an awaited
/// send, which waits for writability in the runtime too. In <see cref="Auto"/> form it splices only bursts that stream
/// (a receive of <see cref="SpliceThreshold"/> bytes comes back full) and copies small ones, which are cheaper with one recv and one send.
/// It falls back to copying for a connection when no pipe can be had, or when splice fails with EINVAL/ENOSYS before any
/// byte moved; both are counted.</summary>
public sealed class SplicePump : IForwardingPump
{
    /// <summary>In <see cref="Auto"/>, a burst is first received into a buffer of this size; when it comes back full, the bytes
    /// stream and the rest of the burst is spliced.</summary>
    public const int SpliceThreshold = 16 * 1024;

    /// <summary>Requested pipe size (F_SETPIPE_SZ); the kernel may grant less.</summary>
    public const int PipeSize = 256 * 1024;

    private const int HeadBufferSize = 16 * 1024;
    private const uint Flags = LinuxNative.SPLICE_F_MOVE | LinuxNative.SPLICE_F_NONBLOCK;
    private static readonly Lazy<bool> Supported = new(Probe);
    private static readonly SplicePipePool SharedPipes = new(maxPipes: 1024, maxIdle: 64, PipeSize);

    private readonly bool _always;
    private readonly SplicePipePool _pipes;

    internal SplicePump(bool always, SplicePipePool pipes)
    {
        _always = always;
        _pipes = pipes;
    }

    /// <summary>Splices every burst.</summary>
    public static SplicePump Always { get; } = new(true, SharedPipes);

    /// <summary>Splices bursts that stream, copies small ones.</summary>
    public static SplicePump Auto { get; } = new(false, SharedPipes);

    /// <summary>True on Linux when pipes can be made (splice(2) exists since Linux 2.6.17).</summary>
    public static bool IsSupported => Supported.Value;

    /// <summary><see cref="ForwardingMode.Splice"/> for <see cref="Always"/>, <see cref="ForwardingMode.Auto"/> for <see cref="Auto"/>.</summary>
    public ForwardingMode Mode => _always ? ForwardingMode.Splice : ForwardingMode.Auto;

    /// <summary>Pipes that exist now in the shared pool (for tests and diagnostics).</summary>
    internal static int SharedPipeCount => SharedPipes.Total;

    /// <inheritdoc />
    public async Task RunAsync(Socket user, Socket service, TrafficCounters counters, CancellationToken cancellationToken)
    {
        var userHandle = user.SafeHandle;
        var serviceHandle = service.SafeHandle;
        bool userRef = false, serviceRef = false;
        try
        {
            // Hold the descriptors open while we pass their numbers to splice: a concurrent Dispose must not let the
            // number be reused by another connection under our feet.
            userHandle.DangerousAddRef(ref userRef);
            serviceHandle.DangerousAddRef(ref serviceRef);
            user.Blocking = false;
            service.Blocking = false;
            SocketClose.ResetIfAbandoned(user);
            SocketClose.ResetIfAbandoned(service);
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            if (userRef) userHandle.DangerousRelease();
            if (serviceRef) serviceHandle.DangerousRelease();
            SocketClose.Reset(user);
            SocketClose.Reset(service);
            return;
        }
        var userFd = (int)userHandle.DangerousGetHandle();
        var serviceFd = (int)serviceHandle.DangerousGetHandle();
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ends = new StreamEnds();
        var up = new Direction(this, user, userFd, service, serviceFd, counters.AddIn, ends, abort) { Bucket = counters.Shaper?.In };
        var down = new Direction(this, service, serviceFd, user, userFd, counters.AddOut, ends, abort) { Bucket = counters.Shaper?.Out };
        try
        {
            await Task.WhenAll(up.RunAsync(), down.RunAsync()).ConfigureAwait(false);
        }
        finally
        {
            // Only now may the sockets close: Socket.Dispose waits (spinning) until every reference to the handle is
            // released, so disposing inside a direction while we hold ours would never return.
            userHandle.DangerousRelease();
            serviceHandle.DangerousRelease();
            // As in the buffered pump: when one side failed, both peers learn the connection broke.
            SocketClose.EndPumped(user, service, up.Failed || down.Failed, counters);
            var spliced = up.SplicedBytes + down.SplicedBytes > 0;
            counters.Forwarded(spliced ? ForwardingMode.Splice : ForwardingMode.Copy, up.FellBack || down.FellBack);
        }
    }

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            using var p = SplicePipe.TryCreate(4096);
            return p is not null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or IOException)
        {
            return false;
        }
    }

    /// <summary>One direction of one connection.</summary>
    private sealed class Direction
    {
        private readonly SplicePump _pump;
        private readonly Socket _from;
        private readonly int _fromFd;
        private readonly Socket _to;
        private readonly int _toFd;
        private readonly Action<long> _count;
        private readonly StreamEnds _ends;
        private readonly CancellationTokenSource _abort;
        private bool _copyOnly;

        /// <summary>The tunnel's bandwidth limit for this direction; null when unlimited.</summary>
        public TokenBucket? Bucket { get; init; }

        public Direction(SplicePump pump, Socket from, int fromFd, Socket to, int toFd, Action<long> count, StreamEnds ends, CancellationTokenSource abort)
        {
            _pump = pump;
            _from = from;
            _fromFd = fromFd;
            _to = to;
            _toFd = toFd;
            _count = count;
            _ends = ends;
            _abort = abort;
        }

        public long SplicedBytes { get; private set; }
        public bool FellBack { get; private set; }
        public bool Failed { get; private set; }

        public async Task RunAsync()
        {
            var token = _abort.Token;
            byte[]? buffer = null;
            try
            {
                while (true)
                {
                    await _from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, token).ConfigureAwait(false);
                    bool ended;
                    if (_pump._always && !_copyOnly)
                    {
                        ended = await SpliceWithPooledPipeAsync(token).ConfigureAwait(false);
                    }
                    else
                    {
                        // Auto, or copying after a fallback: one receive through a buffer. A small message ends here, with the
                        // same system calls as the buffered pump (no FIONREAD probe); a receive that fills the probe size
                        // means the bytes stream, and the rest of the burst is spliced.
                        var size = _copyOnly ? BufferedPump.BufferSize : SpliceThreshold;
                        // Limited: read no more than the tokens taken (waiting for them on a timer), give back the rest.
                        if (Bucket is not null) size = await Bucket.TakeAsync(size, token).ConfigureAwait(false);
                        buffer ??= ArrayPool<byte>.Shared.Rent(BufferedPump.BufferSize);
                        var n = await _from.ReceiveAsync(buffer.AsMemory(0, size), SocketFlags.None, token).ConfigureAwait(false);
                        Bucket?.Return(size - n);
                        ended = n == 0;
                        if (n > 0)
                        {
                            await SendAllAsync(buffer.AsMemory(0, n), token).ConfigureAwait(false);
                            _count(n);
                        }
                        if (n < size)
                        {
                            // Drained for now: an idle connection holds no buffer.
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = null;
                        }
                        else if (!_copyOnly)
                        {
                            ended = await SpliceWithPooledPipeAsync(token).ConfigureAwait(false);
                        }
                    }
                    if (ended)
                    {
                        // A reset can look like an end here too (see StreamEnds): then fail instead of passing a FIN on.
                        if (!_ends.TryPassOn(_from, _to)) throw new SocketException((int)SocketError.ConnectionReset);
                        return;
                    }
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException)
            {
                // Stop the other direction; RunAsync resets both sockets once it has released its handle references.
                Failed = true;
                _abort.Cancel();
            }
            finally
            {
                if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        /// <summary>Splices one burst through a pipe from the pool; when none can be had, this connection copies from now on
        /// and says so in the counters. True at end of stream.</summary>
        private async Task<bool> SpliceWithPooledPipeAsync(CancellationToken token)
        {
            var pipe = _pump._pipes.TryRent();
            if (pipe is null)
            {
                _copyOnly = true;
                FellBack = true;
                return false;
            }
            try
            {
                return await SpliceBurstAsync(pipe, token).ConfigureAwait(false);
            }
            finally
            {
                _pump._pipes.Return(pipe);
            }
        }

        /// <summary>Splices until the source has nothing more for now (EAGAIN) or ends; true at end of stream.
        /// The pipe is empty again when this returns normally.</summary>
        private async Task<bool> SpliceBurstAsync(SplicePipe pipe, CancellationToken token)
        {
            while (true)
            {
                // Limited: splice no more than the tokens taken (waiting for them on a timer), give back the rest.
                var room = pipe.Capacity - pipe.Buffered;
                var allowed = Bucket is null ? room : await Bucket.TakeAsync(room, token).ConfigureAwait(false);
                var got = LinuxNative.Splice(_fromFd, 0, pipe.WriteFd, 0, (nuint)allowed, Flags);
                Bucket?.Return(allowed - (int)Math.Max(got, 0));
                var sourceDry = false;
                var eof = false;
                if (got > 0)
                {
                    pipe.Buffered += (int)got;
                }
                else if (got == 0)
                {
                    eof = true;
                }
                else
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == LinuxNative.EAGAIN) sourceDry = true;
                    else if (errno == LinuxNative.EINTR) continue;
                    else if (errno is LinuxNative.EINVAL or LinuxNative.ENOSYS && SplicedBytes == 0 && pipe.Buffered == 0)
                    {
                        // This socket pair cannot be spliced: copy it instead, before any byte moved.
                        _copyOnly = true;
                        FellBack = true;
                        return false;
                    }
                    else throw new SocketException(errno);
                }
                await DrainAsync(pipe, token).ConfigureAwait(false);
                if (eof) return true;
                if (sourceDry) return false;
            }
        }

        /// <summary>Empties the pipe into the destination; when the destination is full, sends the head of the pipe through a
        /// small buffer with an awaited send, which waits for writability without holding a thread or spinning.</summary>
        private async Task DrainAsync(SplicePipe pipe, CancellationToken token)
        {
            byte[]? head = null;
            try
            {
                while (pipe.Buffered > 0)
                {
                    var sent = LinuxNative.Splice(pipe.ReadFd, 0, _toFd, 0, (nuint)pipe.Buffered, Flags);
                    if (sent > 0)
                    {
                        pipe.Buffered -= (int)sent;
                        SplicedBytes += sent;
                        _count(sent);
                        continue;
                    }
                    var errno = Marshal.GetLastPInvokeError();
                    if (sent == 0 || errno == LinuxNative.EINTR) continue;
                    if (errno != LinuxNative.EAGAIN) throw new SocketException(errno);
                    head ??= ArrayPool<byte>.Shared.Rent(HeadBufferSize);
                    var n = ReadHead(pipe, head);
                    await SendAllAsync(head.AsMemory(0, n), token).ConfigureAwait(false);
                    _count(n);
                }
            }
            finally
            {
                if (head is not null) ArrayPool<byte>.Shared.Return(head);
            }
        }

        private static unsafe int ReadHead(SplicePipe pipe, byte[] head)
        {
            fixed (byte* p = head)
            {
                var n = LinuxNative.Read(pipe.ReadFd, p, (nuint)Math.Min(head.Length, pipe.Buffered));
                if (n <= 0) throw new IOException($"Reading the splice pipe failed (errno {Marshal.GetLastPInvokeError()}).");
                pipe.Buffered -= (int)n;
                return (int)n;
            }
        }

        private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data, CancellationToken token)
        {
            var sent = 0;
            while (sent < data.Length)
                sent += await _to.SendAsync(data[sent..], SocketFlags.None, token).ConfigureAwait(false);
        }
    }
}
