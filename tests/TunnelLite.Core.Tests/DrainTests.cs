using System.Diagnostics;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;
using Xunit.Abstractions;

namespace TunnelLite.Tests;

/// <summary>A graceful stop of either end, with a download that is surely in flight when the stop begins (the local service
/// sends at a fixed rate, so the download lasts seconds): within the drain timeout it completes intact, and the stop waits for
/// it; past the deadline the rest is reset, so that the user sees the end at once instead of hanging, and the stop returns.
/// Run per pump, since each one must honour the hard stop on its own.</summary>
public abstract class DrainTests : DataPathSuite
{
    // What a stop may take beyond the drain timeout on the loaded 2-core machine: closing sessions, pumps noticing the hard
    // stop, the accept loop ending.
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan LongDrain = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ShortDrain = TimeSpan.FromSeconds(1);
    private readonly ITestOutputHelper _output;

    protected DrainTests(ITestOutputHelper output) => _output = output;

    private enum End { Server, Client }

    [Fact]
    public Task Server_stop_lets_a_download_in_flight_complete_intact() => InFlightCompletesAsync(End.Server);

    [Fact]
    public Task Client_stop_lets_a_download_in_flight_complete_intact() => InFlightCompletesAsync(End.Client);

    [Fact]
    public Task Server_stop_resets_what_is_left_at_the_drain_deadline_and_returns() => DeadlineResetsAsync(End.Server);

    [Fact]
    public Task Client_stop_resets_what_is_left_at_the_drain_deadline_and_returns() => DeadlineResetsAsync(End.Client);

    private async Task InFlightCompletesAsync(End end)
    {
        // 3 MiB at 1.5 MiB/s: about 2 s, well inside the 5 s drain.
        await using var service = new PacedService(3 * 1024 * 1024, 3 * 512 * 1024);
        await using var f = NewFixture();
        var (server, client) = await StartAsync(f, service, LongDrain);
        var publicPort = client.Tunnels.Single().RemotePort;
        using var user = await TunnelFixture.ConnectAsync(publicPort);
        var download = Download.Start(user, TimeSpan.FromSeconds(20));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => download.Received >= 512 * 1024, TimeSpan.FromSeconds(10)), "the download did not start");

        var clock = Stopwatch.StartNew();
        var atStop = download.Received;
        var stop = end == End.Server ? server.StopAsync() : client.StopAsync(LongDrain);
        Assert.True(atStop < service.Size, "the download must still be in flight when the stop begins");

        var (how, hash, _) = await download.Completion;
        var downloaded = clock.Elapsed;
        Assert.Equal(DownloadEnd.Eof, how);
        Assert.Equal(service.Hash, hash);
        Assert.Equal(service.Size, download.Received);
        // The user has not closed its end yet, so the connection is still active: a stop that did not wait for it is a bug.
        Assert.False(stop.IsCompleted, "the stop returned while a connection was still active");
        user.Dispose();
        Assert.True(await Task.WhenAny(stop, Task.Delay(LongDrain + Margin)) == stop, "the stop did not return");
        await stop;
        _output.WriteLine($"{end} stop: {atStop:N0} of {service.Size:N0} bytes in at the stop; download complete after {downloaded.TotalSeconds:0.00} s; stop returned after {clock.Elapsed.TotalSeconds:0.00} s (drain timeout {LongDrain.TotalSeconds} s).");
        Assert.True(clock.Elapsed < LongDrain, $"the stop took {clock.Elapsed.TotalSeconds:0.00} s: it waited for the deadline instead of the drained connection");

        Assert.True(await TunnelFixture.WaitUntilAsync(() => EndToEndTests.CanBind(publicPort), TimeSpan.FromSeconds(2)), "the public port was not freed");
        if (end == End.Server) Assert.True(EndToEndTests.CanBind(server.ControlEndpoint!.Port), "the control port was not freed");
    }

    private async Task DeadlineResetsAsync(End end)
    {
        // 8 MiB at 1 MiB/s: about 8 s, far beyond the 1 s drain.
        await using var service = new PacedService(8 * 1024 * 1024, 1024 * 1024);
        await using var f = NewFixture();
        var (server, client) = await StartAsync(f, service, ShortDrain);
        var publicPort = client.Tunnels.Single().RemotePort;
        using var user = await TunnelFixture.ConnectAsync(publicPort);
        var download = Download.Start(user, TimeSpan.FromSeconds(20));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => download.Received >= 256 * 1024, TimeSpan.FromSeconds(10)), "the download did not start");

        var started = Stopwatch.GetTimestamp();
        var stop = end == End.Server ? server.StopAsync() : client.StopAsync(ShortDrain);
        Assert.True(await Task.WhenAny(stop, Task.Delay(ShortDrain + TimeSpan.FromSeconds(10))) == stop, "the stop hangs");
        await stop;
        var stopTook = Stopwatch.GetElapsedTime(started);
        var (how, _, endedAt) = await download.Completion;
        var userSawEnd = Stopwatch.GetElapsedTime(started, endedAt);
        _output.WriteLine($"{end} stop: returned after {stopTook.TotalSeconds:0.00} s (drain timeout {ShortDrain.TotalSeconds} s); the user saw {how} after {userSawEnd.TotalSeconds:0.00} s with {download.Received:N0} of {service.Size:N0} bytes.");

        Assert.True(stopTook >= ShortDrain - TimeSpan.FromMilliseconds(50), $"the stop returned after {stopTook.TotalSeconds:0.00} s, before the drain deadline");
        Assert.True(stopTook < ShortDrain + Margin, $"the stop took {stopTook.TotalSeconds:0.00} s, more than the drain timeout and {Margin.TotalSeconds} s");
        // A reset, not a clean end: a user must not take a cut-off download for a whole one.
        Assert.Equal(DownloadEnd.Reset, how);
        Assert.True(download.Received < service.Size);
        Assert.True(userSawEnd < ShortDrain + Margin, $"the user saw the end after {userSawEnd.TotalSeconds:0.00} s");
        Assert.True(await TunnelFixture.WaitUntilAsync(() => EndToEndTests.CanBind(publicPort), TimeSpan.FromSeconds(2)), "the public port was not freed");
    }

    private static async Task<(TunnelServer Server, TunnelLite.Client.TunnelClient Client)> StartAsync(TunnelFixture f, PacedService service, TimeSpan drain)
    {
        var so = TunnelFixture.ServerOptions(tls: f.Tls);
        so.DrainTimeout = drain;
        var server = await f.StartServerAsync(so);
        var co = TunnelFixture.ClientOptions(server);
        co.Tunnels.Add(new TunnelDefinition { Name = "paced", LocalPort = service.Port });
        return (server, await f.StartClientAsync(co));
    }
}

public sealed class DrainCopyTests(ITestOutputHelper output) : DrainTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
}

public sealed class DrainSpliceTests(ITestOutputHelper output) : DrainTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
}

/// <summary>The default mode: a paced download is copied at first and may move to splice mid-stream.</summary>
public sealed class DrainAutoTests(ITestOutputHelper output) : DrainTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

public sealed class DrainAsyncCopyTests(ITestOutputHelper output) : DrainTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

public sealed class DrainAsyncSpliceTests(ITestOutputHelper output) : DrainTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

public sealed class DrainAsyncAutoTests(ITestOutputHelper output) : DrainTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

/// <summary>Through the stream pump that TLS uses; with the other TLS suites, one class at a time.</summary>
[Collection(EndToEndTlsCollection.Name)]
public sealed class DrainTlsTests(ITestOutputHelper output) : DrainTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
    protected override bool Tls => true;
}
