using System.Buffers;
using System.Net.Sockets;
using TunnelLite.Statistics;

namespace TunnelLite.Forwarding;

/// <summary>The portable pump: copies through pooled 64 KiB buffers. It waits for data with a zero-byte receive,
/// so an idle connection holds no buffer, and rents a buffer only while bytes are flowing.</summary>
public sealed class BufferedPump : IForwardingPump
{
    /// <summary>Size of the pooled buffers.</summary>
    public const int BufferSize = 64 * 1024;

    /// <summary>The shared instance; the pump holds no state of its own.</summary>
    public static BufferedPump Instance { get; } = new();

    /// <inheritdoc />
    public ForwardingMode Mode => ForwardingMode.Copy;

    /// <inheritdoc />
    public async Task RunAsync(Socket user, Socket service, TrafficCounters counters, CancellationToken cancellationToken)
    {
        counters.Forwarded(ForwardingMode.Copy, fellBack: false);
        SocketClose.ResetIfAbandoned(user);
        SocketClose.ResetIfAbandoned(service);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ends = new StreamEnds();
        var up = CopyAsync(user, service, counters.AddIn, counters.Shaper?.In, ends, abort);
        var down = CopyAsync(service, user, counters.AddOut, counters.Shaper?.Out, ends, abort);
        var failed = await up.ConfigureAwait(false) | await down.ConfigureAwait(false);
        SocketClose.EndPumped(user, service, failed, counters);
    }

    /// <summary>Copies one direction until its end, passed on as a FIN (false), or until one side fails or the pump is
    /// cancelled: then both sockets are reset (true).</summary>
    private static async Task<bool> CopyAsync(Socket from, Socket to, Action<long> count, TokenBucket? bucket, StreamEnds ends, CancellationTokenSource abort)
    {
        var token = abort.Token;
        byte[]? buffer = null;
        try
        {
            while (true)
            {
                if (buffer is null)
                {
                    // Wait for readability without holding memory.
                    await from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, token).ConfigureAwait(false);
                    buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                }
                // Limited: read no more than the tokens taken (waiting for them on a timer), and give back what was not read.
                var size = bucket is null ? BufferSize : await bucket.TakeAsync(BufferSize, token).ConfigureAwait(false);
                var n = await from.ReceiveAsync(buffer.AsMemory(0, size), SocketFlags.None, token).ConfigureAwait(false);
                bucket?.Return(size - n);
                if (n == 0)
                {
                    if (!ends.TryPassOn(from, to)) throw new SocketException((int)SocketError.ConnectionReset);
                    return false;
                }
                var sent = 0;
                while (sent < n)
                    sent += await to.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None, token).ConfigureAwait(false);
                count(n);
                if (n < size)
                {
                    // Drained for now (a full buffer means more is likely waiting): an idle connection holds no buffer.
                    // Judged from the receive rather than FIONREAD, to save a system call per message.
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // One side failed or we were cancelled: reset both so that each peer learns the connection broke.
            abort.Cancel();
            SocketClose.Reset(from);
            SocketClose.Reset(to);
            return true;
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>Passes the end of one direction of a connection on as a FIN, unless that end was a reset in disguise; shared
/// by the two directions of one connection.
/// Linux reports a socket's error once: when the peer resets, the direction sending to that socket may take the
/// ECONNRESET, and the direction reading from it then finds only a closed receive side, so its read (or splice) returns
/// 0 like a clean end. Passing that on as a FIN would tell the other peer the stream ended completely before it is reset,
/// and a peer that only reads takes the truncated stream for a whole one.</summary>
internal sealed class StreamEnds
{
    private readonly object _gate = new();
    private Socket? _finSentOn;

    /// <summary>Called when <paramref name="from"/> reached end of stream: sends a FIN on <paramref name="to"/> and returns
    /// true, or returns false, sending nothing, when <paramref name="from"/> was in fact reset (the caller fails the connection).</summary>
    public bool TryPassOn(Socket from, Socket to)
    {
        lock (_gate)
        {
            // An empty send succeeds on a connection the peer has only half-closed (CLOSE_WAIT) and fails on one it
            // reset. It proves nothing once this side has sent its own FIN on `from`; but then the other direction has
            // ended, nothing else touches `from`, and a reset would have failed the read itself. The lock keeps the other
            // direction from sending that FIN between the check and the probe.
            if (!ReferenceEquals(_finSentOn, from) && !AcceptsSend(from)) return false;
            _finSentOn = to;
        }
        SocketClose.ShutdownSend(to);
        return true;
    }

    private static bool AcceptsSend(Socket s)
    {
        try
        {
            s.Send(ReadOnlySpan<byte>.Empty, SocketFlags.None, out var error);
            return error == SocketError.Success;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }
}
