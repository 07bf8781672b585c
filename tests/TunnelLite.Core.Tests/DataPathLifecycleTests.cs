using System.Diagnostics;
using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;
using Xunit.Abstractions;

namespace TunnelLite.Tests;

/// <summary>How a tunneled connection ends, seen from its two real ends (a user, and the local service played by the test):
/// a reset on either side reaches the other, also after one direction has half-closed; half-closes carry every byte both
/// ways; a stop without drain ends every transfer at once. Each time the counters must settle to no active connection.
/// A reader that should see a reset must not see a clean end: it would take a cut-off stream for a whole one.</summary>
public abstract class DataPathLifecycleTests : DataPathTests
{
    private const int MiB = 1024 * 1024;
    private readonly ITestOutputHelper _output;

    protected DataPathLifecycleTests(ForwardingMode mode, bool tls, ITestOutputHelper output, DataPlaneKind plane = DataPlaneKind.Auto)
        : base(mode, tls, plane) => _output = output;

    /// <summary>The two real ends of a tunneled connection.</summary>
    private enum Peer { User, Service }

    /// <summary>The tunnel end a test stops.</summary>
    private enum Stopped { Client, Server }

    // Would fail if a reset on an idle connection (both pumps waiting for data) were not noticed (a hang), were passed on as
    // a FIN, left the connection counted as active, or were not counted as one reset on each end.
    [Fact]
    public Task A_user_reset_after_an_exchange_resets_the_service_end() => ResetWhileIdleAsync(Peer.User);

    [Fact]
    public Task A_service_reset_after_an_exchange_resets_the_user_end() => ResetWhileIdleAsync(Peer.Service);

    // Would fail if a reset arriving while the other direction is busy (the pumps blocked on full buffers toward the
    // resetting end) were not noticed: the streaming peer would block for ever on its full send buffer. Whether the end it
    // sees is a reset is checked by the tests whose observer only reads (after an exchange, after a half-close).
    [Fact]
    public Task A_user_reset_mid_download_stops_the_streaming_service() => ResetWhileStreamedToAsync(Peer.User);

    [Fact]
    public Task A_service_reset_mid_upload_stops_the_streaming_user() => ResetWhileStreamedToAsync(Peer.Service);

    // Would fail if a pump whose other direction had already ended (FIN passed on) took the reset of the remaining one for a
    // clean end (then it would not count it as a reset either), or stopped watching the connection once half of it was done.
    [Fact]
    public Task A_service_reset_after_the_user_half_closed_resets_the_user() => ResetAfterHalfCloseAsync(Peer.Service);

    [Fact]
    public Task A_user_reset_after_the_service_half_closed_resets_the_service() => ResetAfterHalfCloseAsync(Peer.User);

    // Would fail if a FIN closed the whole connection (the reply lost), were not passed on (the reader hangs), were passed
    // on before the bytes ahead of it, if a byte were lost, duplicated or counted wrong in either direction, or if a clean
    // end were counted as a reset (or closed as one, losing the bytes still in a send buffer).
    [Fact]
    public Task The_user_half_closing_first_both_directions_arrive_whole() => HalfCloseBothWaysAsync(Peer.User);

    [Fact]
    public Task The_service_half_closing_first_both_directions_arrive_whole() => HalfCloseBothWaysAsync(Peer.Service);

    // Would fail if passing a half-close on disturbed the direction still streaming the other way. Over TLS it could: a
    // close_notify sent with SslStream.ShutdownAsync made OpenSSL read for the peer's, and when the peer's data was
    // already buffered it failed the whole connection ("application data after close notify"). That needed a record
    // left in SslStream's buffer at that instant: it was seen under load (200 connections at once), not here every run.
    [Fact]
    public Task The_user_half_closing_while_the_service_streams_to_it_gets_the_whole_stream() => HalfCloseWhileStreamedToAsync(Peer.User);

    [Fact]
    public Task The_service_half_closing_while_the_user_streams_to_it_gets_the_whole_stream() => HalfCloseWhileStreamedToAsync(Peer.Service);

    // Would fail if a stop without drain left transfers running (a pump not cancelled, or cancelled without closing its
    // sockets), ended them with a FIN, hung, left connections counted, did not count each as a reset on both ends, or left
    // the tunnel unable to serve after a restart.
    [Fact]
    public Task A_client_stop_without_drain_ends_every_transfer_at_once_and_a_new_client_serves() => StopMidTransferAsync(Stopped.Client);

