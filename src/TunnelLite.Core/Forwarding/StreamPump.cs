using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using TunnelLite.Statistics;

namespace TunnelLite.Forwarding;

/// <summary>The pump for connections that must be read and written through a stream rather than the socket: TLS data
/// connections, whose bytes are decrypted in user space, so that splice(2) cannot apply. It copies through pooled
/// buffers like <see cref="BufferedPump"/>, waits with zero-byte reads so that an idle connection holds no buffer,
/// and keeps its half-close and reset semantics: the end of a direction is sent as a FIN, on a TLS side too; a reset or
/// error resets both sockets.
/// <para>No close_notify goes before that FIN. On Linux, SslStream.ShutdownAsync makes a bidirectional shutdown: a second
/// SSL_shutdown reads for the peer's close_notify, and if the peer's application data is already waiting (the other
/// direction still flows, which is what a half-close is for), OpenSSL fails the whole connection with "application data
/// after close notify", and the user is reset mid-transfer. The peer's SslStream reads the FIN as the end of the stream.
/// An on-path attacker who could forge that FIN could as well reset the connection, and the user's own leg is plain TCP.</para></summary>
public sealed class StreamPump : IForwardingPump
{
    /// <summary>The shared instance; the pump holds no state of its own.</summary>
    public static StreamPump Instance { get; } = new();

    /// <inheritdoc />
    public ForwardingMode Mode => ForwardingMode.Copy;

    /// <inheritdoc />
    public Task RunAsync(Socket user, Socket service, TrafficCounters counters, CancellationToken cancellationToken) =>
        RunAsync(user, null, service, null, counters, cancellationToken);

    /// <summary>Runs the pump between two sockets, each read and written through its stream when one is given (a TLS
    /// stream over that socket) or directly otherwise. Takes ownership of sockets and streams; completes when both are closed.</summary>
    public async Task RunAsync(Socket user, Stream? userStream, Socket service, Stream? serviceStream, TrafficCounters counters, CancellationToken cancellationToken)
    {
        counters.Forwarded(ForwardingMode.Copy, fellBack: false);
        SocketClose.ResetIfAbandoned(user);
        SocketClose.ResetIfAbandoned(service);
        userStream ??= new NetworkStream(user, ownsSocket: false);
        serviceStream ??= new NetworkStream(service, ownsSocket: false);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ends = new StreamEnds();
        var up = CopyAsync(user, userStream, service, serviceStream, counters.AddIn, counters.Shaper?.In, ends, abort);
        var down = CopyAsync(service, serviceStream, user, userStream, counters.AddOut, counters.Shaper?.Out, ends, abort);
        var failed = await up.ConfigureAwait(false) | await down.ConfigureAwait(false);
        await DisposeQuietlyAsync(userStream).ConfigureAwait(false);
        await DisposeQuietlyAsync(serviceStream).ConfigureAwait(false);
        SocketClose.EndPumped(user, service, failed, counters);
    }

    /// <summary>Copies one direction until its end, passed on as a FIN (false), or until one side fails or the pump is
    /// cancelled: then both sockets are reset (true).</summary>
    private static async Task<bool> CopyAsync(Socket fromSocket, Stream from, Socket toSocket, Stream to, Action<long> count, TokenBucket? bucket, StreamEnds ends, CancellationTokenSource abort)
    {
        var token = abort.Token;
        byte[]? buffer = null;
        try
        {
            while (true)
            {
                if (buffer is null)
                {
                    // Wait for data without holding memory (SslStream passes a zero-byte read through when it has nothing buffered).
                    await from.ReadAsync(Memory<byte>.Empty, token).ConfigureAwait(false);
                    buffer = ArrayPool<byte>.Shared.Rent(BufferedPump.BufferSize);
                }
                // Limited: read no more than the tokens taken (waiting for them on a timer), and give back what was not read.
                var size = bucket is null ? BufferedPump.BufferSize : await bucket.TakeAsync(BufferedPump.BufferSize, token).ConfigureAwait(false);
                var n = await from.ReadAsync(buffer.AsMemory(0, size), token).ConfigureAwait(false);
                bucket?.Return(size - n);
                if (n == 0)
                {
                    if (!ends.TryPassOn(fromSocket, toSocket)) throw new SocketException((int)SocketError.ConnectionReset);
                    return false;
                }
                await to.WriteAsync(buffer.AsMemory(0, n), token).ConfigureAwait(false);
                count(n);
                if (n < size)
                {
                    // Drained for now: an idle connection holds no buffer.
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException
                                       or System.Security.Authentication.AuthenticationException)
        {
            // One side failed or we were cancelled: reset both so that each peer learns the connection broke.
            // (InvalidOperationException: SslStream refuses a write once the other direction has failed it; an
            // AuthenticationException: OpenSSL failed the TLS session itself.)
            abort.Cancel();
            SocketClose.Reset(fromSocket);
            SocketClose.Reset(toSocket);
            return true;
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async ValueTask DisposeQuietlyAsync(Stream s)
    {
        try { await s.DisposeAsync().ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { /* the socket is gone already */ }
    }
}
