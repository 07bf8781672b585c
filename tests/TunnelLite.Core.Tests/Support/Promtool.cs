using System.Diagnostics;
using System.Text;

namespace TunnelLite.Tests.Support;

/// <summary>Prometheus's own checker (promtool, Debian package prometheus): /metrics must pass
/// <c>promtool check metrics</c>, its parser and its lint. build.ps1 Test installs it with apt-get where it can.</summary>
public static class Promtool
{
    /// <summary>Why the promtool checks skip (or, under CI=true, fail).</summary>
    public const string MissingReason =
        "promtool is not installed (apt-get install prometheus; build.ps1 Test installs it where it can)";

    /// <summary>promtool's path; null when it is missing.</summary>
    public static string? Path { get; } = ExternalTool.Find("promtool");

    /// <summary>Runs <c>promtool check metrics</c> with <paramref name="text"/> on stdin (UTF-8, no BOM).</summary>
    public static (int ExitCode, string Output) CheckMetrics(string text)
    {
        var path = ExternalTool.Require(Path, MissingReason);
        var start = new ProcessStartInfo(path, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new UTF8Encoding(false),
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(text);
        process.StandardInput.Close();
        if (!process.WaitForExit(60_000))
        {
            process.Kill();
            throw new TimeoutException("promtool check metrics did not finish within 60 s");
        }
        return (process.ExitCode, (stdout.Result + stderr.Result).Trim());
    }
}

/// <summary>A theory that needs promtool: skipped, saying why, where it is missing, except under CI=true where the
/// test runs and fails.</summary>
public sealed class PromtoolTheoryAttribute : TheoryAttribute
{
    public PromtoolTheoryAttribute()
    {
        if (Promtool.Path is null && !ExternalTool.MustRun) Skip = Promtool.MissingReason;
    }
}
