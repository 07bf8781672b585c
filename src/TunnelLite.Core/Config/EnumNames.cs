namespace TunnelLite.Config;

/// <summary>Reads an enum member by its name only, in any case. <see cref="Enum.TryParse{TEnum}(string, bool, out TEnum)"/>
/// would also take a number ("1") and a list ("copy, auto", which it ORs into one member), neither of which a reader of
/// a config file or an environment variable could check against the documentation.</summary>
internal static class EnumNames
{
    public static bool TryParse<T>(string? text, out T value) where T : struct, Enum
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var trimmed = text.Trim();
        foreach (var name in Enum.GetNames<T>())
        {
            if (!name.Equals(trimmed, StringComparison.OrdinalIgnoreCase)) continue;
            value = Enum.Parse<T>(name);
            return true;
        }
        return false;
    }
}
