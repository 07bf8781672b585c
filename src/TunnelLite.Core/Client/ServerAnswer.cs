using System.Globalization;
using TunnelLite.Protocol;

namespace TunnelLite.Client;

/// <summary>The server's first answer to the client's hello, read so that a server that is not TunnelLite fails the client at
/// once with a ProtocolError saying what it looks like, and a silent one within <see cref="MaxWait"/> rather than the whole
/// connect timeout. A TunnelLite server answers a hello at once, even when it refuses it (a wrong version, a throttled
/// address, TLS required): with a challenge or an error frame, and nothing else.</summary>
internal static class ServerAnswer
{
    /// <summary>The longest wait for the first answer. Generous for a TunnelLite server, whose logins take well under a
    /// second even under a flood of connections; short next to the connect timeout a silent server would cost otherwise.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);

    // After bytes that are not a frame: enough to quote a banner or a status line, read for a moment at most.
    private const int SampleSize = 256;
    private static readonly TimeSpan SampleWait = TimeSpan.FromMilliseconds(300);

    /// <summary>How long to wait for the first answer with a connect timeout of <paramref name="connectTimeout"/>.</summary>
    public static TimeSpan WaitFor(TimeSpan connectTimeout) => connectTimeout < MaxWait ? connectTimeout : MaxWait;

    /// <summary>Reads the first frame the server sends, a challenge or an error.</summary>
    /// <exception cref="ProtocolException">The server closed without answering, or answered with something that is not a
    /// TunnelLite frame; the message says what it looks like.</exception>
    public static async Task<Frame> ReadAsync(FrameConnection connection, string server, CancellationToken cancellationToken)
    {
        var header = new byte[ProtocolConstants.FrameHeaderSize];
        var got = await connection.Stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got == 0)
            throw new ProtocolException($"The server at {server} closed the connection without answering the TunnelLite hello: it is not a TunnelLite server, or one that is stopping. {ForeignAnswer.Advice}");
        if (got == header.Length && FrameCodec.IsHeaderOf(header, FrameType.Challenge, FrameType.Error))
            return await FrameCodec.ReadAfterHeaderAsync(connection.Stream, header, cancellationToken).ConfigureAwait(false);
        var sample = await SampleAsync(connection.Stream, header.AsMemory(0, got), cancellationToken).ConfigureAwait(false);
        throw new ProtocolException(ForeignAnswer.Describe(server, sample, connection.IsTls));
    }

    /// <summary>The error for a server that said nothing for <paramref name="waited"/> after the hello (or, with TLS, the
    /// ClientHello).</summary>
    public static ProtocolException NoAnswer(string server, TimeSpan waited, bool tls) =>
        new($"The server at {server} did not answer the {(tls ? "TLS handshake" : "TunnelLite hello")} within " +
            $"{waited.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s: not a TunnelLite server? A TunnelLite server answers at once, even when it refuses a client. {ForeignAnswer.Advice}");

    /// <summary><paramref name="start"/> and what follows it within a moment, up to a line end or <see cref="SampleSize"/> bytes.</summary>
    private static async Task<byte[]> SampleAsync(Stream stream, ReadOnlyMemory<byte> start, CancellationToken cancellationToken)
    {
        var buffer = new byte[SampleSize];
        start.CopyTo(buffer);
        var length = start.Length;
        using var moment = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        moment.CancelAfter(SampleWait);
        try
        {
            while (length < buffer.Length && buffer.AsSpan(0, length).IndexOf((byte)'\n') < 0)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(length), moment.Token).ConfigureAwait(false);
                if (n == 0) break;
                length += n;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // What came so far is enough to describe; the connection is closed right after anyway.
            cancellationToken.ThrowIfCancellationRequested();
        }
        return buffer[..length];
    }
}