    [Fact]
    public Task A_server_stop_without_drain_ends_every_transfer_at_once_and_the_restarted_server_serves() => StopMidTransferAsync(Stopped.Server);

    private async Task ResetWhileIdleAsync(Peer resetter)
    {
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (server, client, port) = await StartTunnelAsync(f, service.Port);
        var (user, end) = await OpenAsync(f, port, service);
        var (resetting, other) = Pick(resetter, user, end);
        var watch = Download.Start(other, Prompt);

        Reset(resetting);
        var (how, _, _) = await watch.Completion;
        Assert.True(how == DownloadEnd.Reset, $"the {Other(resetter)} saw {how} instead of a reset");
        Assert.Equal(0, watch.Received);
        other.Dispose();
        await AssertSettledAsync(server, client);
        AssertResetsCounted(server, client, 1);
    }

    private async Task ResetWhileStreamedToAsync(Peer resetter)
    {
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (server, client, port) = await StartTunnelAsync(f, service.Port);
        var (user, end) = await OpenAsync(f, port, service);
        var (resetting, streamer) = Pick(resetter, user, end);
        var streaming = Transfer.StreamUntilBrokenAsync(streamer);
        var watch = Download.Start(streamer, 2 * Prompt);

        // Read a while, so that every buffer on the way is full when the reset comes.
        await ReceiveExactlyAsync(resetting, MiB);
        Reset(resetting);
        var clock = Stopwatch.StartNew();

        var (sent, error) = await streaming.WaitAsync(Prompt);
        var (how, _, _) = await watch.Completion;
        _output.WriteLine($"{Other(resetter)} sent {sent:N0} bytes; its send failed with {error} and its receive saw {how} after {clock.ElapsedMilliseconds} ms");
        // The connection ended at once, both ways. Not necessarily as a reset: Linux reports a reset once, to the first call
        // that asks, and when that is a send in the middle of a buffer it partly sent, .NET keeps the bytes it sent and
        // drops the error; the streaming peer then sees a broken pipe and a plain end although the tunnel did reset it.
        Assert.True(error is SocketError.ConnectionReset or SocketError.Shutdown, $"the {Other(resetter)}'s send ended with {error}");
        Assert.True(how is DownloadEnd.Reset or DownloadEnd.Eof, $"the {Other(resetter)}'s receive ended with {how}");
        streamer.Dispose();
        await AssertSettledAsync(server, client);
        AssertResetsCounted(server, client, 1);
    }

