using System.Globalization;
using System.Text.RegularExpressions;
using Tomlyn;

namespace TunnelLite.Config;

/// <summary>
/// The keys of a token rotation with overlap, beside <c>auth.token</c> and beside each <c>[[clients]]</c> token:
/// <c>previousToken</c>, still accepted until <c>previousTokenExpires</c>, an RFC 3339 time with its offset (a TOML
/// offset date-time, <c>2026-12-31T00:00:00Z</c>, or the same in a string). Each needs the other. A time without an offset
/// is an error: whose midnight it means would depend on the server's zone. A time already past is accepted with a warning,
/// and the previous token is refused.
/// </summary>
internal static partial class TokenRotationKeys
{
    /// <summary>The previous token and its expiry as read; both null when the table has neither.</summary>
    public readonly record struct Reading(string? Token, DateTimeOffset? Expires, TomlConfigNode? TokenNode);

    private const string Example = "an RFC 3339 time with its offset, e.g. 2026-12-31T00:00:00Z or 2026-12-31T01:00:00+01:00";

    // RFC 3339's date-time: T (or t, or a space) between date and time, an optional fraction, Z (or z) or a numeric offset.
    [GeneratedRegex(@"^(?<date>\d{4}-\d{2}-\d{2})[Tt ](?<time>\d{2}:\d{2}:\d{2})(?:\.(?<fraction>\d+))?(?<offset>[Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Rfc3339();

    /// <summary>Reads <c>previousToken</c> and <c>previousTokenExpires</c> of <paramref name="table"/> (<c>[auth]</c> or a
    /// <c>[[clients]]</c> entry); a time already past adds a warning to the document's <see cref="TomlConfigDocument.Warnings"/>.</summary>
    public static Reading Read(TomlConfigTable? table)
    {
        if (table is null) return default;
        var token = table.GetString("previousToken");
        var tokenNode = table.Find("previousToken");
        var expiresNode = table.Find("previousTokenExpires");
        if (token is null && expiresNode is null) return default;
        if (token is null)
            throw table.ValueError(expiresNode!, "there is no previousToken for it to expire; remove it, or add the previous token");
        if (expiresNode is null)
            throw table.ValueError(tokenNode!, $"a previous token needs previousTokenExpires, when it stops being accepted: {Example}");
        var expires = ReadTime(table, expiresNode);
        if (expires <= DateTimeOffset.UtcNow)
            table.Document.Warnings.Add(table.Document.Warning(expiresNode.Line, expiresNode.Path,
                $"the previous token expired at {Show(expires)}: it is refused. Remove previousToken and previousTokenExpires"));
        return new Reading(token, expires, tokenNode);
    }

    private static DateTimeOffset ReadTime(TomlConfigTable table, TomlConfigNode node)
    {
        switch (node)
        {
            case TomlConfigValue { Value: TomlDateTime t } when t.Kind is TomlDateTimeKind.OffsetDateTimeByZ or TomlDateTimeKind.OffsetDateTimeByNumber:
                return t.DateTime;
            case TomlConfigValue { Value: TomlDateTime t }:
                throw table.ValueError(node, $"{t} has no offset, so its moment depends on the server's time zone; write {Example}");
            case TomlConfigValue { Value: string s }:
                return Parse(s) ?? throw table.ValueError(node, $"\"{Shorten(s)}\" is not {Example}");
            default:
                throw table.ValueError(node, $"expected {Example}, found {node.Description}");
        }
    }

    /// <summary>An RFC 3339 date-time with its offset, or null. A fraction beyond 100 ns is cut off.</summary>
    internal static DateTimeOffset? Parse(string text)
    {
        var m = Rfc3339().Match(text);
        if (!m.Success) return null;
        var fraction = m.Groups["fraction"].Success ? "." + m.Groups["fraction"].Value.PadRight(7, '0')[..7] : ".0000000";
        var offset = m.Groups["offset"].Value is "Z" or "z" ? "+00:00" : m.Groups["offset"].Value;
        return DateTimeOffset.TryParseExact($"{m.Groups["date"].Value}T{m.Groups["time"].Value}{fraction}{offset}", "yyyy-MM-dd'T'HH:mm:ss.fffffffzzz",
            CultureInfo.InvariantCulture, DateTimeStyles.None, out var time) ? time : null;
    }

    /// <summary>A time as RFC 3339 in UTC.</summary>
    public static string Show(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
