namespace TunnelLite.Protocol;

/// <summary>Fixed facts of the wire protocol.</summary>
public static class ProtocolConstants
{
    /// <summary>The protocol version this build speaks. 2: mutual authentication (the client proves first, the server
    /// answers with a proof of its own) and data connections proved with a session key and a counter instead of one-time nonces.</summary>
    public const int Version = 2;

    /// <summary>Hard cap of a frame's payload, checked before anything is allocated.</summary>
    public const int MaxFrameSize = 64 * 1024;

    /// <summary>Frame header: 4-byte big-endian payload length, 1-byte <see cref="FrameType"/>.</summary>
    public const int FrameHeaderSize = 5;

    /// <summary>Every connection to the control port opens with these bytes, so that a stray client (HTTP, TLS) gets a clear error.</summary>
    public static ReadOnlySpan<byte> Preamble => "TNLT"u8;

    /// <summary>Size of nonces and session ids in bytes.</summary>
    public const int NonceSize = 32;
}
