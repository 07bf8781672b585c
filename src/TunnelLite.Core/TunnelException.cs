namespace TunnelLite;

/// <summary>An engine failure with a stable <see cref="TunnelErrorCode"/> and a message that says what to do next.</summary>
public class TunnelException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TunnelException(TunnelErrorCode code, string message, Exception? innerException = null)
        : base(message, innerException) => Code = code;

    /// <summary>Why it failed.</summary>
    public TunnelErrorCode Code { get; }
}
