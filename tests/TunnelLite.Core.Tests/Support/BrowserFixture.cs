using PuppeteerSharp;

namespace TunnelLite.Tests.Support;

/// <summary>One headless chromium for a test class (starting one takes one to four seconds here), with a fresh profile in
/// a temp folder that goes with it. It starts at the first page asked for, so that a class whose tests all skip starts
/// none. Each page has a context of its own, so that cookies and cached credentials stay one test's.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private readonly SemaphoreSlim _launching = new(1, 1);
    private IBrowser? _browser;
    private string? _profile;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>A page in a context of its own.</summary>
    /// <exception cref="InvalidOperationException">There is no chromium (under CI=true the test fails with this).</exception>
    public async Task<IPage> NewPageAsync()
    {
        var context = await (await BrowserAsync()).CreateBrowserContextAsync();
        return await context.NewPageAsync();
    }

    private async Task<IBrowser> BrowserAsync()
    {
        if (Chromium.Path is null) ExternalTool.Require(Chromium.Path, Chromium.MissingReason);
        await _launching.WaitAsync();
        try
        {
            if (_browser is not null) return _browser;
            _profile = Directory.CreateTempSubdirectory("tunnellite-chromium-").FullName;
            return _browser = await Puppeteer.LaunchAsync(new LaunchOptions
            {
                ExecutablePath = Chromium.Path,
                Headless = true,
                Args = Chromium.Args,
                UserDataDir = _profile,
                Timeout = 30_000,
                DefaultViewport = new ViewPortOptions { Width = 1280, Height = 800 },
            });
        }
        finally
        {
            _launching.Release();
        }
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
        _launching.Dispose();
    }
}
