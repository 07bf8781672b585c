namespace TunnelLite.Config;

/// <summary>
/// The known key an unknown one was probably meant to be ("allowPort": did you mean allowPorts?). Case is ignored, since
/// frp reads keys regardless of case and TunnelLite does not (<c>bindport</c> is <c>bindPort</c> to frp); a swap of two
/// neighbouring letters counts as one edit. Only a close key is suggested: a far-fetched guess misleads more than none.
/// </summary>
internal static class KeySuggestion
{
    /// <summary>The candidate closest to <paramref name="key"/>, if it is close enough; ties go to the first candidate.</summary>
    public static string? Nearest(string key, IEnumerable<string> candidates)
    {
        if (key.Length > MaxKeyLength) return null;
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var d = Distance(key, candidate);
            if (d < bestDistance) (best, bestDistance) = (candidate, d);
        }
        return best is not null && bestDistance <= Allowed(key) ? best : null;
    }

    /// <summary>True when <paramref name="key"/> is a plausible misspelling of <paramref name="candidate"/>.</summary>
    public static bool IsClose(string key, string candidate) =>
        key.Length <= MaxKeyLength && Distance(key, candidate) <= Allowed(key);

    // No key of frp's or TunnelLite's is near this long; it bounds the work a hostile file can ask for.
    private const int MaxKeyLength = 64;

    /// <summary>Edits allowed: one in a short key, where two would turn most keys into most others; up to three in a long one.</summary>
    private static int Allowed(string key) => key.Length switch
    {
        <= 4 => 1,
        <= 8 => 2,
        _ => 3,
    };

    /// <summary>Case-insensitive optimal string alignment distance: insertions, deletions, substitutions and swaps of
    /// neighbouring characters, each costing one.</summary>
    public static int Distance(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
