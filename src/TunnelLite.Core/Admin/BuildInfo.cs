using System.Reflection;

namespace TunnelLite.Admin;

/// <summary>What build of TunnelLite runs here, for tunnellite_build_info and the JSON API.</summary>
internal static class BuildInfo
{
    /// <summary>The package version (for example "0.1.0"), without the source revision that follows a '+'.</summary>
    public static string Version { get; } = Read();

    private static string Read()
    {
        var informational = typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        var v = informational ?? typeof(BuildInfo).Assembly.GetName().Version?.ToString() ?? "0.0.0";
        var plus = v.IndexOf('+');
        return plus < 0 ? v : v[..plus];
    }
}
