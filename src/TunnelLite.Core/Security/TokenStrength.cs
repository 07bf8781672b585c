using System.Globalization;
using System.Security.Cryptography;
using TunnelLite.Config;

namespace TunnelLite.Security;

/// <summary>Estimates how random a token is, says whether it is weak, and makes strong ones.</summary>
/// <remarks>A login proves the token with an HMAC-SHA256 over a nonce. Without TLS, whoever sees one login (the nonce and the
/// proof) can test guesses against it offline, as fast as their hardware allows and out of reach of the server's throttle:
/// then the token's own randomness is the only defence, and 128 bits is the least that stays out of reach. The estimate
/// is a heuristic from the characters alone and errs low for what tools make (hex, base64) and for patterns; it cannot
/// know how a token was made, so "strong" is no proof (a long phrase of words is rated by its characters, not its words),
/// but "weak" is a warning worth acting on.</remarks>
public static class TokenStrength
{
    /// <summary>A token with less estimated randomness than this, in bits, is weak.</summary>
    public const int MinimumBits = 128;

    /// <summary>The randomness of <see cref="NewToken"/> unless asked otherwise, in bits.</summary>
    public const int DefaultBits = 256;

    /// <summary>The most randomness <see cref="NewToken"/> makes, in bits.</summary>
    public const int MaximumBits = 1024;

    // Runs and repeats shorter than this are left alone: random tokens have short ones by chance, and a 32-digit hex token,
    // exactly 128 bits, must not lose a bit to them. About one random 32-digit hex token in 10,000 has one this long.
    private const int PatternLength = 6;

    // Fewer distinct characters than this, some of them repeated, caps each character at log2(distinct) bits. Random
    // tokens of 128 bits or more (even 39 decimal digits) practically always show more.
    private const int FewDistinct = 8;

    // Only the start of a very long token is examined, so that the pattern search (cubic in the length at worst) stays
    // cheap; 256 characters carry far more than 128 bits unless they are a pattern, which the start shows too.
    private const int MaxExamined = 256;

    // Example values from documentation (ours and everyone's) and first guesses: whoever attacks a token tries these first.
    private static readonly HashSet<string> WellKnown = new(StringComparer.OrdinalIgnoreCase)
    {
        "change-me", "changeme", "change_me", "change me", "changeit", "replace-me", "replaceme",
        "secret", "password", "passw0rd", "token", "test", "testing", "admin", "root", "default", "example", "demo",
        "12345678", "123456789", "1234567890", "123456", "qwerty", "letmein", "frp", "tunnel", "tunnellite",
        "mysecret", "my-secret", "mytoken", "my-token", "your-token", "your-secret", "secret-token", "secrettoken",
        "correct horse battery staple",
        // Values in TunnelLite's README, examples/*.toml and docs/, past and present.
        "change-me-to-a-long-random-secret", "a-long-random-secret", "another-long-random-secret", "test-only-secret",
        "1xzw8OAFsX-TzDJoZZyHpObvtcbkskx_zt7AIxLPPWs", "kEWEkO_mrSPWDMKKk4mi3E9fF5P-T2n2iuOTe6t6VHY", "FVw3Xaxqi2ob0rIzdePX0A",
    };

    // A token that still starts like a placeholder was copied, not made.
    private static readonly string[] PlaceholderPrefixes = { "change-me", "changeme", "change_me" };

