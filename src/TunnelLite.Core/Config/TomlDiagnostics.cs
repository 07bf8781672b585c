using System.Text.RegularExpressions;

namespace TunnelLite.Config;

/// <summary>
/// Rewrites Tomlyn's syntax messages for people who edit the file. Tomlyn quotes the text it stumbled on
/// ("Unexpected token `s3cr3t` for a value") and, for a key written twice, the whole first definition
/// ("... already defined at (1,1) with `auth.token = "s3cr3t"`"). On a line that holds a token that text is the token,
/// so quoted source text is left out; the line number already says where to look.
/// </summary>
internal static partial class TomlDiagnostics
{
    // Names Tomlyn gives its lexer tokens; they say what the parser wanted and never come from the file.
    private static readonly HashSet<string> TokenNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "newline", "comma", "eof", "<eof>", "equal", "dot", "string", "integer", "float", "boolean", "datetime",
    };

    [GeneratedRegex(@"^The key `(?<key>[^`]*)` is already defined at \((?<line>\d+),\d+\) with `.*` and cannot be redefined\.?$", RegexOptions.Singleline)]
    private static partial Regex Redefined();

    [GeneratedRegex("`(?<text>[^`]*)`")]
    private static partial Regex Quoted();

    [GeneratedRegex(@"\s{2,}")]
    private static partial Regex Spaces();

    /// <summary>The message without the source text it quotes (keeping the names of what was expected).</summary>
    public static string Clean(string message)
    {
        var redefined = Redefined().Match(message);
        if (redefined.Success)
            return $"the key {redefined.Groups["key"].Value} is already defined at line {redefined.Groups["line"].Value}";

        var cleaned = Quoted().Replace(message, m =>
            TokenNames.Contains(m.Groups["text"].Value) || IsPunctuation(m.Groups["text"].Value) ? m.Value : "");
        return Spaces().Replace(cleaned, " ").Trim();
    }

    /// <summary>A hint for the usual mistakes on <paramref name="line"/> of <paramref name="text"/>, or "".</summary>
    public static string Hint(string text, int? line)
    {
        if (line is not { } l || l < 1) return "";
        var lineText = text.Split('\n').ElementAtOrDefault(l - 1) ?? "";
        // frp expands templates in the raw text, so frp files may write them bare; TunnelLite expands them inside strings only.
        if (lineText.Contains("{{", StringComparison.Ordinal))
            return "; {{ .Envs.NAME }} templates are expanded only inside quoted strings, e.g. auth.token = \"{{ .Envs.TUNNELLITE_TOKEN }}\"";
        return "";
    }

    private static bool IsPunctuation(string s) => s.Length is > 0 and <= 3 && s.All(c => char.IsPunctuation(c) || char.IsSymbol(c));
}
