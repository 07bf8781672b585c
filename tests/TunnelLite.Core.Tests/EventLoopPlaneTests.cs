using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.DataPlane;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;
using Xunit.Abstractions;

namespace TunnelLite.Tests;

/// <summary>What only the event-loop plane has: its loops (started on first use, gone at stop), no allocation per message,
/// and a loop that dies ending its server, not the process. The suites that hold for every data path run on both planes
/// elsewhere (DataPathSuite).</summary>
public sealed class EventLoopPlaneTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(5);

    private static async Task<(TunnelServer Server, TunnelClient Client, int Port)> StartAsync(TunnelFixture f, int localPort, int loops, DataPlaneKind plane = DataPlaneKind.EventLoops)
    {
        var so = TunnelFixture.ServerOptions();
        so.DataPlane = plane;
        so.EventLoops = loops;
        var server = await f.StartServerAsync(so);
        var co = TunnelFixture.ClientOptions(server);
        co.DataPlane = plane;
        co.EventLoops = loops;
        co.Tunnels.Add(new TunnelDefinition { Name = "data", LocalPort = localPort });
        var client = await f.StartClientAsync(co);
        return (server, client, client.Tunnels.Single().RemotePort);
    }

    private static EventLoopGroup Loops(IForwardingPump pump) => Assert.IsType<EventLoopPump>(pump).Group;

    [UnixFact]
    public async Task Statistics_name_the_plane_and_its_loops_which_share_the_work_round_robin_and_end_at_stop()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, client, port) = await StartAsync(f, echo.Port, loops: 3);
        foreach (var s in new[] { server.GetStatistics(), client.GetSummary(), client.GetStatistics().Single() })
        {
            Assert.Equal(DataPlaneKind.EventLoops, s.DataPlane);
            Assert.Equal(3, s.EventLoops);
        }
        // The server's loops start with it: they run its control port's listener and its tunnel's. The client's start with
        // its first data connection, which idles on one of them until a user is paired with it.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => Loops(server.Pump).Loops.Sum(l => l.Handles) == 2, Prompt),
            $"the server's loops hold {Loops(server.Pump).Loops.Sum(l => l.Handles)} handles, not its two listeners");
        Assert.True(await TunnelFixture.WaitUntilAsync(() => Loops(client.Pump).Loops.Sum(l => l.Handles) == 4, Prompt), "the client's pool of 4 does not idle on its loops");

        // Six connections, round robin over the three loops at each end.
        var users = new List<Socket>();
        for (var i = 0; i < 6; i++)
        {
            var user = await TunnelFixture.ConnectAsync(port);
            users.Add(user);
            await PingAsync(user);
        }
        var loops = Loops(client.Pump).Loops;
        Assert.Equal(3, loops.Count);
        Assert.All(loops, l => Assert.True(l.Handles >= 2, $"client loop {l.Id} holds {l.Handles}: not round robin"));
        // Six pairs and the two listeners (a refill greeted on a loop is there for an instant).
        Assert.True(await TunnelFixture.WaitUntilAsync(() => Loops(server.Pump).Loops.Sum(l => l.Handles) == 8, Prompt),
            $"the server's loops hold {Loops(server.Pump).Loops.Sum(l => l.Handles)} handles, not six pairs and two listeners");
        Assert.All(Loops(server.Pump).Loops, l => Assert.True(l.Handles >= 2, $"server loop {l.Id} holds {l.Handles}: not round robin"));
        foreach (var u in users) u.Dispose();

        await server.StopAsync();
        await client.StopAsync();
        Assert.All(loops.Concat(Loops(server.Pump).Loops), l => Assert.False(l.IsRunning, $"loop {l.Id} still runs after stop"));
    }

    [Fact]
    public async Task The_async_plane_and_TLS_report_themselves()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, client, _) = await StartAsync(f, echo.Port, loops: 1, DataPlaneKind.Async);
        Assert.Equal(DataPlaneKind.Async, server.GetStatistics().DataPlane);
        Assert.Equal(0, client.GetSummary().EventLoops);

        await using var tls = new TunnelFixture(tls: true);
        var so = TunnelFixture.ServerOptions(tls: true);
        so.DataPlane = DataPlaneKind.EventLoops;
        var tlsServer = await tls.StartServerAsync(so);
        Assert.Equal(DataPlaneKind.Async, tlsServer.GetStatistics().DataPlane); // TLS bytes pass through a stream
    }

    // The measure: under 0.1 B allocated per message on the loops after warm-up. Every pass of a loop reads its
    // thread's allocation counter, so what the test's own threads allocate does not count.
    [UnixFact]
    public async Task Request_replies_allocate_nothing_on_the_loops()
    {
        const int connections = 8;
        const int warmUp = 2_000; // and a pause: the loops' code is compiled at its final tier before the count starts
        const int perConnection = 12_500; // 100,000 request/replies in all
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, client, port) = await StartAsync(f, echo.Port, loops: 2);
        var users = new Socket[connections];
        for (var i = 0; i < connections; i++) users[i] = await TunnelFixture.ConnectAsync(port);
        long Allocated() => Loops(server.Pump).Loops.Concat(Loops(client.Pump).Loops).Sum(l => l.AllocatedBytes);
        await Task.WhenAll(users.Select(u => Task.Run(() => RequestReplies(u, warmUp))));
        await Task.Delay(1000);
        await Task.WhenAll(users.Select(u => Task.Run(() => RequestReplies(u, 100))));
        await Task.Delay(200); // each loop finishes its pass and records its counter
        var before = Allocated();
        await Task.WhenAll(users.Select(u => Task.Run(() => RequestReplies(u, perConnection))));
        await Task.Delay(200);
        var perMessage = (double)(Allocated() - before) / (connections * perConnection);
        output.WriteLine($"{Allocated() - before} B allocated on the loops over {connections * perConnection} request/replies: {perMessage:0.0000} B each");
        Assert.True(perMessage < 0.1, $"{perMessage:0.000} B allocated per request/reply on the loops");
        foreach (var u in users) u.Dispose();
    }

    private static async Task PingAsync(Socket user)
    {
        await user.SendAsync("ping"u8.ToArray(), SocketFlags.None);
        var got = new byte[4];
        for (var n = 0; n < 4;) n += await user.ReceiveAsync(got.AsMemory(n), SocketFlags.None);
        Assert.Equal("ping"u8.ToArray(), got);
    }

    private static async Task AssertEchoedAsync(Socket user, int size)
    {
        var (sent, received, bytes) = await Transfer.EchoRoundTripAsync(user, size, seed: size);
        Assert.Equal(size, bytes);
        Assert.Equal(sent, received);
    }

    private static void RequestReplies(Socket s, int count)
    {
        var request = new byte[32];
        var reply = new byte[32];
        for (var i = 0; i < count; i++)
        {
            request[0] = (byte)i;
            s.Send(request);
            for (var got = 0; got < reply.Length;)
            {
                var n = s.Receive(reply, got, reply.Length - got, SocketFlags.None);
                Assert.True(n > 0, "the tunnel ended a keep-alive connection");
                got += n;
            }
            Assert.Equal((byte)i, reply[0]);
        }
    }

    [UnixFact]
    public async Task A_loop_that_fails_resets_its_connections_and_stops_its_server_with_an_error_not_the_process()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, _, port) = await StartAsync(f, echo.Port, loops: 1);
        using var user = await TunnelFixture.ConnectAsync(port);
        await PingAsync(user);

        Loops(server.Pump).Loops.Single().Post(new LoopWork(LoopWorkKind.Fail, null));

        // The user's connection was reset (or ended): never left hanging.
        user.ReceiveTimeout = (int)Prompt.TotalMilliseconds;
        var ended = false;
        try { ended = user.Receive(new byte[16]) == 0; }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset) { ended = true; }
        Assert.True(ended, "the user's connection outlived its loop");
        Assert.True(await Task.WhenAny(server.Completion, Task.Delay(Prompt * 2)) == server.Completion, "the server did not stop after its loop failed");
        Assert.Equal(TunnelErrorCode.DataPlaneFailed, server.Fault?.Code);
        Assert.Contains("told to fail", server.GetStatistics().LastError);

        // The process goes on: a new server forwards as before.
        await using var again = new TunnelFixture();
        var (_, _, port2) = await StartAsync(again, echo.Port, loops: 1);
        using var user2 = await TunnelFixture.ConnectAsync(port2);
        await AssertEchoedAsync(user2, 64 * 1024);
    }

    // Both planes: the async plane's connect is cancelled by a timer, the loop's by its timer queue; a local service whose
    // accept queue is full drops the SYN, so the connect neither succeeds nor fails until the deadline.
    [Theory]
    [InlineData(DataPlaneKind.EventLoops)]
    [InlineData(DataPlaneKind.Async)]
    public async Task A_local_service_that_never_accepts_fails_the_user_at_the_local_connect_deadline(DataPlaneKind plane)
    {
        using var stuck = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        stuck.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        stuck.Listen(0);
        var stuckPort = ((System.Net.IPEndPoint)stuck.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            // Fill the accept queue until a connect hangs: from then on the kernel drops this port's SYNs.
            for (var i = 0; i < 16; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(s);
                using var cts = new CancellationTokenSource(300);
                try { await s.ConnectAsync(System.Net.IPAddress.Loopback, stuckPort, cts.Token); }
                catch (OperationCanceledException) { break; }
            }
            await using var f = new TunnelFixture();
            var so = TunnelFixture.ServerOptions();
            so.DataPlane = plane;
            var server = await f.StartServerAsync(so);
            var co = TunnelFixture.ClientOptions(server);
            co.DataPlane = plane;
            co.LocalConnectTimeout = TimeSpan.FromSeconds(1);
            co.Tunnels.Add(new TunnelDefinition { Name = "data", LocalPort = stuckPort });
            var client = await f.StartClientAsync(co);
            using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
            await user.SendAsync("hello"u8.ToArray(), SocketFlags.None);
            var (bytes, _) = await Transfer.DrainAsync(user, TimeSpan.FromSeconds(10));
            Assert.Equal(0, bytes);
            // Counted as the user's end is reset: on the loops, just after (the report leaves the loop with the pair's end).
            Assert.True(await TunnelFixture.WaitUntilAsync(() => client.GetStatistics().Single().FailedConnections == 1, Prompt), "the client did not count it");
            Assert.Contains("did not accept within 1 s", client.GetStatistics().Single().LastError);
            Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Single().FailedConnections == 1, Prompt), "the server was not told");
        }
        finally
        {
            foreach (var s in fillers) s.Dispose();
        }
    }

    [UnixFact]
    public async Task A_megabyte_stream_crosses_each_mode_on_one_loop_intact()
    {
        foreach (var mode in new[] { ForwardingMode.Copy, ForwardingMode.Splice, ForwardingMode.Auto })
        {
            await using var f = new TunnelFixture(mode);
            await using var echo = new EchoService();
            var (server, _, port) = await StartAsync(f, echo.Port, loops: 1);
            using var user = await TunnelFixture.ConnectAsync(port);
            await AssertEchoedAsync(user, 4 << 20);
            Assert.Equal(mode, server.GetStatistics().ForwardingMode);
        }
    }
}
