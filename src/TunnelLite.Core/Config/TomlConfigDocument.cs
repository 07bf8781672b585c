using System.Text;
using Tomlyn;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace TunnelLite.Config;

/// <summary>
/// A configuration file parsed into a <see cref="TomlConfigTable"/> tree that remembers the line of every key, with the
/// <c>{{ .Envs.NAME }}</c> templates of its string values expanded (<see cref="EnvironmentTemplates"/>).
/// Tomlyn's syntax tree (<see cref="SyntaxParser"/>) has the positions but spreads one table over dotted keys,
/// <c>[header]</c> sections and inline tables; this class merges them the way TOML defines, so that
/// <c>auth.token = "x"</c>, <c>[auth] token = "x"</c> and <c>auth = { token = "x" }</c> read the same.
/// </summary>
internal sealed class TomlConfigDocument
{
    /// <summary>Largest accepted file. Configurations are a few KiB; the cap keeps a wrong path (a log, a disk image) from being read whole.</summary>
    public const int MaxSizeBytes = 1024 * 1024;

    private readonly Dictionary<string, int> _lines = new(StringComparer.Ordinal);

    private TomlConfigDocument(string? filePath)
    {
        FilePath = filePath;
        Root = new TomlConfigTable(this, "", 1);
    }

    /// <summary>The file, as named in messages; null when the text came without a name.</summary>
    public string? FilePath { get; }

    public TomlConfigTable Root { get; }

    /// <summary>What the binders accepted but warn about (a previous token already expired), in the order found.</summary>
    public List<ConfigWarning> Warnings { get; } = new();

    /// <summary>Line of the key at <paramref name="path"/> if the file has it, e.g. to locate an error found by <c>Validate()</c>.</summary>
    public int? LineOf(string path) => _lines.TryGetValue(path, out var line) ? line : null;

    /// <summary>Every node of the file (tables, arrays, their items and values), parents before children.</summary>
    public IEnumerable<TomlConfigNode> Nodes() => Below(Root).Prepend(Root);

    private static IEnumerable<TomlConfigNode> Below(TomlConfigNode node)
    {
        var children = node switch
        {
            TomlConfigTable t => t.Entries.Select(e => e.Value),
            TomlConfigArray a => a.Items,
            _ => [],
        };
        foreach (var child in children)
        {
            yield return child;
            foreach (var grandchild in Below(child)) yield return grandchild;
        }
    }

    public TunnelConfigException Error(int? line, string? key, string detail, Exception? inner = null) =>
        new(FilePath, line, key, detail, inner);

    public ConfigWarning Warning(int line, string key, string detail) =>
        new(FilePath, line, key, TunnelConfigException.Format(FilePath, line, key, detail));

    /// <summary>Parses TOML text; throws <see cref="TunnelConfigException"/> for text over the size cap and for TOML errors.</summary>
    public static TomlConfigDocument Parse(string text, string? filePath)
    {
        ArgumentNullException.ThrowIfNull(text);
        var document = new TomlConfigDocument(filePath);

        // A char is at least one UTF-8 byte, so the cheap length test settles most cases before the exact count.
        if (text.Length > MaxSizeBytes || Encoding.UTF8.GetByteCount(text) > MaxSizeBytes)
            throw document.Error(null, null, $"the configuration is larger than {MaxSizeBytes / 1024} KiB; is this the right file?");

        DocumentSyntax syntax;
        try
        {
            // validate: true makes Tomlyn report what TOML forbids beyond syntax (a key or table defined twice...).
            syntax = SyntaxParser.Parse(text, filePath ?? "<config>", validate: true);
        }
        catch (TomlException e)
        {
            // Thrown rather than reported for limits such as nesting deeper than 64 levels; it may carry no position,
            // and its message may advise on TomlSerializerOptions, which means nothing to whoever edits the file.
            // The inner exception is dropped: its message quotes the text of the file, which may hold a secret.
            if (e.Diagnostics is { Count: > 0 } diagnostics && diagnostics.FirstOrDefault(m => m.Kind == DiagnosticMessageKind.Error) is { } d)
                throw document.Error(d.Span.Start.Line >= 0 ? d.Span.Start.Line + 1 : e.Line, null, "invalid TOML: " + TomlDiagnostics.Clean(d.Message));
            throw document.Error(e.Line, null, "invalid TOML: " + TomlDiagnostics.Clean(FirstSentence(e.Message)));
        }

        if (syntax.HasErrors)
        {
            // The first error is the cause; the ones after it are mostly the parser losing its footing.
            var first = syntax.Diagnostics.First(d => d.Kind == DiagnosticMessageKind.Error);
            int? line = first.Span.Start.Line >= 0 ? first.Span.Start.Line + 1 : null;
            throw document.Error(line, null, "invalid TOML: " + TomlDiagnostics.Clean(first.Message) + TomlDiagnostics.Hint(text, line));
        }

        var builder = new Builder(document);
        builder.AddKeyValues(document.Root, syntax.KeyValues);
        foreach (var table in syntax.Tables) builder.AddTable(table);
        return document;
    }

    private static string FirstSentence(string s)
    {
        var i = s.IndexOfAny(['\r', '\n']);
        if (i >= 0) s = s[..i];
        var dot = s.IndexOf(". ", StringComparison.Ordinal);
        return dot < 0 ? s : s[..(dot + 1)];
    }