    /// <summary>Estimates the randomness of <paramref name="token"/> and says whether it is weak.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="token"/> is null.</exception>
    public static TokenAssessment Assess(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Length == 0) return new TokenAssessment(0, true, "it is empty");
        if (IsWellKnown(token)) return new TokenAssessment(0, true, "it is a well-known example value");
        var (bits, cause) = Estimate(token);
        if (bits >= MinimumBits) return new TokenAssessment(bits, false, null);
        var about = Math.Floor(bits).ToString("0", CultureInfo.InvariantCulture);
        return new TokenAssessment(bits, true, $"it has about {about} bits of randomness, under {MinimumBits}, because {cause}");
    }

    /// <summary>A new random token: <paramref name="bits"/> bits from <see cref="RandomNumberGenerator"/>, as base64url
    /// without padding (43 characters for 256 bits, 22 for 128), so it fits a TOML string and a command line unquoted.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is not a multiple of 8 from 128 to 1024.</exception>
    public static string NewToken(int bits = DefaultBits)
    {
        if (bits < MinimumBits || bits > MaximumBits || bits % 8 != 0)
            throw new ArgumentOutOfRangeException(nameof(bits), bits, $"A token has a multiple of 8 bits from {MinimumBits} to {MaximumBits}.");
        var bytes = new byte[bits / 8];
        try
        {
            while (true)
            {
                RandomNumberGenerator.Fill(bytes);
                var token = Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
                // A made token must never draw the weak-token warning, yet about one 128-bit draw in 100,000 looks weak to
                // Assess (22 characters without an upper-case letter, say). Drawing again costs far less than a bit.
                if (!Assess(token).IsWeak) return token;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>The warning to log when <paramref name="token"/> is weak, or null when it is not. <paramref name="whose"/>
    /// names the token ("The shared token (auth.token)"); the warning never contains the token or any part of it.</summary>
    public static string? WarningFor(Secret token, string whose)
    {
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(whose);
        var assessment = Assess(token.Reveal());
        return assessment.IsWeak
            ? $"{whose} is weak: {assessment.Reason}. Without TLS an on-path observer who sees a login can test guesses against it offline; use New-TunnelToken for a strong one."
            : null;
    }

    /// <summary>One warning per weak token of a server: the shared token (when there is one) and each client account's,
    /// naming the account; and each previous token still accepted (a rotation's), which opens tunnels until it expires.</summary>
    public static IEnumerable<string> WarningsFor(TunnelServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var now = DateTimeOffset.UtcNow;
        if (!options.Token.IsEmpty && WarningFor(options.Token, "The shared token (auth.token, -Token)") is { } shared)
            yield return shared;
        if (!options.PreviousToken.IsEmpty && options.PreviousTokenExpires > now
            && WarningFor(options.PreviousToken, "The previous shared token (auth.previousToken)") is { } sharedPrevious)
            yield return sharedPrevious;
        foreach (var client in options.Clients)
        {
            if (WarningFor(client.Token, $"The token of client '{client.Name}' ([[clients]])") is { } own)
                yield return own;
            if (!client.PreviousToken.IsEmpty && client.PreviousTokenExpires > now
                && WarningFor(client.PreviousToken, $"The previous token of client '{client.Name}' ([[clients]] previousToken)") is { } previous)
                yield return previous;
        }
    }

    /// <summary>The warning for a client's weak token, or null when it is not weak.</summary>
    public static string? WarningFor(TunnelClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return WarningFor(options.Token, "The token (auth.token, -Token)");
    }

    private static bool IsWellKnown(string token)
    {
        var trimmed = token.Trim();
        return WellKnown.Contains(trimmed) || PlaceholderPrefixes.Any(p => trimmed.StartsWith(p, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The estimate in bits, and, for a weak token, why (a clause after "because").</summary>
    private static (double Bits, string Cause) Estimate(string token)
    {
        var (text, alphabetBits) = Alphabet(token.Length > MaxExamined ? token[..MaxExamined] : token);
        var length = text.Length;
        var perChar = alphabetBits;
        var distinct = text.Distinct().Count();
        if (distinct < FewDistinct && length > distinct) perChar = Math.Min(perChar, Math.Log2(distinct));
        var bits = Math.Min(Structured(text, perChar), length * perChar);
        // Name the first thing that pulled the estimate under the minimum.
        var cause = length * alphabetBits < MinimumBits ? "it is too short for the characters it uses"
            : length * perChar < MinimumBits ? "it uses only a few distinct characters"
            : "it repeats characters, a sequence or an earlier part of itself";
        return (bits, cause);
    }

    /// <summary>The characters that carry randomness, and the bits each one can carry by the alphabet it seems drawn from.</summary>
    private static (string Text, double BitsPerChar) Alphabet(string token)
    {
        // Hex, also with separators (a GUID, a fingerprint with colons): the separators carry nothing.
        var hex = new string(token.Where(c => c is not ('-' or ':')).ToArray());
        if (hex.Length > 0 && hex.All(char.IsAsciiHexDigit))
            return (hex, hex.All(char.IsAsciiDigit) ? Math.Log2(10) : 4);

        // Base64 or base64url (mixed case, digits, two symbols); padding carries nothing.
        var unpadded = token.TrimEnd('=');
        if (token.Length - unpadded.Length <= 2 && unpadded.Any(char.IsAsciiLetterLower) && unpadded.Any(char.IsAsciiLetterUpper)
            && (unpadded.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') || unpadded.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '/')))
            return (unpadded, 6);

        // Otherwise: the sum of the sizes of the character classes that occur.
        var size = 0;
        if (token.Any(char.IsAsciiLetterLower)) size += 26;
        if (token.Any(char.IsAsciiLetterUpper)) size += 26;
        if (token.Any(char.IsAsciiDigit)) size += 10;
        if (token.Any(c => c is >= ' ' and <= '~' && !char.IsAsciiLetterOrDigit(c))) size += 33; // printable ASCII symbols and space
        if (token.Any(c => c is < ' ' or > '~')) size += 64;                                    // letters of other scripts, and the rest
        return (token, Math.Log2(size));
    }

    /// <summary>Bits of <paramref name="text"/> when runs (aaaaaa, abcdef, 987654) and repeats of an earlier part (abcabc...)
    /// cost only what it takes to say where they start and how long they are.</summary>
    private static double Structured(string text, double perChar)
    {
        var lengthBits = Math.Log2(text.Length);
        var bits = 0.0;
        for (var i = 0; i < text.Length;)
        {
            var run = StepRunLength(text, i);
            if (run >= PatternLength)
            {
                bits += perChar + Math.Log2(3) + lengthBits; // first character, step (-1, 0 or +1), length
                i += run;
                continue;
            }
            var match = LongestEarlierMatch(text, i);
            if (match >= PatternLength)
            {
                bits += Math.Log2(i) + lengthBits; // where the earlier part starts, and the length
                i += match;
                continue;
            }
            bits += perChar;
            i++;
        }
        return bits;
    }

    /// <summary>How many characters from <paramref name="i"/> on step by the same -1, 0 or +1.</summary>
    private static int StepRunLength(string text, int i)
    {
        if (i + 1 >= text.Length) return text.Length - i;
        var step = text[i + 1] - text[i];
        if (step is < -1 or > 1) return 1;
        var end = i + 2;
        while (end < text.Length && text[end] - text[end - 1] == step) end++;
        return end - i;
    }

    /// <summary>The longest prefix of text[i..] that also starts at an earlier position (overlapping allowed).</summary>
    private static int LongestEarlierMatch(string text, int i)
    {
        var best = 0;
        for (var j = 0; j < i; j++)
        {
            var k = 0;
            while (i + k < text.Length && text[j + k] == text[i + k]) k++;
            best = Math.Max(best, k);
        }
        return best;
    }
}
