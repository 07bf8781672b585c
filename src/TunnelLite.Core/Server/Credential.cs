using TunnelLite.Config;
using TunnelLite.Security;

namespace TunnelLite.Server;

/// <summary>One token the server accepts: the shared token (no <see cref="Account"/>) or an account's, current or previous.
/// A previous token <see cref="Expires"/>: from then on it is refused like a wrong one, and the sessions that proved it end.</summary>
internal sealed record Credential(Secret Token, ClientAccount? Account, TokenKind Kind, DateTimeOffset? Expires)
{
    /// <summary>True once this token is no longer accepted.</summary>
    public bool HasExpired(DateTimeOffset now) => Expires is { } e && now >= e;

    /// <summary>Which token this is, for logs and messages ("its previous token (accepted until ...)"); never the value.</summary>
    public string Describe() => (Account, Kind) switch
    {
        (null, TokenKind.Current) => "the shared token",
        (null, _) => $"the previous shared token (auth.previousToken, accepted until {Time(Expires)})",
        (_, TokenKind.Current) => "its current token",
        _ => $"its previous token (accepted until {Time(Expires)})",
    };

    /// <summary>An RFC 3339 time in UTC, as the configuration writes it.</summary>
    public static string Time(DateTimeOffset? time) => time is { } t ? TokenRotationKeys.Show(t) : "-";
}
