using System.Buffers;
using System.Globalization;
using System.Text;

namespace TunnelLite.Logging;

/// <summary>Makes text a peer sent (tunnel names, goodbye reasons, error messages, client names) safe to put in a log line:
/// a peer must not be able to start a forged line with a newline, recolour or erase a terminal with an escape sequence,
/// reorder what a reader sees with bidi controls, or fill the log with one long string.</summary>
internal static class PeerText
{
    /// <summary>Output length (before the truncation note) when the caller does not choose one.</summary>
    public const int DefaultMaxLength = 256;

    /// <summary>Written for a null text, so that a missing value is not mistaken for an empty one.</summary>
    public const string None = "(none)";

    // Everything that is escaped, surrogates included: a lone surrogate is escaped, a well-formed pair passes.
    // The backslash is here so that a peer cannot fake an escape: "\n" typed by a peer comes out as "\\n".
    private static readonly SearchValues<char> Special = SearchValues.Create(
        "\\" + Range('\u0000', '\u001F') + Range('\u007F', '\u009F') + "\u061C\u200E\u200F\u2028\u2029" +
        Range('\u202A', '\u202E') + Range('\u2066', '\u2069') + Range('\uD800', '\uDFFF'));

    /// <summary>Escapes <paramref name="text"/>: control characters (C0, DEL, C1), line and paragraph separators and bidi
    /// controls become visible escapes (<c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\x1B</c>, <c>\u202E</c>), a backslash is doubled and
    /// an unpaired surrogate is escaped too. The escaped text is cut to at most <paramref name="maxLength"/> characters
    /// (never inside an escape or a surrogate pair) and then says how many characters of the input were left out, as in
    /// <c>…(+1234 chars)</c>. Null becomes <c>(none)</c>. Text that needs none of this is returned as it is.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxLength"/> is negative.</exception>
    public static string Escape(string? text, int maxLength = DefaultMaxLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        if (text is null) return None;
        var first = FirstSpecial(text);
        if (first < 0 && text.Length <= maxLength) return text;
        var cut = Math.Min(first < 0 ? text.Length : first, maxLength);
        // Before the first special character every surrogate is paired: cut before a pair rather than through it.
        if (cut > 0 && cut < text.Length && char.IsHighSurrogate(text[cut - 1])) cut--;
        var builder = new StringBuilder(Math.Min(text.Length, maxLength) + 24);
        builder.Append(text, 0, cut);
        var i = cut;
        while (i < text.Length)
        {
            var c = text[i];
            var paired = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            var width = paired ? 2 : EscapedLength(c);
            if (builder.Length + width > maxLength) break;
            if (paired) builder.Append(c).Append(text[i + 1]);
            else AppendEscaped(builder, c);
            i += paired ? 2 : 1;
        }
        if (i < text.Length) builder.Append("…(+").Append((text.Length - i).ToString(CultureInfo.InvariantCulture)).Append(" chars)");
        return builder.ToString();
    }

    /// <summary>True when <paramref name="text"/> has nothing <see cref="Escape"/> would change but a backslash: what a name
    /// that a peer chooses (a tunnel, an account) may consist of, so that it shows the same in every log and table.</summary>
    public static bool IsPrintable(string text)
    {
        var first = FirstSpecial(text);
        while (first >= 0 && text[first] == '\\')
        {
            var next = FirstSpecial(text[(first + 1)..]);
            first = next < 0 ? -1 : first + 1 + next;
        }
        return first < 0;
    }

    /// <summary>Index of the first character that must be escaped, or -1: surrogate pairs are skipped, so that text with
    /// emoji or other supplementary characters takes the fast path.</summary>
    private static int FirstSpecial(string text)
    {
        var from = 0;
        while (true)
        {
            var at = text.AsSpan(from).IndexOfAny(Special);
            if (at < 0) return -1;
            at += from;
            if (!(char.IsHighSurrogate(text[at]) && at + 1 < text.Length && char.IsLowSurrogate(text[at + 1]))) return at;
            from = at + 2;
        }
    }

    private static int EscapedLength(char c) => c switch
    {
        '\\' or '\n' or '\r' or '\t' => 2,
        < '\u0020' or (>= '\u007F' and <= '\u009F') => 4,
        _ when Special.Contains(c) => 6,
        _ => 1,
    };

    private static void AppendEscaped(StringBuilder builder, char c)
    {
        switch (c)
        {
            case '\\': builder.Append(@"\\"); break;
            case '\n': builder.Append(@"\n"); break;
            case '\r': builder.Append(@"\r"); break;
            case '\t': builder.Append(@"\t"); break;
            case < '\u0020' or (>= '\u007F' and <= '\u009F'):
                builder.Append(@"\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
                break;
            default:
                if (Special.Contains(c)) builder.Append(@"\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                else builder.Append(c);
                break;
        }
    }

    private static string Range(char from, char to)
    {
        var chars = new char[to - from + 1];
        for (var i = 0; i < chars.Length; i++) chars[i] = (char)(from + i);
        return new string(chars);
    }
}
