namespace TunnelLite.Logging;

// Placeholder until the i9-logs branch lands its PeerText.
internal static class PeerText
{
    public static string Escape(string? text, int maxLength = 256)
    {
        if (text is null) return "(none)";
        var sb = new System.Text.StringBuilder();
        foreach (var ch in text)
        {
            if (sb.Length >= maxLength) { sb.Append("..."); break; }
            if (char.IsControl(ch)) sb.Append($"\\x{(int)ch:X2}"); else sb.Append(ch);
        }
        return sb.ToString();
    }
}
