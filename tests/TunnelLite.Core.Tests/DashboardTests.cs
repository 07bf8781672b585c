using System.Net;
using PuppeteerSharp;
using TunnelLite.Admin;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The web dashboard in a real browser (headless chromium): a real server and client on 127.0.0.1, real bytes
/// through their tunnels, and the page as a person's browser runs it, under the endpoint's Content-Security-Policy.</summary>
public sealed class DashboardTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const string HostileTunnel = "<img src=x onerror=alert(1)>";
    private const string HostileClient = "<svg onload=alert(2)>";
    private const string User = "ops";
    private const string Password = "dashboard password for the tests";

    // Finds a tunnel's row by comparing data-tunnel in script, so that no name has to be escaped into a CSS selector.
    private const string Row = "const row = (n) => [...document.querySelectorAll('#tunnel-rows tr')].find((r) => r.dataset.tunnel === n);";

    private static AdminOptions Admin(bool credentials = false) => new()
    {
        Address = "127.0.0.1",
        Port = 0,
        User = credentials ? User : null,
        Password = credentials ? Password : Security.Secret.Empty,
    };

    /// <summary>A server with an admin endpoint and one client with a tunnel of each name to <paramref name="echo"/>.</summary>
    private static async Task<(TunnelServer Server, TunnelClient Client)> StartAsync(TunnelFixture f, EchoService echo, AdminOptions admin,
        string? clientName, params string[] tunnels)
    {
        var options = TunnelFixture.ServerOptions();
        options.Admin = admin;
        var server = await f.StartServerAsync(options);
        var clientOptions = TunnelFixture.ClientOptions(server);
        clientOptions.ClientName = clientName;
        foreach (var name in tunnels) clientOptions.Tunnels.Add(new TunnelDefinition { Name = name, LocalPort = echo.Port });
        return (server, await f.StartClientAsync(clientOptions));
    }

    private static async Task MoveBytesAsync(TunnelClient client, string tunnel, int size, int seed)
    {
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single(t => t.Name == tunnel).RemotePort);
        var (sent, received, _) = await Transfer.EchoRoundTripAsync(user, size, seed);
        Assert.Equal(sent, received);
    }

    private static Task WaitForRowsAsync(WatchedPage page, int rows) =>
        page.Page.WaitForFunctionAsync($"() => document.querySelectorAll('#tunnel-rows tr').length === {rows}", new WaitForFunctionOptions { Timeout = 10_000 });

    private static Task<double> CellValueAsync(WatchedPage page, string tunnel, string column) =>
        page.Page.EvaluateFunctionAsync<double>($"(n, col) => {{ {Row} return Number(row(n).querySelector('td[data-col=' + col + ']').dataset.value); }}", tunnel, column);

    private static async Task AssertCleanAsync(WatchedPage page)
    {
        Assert.Empty(page.Errors);
        Assert.Empty(await page.CspViolationsAsync());
        Assert.Empty(page.Dialogs);
    }

    [ChromiumFact]
    public async Task Names_a_peer_chose_show_as_text_even_with_the_CSP_turned_off()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, _) = await StartAsync(f, echo, Admin(), HostileClient, HostileTunnel, "web");
        // The CSP alone would stop the alert of an <img> made from a name; with it off, only the page's own care does.
        await using var page = await WatchedPage.OpenAsync(browser, bypassCsp: true);
        await page.Page.GoToAsync(server.Admin!.Url);
        await WaitForRowsAsync(page, 2);
        await page.WaitForPollsAsync(2); // a second render, and time for an onerror or onload to have fired

        Assert.Equal(HostileTunnel, await page.Page.EvaluateFunctionAsync<string>(
            $"(n) => {{ {Row} return row(n).querySelector('td[data-col=name]').textContent; }}", HostileTunnel));
        var text = await page.Page.EvaluateExpressionAsync<string>("document.body.innerText");
        Assert.Contains(HostileTunnel, text);
        Assert.Contains(HostileClient, text); // in the tunnel's Client column and in the clients table
        Assert.Equal(0, await page.Page.EvaluateExpressionAsync<int>("document.querySelectorAll('img, svg, script:not([src])').length"));
        Assert.Empty(page.Dialogs);
        Assert.Empty(page.Errors);
    }

    [ChromiumFact]
    public async Task Numbers_and_charts_move_while_bytes_flow_and_the_page_breaks_no_rule_of_its_CSP()
    {
        const int size = 256 * 1024;
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, client) = await StartAsync(f, echo, Admin(), "build-agent", "web", "ssh");
        await using var page = await WatchedPage.OpenAsync(browser);
        Assert.Equal(HttpStatusCode.OK, (await page.Page.GoToAsync(server.Admin!.Url)).Status);
        await WaitForRowsAsync(page, 2);
        var before = await CellValueAsync(page, "web", "in");

        await MoveBytesAsync(client, "web", size, seed: 11);
        // The page polls every 2 s: the cell shows the bytes within a few polls, in human units.
        await page.Page.WaitForFunctionAsync($"(n, min) => {{ {Row} return Number(row(n).querySelector('td[data-col=in]').dataset.value) >= min; }}",
            new WaitForFunctionOptions { Timeout = 10_000 }, "web", before + size);
        Assert.Equal(before + size, await CellValueAsync(page, "web", "out"));
        Assert.Equal(0, await CellValueAsync(page, "ssh", "in"));
        Assert.EndsWith("KiB", await page.Page.EvaluateFunctionAsync<string>($"(n) => {{ {Row} return row(n).querySelector('td[data-col=in]').textContent; }}", "web"));
        Assert.True(await page.Page.EvaluateExpressionAsync<double>("Number(document.getElementById('total-bytes-in').dataset.value)") >= size);

        // A user who resets its connection after an exchange: the Reset column counts it, on its tunnel only.
        using (var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single(t => t.Name == "web").RemotePort))
        {
            await user.SendAsync("ping"u8.ToArray(), System.Net.Sockets.SocketFlags.None);
            Assert.Equal("ping"u8.ToArray(), await Transfer.ReceiveExactlyAsync(user, 4, TimeSpan.FromSeconds(10)));
            user.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        }
        await page.Page.WaitForFunctionAsync($"(n) => {{ {Row} return Number(row(n).querySelector('td[data-col=reset]').dataset.value) === 1; }}",
            new WaitForFunctionOptions { Timeout = 10_000 }, "web");
        Assert.Equal(0, await CellValueAsync(page, "ssh", "reset"));

        // The chart of the selected tunnel (the first, "ssh" by name order) and the totals': live points keep coming, and
        // the totals' rate scale grew past the idle 1 KiB/s once the bytes were seen.
        await page.Page.WaitForFunctionAsync("() => Number(document.getElementById('chart-total').dataset.max) > 1024 && Number(document.getElementById('chart-tunnel').dataset.points) >= 2",
            new WaitForFunctionOptions { Timeout = 10_000 });
        // The web tunnel's sparkline has ink above its baseline: a rate above zero was drawn.
        var inked = await page.Page.EvaluateFunctionAsync<int>($$"""
            (n) => {
                {{Row}}
                const c = row(n).querySelector('canvas');
                const d = c.getContext('2d').getImageData(0, 0, c.width, Math.floor(c.height * 0.7)).data;
                let k = 0;
                for (let i = 3; i < d.length; i += 4) if (d[i] > 0) k++;
                return k;
            }
            """, "web");
        Assert.True(inked > 20, $"{inked} pixels drawn above the sparkline's baseline");
        Assert.Equal("live", await page.Page.EvaluateExpressionAsync<string>("document.getElementById('status').dataset.state"));
        await AssertCleanAsync(page);
    }

    [ChromiumFact]
    public async Task A_clients_dashboard_hides_the_clients_and_logs_no_error_and_a_CSP_violation_would_be_seen()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (_, client) = await f.StartEchoTunnelAsync(echo, o => o.Admin = Admin());
        await using var page = await WatchedPage.OpenAsync(browser);
        await page.Page.GoToAsync(client.Admin!.Url);
        await WaitForRowsAsync(page, 1);
        await page.WaitForPollsAsync(2);

        Assert.Equal("Client", await page.Page.EvaluateExpressionAsync<string>("document.getElementById('role').textContent"));
        Assert.True(await page.Page.EvaluateExpressionAsync<bool>("document.getElementById('clients-section').hidden && document.getElementById('clients-card').hidden"));
        Assert.Equal($"127.0.0.1:{echo.Port}", await page.Page.EvaluateExpressionAsync<string>("document.querySelector('#tunnel-rows td[data-col=peer]').textContent"));
        await AssertCleanAsync(page);

        // The check above is not vacuous: a style attribute, which the CSP forbids, is reported.
        await page.Page.EvaluateExpressionAsync("document.body.setAttribute('style', 'color: red')");
        await page.Page.WaitForFunctionAsync("() => window.__cspViolations.length > 0", new WaitForFunctionOptions { Timeout = 5_000 });
        Assert.Contains("style-src", Assert.Single(await page.CspViolationsAsync()));
    }

    [ChromiumFact]
    public async Task With_credentials_the_page_loads_for_a_browser_that_has_them_and_gets_401_without()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, _) = await StartAsync(f, echo, Admin(credentials: true), null, "web");
        var url = server.Admin!.Url!;

        await using (var stranger = await WatchedPage.OpenAsync(browser))
        {
            await stranger.CancelLoginPromptsAsync();
            var refused = await stranger.Page.GoToAsync(url);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
            Assert.Contains("needs a user and password", await stranger.Page.EvaluateExpressionAsync<string>("document.body.innerText"));
            Assert.Equal(0, await stranger.Page.EvaluateExpressionAsync<int>("document.querySelectorAll('#tunnel-rows').length"));
        }

        await using var page = await WatchedPage.OpenAsync(browser, credentials: new Credentials { Username = User, Password = Password });
        Assert.Equal(HttpStatusCode.OK, (await page.Page.GoToAsync(url)).Status);
        await WaitForRowsAsync(page, 1); // the API's requests carry the credentials the browser was given for the page
        Assert.Equal("live", await page.Page.EvaluateExpressionAsync<string>("document.getElementById('status').dataset.state"));
        await AssertCleanAsync(page);
    }
}
