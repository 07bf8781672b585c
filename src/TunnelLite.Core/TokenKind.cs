// Users see this type in TunnelLite.TunnelClientInfo (Get-TunnelClient, /api/v1/clients), so it lives in the root namespace.
namespace TunnelLite;

/// <summary>Which of its tokens a client proved when it logged in. While a token is rotated, an account (and the shared
/// token) accepts its current token and, until its expiry, the previous one, so that clients move over one by one.</summary>
public enum TokenKind
{
    /// <summary>The current token (<c>token</c>, <c>auth.token</c>).</summary>
    Current = 0,
    /// <summary>The previous token (<c>previousToken</c>, <c>auth.previousToken</c>), accepted until its expiry; the session
    /// ends then.</summary>
    Previous,
}
