using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TunnelLite.Admin;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;
using Xunit.Abstractions;

namespace TunnelLite.Tests;

/// <summary>A drain for a rolling upgrade (<see cref="TunnelServer.BeginDrain"/>, POST /api/v1/drain), under load: during
/// its delay /ready answers 503 while users are still served; after it new users are refused while a download in flight
/// completes intact (by hash); the server stops once the connections are done, or at the drain's deadline; a plain stop
/// during a drain stops at once. The paced service makes sure a download lasts seconds, so it is surely in flight.</summary>
public abstract class ServerDrainTests : DataPathSuite
{
    private const string User = "ops";
    private const string Password = "admin password for the drain tests";
    // What a stop may take beyond its deadline on the loaded 2-core machine (as in DrainTests).
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(1.5);
    private readonly ITestOutputHelper _output;

    protected ServerDrainTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Ready_answers_503_at_once_users_are_served_during_the_delay_then_new_users_are_refused_while_a_download_in_flight_completes_intact()
    {
        // 4 MiB at 1 MiB/s: about 4 s, well past the 1.5 s delay and inside the 15 s deadline.
        await using var paced = new PacedService(4 * 1024 * 1024, 1024 * 1024);
        await using var echo = new EchoService();
        await using var f = NewFixture();
        var (server, client, admin) = await StartAsync(f, paced, echo, TimeSpan.FromSeconds(15));
        var pacedPort = client.Tunnels.Single(t => t.Name == "paced").RemotePort;
        var echoPort = client.Tunnels.Single(t => t.Name == "echo").RemotePort;
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/ready")).Status);

        using var user = await TunnelFixture.ConnectAsync(pacedPort);
        var download = Download.Start(user, TimeSpan.FromSeconds(30));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => download.Received >= 256 * 1024, TimeSpan.FromSeconds(10)), "the download did not start");

        var clock = Stopwatch.StartNew();
        var drain = server.BeginDrain(TimeSpan.FromSeconds(1.5));
        Assert.False(drain.AlreadyDraining);
        Assert.Equal(15, drain.TimeoutSeconds);
        Assert.Equal("Draining", server.State);
        Assert.Equal("Draining", server.GetStatistics().State);
        var ready = await RawHttp.RequestAsync(admin, "GET", "/ready");
        var readyTunnel = await RawHttp.RequestAsync(admin, "GET", "/ready?tunnel=echo");
        var health = await RawHttp.RequestAsync(admin, "GET", "/healthz");
        var again = server.BeginDrain(TimeSpan.FromSeconds(60), TimeSpan.Zero);
        // Served during the delay: a new user, and a new client's tunnel.
        await AssertEchoAsync(echoPort, 1);
        var late = TunnelFixture.ClientOptions(server);
        late.Tunnels.Add(new TunnelDefinition { Name = "late", LocalPort = echo.Port });
        var lateClient = await f.StartClientAsync(late);
        await AssertEchoAsync(lateClient.Tunnels.Single().RemotePort, 2);
        var servedWithin = clock.Elapsed;
        Assert.True(servedWithin < TimeSpan.FromSeconds(1.5), $"the checks of the delay took {servedWithin.TotalSeconds:0.00} s, past the delay: the test proves nothing on so slow a machine");

        Assert.Equal(503, ready.Status);
        Assert.Contains("draining", ready.Body, StringComparison.Ordinal);
        Assert.Equal("60", ready.Headers["retry-after"]);
        Assert.Equal(503, readyTunnel.Status);
        Assert.Equal(200, health.Status);
        Assert.True(again.AlreadyDraining);
        Assert.Equal(drain.StopsAccepting, again.StopsAccepting); // idempotent: the first drain holds

        // After the delay: the public ports and the control port refuse; the download in flight goes on.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.State == "Stopping", TimeSpan.FromSeconds(5)), $"the server is {server.State}");
        Assert.True(download.Received < paced.Size, "the download must still be in flight when the server stops accepting");
        await AssertRefusedAsync(echoPort);
        await AssertRefusedAsync(pacedPort);
        await AssertRefusedAsync(server.ControlEndpoint!.Port);

        var (how, hash, _) = await download.Completion;
        Assert.Equal(DownloadEnd.Eof, how);
        Assert.Equal(paced.Hash, hash);
        Assert.Equal(paced.Size, download.Received);
        Assert.False(server.Completion.IsCompleted, "the server stopped while a connection was still active");
        user.Dispose();
        Assert.True(await Task.WhenAny(server.Completion, Task.Delay(TimeSpan.FromSeconds(5))) == server.Completion, "the server did not stop once its connections were done");
        _output.WriteLine($"Drain: served during the delay within {servedWithin.TotalSeconds:0.00} s; stopped after {clock.Elapsed.TotalSeconds:0.00} s (delay 1.5 s, deadline 15 s).");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(12), $"the drain took {clock.Elapsed.TotalSeconds:0.00} s: it waited for the deadline instead of the connections");
        Assert.Equal("Stopped", server.State);
        Assert.NotNull(server.Drain);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => EndToEndTests.CanBind(pacedPort), TimeSpan.FromSeconds(2)), "the public port was not freed");
    }

    [Fact]
    public async Task A_drain_resets_what_is_left_at_its_deadline_and_the_server_stops()
    {
        // 8 MiB at 1 MiB/s: about 8 s, far past the 1 s deadline.
        await using var paced = new PacedService(8 * 1024 * 1024, 1024 * 1024);
        await using var echo = new EchoService();
        await using var f = NewFixture();
        var (server, client, _) = await StartAsync(f, paced, echo, TimeSpan.FromSeconds(30));
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single(t => t.Name == "paced").RemotePort);
        var download = Download.Start(user, TimeSpan.FromSeconds(30));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => download.Received >= 256 * 1024, TimeSpan.FromSeconds(10)), "the download did not start");

        var clock = Stopwatch.StartNew();
        var drained = server.DrainAsync(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1));
        Assert.True(await Task.WhenAny(drained, Task.Delay(TimeSpan.FromSeconds(15))) == drained, "the drain hangs");
        var took = clock.Elapsed;
        var (how, _, _) = await download.Completion;
        _output.WriteLine($"Drain: returned after {took.TotalSeconds:0.00} s (delay 0.5 s, deadline 1 s); the user saw {how} with {download.Received:N0} of {paced.Size:N0} bytes.");
        Assert.True(took >= TimeSpan.FromSeconds(1.45), $"the drain returned after {took.TotalSeconds:0.00} s, before its delay and deadline");
        Assert.True(took < TimeSpan.FromSeconds(1.5) + Margin, $"the drain took {took.TotalSeconds:0.00} s, past its deadline");
        // A reset, not a clean end: a user must not take a cut-off download for a whole one.
        Assert.Equal(DownloadEnd.Reset, how);
        Assert.Equal("Stopped", server.State);
    }

    [Fact]
    public async Task A_plain_stop_during_a_drain_stops_at_once()
    {
        await using var paced = new PacedService(8 * 1024 * 1024, 1024 * 1024);
        await using var echo = new EchoService();
        await using var f = NewFixture();
        var (server, client, admin) = await StartAsync(f, paced, echo, TimeSpan.FromSeconds(30));
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single(t => t.Name == "paced").RemotePort);
        var download = Download.Start(user, TimeSpan.FromSeconds(30));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => download.Received >= 256 * 1024, TimeSpan.FromSeconds(10)), "the download did not start");

        server.BeginDrain(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60));
        Assert.Equal(503, (await RawHttp.RequestAsync(admin, "GET", "/ready")).Status);
        var clock = Stopwatch.StartNew();
        var stop = server.StopAsync();
        Assert.True(await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(15))) == stop, "the stop hangs");
        Assert.True(clock.Elapsed < Margin + TimeSpan.FromSeconds(1), $"the stop took {clock.Elapsed.TotalSeconds:0.00} s: it waited for the drain");
        Assert.Equal(DownloadEnd.Reset, (await download.Completion).End);
        Assert.Equal("Stopped", server.State);
        Assert.Throws<InvalidOperationException>(() => new TunnelServer(TunnelFixture.ServerOptions()).BeginDrain());
    }

    [Fact]
    public async Task The_admin_endpoint_drains_only_for_its_authenticated_operator()
    {
        await using var paced = new PacedService(1024, 1024);
        await using var echo = new EchoService();
        await using var f = NewFixture();
        var credentials = new AdminOptions { Address = "127.0.0.1", Port = 0, User = User, Password = Password };
        var (server, client, admin) = await StartAsync(f, paced, echo, TimeSpan.FromSeconds(5), credentials);
        var echoPort = client.Tunnels.Single(t => t.Name == "echo").RemotePort;

        Assert.Equal(401, (await RawHttp.RequestAsync(admin, "POST", "/api/v1/drain")).Status);
        Assert.Equal(401, (await RawHttp.RequestAsync(admin, "POST", "/api/v1/drain", RawHttp.Basic(User, "wrong"))).Status);
        Assert.Equal(405, (await RawHttp.RequestAsync(admin, "GET", "/api/v1/drain", RawHttp.Basic(User, Password))).Status);
        Assert.Equal(400, (await RawHttp.RequestAsync(admin, "POST", "/api/v1/drain?delaySeconds=3601", RawHttp.Basic(User, Password))).Status);
        Assert.Equal(400, (await RawHttp.RequestAsync(admin, "POST", "/api/v1/drain?timeoutSeconds=-1", RawHttp.Basic(User, Password))).Status);
        Assert.Equal("Running", server.State); // none of these drained
        await AssertEchoAsync(echoPort, 3);

        using var api = new AdminClient(admin.ToString(), User, Password);
        var drain = await api.DrainAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        Assert.Equal(1, drain.DelaySeconds);
        Assert.Equal(2, drain.TimeoutSeconds);
        Assert.Equal("Draining", server.State);
        Assert.True((await api.DrainAsync()).AlreadyDraining);
        Assert.True(await Task.WhenAny(server.Completion, Task.Delay(TimeSpan.FromSeconds(10))) == server.Completion, "the drain did not stop the server");
        await AssertRefusedAsync(echoPort);

        // Without credentials on the endpoint, nobody may drain: a change needs the operator.
        await using var g = NewFixture();
        var (open, _, openAdmin) = await StartAsync(g, paced, echo, TimeSpan.FromSeconds(5), new AdminOptions { Address = "127.0.0.1", Port = 0 });
        var r = await RawHttp.RequestAsync(openAdmin, "POST", "/api/v1/drain");
        Assert.Equal(403, r.Status);
        Assert.Contains("need credentials", r.Body, StringComparison.Ordinal);
        Assert.Equal("Running", open.State);
    }

    [Fact]
    public void The_drain_keys_are_read_from_the_transport_table_and_bounded()
    {
        var options = TunnelConfigLoader.ParseServer("auth.token = 'x'\n[transport]\ndrainDelay = 20\ndrainTimeout = 30\n").Options;
        Assert.Equal(TimeSpan.FromSeconds(20), options.DrainDelay);
        Assert.Equal(TimeSpan.FromSeconds(30), options.DrainTimeout);
        var zero = TunnelConfigLoader.ParseServer("auth.token = 'x'\ntransport.drainDelay = 0\n").Options;
        Assert.Equal(TimeSpan.Zero, zero.DrainDelay);
        Assert.Equal(TimeSpan.FromSeconds(10), TunnelConfigLoader.ParseServer("auth.token = 'x'\n").Options.DrainDelay);
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer("auth.token = 'x'\ntransport.drainDelay = 3601\n", "bad.toml"));
        Assert.Equal("transport.drainDelay", e.Key);
        Assert.Throws<ArgumentException>(() => new TunnelServerOptions { Token = "x", DrainDelay = TimeSpan.FromSeconds(-1) }.Validate());
    }

    private static async Task<(TunnelServer Server, TunnelClient Client, IPEndPoint Admin)> StartAsync(TunnelFixture f, PacedService paced, EchoService echo,
        TimeSpan drainTimeout, AdminOptions? admin = null)
    {
        var so = TunnelFixture.ServerOptions(tls: f.Tls);
        so.DrainTimeout = drainTimeout;
        so.Admin = admin ?? new AdminOptions { Address = "127.0.0.1", Port = 0 };
        var server = await f.StartServerAsync(so);
        var co = TunnelFixture.ClientOptions(server);
        co.Tunnels.Add(new TunnelDefinition { Name = "paced", LocalPort = paced.Port });
        co.Tunnels.Add(new TunnelDefinition { Name = "echo", LocalPort = echo.Port });
        return (server, await f.StartClientAsync(co), server.Admin!.Endpoint!);
    }

    private static async Task AssertEchoAsync(int port, int seed)
    {
        using var user = await TunnelFixture.ConnectAsync(port);
        var r = await Transfer.EchoRoundTripAsync(user, 64 * 1024, seed);
        Assert.Equal(r.Sent, r.Received);
        Assert.Equal(64 * 1024, r.ReceivedBytes);
    }

    // The state turns Stopping just before the listeners close: a connection may still get in for a few milliseconds (it is
    // then closed with the listener); what matters is that new users are refused from then on.
    private static async Task AssertRefusedAsync(int port)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var s = await TunnelFixture.ConnectAsync(port);
            }
            catch (SocketException e)
            {
                Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
                return;
            }
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(3), $"port {port} still accepts 3 s after the server stopped accepting");
            await Task.Delay(20);
        }
    }
}

/// <summary>The default mode on the default plane (event loops on Linux).</summary>
public sealed class ServerDrainAutoTests(ITestOutputHelper output) : ServerDrainTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

/// <summary>The async plane, whose pumps honour the hard stop on their own.</summary>
public sealed class ServerDrainAsyncTests(ITestOutputHelper output) : ServerDrainTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}
