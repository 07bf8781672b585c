using System.Globalization;

namespace TunnelLite.Config;

/// <summary>
/// After binding, judges every key that no binder read. frp's harmless keys (<see cref="FrpKeys.Harmless"/>) become
/// warnings; everything else is an error: a key frp has but TunnelLite cannot honour safely (<see cref="FrpKeys.Refused"/>),
/// and a key nobody knows, which is most often a typo of a key that matters (<c>allowPort</c> would leave every port open,
/// <c>bindport</c> the default port). Unknown keys get the nearest known key as a suggestion.
/// </summary>
internal static class UnusedKeys
{
    private const int MaxListed = 5;

    /// <summary>Returns the warnings, in file order; throws <see cref="TunnelConfigException"/> for the first error in the
    /// file, naming how many more there are so that a converted frp file need not be fixed one run at a time.</summary>
    public static IReadOnlyList<ConfigWarning> Check(TomlConfigDocument document)
    {
        var unused = new List<(TomlConfigTable Table, string Key, TomlConfigNode Node)>();
        Collect(document.Root, unused);

        var warnings = new List<ConfigWarning>();
        var errors = new List<(TomlConfigNode Node, Func<string, TunnelConfigException> Error)>();
        foreach (var (table, key, node) in unused)
        {
            switch (FrpKeys.Find(node.SchemaPath))
            {
                case ({ } entry, true):
                    warnings.Add(document.Warning(node.Line, node.Path, $"frp key ignored: {entry.Reason}"));
                    break;
                case ({ } entry, false):
                    errors.Add((node, more => table.ValueError(node, $"frp key not supported: {entry.Reason}{more}")));
                    break;
                default:
                    // Only the first error's message is made, so only one key is ever compared with the whole document.
                    errors.Add((node, more => table.ValueError(node, "unknown key" + Suggestion(document, table, key) + more)));
                    break;
            }
        }

        if (errors.Count > 0)
        {
            errors.Sort((a, b) => a.Node.Line.CompareTo(b.Node.Line));
            var others = errors.Skip(1).Take(MaxListed).Select(e => $"{e.Node.Path} (line {e.Node.Line.ToString(CultureInfo.InvariantCulture)})");
            var more = errors.Count == 1 ? ""
                : $" (and {(errors.Count - 1).ToString(CultureInfo.InvariantCulture)} more: {string.Join(", ", others)}{(errors.Count - 1 > MaxListed ? ", ..." : "")})";
            throw errors[0].Error(more);
        }

        warnings.Sort((a, b) => a.Line.CompareTo(b.Line));
        return warnings;
    }

    /// <summary>
    /// The keys of <paramref name="table"/> and of the known tables below it that were never read. An unread table that
    /// frp's lists know something in (<c>[webServer]</c>) is judged key by key, so that each key gets its verdict and line;
    /// any other unread table or array (<c>[[visitors]]</c>, a misspelled <c>[transprot]</c>) once, as a whole.
    /// </summary>
    private static void Collect(TomlConfigTable table, List<(TomlConfigTable, string, TomlConfigNode)> unused)
    {
        foreach (var (key, node) in table.Entries)
        {
            if (table.Known.Contains(key))
            {
                if (node is TomlConfigTable known) Collect(known, unused);
                else if (node is TomlConfigArray array)
                    foreach (var item in array.Items)
                        if (item is TomlConfigTable t) Collect(t, unused);
            }
            else if (node is TomlConfigTable { Entries.Count: > 0 } unread && FrpKeys.CoversSomethingIn(unread.SchemaPath))
            {
                CollectAll(unread, unused);
            }
            else
            {
                unused.Add((table, key, node));
            }
        }
    }

    private static void CollectAll(TomlConfigTable table, List<(TomlConfigTable, string, TomlConfigNode)> unused)
    {
        foreach (var (key, node) in table.Entries)
        {
            if (node is TomlConfigTable { Entries.Count: > 0 } sub && FrpKeys.Find(node.SchemaPath) is null) CollectAll(sub, unused);
            else unused.Add((table, key, node));
        }
    }

    /// <summary>"; did you mean allowPorts?": the nearest key known in the same table, else a key of that name known
    /// elsewhere (<c>poolCount</c> written at the top instead of under <c>[transport]</c>); "" when nothing is close.</summary>
    private static string Suggestion(TomlConfigDocument document, TomlConfigTable table, string key)
    {
        if (KeySuggestion.Nearest(key, table.Known) is { } near)
        {
            var caseOnly = string.Equals(near, key, StringComparison.OrdinalIgnoreCase);
            return $"; did you mean {table.ChildPath(near)}?{(caseOnly ? " (keys are case-sensitive)" : "")}";
        }
        foreach (var other in document.Nodes().OfType<TomlConfigTable>())
        {
            if (ReferenceEquals(other, table)) continue;
            if (other.Known.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase)) is { } elsewhere)
                return $"; did you mean {other.ChildPath(elsewhere)}?";
        }
        return "";
    }
}
