namespace TunnelLite.Config;

/// <summary>
/// Settings that frp and TunnelLite spell differently (frps' <c>userConnTimeout</c> and TunnelLite's
/// <c>transport.userConnectionTimeout</c>): either key may be written. Both may be written only with the same value;
/// two different values are an error naming both, because picking one would silently drop what the other says.
/// </summary>
internal static class SynonymKeys
{
    /// <summary>One spelling of a setting as read: its node (null when not written), its value in TunnelLite's terms
    /// (compared with the other's), and the value as written (shown in the error).</summary>
    public readonly record struct Reading<T>(TomlConfigNode? Node, T? Value, string? Written) where T : struct;

    /// <summary>Reads a value the binder has already checked, with the text the file wrote for it.</summary>
    public static Reading<T> Read<T>(TomlConfigTable? table, string key, T? value, Func<T, string> show) where T : struct =>
        new(table?.Find(key), value, value is { } v ? show(v) : null);

    /// <summary>The value of whichever spelling was written; null when neither was.</summary>
    public static T? Agree<T>(Reading<T> frp, Reading<T> own) where T : struct, IEquatable<T>
    {
        if (frp.Value is not { } a) return own.Value;
        if (own.Value is not { } b || a.Equals(b)) return a;
        // Reported at the later line, where the contradiction becomes visible to a reader of the file.
        var (first, later) = frp.Node!.Line <= own.Node!.Line ? (frp, own) : (own, frp);
        throw later.Node!.Error($"{later.Node.Path} = {later.Written} contradicts {first.Node!.Path} = {first.Written} at line {first.Node.Line}: " +
                                "both set the same thing; keep one");
    }
}
