using System.Globalization;
using System.Text.RegularExpressions;
using Tomlyn;

namespace TunnelLite.Config;

/// <summary>
/// One value of a parsed configuration file together with where it was written. Tomlyn's model types
/// (<c>TomlTable</c>) drop positions, so the loader keeps its own small tree to name file, line and key in every message.
/// </summary>
internal abstract class TomlConfigNode
{
    protected TomlConfigNode(TomlConfigDocument document, string path, int line)
    {
        Document = document;
        Path = path;
        Line = line;
    }

    /// <summary>The file this node came from; it formats errors and warnings.</summary>
    public TomlConfigDocument Document { get; }

    /// <summary>Full dotted path, e.g. <c>transport.poolCount</c> or <c>proxies[1].localPort</c>.</summary>
    public string Path { get; }

    /// <summary>1-based line where the key (or table header) was written.</summary>
    public int Line { get; }

    /// <summary>The path without array indices, e.g. <c>proxies.localPort</c> for <c>proxies[1].localPort</c>: the form in
    /// which the tables of keys (<see cref="FrpKeys"/>, <see cref="SecretKeys"/>) name a key.</summary>
    public string SchemaPath => Regex.Replace(Path, @"\[\d+\]", "");

    /// <summary>"a string", "an integer"...: how the node reads in a "found ..." message.</summary>
    public abstract string Description { get; }

    /// <summary>An error about this node, located at its line and named by its path.</summary>
    public TunnelConfigException Error(string detail) => Document.Error(Line, Path, detail);
}

/// <summary>A TOML scalar: string, integer, float, boolean or date-time.</summary>
internal sealed class TomlConfigValue : TomlConfigNode
{
    public TomlConfigValue(TomlConfigDocument document, string path, int line, object value, string? template = null, bool heldByFile = true)
        : base(document, path, line)
    {
        Value = value;
        Template = template;
        HeldByFile = heldByFile;
    }

    /// <summary>string, long, double, bool or <see cref="TomlDateTime"/>; a string with its templates expanded.</summary>
    public object Value { get; }

    /// <summary>The string as written, when it held <c>{{ .Envs.NAME }}</c> templates; null otherwise.</summary>
    public string? Template { get; }

    /// <summary>False when the value came from the environment only (the string was nothing but templates): then the
    /// file does not hold it, which matters when it is a secret.</summary>
    public bool HeldByFile { get; }

    public override string Description => SecretKeys.IsSecret(SchemaPath) ? SecretKeys.Describe(Value) : Value switch
    {
        // The template, not what it expanded to: a variable may hold a secret that the key's name does not announce.
        string when Template is { } t => $"a string (\"{Shorten(t)}\", expanded from the environment)",
        string s => $"a string (\"{Shorten(s)}\")",
        long l => $"an integer ({l.ToString(CultureInfo.InvariantCulture)})",
        double d => $"a float ({d.ToString(CultureInfo.InvariantCulture)})",
        bool b => $"a boolean ({(b ? "true" : "false")})",
        _ => "a date-time",
    };

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";
}

/// <summary>A TOML array, written inline (<c>[ ... ]</c>) or as an array of tables (<c>[[name]]</c>).</summary>
internal sealed class TomlConfigArray : TomlConfigNode
{
    public TomlConfigArray(TomlConfigDocument document, string path, int line, bool isTableArray)
        : base(document, path, line) => IsTableArray = isTableArray;

    /// <summary>True for <c>[[name]]</c> arrays, which later <c>[name.sub]</c> headers extend (last element).</summary>
    public bool IsTableArray { get; }

    public List<TomlConfigNode> Items { get; } = new();

    public override string Description => "an array";
}

/// <summary>
/// A TOML table (root, <c>[header]</c>, dotted key or inline). Reading a key through it records the key as known,
/// which is how keys that TunnelLite does not use are found afterwards (<see cref="UnusedKeys"/>).
/// </summary>
internal sealed class TomlConfigTable : TomlConfigNode
{
    private readonly List<KeyValuePair<string, TomlConfigNode>> _entries = new();
    private readonly Dictionary<string, TomlConfigNode> _byKey = new(StringComparer.Ordinal);
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public TomlConfigTable(TomlConfigDocument document, string path, int line)
        : base(document, path, line)
    {
    }

    public override string Description => "a table";

    /// <summary>Prefixed to error messages about this table's keys, e.g. "proxy 'ssh'", so an error names the proxy.</summary>
    public string? Subject { get; set; }

    public IReadOnlyList<KeyValuePair<string, TomlConfigNode>> Entries => _entries;

    /// <summary>The keys a binder looked up in this table, present or not: the keys TunnelLite knows here.</summary>
    public IReadOnlyCollection<string> Known => _known;

    /// <summary>Path of a child key of this table.</summary>
    public string ChildPath(string key)
    {
        var k = Tomlyn.Syntax.BareKeySyntax.IsBareKey(key) ? key : "\"" + key.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        return Path.Length == 0 ? k : Path + "." + k;
    }

    internal TomlConfigNode? Peek(string key) => _byKey.GetValueOrDefault(key);

