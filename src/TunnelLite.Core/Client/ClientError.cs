namespace TunnelLite.Client;

/// <summary>The latest trouble a client had with its server: what failed, as the ErrorId a cmdlet would have reported
/// (CertificateMismatch, AuthenticationFailed, ServerUnreachable...), the message, and when. It prints as
/// "Code: Message", so that a table shows both.</summary>
/// <param name="Code">What failed.</param>
/// <param name="Message">For people; says what to do.</param>
/// <param name="Time">When it happened (UTC).</param>
public sealed record ClientError(TunnelErrorCode Code, string Message, DateTimeOffset Time)
{
    /// <inheritdoc />
    public override string ToString() => $"{Code}: {Message}";
}