    private async Task ResetAfterHalfCloseAsync(Peer resetter)
    {
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (server, client, port) = await StartTunnelAsync(f, service.Port);
        var (user, end) = await OpenAsync(f, port, service);
        var (resetting, observer) = Pick(resetter, user, end);

        // The observer half-closes; the resetter sees that end, then streams toward the observer until it resets.
        observer.Shutdown(SocketShutdown.Send);
        Assert.Equal(DownloadEnd.Eof, (await Download.Start(resetting, Prompt).Completion).End);
        var watch = Download.Start(observer, 2 * Prompt);
        var streaming = Transfer.StreamUntilBrokenAsync(resetting);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => watch.Received >= MiB, Prompt), "the stream did not flow after the half-close");
        Reset(resetting);
        await streaming;

        var (how, _, _) = await watch.Completion;
        Assert.True(how == DownloadEnd.Reset, $"the {Other(resetter)} saw {how} instead of a reset after {watch.Received:N0} bytes");
        observer.Dispose();
        await AssertSettledAsync(server, client);
        AssertResetsCounted(server, client, 1);
    }

    private async Task HalfCloseBothWaysAsync(Peer first)
    {
        // Odd sizes, different each way, so that a lost, doubled or swapped chunk shows in the counts too.
        const int userBytes = 3 * MiB + 7;
        const int serviceBytes = 2 * MiB + 13;
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (server, client, port) = await StartTunnelAsync(f, service.Port);
        var (user, end) = await OpenAsync(f, port, service);
        var (firstSocket, secondSocket) = Pick(first, user, end);
        var (firstBytes, secondBytes) = first == Peer.User ? (userBytes, serviceBytes) : (serviceBytes, userBytes);

        // The first peer sends and half-closes; the second reads to the end, and only then answers and half-closes.
        var atSecond = Download.Start(secondSocket, 2 * Prompt);
        var firstHash = await Transfer.SendSeededAsync(firstSocket, firstBytes, seed: 1);
        var (firstEnd, firstArrived, _) = await atSecond.Completion;
        Assert.Equal(DownloadEnd.Eof, firstEnd);
        Assert.Equal(firstBytes, atSecond.Received);
        Assert.Equal(firstHash, firstArrived);

        var atFirst = Download.Start(firstSocket, 2 * Prompt);
        var secondHash = await Transfer.SendSeededAsync(secondSocket, secondBytes, seed: 2);
        var (secondEnd, secondArrived, _) = await atFirst.Completion;
        Assert.Equal(DownloadEnd.Eof, secondEnd);
        Assert.Equal(secondBytes, atFirst.Received);
        Assert.Equal(secondHash, secondArrived);

        user.Dispose();
        end.Dispose();
        await AssertSettledAsync(server, client);
        AssertResetsCounted(server, client, 0);
        // Exact counts on both ends: the 4-byte handshake of OpenAsync, then the two streams.
        foreach (var totals in new[] { server.Totals, client.Totals })
        {
            Assert.Equal(4 + userBytes, totals.BytesIn);
            Assert.Equal(4 + serviceBytes, totals.BytesOut);
        }
    }

    private async Task HalfCloseWhileStreamedToAsync(Peer first)
    {
        const int streamBytes = 16 * MiB + 5;
        const int shortBytes = 1000;
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (server, client, port) = await StartTunnelAsync(f, service.Port);
        var (user, end) = await OpenAsync(f, port, service);
        var (firstSocket, secondSocket) = Pick(first, user, end);

        // The second peer streams; while its bytes are on the way, the first sends a little and half-closes.
        var atFirst = Download.Start(firstSocket, 6 * Prompt);
        var atSecond = Download.Start(secondSocket, 6 * Prompt);
        var streaming = Transfer.SendSeededAsync(secondSocket, streamBytes, seed: 3);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => atFirst.Received >= MiB, Prompt), "the stream did not flow");
        var shortHash = await Transfer.SendSeededAsync(firstSocket, shortBytes, seed: 4);

        var (shortEnd, shortArrived, _) = await atSecond.Completion;
        Assert.Equal(DownloadEnd.Eof, shortEnd);
        Assert.Equal(shortHash, shortArrived);
        var streamHash = await streaming;
        var (streamEnd, streamArrived, _) = await atFirst.Completion;
        Assert.Equal(DownloadEnd.Eof, streamEnd);
        Assert.Equal(streamBytes, atFirst.Received);
        Assert.Equal(streamHash, streamArrived);
        user.Dispose();
        end.Dispose();
        await AssertSettledAsync(server, client);
        AssertResetsCounted(server, client, 0);
    }

    private async Task StopMidTransferAsync(Stopped stopped)
    {
        var stopServer = stopped == Stopped.Server;
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (server, client, port) = await StartTunnelAsync(f, service.Port, s => s.DrainTimeout = TimeSpan.Zero);

        // Downloads and uploads in flight at once, each read by one peer only, so that the reader must see a reset (a
        // peer that also sends may take the reset on its send and then read a plain end).
        const int each = 3;
        var readers = new List<(Download Read, string What)>();
        var writers = new List<(Task<(long Sent, SocketError Error)> Write, string What)>();
        for (var i = 0; i < 2 * each; i++)
        {
            var (user, end) = await OpenAsync(f, port, service);
            var download = i < each;
            var (from, to) = download ? (end, user) : (user, end);
            readers.Add((Download.Start(to, 2 * Prompt), download ? $"download {i} at the user" : $"upload {i} at the service"));
            writers.Add((Transfer.StreamUntilBrokenAsync(from), download ? $"download {i} at the service" : $"upload {i} at the user"));
        }
        Assert.True(await TunnelFixture.WaitUntilAsync(() => readers.All(r => r.Read.Received >= 256 * 1024), Prompt), "the transfers did not flow");

        var started = Stopwatch.GetTimestamp();
        var controlPort = server.ControlEndpoint!.Port;
        var stop = stopServer ? server.StopAsync() : client.StopAsync(TimeSpan.Zero);
        Assert.True(await Task.WhenAny(stop, Task.Delay(Prompt)) == stop, $"the {(stopServer ? "server" : "client")} stop hangs");
        await stop;
        var stopTook = Stopwatch.GetElapsedTime(started);
        foreach (var (read, what) in readers)
        {
            var (how, _, endedAt) = await read.Completion;
            var after = Stopwatch.GetElapsedTime(started, endedAt);
            Assert.True(how == DownloadEnd.Reset, $"{what} saw {how} after {after.TotalSeconds:0.00} s");
            Assert.True(after < TimeSpan.FromSeconds(3), $"{what} saw the reset only after {after.TotalSeconds:0.00} s");
        }
        foreach (var (write, what) in writers)
        {
            var (_, error) = await write.WaitAsync(Prompt);
            Assert.True(error is SocketError.ConnectionReset or SocketError.Shutdown, $"{what} ended its send with {error}");
        }
        _output.WriteLine($"{(stopServer ? "server" : "client")} stop returned after {stopTook.TotalMilliseconds:0} ms");
        await AssertSettledAsync(server, client);
        // Cut by the stop on the side that stopped, seen as resets on the other: each counts every transfer once.
        AssertResetsCounted(server, client, 2 * each);

        // The same public port serves again: a new client after a client stop, the old one reconnected after a server restart.
        if (stopServer)
        {
            var so = TunnelFixture.ServerOptions(tls: Tls);
            so.ControlPort = controlPort;
            server = await f.StartServerAsync(so);
            Assert.True(await TunnelFixture.WaitUntilAsync(() => client.State == ClientState.Connected, Prompt), "the client did not reconnect");
        }
        else
        {
            Assert.True(await TunnelFixture.WaitUntilAsync(() => server.ClientCount == 0, Prompt), "the server kept the stopped client");
            var co = TunnelFixture.ClientOptions(server);
            co.Tunnels.Add(new TunnelDefinition { Name = "data", LocalPort = service.Port, RemotePort = port });
            client = await f.StartClientAsync(co);
        }
        Assert.Equal(port, client.Tunnels.Single().RemotePort);
        var (again, againEnd) = await OpenAsync(f, port, service);
        again.Dispose();
        againEnd.Dispose();
        await AssertSettledAsync(server, client);
    }

    private static (Socket Chosen, Socket Other) Pick(Peer chosen, Socket user, Socket service) =>
        chosen == Peer.User ? (user, service) : (service, user);

    private static string Other(Peer p) => p == Peer.User ? "service" : "user";

    private static void Reset(Socket s)
    {
        s.LingerState = new LingerOption(true, 0);
        s.Dispose();
    }
}

