using System.Buffers;
using System.Buffers.Binary;

namespace TunnelLite.Protocol;

/// <summary>Encodes and decodes length-prefixed frames: [u32 big-endian payload length][u8 type][payload].
/// The length is checked against <see cref="ProtocolConstants.MaxFrameSize"/> before any payload buffer is allocated.</summary>
public static class FrameCodec
{
    /// <summary>Encodes one frame.</summary>
    /// <exception cref="ArgumentException">The payload exceeds <see cref="ProtocolConstants.MaxFrameSize"/>.</exception>
    public static byte[] Encode(FrameType type, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > ProtocolConstants.MaxFrameSize)
            throw new ArgumentException($"Payload of {payload.Length} bytes exceeds the {ProtocolConstants.MaxFrameSize}-byte frame limit.", nameof(payload));
        var bytes = new byte[ProtocolConstants.FrameHeaderSize + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)payload.Length);
        bytes[4] = (byte)type;
        payload.CopyTo(bytes.AsSpan(ProtocolConstants.FrameHeaderSize));
        return bytes;
    }

    /// <summary>Validates a frame header and returns the payload length it announces.</summary>
    /// <exception cref="ProtocolException">Unknown type or a length over the limit.</exception>
    public static int ParseHeader(ReadOnlySpan<byte> header, out FrameType type)
    {
        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        var raw = header[4];
        if (!Enum.IsDefined(typeof(FrameType), raw))
            throw new ProtocolException($"Unknown frame type {raw}.");
        if (length > ProtocolConstants.MaxFrameSize)
            throw new ProtocolException($"Frame of {length} bytes exceeds the {ProtocolConstants.MaxFrameSize}-byte limit.");
        type = (FrameType)raw;
        return (int)length;
    }

    /// <summary>Decodes one frame from the start of <paramref name="buffer"/> if it is complete.</summary>
    /// <returns><see cref="OperationStatus.Done"/> with the frame and the bytes it used, or <see cref="OperationStatus.NeedMoreData"/>.</returns>
    /// <exception cref="ProtocolException">The header is invalid.</exception>
    public static OperationStatus TryDecode(ReadOnlySpan<byte> buffer, out Frame frame, out int consumed)
    {
        frame = default;
        consumed = 0;
        if (buffer.Length < ProtocolConstants.FrameHeaderSize) return OperationStatus.NeedMoreData;
        var length = ParseHeader(buffer, out var type);
        if (buffer.Length - ProtocolConstants.FrameHeaderSize < length) return OperationStatus.NeedMoreData;
        frame = new Frame(type, buffer.Slice(ProtocolConstants.FrameHeaderSize, length).ToArray());
        consumed = ProtocolConstants.FrameHeaderSize + length;
        return OperationStatus.Done;
    }

    /// <summary>Reads exactly one frame and not a byte more, so that raw bytes after it stay in the socket for the pump.</summary>
    /// <returns>The frame, or null when the peer closed cleanly before a frame began.</returns>
    /// <exception cref="ProtocolException">Invalid header or the stream ended inside a frame.</exception>
    public static async ValueTask<Frame?> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[ProtocolConstants.FrameHeaderSize];
        var got = await stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got == 0) return null;
        if (got < header.Length) throw new ProtocolException("The connection ended inside a frame header.");
        return await ReadAfterHeaderAsync(stream, header, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the payload of the frame whose <paramref name="header"/> has been read already.</summary>
    /// <exception cref="ProtocolException">Invalid header or the stream ended inside the frame.</exception>
    internal static async ValueTask<Frame> ReadAfterHeaderAsync(Stream stream, byte[] header, CancellationToken cancellationToken)
    {
        var length = ParseHeader(header, out var type);
        if (length == 0) return new Frame(type, ReadOnlyMemory<byte>.Empty);
        var payload = new byte[length];
        var got = await stream.ReadAtLeastAsync(payload, length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got < length) throw new ProtocolException($"The connection ended inside a frame ({got} of {length} bytes).");
        return new Frame(type, payload);
    }

    /// <summary>True when <paramref name="header"/> (5 bytes) opens a frame of type <paramref name="a"/> or <paramref name="b"/>
    /// within the size limit: how a client tells the answer of a TunnelLite server from the first bytes of another program.</summary>
    internal static bool IsHeaderOf(ReadOnlySpan<byte> header, FrameType a, FrameType b) =>
        header.Length >= ProtocolConstants.FrameHeaderSize
        && (header[4] == (byte)a || header[4] == (byte)b)
        && BinaryPrimitives.ReadUInt32BigEndian(header) <= ProtocolConstants.MaxFrameSize;

    /// <summary>Reads and checks the 4-byte preamble that opens every connection to the control port.</summary>
    /// <exception cref="ProtocolException">The peer is not a TunnelLite client; the message says what it looks like.</exception>
    public static async ValueTask ReadPreambleAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buf = new byte[ProtocolConstants.Preamble.Length];
        var got = await stream.ReadAtLeastAsync(buf, buf.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got == buf.Length && buf.AsSpan().SequenceEqual(ProtocolConstants.Preamble)) return;
        throw new ProtocolException(DescribeForeignPreamble(buf.AsSpan(0, got)));
    }

    /// <summary>Explains bytes that are not the TunnelLite preamble.</summary>
    internal static string DescribeForeignPreamble(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return "The peer closed the connection before it said anything.";
        if (bytes[0] == 0x16) return "The peer started a TLS handshake, but this server does not use TLS: start it with -Tls (transport.tls.enable), or connect without TLS.";
        if (bytes.Length >= 3 && (bytes.StartsWith("GET"u8) || bytes.StartsWith("POS"u8) || bytes.StartsWith("HEA"u8) || bytes.StartsWith("PUT"u8)))
            return "The peer sent an HTTP request; this is a TunnelLite control port, not a web server.";
        return "The peer is not a TunnelLite endpoint (bad preamble).";
    }
}
