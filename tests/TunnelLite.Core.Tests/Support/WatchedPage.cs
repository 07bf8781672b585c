using System.Collections.Concurrent;
using PuppeteerSharp;

namespace TunnelLite.Tests.Support;

/// <summary>A browser page, in a context of its own, that records what a person would not notice but a test must:
/// console errors, uncaught exceptions, Content-Security-Policy violations and dialogs (dismissed at once).</summary>
public sealed class WatchedPage : IAsyncDisposable
{
    // Installed before any of the page's own scripts (a CDP script bypasses the page's CSP): each violation the
    // browser reports as an event, with what was blocked and where.
    private const string CspListener = """
        window.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(
            e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + (e.sourceFile || '?') + ':' + e.lineNumber));
        """;

    private WatchedPage(IPage page) => Page = page;

    public IPage Page { get; }

    /// <summary>Console errors and uncaught exceptions, as "kind: text".</summary>
    public ConcurrentQueue<string> Errors { get; } = new();

    /// <summary>The text of each dialog (alert, confirm, prompt) the page opened.</summary>
    public ConcurrentQueue<string> Dialogs { get; } = new();

    /// <summary>Opens a page. <paramref name="bypassCsp"/> turns the page's CSP off, for a test that shows the page is safe
    /// without it; <paramref name="credentials"/> answers the endpoint's basic-auth challenge.</summary>
    public static async Task<WatchedPage> OpenAsync(BrowserFixture browser, bool bypassCsp = false, Credentials? credentials = null)
    {
        var page = new WatchedPage(await browser.NewPageAsync());
        var p = page.Page;
        p.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error) page.Errors.Enqueue($"console: {e.Message.Text} ({e.Message.Location?.URL})");
        };
        p.PageError += (_, e) => page.Errors.Enqueue($"exception: {e.Message}");
        p.Dialog += async (_, e) =>
        {
            page.Dialogs.Enqueue(e.Dialog.Message);
            await e.Dialog.Dismiss();
        };
        await p.EvaluateExpressionOnNewDocumentAsync(CspListener);
        if (bypassCsp) await p.SetBypassCSPAsync(true);
        if (credentials is not null) await p.AuthenticateAsync(credentials);
        return page;
    }

    /// <summary>From now on answers every login prompt with Cancel, as a person without the password would, so that the
    /// page shows the 401 (left alone, headless chromium ends such a navigation with ERR_INVALID_AUTH_CREDENTIALS after
    /// about 2 s, and a fetch waits for an answer forever).</summary>
    public async Task CancelLoginPromptsAsync()
    {
        var cdp = await Page.CreateCDPSessionAsync();
        cdp.MessageReceived += async (_, e) =>
        {
            try
            {
                if (e.MessageID is not ("Fetch.requestPaused" or "Fetch.authRequired")) return;
                var id = e.MessageData.GetProperty("requestId").GetString();
                if (e.MessageID == "Fetch.requestPaused") await cdp.SendAsync("Fetch.continueRequest", new { requestId = id }, true, null);
                else await cdp.SendAsync("Fetch.continueWithAuth", new { requestId = id, authChallengeResponse = new { response = "CancelAuth" } }, true, null);
            }
            catch (PuppeteerException e2)
            {
                Errors.Enqueue($"login prompt: {e2.Message}");
            }
        };
        await cdp.SendAsync("Fetch.enable", new { handleAuthRequests = true }, true, null);
    }

    /// <summary>The CSP violations the page reported so far.</summary>
    public Task<string[]> CspViolationsAsync() => Page.EvaluateExpressionAsync<string[]>("window.__cspViolations");

    /// <summary>Waits until the dashboard has finished <paramref name="polls"/> polls in all (body's data-polls).</summary>
    public Task WaitForPollsAsync(int polls, int timeoutMs = 15_000) =>
        Page.WaitForFunctionAsync($"() => Number(document.body.dataset.polls || 0) >= {polls}", new WaitForFunctionOptions { Timeout = timeoutMs });

    public async ValueTask DisposeAsync() => await Page.BrowserContext.CloseAsync();
}
