namespace TunnelLite.Tests.Support;

/// <summary>A fact that needs chromium: skipped, saying why, where it is missing, except under CI=true where the test
/// runs and fails with the same reason (the pattern of the Pester tests that need systemd-analyze).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Path is null && !ExternalTool.MustRun) Skip = Chromium.MissingReason;
    }
}
