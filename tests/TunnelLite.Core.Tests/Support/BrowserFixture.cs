using PuppeteerSharp;

namespace TunnelLite.Tests.Support;

/// <summary>One headless chromium for a test class (starting one takes about a second), with a fresh profile in a temp
/// folder that goes with it. Each test opens its own context, so that cookies and cached credentials stay its own.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private IBrowser? _browser;
    private string? _profile;

    public async Task InitializeAsync()
    {
        // Missing: the tests skip (ChromiumFact), or under CI fail in Browser with the reason.
        if (Chromium.Path is null) return;
        _profile = Directory.CreateTempSubdirectory("tunnellite-chromium-").FullName;
        _browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = Chromium.Path,
            Headless = true,
            Args = Chromium.Args,
            UserDataDir = _profile,
            Timeout = 30_000,
            DefaultViewport = new ViewPortOptions { Width = 1280, Height = 800 },
        });
    }

    /// <summary>The browser.</summary>
    /// <exception cref="InvalidOperationException">There is no chromium (under CI=true: the test fails with this).</exception>
    public IBrowser Browser => _browser ?? throw new InvalidOperationException(Chromium.MissingReason + "; CI=true requires it.");

    /// <summary>A page in a context of its own.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.CreateBrowserContextAsync();
        return await context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.CloseAsync();
        if (_profile is not null)
        {
            try
            {
                Directory.Delete(_profile, recursive: true);
            }
            catch (IOException)
            {
                // chromium may still be writing its last files as it exits; the temp folder is the system's to clean.
            }
        }
    }
}
