using System.Text;
using System.Text.RegularExpressions;

namespace TunnelLite.Config;

/// <summary>
/// frp's <c>{{ .Envs.NAME }}</c> templates, which keep secrets out of files (<c>auth.token = "{{ .Envs.TOKEN }}"</c>).
/// frp expands them in the raw text before parsing, so a variable holding a quote or a newline rewrites the TOML.
/// TunnelLite expands them after parsing, inside the value of a string only: whatever a variable holds becomes the
/// string's content and nothing else, keys and comments are never expanded, and every line keeps its number.
/// </summary>
internal static partial class EnvironmentTemplates
{
    /// <summary>A string value after expansion.</summary>
    /// <param name="Value">The content, with every template replaced by its variable's value.</param>
    /// <param name="Expanded">True when the string held at least one template.</param>
    /// <param name="HasLiteralText">True when the file itself wrote some of the content (text outside the templates):
    /// then the file holds (part of) the value, which matters when the value is a secret.</param>
    public readonly record struct Expansion(string Value, bool Expanded, bool HasLiteralText);

    [GeneratedRegex(@"\{\{(?<action>.*?)\}\}", RegexOptions.Singleline)]
    private static partial Regex Action();

    [GeneratedRegex(@"^\s*\.Envs\.(?<name>[A-Za-z_][A-Za-z0-9_]*)\s*$")]
    private static partial Regex EnvsName();

    /// <summary>Expands the templates of <paramref name="text"/> with <paramref name="environment"/>; a problem (an unset
    /// variable, a template of another kind) is thrown as <paramref name="error"/>(detail). No detail quotes the text or a
    /// variable's value, since either may be a secret.</summary>
    public static Expansion Expand(string text, Func<string, string?> environment, Func<string, Exception> error)
    {
        if (!text.Contains("{{", StringComparison.Ordinal) && !text.Contains(".Envs.", StringComparison.Ordinal))
            return new Expansion(text, false, text.Length > 0);

        var result = new StringBuilder(text.Length);
        var literal = new StringBuilder();
        var last = 0;
        var expanded = false;
        foreach (Match m in Action().Matches(text))
        {
            literal.Append(text, last, m.Index - last);
            result.Append(text, last, m.Index - last);
            var name = EnvsName().Match(m.Groups["action"].Value);
            if (!name.Success)
                throw error("a {{ ... }} template other than {{ .Envs.NAME }}; TunnelLite expands only {{ .Envs.NAME }} (NAME: letters, digits, _)");
            var variable = name.Groups["name"].Value;
            // Expanded once: a value that itself looks like a template stays as it is.
            result.Append(environment(variable) ?? throw error($"the environment variable {variable} is not set ({{{{ .Envs.{variable} }}}})"));
            last = m.Index + m.Length;
            expanded = true;
        }
        literal.Append(text, last, text.Length - last);
        result.Append(text, last, text.Length - last);

        // A half-written template would otherwise become part of the value (a token of "{{ .Envs.TOKEN }" is no secret).
        if (literal.ToString() is var rest && (rest.Contains("{{", StringComparison.Ordinal) || rest.Contains(".Envs.", StringComparison.Ordinal)))
            throw error("a template is not closed, or not opened: write {{ .Envs.NAME }}");
        return new Expansion(result.ToString(), expanded, literal.Length > 0);
    }
}
