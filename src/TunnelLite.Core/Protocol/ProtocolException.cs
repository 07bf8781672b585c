namespace TunnelLite.Protocol;

/// <summary>The peer broke the wire protocol: a bad preamble, an oversized, truncated or malformed frame, or an unexpected message.
/// This is the only exception the decoder raises on peer input.</summary>
public sealed class ProtocolException : TunnelException
{
    /// <summary>Creates the exception.</summary>
    public ProtocolException(string message, Exception? innerException = null)
        : base(TunnelErrorCode.ProtocolError, message, innerException) { }
}
