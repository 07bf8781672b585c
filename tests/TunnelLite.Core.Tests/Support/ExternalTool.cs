namespace TunnelLite.Tests.Support;

/// <summary>Finds the real components some tests need (promtool, prometheus, chromium: Debian packages that build.ps1
/// Test installs with apt-get where it can). Where one is missing such a test skips and says why, except under CI=true,
/// where it runs and fails, so that CI cannot pass by checking nothing (as the Pester tests do for systemd-analyze).</summary>
public static class ExternalTool
{
    /// <summary>Whether a missing component fails rather than skips (CI=true).</summary>
    public static bool MustRun => Environment.GetEnvironmentVariable("CI") == "true";

    /// <summary>The first <paramref name="name"/> on PATH, else in /usr/bin or /usr/sbin (where daemons such as haproxy and
    /// nginx live, and a user's PATH may lack it); null when none has it.</summary>
    public static string? Find(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, OperatingSystem.IsWindows() ? name + ".exe" : name);
            if (File.Exists(candidate)) return candidate;
        }
        foreach (var dir in new[] { "/usr/bin", "/usr/sbin" })
            if (Path.Combine(dir, name) is var candidate && File.Exists(candidate)) return candidate;
        return null;
    }

    /// <summary>The path of a component that must be there by now (its test was not skipped).</summary>
    public static string Require(string? path, string missingReason) =>
        path ?? throw new InvalidOperationException($"{missingReason}; CI=true: a missing component fails rather than skips.");
}