    /// <summary>Turns Tomlyn's syntax nodes into located <see cref="TomlConfigNode"/>s.</summary>
    private sealed class Builder(TomlConfigDocument document)
    {
        public void AddKeyValues(TomlConfigTable table, SyntaxList<KeyValueSyntax> keyValues)
        {
            foreach (var kv in keyValues) AddKeyValue(table, kv);
        }

        public void AddTable(TableSyntaxBase header)
        {
            var line = LineOf(header);
            var segments = Segments(header.Name, line);
            var parent = Descend(document.Root, segments.AsSpan(0, segments.Length - 1), line, throughArrays: true);
            var last = segments[^1];
            TomlConfigTable target;
            if (header is TableArraySyntax)
            {
                var array = parent.Peek(last) switch
                {
                    null => Register(parent, last, new TomlConfigArray(document, parent.ChildPath(last), line, isTableArray: true)),
                    TomlConfigArray { IsTableArray: true } a => a,
                    var other => throw Conflict(other, line),
                };
                target = new TomlConfigTable(document, $"{array.Path}[{array.Items.Count}]", line);
                array.Items.Add(target);
            }
            else
            {
                target = Descend(parent, [last], line, throughArrays: false);
            }

            AddKeyValues(target, header.Items);
        }

        private void AddKeyValue(TomlConfigTable table, KeyValueSyntax kv)
        {
            var line = LineOf(kv);
            var segments = Segments(kv.Key, line);
            var parent = Descend(table, segments.AsSpan(0, segments.Length - 1), line, throughArrays: false);
            var last = segments[^1];
            if (parent.Peek(last) is { } existing) throw Conflict(existing, line);
            var path = parent.ChildPath(last);
            Register(parent, last, Convert(kv.Value, path, line));
        }

        private TomlConfigNode Convert(ValueSyntax? value, string path, int line)
        {
            switch (value)
            {
                case StringValueSyntax s:
                {
                    var written = s.Value ?? "";
                    var expansion = EnvironmentTemplates.Expand(written, Environment.GetEnvironmentVariable, detail => document.Error(line, path, detail));
                    return expansion.Expanded
                        ? new TomlConfigValue(document, path, line, expansion.Value, written, expansion.HasLiteralText)
                        : new TomlConfigValue(document, path, line, written);
                }
                case IntegerValueSyntax i: return new TomlConfigValue(document, path, line, i.Value);
                case FloatValueSyntax f: return new TomlConfigValue(document, path, line, f.Value);
                case BooleanValueSyntax b: return new TomlConfigValue(document, path, line, b.Value);
                case DateTimeValueSyntax d: return new TomlConfigValue(document, path, line, d.Value);
                case InlineTableSyntax inline:
                {
                    var table = new TomlConfigTable(document, path, line);
                    foreach (var item in inline.Items)
                        if (item.KeyValue is { } kv) AddKeyValue(table, kv);
                    return table;
                }
                case ArraySyntax arraySyntax:
                {
                    var array = new TomlConfigArray(document, path, line, isTableArray: false);
                    foreach (var item in arraySyntax.Items)
                    {
                        if (item.Value is not { } v) continue;
                        var itemPath = $"{path}[{array.Items.Count}]";
                        var itemLine = v.Span.Start.Line >= 0 ? v.Span.Start.Line + 1 : line;
                        var node = Convert(v, itemPath, itemLine);
                        document._lines.TryAdd(itemPath, itemLine);
                        array.Items.Add(node);
                    }
                    return array;
                }
                default:
                    throw document.Error(line, path, "invalid TOML: a value is missing");
            }
        }

        /// <summary>
        /// Walks (creating as needed) the tables named by <paramref name="segments"/>. A <c>[a.b]</c> header reaches
        /// through an array of tables <c>[[a]]</c> to its last element, as TOML specifies; dotted keys do not.
        /// </summary>
        private TomlConfigTable Descend(TomlConfigTable table, ReadOnlySpan<string> segments, int line, bool throughArrays)
        {
            foreach (var segment in segments)
            {
                table = table.Peek(segment) switch
                {
                    null => Register(table, segment, new TomlConfigTable(document, table.ChildPath(segment), line)),
                    TomlConfigTable t => t,
                    TomlConfigArray { IsTableArray: true, Items.Count: > 0 } a when throughArrays => (TomlConfigTable)a.Items[^1],
                    var other => throw Conflict(other, line),
                };
            }
            return table;
        }

        private T Register<T>(TomlConfigTable parent, string key, T node) where T : TomlConfigNode
        {
            parent.Add(key, node);
            document._lines.TryAdd(node.Path, node.Line);
            return node;
        }

        // Tomlyn's validation already refuses redefinitions; this is a backstop so a gap there cannot go unnoticed.
        private TunnelConfigException Conflict(TomlConfigNode existing, int line) =>
            document.Error(line, existing.Path, $"invalid TOML: already defined at line {existing.Line}");

        private string[] Segments(KeySyntax? key, int line)
        {
            if (key?.Key is null) throw document.Error(line, null, "invalid TOML: a key is missing");
            var segments = new List<string> { Text(key.Key) };
            foreach (var dotted in key.DotKeys)
                if (dotted.Key is { } part) segments.Add(Text(part));
            return segments.ToArray();
        }

        private static string Text(BareKeyOrStringValueSyntax key) => key switch
        {
            BareKeySyntax bare => bare.Key?.Text ?? "",
            StringValueSyntax quoted => quoted.Value ?? "",
            _ => "",
        };

        private static int LineOf(SyntaxNode node) => node.Span.Start.Line + 1;
    }
}
