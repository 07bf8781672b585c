using TunnelLite.Config;
using TunnelLite.Protocol;

namespace TunnelLite.Server;

/// <summary>Every token a server accepts, current and previous, shared and per account: made once from the options and
/// never changed, so that a new set (a reloaded configuration) can replace it as a whole.</summary>
internal sealed class CredentialSet
{
    private readonly Credential[] _all;
    private readonly Dictionary<string, ClientAccount> _accounts;

    private CredentialSet(Credential[] all, Dictionary<string, ClientAccount> accounts)
    {
        _all = all;
        _accounts = accounts;
    }

    /// <summary>The credentials of validated <paramref name="options"/>.</summary>
    public static CredentialSet From(TunnelServerOptions options)
    {
        var all = new List<Credential>();
        if (!options.Token.IsEmpty) all.Add(new Credential(options.Token, null, TokenKind.Current, null));
        if (!options.PreviousToken.IsEmpty) all.Add(new Credential(options.PreviousToken, null, TokenKind.Previous, options.PreviousTokenExpires));
        foreach (var c in options.Clients)
        {
            all.Add(new Credential(c.Token, c, TokenKind.Current, null));
            if (!c.PreviousToken.IsEmpty) all.Add(new Credential(c.PreviousToken, c, TokenKind.Previous, c.PreviousTokenExpires));
        }
        return new CredentialSet(all.ToArray(), options.Clients.ToDictionary(c => c.Name, StringComparer.Ordinal));
    }

    /// <summary>Every credential, shared first.</summary>
    public IReadOnlyList<Credential> All => _all;

    /// <summary>The account of that name, or null when <paramref name="name"/> names none.</summary>
    public ClientAccount? Account(string? name) => name is not null && _accounts.TryGetValue(name, out var a) ? a : null;

    /// <summary>Which credential a login proof was made with. A hello that names a known account (<paramref name="account"/>)
    /// is checked against that account's tokens only; any other, named or not, against the shared tokens and every
    /// account's. Every candidate is checked, each in constant time, so the time taken does not tell which one matched,
    /// nor whether it had expired. Returns the match, or null with the expired credential the proof was made with, if any
    /// (for the operator's log: a client still on a token that is no longer accepted).</summary>
    public (Credential? Match, Credential? Expired) Identify(ClientAccount? account, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce,
        ReadOnlySpan<byte> proof, DateTimeOffset now)
    {
        Credential? match = null, expired = null;
        foreach (var c in _all)
        {
            if (account is not null && c.Account != account) continue;
            if (!TokenProof.Matches(TokenProof.ForClient(c.Token, clientNonce, serverNonce), proof)) continue;
            if (c.HasExpired(now)) expired ??= c;
            else match ??= c;
        }
        return (match, match is null ? expired : null);
    }

    /// <summary>This set's credential for the same token as <paramref name="other"/> (of another set: the configuration
    /// before a reload), of the same account by name, or the shared one; null when this set no longer accepts that token
    /// from that account. Its kind and expiry are this set's: a current token that became the previous one expires now.</summary>
    public Credential? Equivalent(Credential other)
    {
        foreach (var c in _all)
            if (string.Equals(c.Account?.Name, other.Account?.Name, StringComparison.Ordinal) && c.Token.SameAs(other.Token)) return c;
        return null;
    }

    /// <summary>The earliest expiry after <paramref name="now"/>, or null when no token accepted now expires.</summary>
    public DateTimeOffset? NextExpiry(DateTimeOffset now)
    {
        DateTimeOffset? next = null;
        foreach (var c in _all)
            if (c.Expires is { } e && e > now && (next is null || e < next)) next = e;
        return next;
    }
}
