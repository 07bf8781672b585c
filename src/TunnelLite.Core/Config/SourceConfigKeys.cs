using System.Globalization;

namespace TunnelLite.Config;

/// <summary>The keys <c>allowSources</c> and <c>denySources</c> (TunnelLite's own; frp has none for who may connect to a
/// proxy): arrays of networks ("10.0.0.0/8", "2001:db8::/32", "203.0.113.7"), at the top of a server's file, in its
/// <c>[[clients]]</c> entries and in a client's <c>[[proxies]]</c> entries.</summary>
internal static class SourceConfigKeys
{
    /// <summary>The networks listed under <paramref name="key"/> of <paramref name="table"/>; null when the key is absent.
    /// An entry that is not a network fails the load, naming the key, its index and the value.</summary>
    public static List<SourceNetwork>? Read(TomlConfigTable table, string key, int max)
    {
        if (table.GetArray(key) is not { } array) return null;
        if (array.Items.Count > max)
            throw table.ValueError(array, $"{array.Items.Count.ToString(CultureInfo.InvariantCulture)} networks are more than the {max.ToString(CultureInfo.InvariantCulture)} a list may hold");
        var networks = new List<SourceNetwork>(array.Items.Count);
        foreach (var item in array.Items)
        {
            if (item is not TomlConfigValue { Value: string text })
                throw table.ValueError(item, $"expected a network as a string, such as \"10.0.0.0/8\", found {item.Description}");
            if (!SourceNetwork.TryParse(text, out var network, out var error)) throw table.ValueError(item, error!);
            networks.Add(network);
        }
        return networks;
    }

    /// <summary>Like <see cref="Read"/>, with an absent key or an empty array as the one shared empty list: a record that
    /// holds it (<see cref="TunnelDefinition"/>) stays equal to one made without lists.</summary>
    public static IReadOnlyList<SourceNetwork> ReadOrNone(TomlConfigTable table, string key, int max) =>
        Read(table, key, max) is { Count: > 0 } networks ? networks : Array.Empty<SourceNetwork>();
}
