using System.Globalization;
using System.Text;

namespace TunnelLite.Tests.Support;

/// <summary>One sample read back from /metrics: name, labels (unescaped, in the order written) and value.</summary>
public sealed record ExpositionSample(string Name, IReadOnlyList<KeyValuePair<string, string>> Labels, double Value)
{
    /// <summary>What makes a series unique to Prometheus: the name and the non-empty labels (an empty value is no
    /// label), in name order.</summary>
    public string Key =>
        Name + "{" + string.Join(",", Labels.Where(l => l.Value.Length > 0).OrderBy(l => l.Key, StringComparer.Ordinal)
            .Select(l => $"{l.Key}={l.Value.Length}:{l.Value}")) + "}";

    /// <summary>The value of label <paramref name="name"/>, or null.</summary>
    public string? Label(string name) => Labels.FirstOrDefault(l => l.Key == name).Value;
}

/// <summary>One family read back: HELP, TYPE and its samples.</summary>
public sealed record ExpositionFamily(string Name, string Help, string Type, IReadOnlyList<ExpositionSample> Samples);

/// <summary>Reads the Prometheus text format back, stricter than promtool 2.42 (which lets duplicate series and a
/// family split in two through): every family is HELP, TYPE, then its samples together; no series twice; only the
/// escapes the format has; a final line feed. Throws <see cref="FormatException"/> naming the line otherwise.</summary>
public static class Exposition
{
    public static IReadOnlyList<ExpositionFamily> Parse(string text)
    {
        if (text.Length > 0 && !text.EndsWith('\n')) throw new FormatException("no final line feed");
        var lines = text.Split('\n');
        var families = new List<ExpositionFamily>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        List<ExpositionSample>? samples = null;
        string? current = null;
        for (var i = 0; i < lines.Length - 1; i++)
        {
            var line = lines[i];
            try
            {
                if (line.StartsWith("# HELP ", StringComparison.Ordinal))
                {
                    var rest = line["# HELP ".Length..];
                    var space = rest.IndexOf(' ');
                    current = space < 0 ? rest : rest[..space];
                    if (!names.Add(current)) throw new FormatException($"family {current} appears twice");
                    var type = i + 1 < lines.Length - 1 ? lines[++i] : "";
                    var typePrefix = $"# TYPE {current} ";
                    if (!type.StartsWith(typePrefix, StringComparison.Ordinal)) throw new FormatException($"HELP of {current} not followed by its TYPE");
                    samples = [];
                    families.Add(new ExpositionFamily(current, Unescape(space < 0 ? "" : rest[(space + 1)..], quote: false), type[typePrefix.Length..], samples));
                    continue;
                }
                if (line.StartsWith('#')) throw new FormatException("unexpected comment");
                var sample = ParseSample(line);
                if (sample.Name != current) throw new FormatException($"sample of {sample.Name} outside its family ({current ?? "none"})");
                if (!keys.Add(sample.Key)) throw new FormatException($"duplicate series {sample.Key}");
                samples!.Add(sample);
            }
            catch (FormatException e)
            {
                throw new FormatException($"line {i + 1}: {e.Message}: {line}", e);
            }
        }
        return families;
    }

    private static ExpositionSample ParseSample(string line)
    {
        var i = 0;
        while (i < line.Length && line[i] is not ('{' or ' ')) i++;
        var name = line[..i];
        var labels = new List<KeyValuePair<string, string>>();
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var eq = line.IndexOf("=\"", i, StringComparison.Ordinal);
                var label = line[i..eq];
                var value = new StringBuilder();
                i = eq + 2;
                for (; line[i] != '"'; i++)
                {
                    if (line[i] != '\\') { value.Append(line[i]); continue; }
                    value.Append(line[++i] switch { '\\' => '\\', '"' => '"', 'n' => '\n', var c => throw new FormatException($"invalid escape \\{c}") });
                }
                labels.Add(new(label, value.ToString()));
                i++;
                if (line[i] == ',') i++;
            }
            i++;
        }
        if (i >= line.Length || line[i] != ' ') throw new FormatException("no value");
        return new ExpositionSample(name, labels, ParseValue(line[(i + 1)..]));
    }

    /// <summary>A value as Go's ParseFloat reads it (NaN, +Inf, -Inf spelled so).</summary>
    public static double ParseValue(string text) => text switch
    {
        "NaN" => double.NaN,
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    private static string Unescape(string text, bool quote)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\') { sb.Append(text[i]); continue; }
            sb.Append(text[++i] switch { '\\' => '\\', 'n' => '\n', '"' when quote => '"', var c => throw new FormatException($"invalid escape \\{c}") });
        }
        return sb.ToString();
    }
}
