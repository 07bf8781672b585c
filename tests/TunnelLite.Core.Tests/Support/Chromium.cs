namespace TunnelLite.Tests.Support;

/// <summary>Where the browser of the dashboard tests is, and how it is started. It is Debian's chromium, installed by
/// build.ps1 Test where it can: PuppeteerSharp never downloads one (the test machines reach no browser download site).</summary>
public static class Chromium
{
    /// <summary>The browser's executable: TUNNELLITE_CHROMIUM when set, else Debian's; null when there is none.</summary>
    public static string? Path { get; } = Find();

    /// <summary>Why the dashboard tests cannot run here.</summary>
    public const string MissingReason =
        "no chromium at /usr/bin/chromium, or at TUNNELLITE_CHROMIUM when set (apt-get install chromium; build.ps1 Test does it where it can)";

    /// <summary>Headless, as root (hence no sandbox), and silent on the network: without the background-networking flags
    /// chromium calls Google's hosts at start, which a closed network refuses (slowly). BrowserFixture adds a fresh
    /// --user-data-dir.</summary>
    public static readonly string[] Args =
    [
        "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
    ];

    private static string? Find()
    {
        var chosen = Environment.GetEnvironmentVariable("TUNNELLITE_CHROMIUM");
        if (!string.IsNullOrEmpty(chosen)) return File.Exists(chosen) ? chosen : null;
        return ExternalTool.Find("chromium");
    }
}
