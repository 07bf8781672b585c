using System.Net.Sockets;
using System.Security.Cryptography;
using PuppeteerSharp;
using TunnelLite.Admin;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Makes the README's picture of the dashboard (docs/images/dashboard.png): a server with two clients, five tunnels
/// and about a minute of varied traffic, shot at 1280x800. It runs only when TUNNELLITE_DASHBOARD_SCREENSHOT names the PNG to
/// write (it takes about 80 s, and a picture is no check):
/// <c>TUNNELLITE_DASHBOARD_SCREENSHOT=$PWD/docs/images/dashboard.png dotnet test tests/TunnelLite.Core.Tests -c Release --filter "FullyQualifiedName~DashboardScreenshot"</c>.</summary>
public sealed class DashboardScreenshotTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private static readonly string? Target = Environment.GetEnvironmentVariable("TUNNELLITE_DASHBOARD_SCREENSHOT");

    /// <summary>Skipped unless TUNNELLITE_DASHBOARD_SCREENSHOT is set; then it needs chromium like the other dashboard tests.</summary>
    public sealed class ScreenshotFactAttribute : FactAttribute
    {
        public ScreenshotFactAttribute()
        {
            if (string.IsNullOrEmpty(Target)) Skip = "set TUNNELLITE_DASHBOARD_SCREENSHOT to the PNG to write to make the README's screenshot";
            else if (Chromium.Path is null && !ExternalTool.MustRun) Skip = Chromium.MissingReason;
        }
    }

    // Tokens of full strength: the fixture's example token would put a weak-token warning in the pictured events.
    private static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [ScreenshotFact]
    public async Task Saves_a_picture_of_a_busy_dashboard()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        await using var web = new SizedReplyService();
        var shared = NewToken();
        var aliceToken = NewToken();
        var options = TunnelFixture.ServerOptions();
        options.Token = shared;
        options.Clients.Add(new ClientAccount { Name = "alice", Token = aliceToken });
        options.Admin = new AdminOptions { Address = "127.0.0.1", Port = 0 };
        var server = await f.StartServerAsync(options);

        var homelab = TunnelFixture.ClientOptions(server, token: shared);
        homelab.ClientName = "homelab";
        homelab.Tunnels.Add(new TunnelDefinition { Name = "grafana", LocalPort = web.Port });
        homelab.Tunnels.Add(new TunnelDefinition { Name = "ssh", LocalPort = echo.Port });
        homelab.Tunnels.Add(new TunnelDefinition { Name = "web", LocalPort = web.Port });
        // A tunnel to a port where nothing listens: its users fail, as a stopped database's would.
        homelab.Tunnels.Add(new TunnelDefinition { Name = "postgres", LocalPort = ClosedPort() });
        var home = await f.StartClientAsync(homelab);
        var aliceOptions = TunnelFixture.ClientOptions(server, token: aliceToken);
        aliceOptions.ClientName = "alice";
        aliceOptions.Tunnels.Add(new TunnelDefinition { Name = "api", LocalPort = web.Port });
        var alice = await f.StartClientAsync(aliceOptions);

        await using var page = await WatchedPage.OpenAsync(browser);
        await page.Page.SetViewportAsync(new ViewPortOptions { Width = 1280, Height = 800 });
        await page.Page.GoToAsync(server.Admin!.Url);

        // Two idle SSH sessions stay open for the Active column; the rest is traffic that rises and falls.
        var port = (TunnelClient c, string name) => c.Tunnels.Single(t => t.Name == name).RemotePort;
        using var idle1 = await TunnelFixture.ConnectAsync(port(home, "ssh"));
        using var idle2 = await TunnelFixture.ConnectAsync(port(home, "ssh"));
        for (var i = 0; i < 2; i++)
        {
            using var refused = await TunnelFixture.ConnectAsync(port(home, "postgres"));
            await Transfer.DrainAsync(refused, TimeSpan.FromSeconds(5));
        }
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(75);
        await Task.WhenAll(
            Requests(port(home, "web"), until, t => (2_000, (int)(1_600_000 * (0.55 + 0.45 * Math.Sin(t / 9.0))))),
            Requests(port(alice, "api"), until, t => t % 6 < 3 ? (250_000, 700_000) : (40_000, 60_000)),
            Requests(port(home, "grafana"), until, t => t % 10 == 0 ? (3_000, 900_000) : (1_000, 25_000)),
            Echoes(port(home, "ssh"), until, t => 8_000 + (t % 4) * 3_000));

        await page.Page.ClickAsync("#tunnel-rows tr[data-tunnel=web]");
        await page.WaitForPollsAsync(int.Parse(await page.Page.EvaluateExpressionAsync<string>("document.body.dataset.polls")) + 1);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(Target!))!);
        await page.Page.ScreenshotAsync(Target, new ScreenshotOptions { Type = ScreenshotType.Png });
        Assert.Empty(page.Errors);
    }

    /// <summary>Once a second until <paramref name="until"/>, a request of the sizes <paramref name="sizesAt"/>(second) gives.</summary>
    private static async Task Requests(int port, DateTime until, Func<int, (int Request, int Reply)> sizesAt)
    {
        for (var t = 0; DateTime.UtcNow < until; t++)
        {
            var tick = Task.Delay(1000);
            var (request, reply) = sizesAt(t);
            using (var user = await TunnelFixture.ConnectAsync(port))
                Assert.Equal(reply, await SizedReplyService.RequestAsync(user, request, reply));
            await tick;
        }
    }

    /// <summary>Once a second until <paramref name="until"/>, an echo round trip of <paramref name="bytesAt"/>(second) bytes.</summary>
    private static async Task Echoes(int port, DateTime until, Func<int, int> bytesAt)
    {
        for (var t = 0; DateTime.UtcNow < until; t++)
        {
            var tick = Task.Delay(1000);
            using (var user = await TunnelFixture.ConnectAsync(port))
            {
                var (sent, received, _) = await Transfer.EchoRoundTripAsync(user, bytesAt(t), seed: t);
                Assert.Equal(sent, received);
            }
            await tick;
        }
    }

    private static int ClosedPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        s.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return ((System.Net.IPEndPoint)s.LocalEndPoint!).Port;
    }
}