    internal void Add(string key, TomlConfigNode node)
    {
        _byKey.Add(key, node);
        _entries.Add(new(key, node));
    }

    /// <summary>Looks a key up and records it as known, present or not.</summary>
    public TomlConfigNode? Find(string key)
    {
        _known.Add(key);
        return _byKey.GetValueOrDefault(key);
    }

    /// <summary>An error about a value of this table, prefixed with <see cref="Subject"/>.</summary>
    public TunnelConfigException ValueError(TomlConfigNode node, string detail) =>
        node.Error(Subject is null ? detail : $"{Subject}: {detail}");

    /// <summary>
    /// An error about a key that should be in this table but is not; located at the table's header (the root has no line).
    /// <paramref name="relativePath"/> is a bare key or dotted path such as <c>auth.token</c>.
    /// </summary>
    public TunnelConfigException MissingError(string relativePath, string detail) =>
        Document.Error(Path.Length == 0 ? null : Line, Path.Length == 0 ? relativePath : Path + "." + relativePath,
            (Subject is null ? detail : $"{Subject}: {detail}") + Misspelling(relativePath.Split('.')[0]));

    /// <summary>A key is missing, and the binder stopped before the unused keys were looked at: a misspelling of it, which
    /// would explain why it is missing, is pointed out here.</summary>
    private string Misspelling(string wanted)
    {
        foreach (var (key, node) in _entries)
            if (!_known.Contains(key) && KeySuggestion.IsClose(key, wanted))
                return $" (line {node.Line.ToString(CultureInfo.InvariantCulture)} has {ChildPath(key)}: did you mean {wanted}?)";
        return "";
    }

    public string? GetString(string key, bool allowEmpty = false)
    {
        if (Find(key) is not { } node) return null;
        if (node is not TomlConfigValue { Value: string s }) throw ValueError(node, $"expected a string, found {node.Description}");
        if (!allowEmpty && string.IsNullOrWhiteSpace(s)) throw ValueError(node, "must not be empty");
        return s;
    }

    public bool? GetBool(string key)
    {
        if (Find(key) is not { } node) return null;
        if (node is not TomlConfigValue { Value: bool b }) throw ValueError(node, $"expected true or false, found {node.Description}");
        return b;
    }

    public long? GetInteger(string key)
    {
        if (Find(key) is not { } node) return null;
        if (node is not TomlConfigValue { Value: long l })
            throw ValueError(node, $"expected an integer, found {node.Description}");
        return l;
    }

    /// <summary>An integer within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int? GetInt(string key, int min, int max)
    {
        if (GetInteger(key) is not { } v) return null;
        if (v < min || v > max)
            throw ValueError(Find(key)!, $"{v.ToString(CultureInfo.InvariantCulture)} must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}");
        return (int)v;
    }

    /// <summary>A TCP port, 1-65535 (or 0-65535 when 0 has a meaning, like "let the server pick").</summary>
    public int? GetPort(string key, bool allowZero = false)
    {
        if (GetInteger(key) is not { } v) return null;
        var min = allowZero ? 0 : 1;
        if (v < min || v > 65535)
            throw ValueError(Find(key)!, $"{v.ToString(CultureInfo.InvariantCulture)} is not a port ({min.ToString(CultureInfo.InvariantCulture)}-65535)");
        return (int)v;
    }

    /// <summary>
    /// A positive whole number of seconds, as frp writes durations. Capped at a day: longer timeouts are surely
    /// mistakes, and timers take milliseconds in 32 bits (about 24.8 days) downstream.
    /// </summary>
    public TimeSpan? GetSeconds(string key)
    {
        const int MaxSeconds = 86_400;
        if (GetInteger(key) is not { } v) return null;
        if (v < 1 || v > MaxSeconds)
            throw ValueError(Find(key)!, $"{v.ToString(CultureInfo.InvariantCulture)} is not a valid duration; write a whole number of seconds between 1 and {MaxSeconds.ToString(CultureInfo.InvariantCulture)}");
        return TimeSpan.FromSeconds(v);
    }

    /// <summary>A sub-table, written as <c>[name]</c>, as dotted keys (<c>name.key = ...</c>) or inline (<c>name = { ... }</c>).</summary>
    public TomlConfigTable? GetTable(string key)
    {
        if (Find(key) is not { } node) return null;
        return node as TomlConfigTable ?? throw ValueError(node, $"expected a table, found {node.Description}");
    }

    /// <summary>An array, inline or <c>[[name]]</c>.</summary>
    public TomlConfigArray? GetArray(string key)
    {
        if (Find(key) is not { } node) return null;
        return node as TomlConfigArray ?? throw ValueError(node, $"expected an array, found {node.Description}");
    }

    /// <summary>An array whose elements are all tables (<c>[[name]]</c> or <c>name = [{ ... }, { ... }]</c>).</summary>
    public IReadOnlyList<TomlConfigTable>? GetTableArray(string key)
    {
        if (GetArray(key) is not { } array) return null;
        var tables = new List<TomlConfigTable>(array.Items.Count);
        foreach (var item in array.Items)
            tables.Add(item as TomlConfigTable ?? throw ValueError(item, $"expected a table, found {item.Description}"));
        return tables;
    }
}
