using System.Net.Sockets;

namespace TunnelLite.Protocol;

/// <summary>A socket that speaks frames: exact reads (never past the frame, so raw bytes that follow stay in the socket)
/// and serialized writes (several tasks may send on a control connection).</summary>
internal sealed class FrameConnection : IDisposable
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public FrameConnection(Socket socket)
    {
        Socket = socket;
        Stream = new NetworkStream(socket, ownsSocket: false);
    }

    /// <summary>A connection that reads and writes through <paramref name="tls"/>, a TLS stream over <paramref name="socket"/>.</summary>
    public FrameConnection(Socket socket, System.Net.Security.SslStream tls)
    {
        Socket = socket;
        Stream = tls;
        IsTls = true;
    }

    /// <summary>True when <see cref="Stream"/> is TLS: the pump must then go through the stream, not the socket.</summary>
    public bool IsTls { get; }

    /// <summary>The underlying socket; after the handshake a plain data connection's pump uses it directly.</summary>
    public Socket Socket { get; }

    /// <summary>Stream over the socket (does not own it), or the TLS stream over it.</summary>
    public Stream Stream { get; }

    /// <summary>Sends one message as a frame, optionally preceded by the connection preamble.</summary>
    public async Task SendAsync<T>(T message, CancellationToken cancellationToken, bool withPreamble = false) where T : class
    {
        var frame = withPreamble ? MessageSerializer.ToOpeningFrame(message) : MessageSerializer.ToFrame(message);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Reads one frame; null when the peer closed cleanly.</summary>
    public ValueTask<Frame?> ReadAsync(CancellationToken cancellationToken) => FrameCodec.ReadAsync(Stream, cancellationToken);

    /// <summary>Reads one frame; a clean close is a <see cref="ProtocolException"/> here because a frame was due.</summary>
    public async Task<Frame> ReadRequiredAsync(CancellationToken cancellationToken) =>
        await ReadAsync(cancellationToken).ConfigureAwait(false) ?? throw new ProtocolException("The peer closed the connection during the handshake.");

    /// <summary>Reads a frame of type <typeparamref name="T"/>; an <see cref="ErrorMessage"/> in its place becomes a <see cref="TunnelException"/> with the peer's code.</summary>
    public async Task<T> ReadExpectedAsync<T>(CancellationToken cancellationToken) where T : class
    {
        var frame = await ReadRequiredAsync(cancellationToken).ConfigureAwait(false);
        return Expect<T>(frame);
    }

    /// <summary>The message of type <typeparamref name="T"/> that <paramref name="frame"/> carries; an <see cref="ErrorMessage"/>
    /// in its place becomes a <see cref="TunnelException"/> with the peer's code.</summary>
    public static T Expect<T>(Frame frame) where T : class
    {
        if (frame.Type == FrameType.Error && typeof(T) != typeof(ErrorMessage))
        {
            var err = MessageSerializer.Read<ErrorMessage>(frame);
            // The peer's words reach the user's console and logs: no control characters, no endless text.
            throw new TunnelException(err.Code, Logging.PeerText.Escape(err.Message, 512));
        }
        return MessageSerializer.Read<T>(frame);
    }

    /// <summary>Sends an error frame if the connection still allows it; never throws.</summary>
    public async Task TrySendErrorAsync(TunnelErrorCode code, string message, CancellationToken cancellationToken)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(2));
            await SendAsync(new ErrorMessage { Code = code, Message = message }, cts.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The peer may be gone already; the error was best effort.
        }
    }

    public void Dispose()
    {
        Stream.Dispose();
        Socket.Dispose();
    }
}
