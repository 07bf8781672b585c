using System.Collections.Frozen;

namespace TunnelLite.Admin;

/// <summary>The web dashboard's files, embedded in the assembly (no CDN: it works offline and behind a firewall). The
/// page is static; it reads the JSON API, so the page itself holds no data and no secret.</summary>
internal static class Dashboard
{
    private static readonly FrozenDictionary<string, AdminResponse> Files = Load();

    /// <summary>Whether a file of that name is served.</summary>
    public static bool Has(string name) => Files.ContainsKey(name);

    /// <summary>The file's answer.</summary>
    public static AdminResponse File(string name) => Files[name];

    private static FrozenDictionary<string, AdminResponse> Load()
    {
        const string prefix = "TunnelLite.Admin.Dashboard.";
        var assembly = typeof(Dashboard).Assembly;
        var files = new Dictionary<string, AdminResponse>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            var name = resource[prefix.Length..];
            files[name] = new AdminResponse(200, TypeOf(name), memory.ToArray());
        }
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string TypeOf(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };
}
