using System.Globalization;
using System.Net;
using System.Text;

namespace TunnelLite.Bench;

/// <summary>The README's picture of a run, drawn without a package: one panel per load (bulk, new connections,
/// request/reply), one bar per path with its median, so that direct, the references (HAProxy, ssh -R) and each TunnelLite
/// plane and mode can be compared at a glance. Colours tell the kinds apart: grey direct, orange HAProxy, green ssh, dark
/// blue the event loops, light blue the async plane.</summary>
internal static class SvgChart
{
    private const int Width = 900, PanelHeight = 30, BarHeight = 18, LabelWidth = 170, ValueWidth = 110, Top = 60;

    public static string Draw(string title, IReadOnlyList<(string Load, string Unit, IReadOnlyList<(string Path, double Value)> Bars)> panels)
    {
        var height = Top + panels.Sum(p => 30 + p.Bars.Count * PanelHeight) + 10;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{Width}" height="{height}" viewBox="0 0 {Width} {height}" font-family="sans-serif" font-size="13">""");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<rect width="{Width}" height="{height}" fill="#ffffff"/>""");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="12" y="24" font-size="16" font-weight="bold">{Esc(title)}</text>""");
        // The legend: which colour is which kind of path (the names say the rest).
        var x = 12;
        foreach (var (label, sample) in new[] { ("direct", "direct"), ("HAProxy ×2", "HAProxy"), ("ssh -R", "ssh"), ("TunnelLite, event loops", "auto"), ("TunnelLite, async plane", "auto (async)") })
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"""<rect x="{x}" y="36" width="12" height="12" fill="{ColorOf(sample)}"/><text x="{x + 16}" y="46">{Esc(label)}</text>""");
            // Two slot widths, for short and long labels: the chart cannot measure text (the longest takes about 150 px at 13 px).
            x += label.Length > 12 ? 190 : 110;
        }
        var y = Top;
        foreach (var (load, unit, bars) in panels)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="12" y="{y + 18}" font-weight="bold">{Esc(load)} ({Esc(unit)}, median)</text>""");
            y += 30;
            var max = bars.Where(b => !double.IsNaN(b.Value)).Select(b => b.Value).DefaultIfEmpty(1).Max();
            foreach (var (path, value) in bars)
            {
                var w = double.IsNaN(value) || max <= 0 ? 0 : (Width - LabelWidth - ValueWidth - 24) * value / max;
                sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{LabelWidth - 8}" y="{y + 14}" text-anchor="end">{Esc(path)}</text>""");
                sb.AppendLine(CultureInfo.InvariantCulture, $"""<rect x="{LabelWidth}" y="{y}" width="{w:0.#}" height="{BarHeight}" fill="{ColorOf(path)}"/>""");
                sb.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{LabelWidth + w + 6:0.#}" y="{y + 14}">{(double.IsNaN(value) ? "-" : value.ToString("#,0", CultureInfo.InvariantCulture))}</text>""");
                y += PanelHeight;
            }
        }
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static string ColorOf(string path) => path switch
    {
        "direct" => "#9aa5b1",
        _ when path.StartsWith("HAProxy", StringComparison.Ordinal) => "#e0803a",
        _ when path.StartsWith("ssh", StringComparison.Ordinal) => "#3f9f5f",
        _ when path.Contains("(async)", StringComparison.Ordinal) => "#8fb3ef",
        _ => "#2f6fdf",
    };

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
