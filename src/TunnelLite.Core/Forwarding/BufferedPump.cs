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
    public Task RunAsync(Socket user, Socket service, TrafficCounters counters, CancellationToken cancellationToken)
    {
        counters.Forwarded(ForwardingMode.Copy, fellBack: false);
        return RunCoreAsync(user, service, counters, fellBack: false, cancellationToken);
    }

    /// <summary>Runs without counting the mode; used by other pumps when they fall back to copying.</summary>
    internal static async Task RunCoreAsync(Socket user, Socket service, TrafficCounters counters, bool fellBack, CancellationToken cancellationToken)
    {
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var up = CopyAsync(user, service, counters.AddIn, abort);
        var down = CopyAsync(service, user, counters.AddOut, abort);
        await Task.WhenAll(up, down).ConfigureAwait(false);
        user.Dispose();
        service.Dispose();
    }

    private static async Task CopyAsync(Socket from, Socket to, Action<long> count, CancellationTokenSource abort)
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
                var n = await from.ReceiveAsync(buffer.AsMemory(0, BufferSize), SocketFlags.None, token).ConfigureAwait(false);
                if (n == 0)
                {
                    SocketClose.ShutdownSend(to);
                    return;
                }
                var sent = 0;
                while (sent < n)
                    sent += await to.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None, token).ConfigureAwait(false);
                count(n);
                if (from.Available == 0)
                {
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
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