public sealed class DataPathLifecycleCopyTests(ITestOutputHelper output) : DataPathLifecycleTests(ForwardingMode.Copy, tls: false, output);

public sealed class DataPathLifecycleSpliceTests(ITestOutputHelper output) : DataPathLifecycleTests(ForwardingMode.Splice, tls: false, output);

public sealed class DataPathLifecycleAutoTests(ITestOutputHelper output) : DataPathLifecycleTests(ForwardingMode.Auto, tls: false, output);

public sealed class DataPathLifecycleAsyncCopyTests(ITestOutputHelper output) : DataPathLifecycleTests(ForwardingMode.Copy, tls: false, output, DataPlaneKind.Async);

public sealed class DataPathLifecycleAsyncSpliceTests(ITestOutputHelper output) : DataPathLifecycleTests(ForwardingMode.Splice, tls: false, output, DataPlaneKind.Async);

public sealed class DataPathLifecycleAsyncAutoTests(ITestOutputHelper output) : DataPathLifecycleTests(ForwardingMode.Auto, tls: false, output, DataPlaneKind.Async);

/// <summary>Through the stream pump that TLS uses (whatever the mode asked); with the other TLS suites, one class at a time.</summary>
[Collection(EndToEndTlsCollection.Name)]
public sealed class DataPathLifecycleTlsTests(ITestOutputHelper output) : DataPathLifecycleTests(ForwardingMode.Splice, tls: true, output);
