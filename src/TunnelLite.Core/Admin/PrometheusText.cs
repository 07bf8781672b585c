using System.Globalization;
using System.Text;

namespace TunnelLite.Admin;

/// <summary>The escaping and number spelling of the Prometheus text format 0.0.4 (prometheus/docs,
/// exposition_formats.md; client_golang's expfmt/text_create.go).</summary>
internal static class PrometheusText
{
    /// <summary>Renders label pairs as they go between the braces: <c>name="value",name="value"</c>, values escaped.
    /// Names are the catalog's constants and are not checked here.</summary>
    public static string Labels(string name1, string? value1) => $"{name1}=\"{LabelValue(value1)}\"";

    /// <inheritdoc cref="Labels(string, string?)"/>
    public static string Labels(string name1, string? value1, string name2, string? value2) =>
        $"{name1}=\"{LabelValue(value1)}\",{name2}=\"{LabelValue(value2)}\"";

    /// <inheritdoc cref="Labels(string, string?)"/>
    public static string Labels(string name1, string? value1, string name2, string? value2, string name3, string? value3) =>
        $"{name1}=\"{LabelValue(value1)}\",{name2}=\"{LabelValue(value2)}\",{name3}=\"{LabelValue(value3)}\"";

    /// <summary>A label value as it is written between its quotes: backslash, double quote and line feed escaped (the
    /// only escapes the format has), null as empty (which Prometheus reads as no label). A lone UTF-16 surrogate becomes
    /// U+FFFD here rather than in the UTF-8 encoder, so that the text callers group series by is exactly the text
    /// written: two names that differ only in a lone surrogate must not become two series with the same labels.</summary>
    public static string LabelValue(string? value) => Escape(value, escapeQuote: true);

    /// <summary>HELP text: backslash and line feed escaped (a double quote is literal there).</summary>
    public static string HelpText(string text) => Escape(text, escapeQuote: false);

    private static string Escape(string? value, bool escapeQuote)
    {
        if (string.IsNullOrEmpty(value)) return "";
        var first = FirstToChange(value, escapeQuote);
        if (first < 0) return value;
        var sb = new StringBuilder(value.Length + 8);
        sb.Append(value, 0, first);
        for (var i = first; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\n': sb.Append(@"\n"); break;
                case '"' when escapeQuote: sb.Append("\\\""); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])) sb.Append(c).Append(value[++i]);
                    else sb.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
                    break;
            }
        }
        return sb.ToString();
    }

    private static int FirstToChange(string value, bool escapeQuote)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is '\\' or '\n' || (c == '"' && escapeQuote)) return i;
            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])) { i++; continue; }
                return i;
            }
        }
        return -1;
    }

    /// <summary>Writes a sample value: integers as integers (exact for counters up to 2^53), other numbers in the
    /// shortest form that reads back the same, and NaN, +Inf, -Inf spelled as Go's ParseFloat and client_golang's
    /// writeFloat spell them. Invariant culture, so a decimal comma never appears.</summary>
    public static void WriteValue(TextWriter output, double value)
    {
        if (double.IsNaN(value)) { output.Write("NaN"); return; }
        if (double.IsPositiveInfinity(value)) { output.Write("+Inf"); return; }
        if (double.IsNegativeInfinity(value)) { output.Write("-Inf"); return; }
        Span<char> buffer = stackalloc char[32];
        int written;
        var ok = Math.Abs(value) < 9_007_199_254_740_992d && value == Math.Floor(value)
            ? ((long)value).TryFormat(buffer, out written, default, CultureInfo.InvariantCulture)
            : value.TryFormat(buffer, out written, "R", CultureInfo.InvariantCulture);
        if (ok) output.Write(buffer[..written]);
        else output.Write(value.ToString("R", CultureInfo.InvariantCulture));
    }
}
