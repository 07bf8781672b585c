using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The end-to-end suite, run once per forwarding mode and data plane: every behaviour must hold whichever pump
/// moves the bytes.</summary>
public abstract class EndToEndTests : DataPathSuite
{
    private static TunnelDefinition Echo(EchoService echo, string name = "echo", int remotePort = 0) =>
        new() { Name = name, LocalPort = echo.Port, RemotePort = remotePort };

    [Fact]
    public async Task Echo_service_answers_through_the_tunnel()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var (server, client) = await f.StartEchoTunnelAsync(echo);
        var port = client.Tunnels.Single().RemotePort;
        Assert.NotEqual(0, port);

        using var user = await TunnelFixture.ConnectAsync(port);
        var msg = Encoding.ASCII.GetBytes("hello through the tunnel");
        await user.SendAsync(msg, SocketFlags.None);
        var buf = new byte[msg.Length];
        var got = 0;
        while (got < buf.Length) got += await user.ReceiveAsync(buf.AsMemory(got), SocketFlags.None);
        Assert.Equal(msg, buf);
    }

    [Fact]
    public async Task Hundred_parallel_connections_move_one_MiB_each_way_intact()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var (server, client) = await f.StartEchoTunnelAsync(echo, o =>
        {
            o.PoolCount = 8;
            // As in the other bursts: a local connect done in the kernel can wait past the fixture's 2 s for its
            // continuation while this process moves 200 MiB (over TLS, decrypting it) on the same two cores.
            o.LocalConnectTimeout = TimeSpan.FromSeconds(30);
        });
        var port = client.Tunnels.Single().RemotePort;

        const int size = 1024 * 1024;
        var tasks = Enumerable.Range(0, 100).Select(async i =>
        {
            using var user = await TunnelFixture.ConnectAsync(port);
            return await Transfer.EchoRoundTripAsync(user, size, seed: i);
        }).ToList();
        (string Sent, string Received, long ReceivedBytes)[] results;
        try
        {
            results = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(2));
        }
        catch (Exception e)
        {
            throw new Exception($"transfer failed: {e.Message}; server failed={server.Totals.FailedConnections} last={server.Totals.LastError}; client failed={client.Totals.FailedConnections} last={client.Totals.LastError}\n{TunnelFixture.Log.Tail()}", e);
        }
        foreach (var r in results)
        {
            Assert.Equal(size, r.ReceivedBytes);
            Assert.Equal(r.Sent, r.Received);
        }
        // Statistics are exact: every byte counted once each way, on both ends.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.Totals.ActiveConnections == 0 && server.Totals.ActiveConnections == 0, TimeSpan.FromSeconds(5)));
        Assert.Equal(100L * size, client.Totals.BytesIn);
        Assert.Equal(100L * size, client.Totals.BytesOut);
        Assert.Equal(100L * size, server.Totals.BytesIn);
        Assert.Equal(100L * size, server.Totals.BytesOut);
        Assert.Equal(100, server.Totals.TotalConnections);
        Assert.Equal(0, server.Totals.FailedConnections);
    }

    [Fact]
    public async Task Half_close_lets_the_reply_flow_after_the_user_stops_sending()
    {
        await using var f = NewFixture();
        // A service that reads the whole request (until FIN), then answers with its length and hash.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(10);
        var servicePort = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var service = Task.Run(async () =>
        {
            using var s = await listener.AcceptAsync();
            using var ms = new MemoryStream();
            var buf = new byte[8192];
            int n;
            while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0) ms.Write(buf, 0, n);
            // The request ended (FIN arrived through the tunnel); the reply still goes the other way.
            await Task.Delay(200);
            var reply = Encoding.ASCII.GetBytes($"{ms.Length}:{Convert.ToHexString(SHA256.HashData(ms.ToArray()))}");
            await s.SendAsync(reply, SocketFlags.None);
            s.Shutdown(SocketShutdown.Send);
        });

        var server = await f.StartServerAsync();
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(new TunnelDefinition { Name = "halfclose", LocalPort = servicePort });
        var client = await f.StartClientAsync(options);

        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
        var request = RandomNumberGenerator.GetBytes(300_000);
        var off = 0;
        while (off < request.Length) off += await user.SendAsync(request.AsMemory(off), SocketFlags.None);
        user.Shutdown(SocketShutdown.Send);
        using var reply = new MemoryStream();
        var rbuf = new byte[1024];
        int r;
        while ((r = await user.ReceiveAsync(rbuf, SocketFlags.None)) > 0) reply.Write(rbuf, 0, r);
        Assert.Equal($"{request.Length}:{Convert.ToHexString(SHA256.HashData(request))}", Encoding.ASCII.GetString(reply.ToArray()));
        await service;
    }

    [Fact]
    public async Task A_reset_by_the_local_service_resets_the_user_connection()
    {
        await using var f = NewFixture();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(10);
        var service = Task.Run(async () =>
        {
            var s = await listener.AcceptAsync();
            var buf = new byte[5];
            var got = 0;
            while (got < buf.Length) got += await s.ReceiveAsync(buf.AsMemory(got), SocketFlags.None);
            s.LingerState = new LingerOption(true, 0);
            s.Dispose(); // RST, not FIN
        });
        var server = await f.StartServerAsync();
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(new TunnelDefinition { Name = "reset", LocalPort = ((IPEndPoint)listener.LocalEndPoint!).Port });
        var client = await f.StartClientAsync(options);
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
        await user.SendAsync("hello"u8.ToArray(), SocketFlags.None);
        await service;
        var (_, reset) = await Transfer.DrainAsync(user, TimeSpan.FromSeconds(5));
        Assert.True(reset, "the user saw a clean end instead of a reset");
    }

    [Fact]
    public async Task Wrong_token_is_rejected_with_a_distinct_error()
    {
        await using var f = NewFixture();
        var server = await f.StartServerAsync();
        var options = TunnelFixture.ClientOptions(server, token: "not the token");
        var client = new TunnelClient(f.Apply(options));
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync());
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, e.Code);
        Assert.Contains("rejected the token", e.Message);
        Assert.Equal(ClientState.Stopped, client.State);
        Assert.Equal(0, server.ClientCount);
    }

    [Fact]
    public async Task Port_outside_the_allowed_ranges_is_refused()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var so = ServerOptions();
        so.AllowPorts.Add(new PortRange(41000, 41010));
        var server = await f.StartServerAsync(so);
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(Echo(echo, remotePort: 42000));
        var e = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(options).StartAsync());
        Assert.Equal(TunnelErrorCode.PortNotAllowed, e.Code);
        Assert.Contains("42000", e.Message);
        Assert.Contains("41000-41010", e.Message);
    }

    [Fact]
    public async Task Port_taken_by_another_process_is_refused()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen(1);
        var taken = ((IPEndPoint)squatter.LocalEndPoint!).Port;
        var server = await f.StartServerAsync();
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(Echo(echo, remotePort: taken));
        var e = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(options).StartAsync());
        Assert.Equal(TunnelErrorCode.PortInUse, e.Code);
    }

    [Fact]
    public async Task Port_and_name_taken_by_another_client_are_refused()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var first = TunnelFixture.ClientOptions(server);
        first.Tunnels.Add(Echo(echo, "shared"));
        var c1 = await f.StartClientAsync(first);
        var port = c1.Tunnels.Single().RemotePort;

        var samePort = TunnelFixture.ClientOptions(server);
        samePort.Tunnels.Add(Echo(echo, "other", port));
        var e1 = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(samePort).StartAsync());
        Assert.Equal(TunnelErrorCode.PortInUse, e1.Code);

        var sameName = TunnelFixture.ClientOptions(server);
        sameName.Tunnels.Add(Echo(echo, "shared"));
        var e2 = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(sameName).StartAsync());
        Assert.Equal(TunnelErrorCode.DuplicateName, e2.Code);

        // The refused clients took nothing away from the first one.
        using var user = await TunnelFixture.ConnectAsync(port);
        var r = await Transfer.EchoRoundTripAsync(user, 10_000, 1);
        Assert.Equal(r.Sent, r.Received);
    }

    [Fact]
    public async Task Server_assigns_a_free_port_from_its_allowed_range()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var so = ServerOptions();
        so.AllowPorts.Add(new PortRange(43100, 43119));
        var server = await f.StartServerAsync(so);
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(Echo(echo, "a"));
        options.Tunnels.Add(Echo(echo, "b"));
        var client = await f.StartClientAsync(options);
        var ports = client.Tunnels.Select(t => t.RemotePort).ToList();
        Assert.All(ports, p => Assert.InRange(p, 43100, 43119));
        Assert.Equal(2, ports.Distinct().Count());
        foreach (var p in ports)
        {
            using var user = await TunnelFixture.ConnectAsync(p);
            var r = await Transfer.EchoRoundTripAsync(user, 4096, p);
            Assert.Equal(r.Sent, r.Received);
        }
    }

    [Fact]
    public async Task Disposed_client_frees_its_port_at_once()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(Echo(echo));
        var client = new TunnelClient(f.Apply(options));
        await client.StartAsync();
        var port = client.Tunnels.Single().RemotePort;
        await client.DisposeAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.ClientCount == 0 && CanBind(port), TimeSpan.FromSeconds(1)),
            "the port was not freed within the heartbeat timeout");
    }

    [Fact]
    public async Task Server_restart_makes_the_client_reconnect_and_serve_again()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server1 = new TunnelServer(f.Apply(ServerOptions()));
        await server1.StartAsync();
        var controlPort = server1.ControlEndpoint!.Port;
        var options = TunnelFixture.ClientOptions(server1);
        options.Tunnels.Add(Echo(echo));
        var client = await f.StartClientAsync(options);
        var port = client.Tunnels.Single().RemotePort;

        await server1.StopAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.State == ClientState.Reconnecting, TimeSpan.FromSeconds(3)));

        var so2 = ServerOptions();
        so2.ControlPort = controlPort;
        await f.StartServerAsync(so2);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.State == ClientState.Connected, TimeSpan.FromSeconds(5)), "client did not reconnect");
        Assert.True(client.GetStatistics().Single().Reconnects >= 1);
        Assert.Equal(port, client.Tunnels.Single().RemotePort); // the same public port is asked for again

        using var user = await TunnelFixture.ConnectAsync(port);
        var r = await Transfer.EchoRoundTripAsync(user, 100_000, 7);
        Assert.Equal(r.Sent, r.Received);
        // The bound on data connections starts afresh with the new session: a burst of users well beyond it is served.
        var burst = await Task.WhenAll(Enumerable.Range(0, 3 * (options.PoolCount + TunnelClient.DataConnectionMargin)).Select(async i =>
        {
            using var u = await TunnelFixture.ConnectAsync(port);
            return await Transfer.EchoRoundTripAsync(u, 4096, 100 + i);
        })).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.All(burst, b => Assert.Equal(b.Sent, b.Received));
    }

    [Fact]
    public async Task Local_service_down_closes_the_user_connection_and_counts_a_failure()
    {
        await using var f = NewFixture();
        int deadPort;
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            deadPort = ((IPEndPoint)s.LocalEndPoint!).Port; // bound, never listening, then closed: connections are refused
        }
        var server = await f.StartServerAsync();
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(new TunnelDefinition { Name = "down", LocalPort = deadPort });
        var client = await f.StartClientAsync(options);

        var bytes = 0;
        try
        {
            using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
            await user.SendAsync(Encoding.ASCII.GetBytes("anyone there?"), SocketFlags.None);
            (bytes, _) = await Transfer.DrainAsync(user, TimeSpan.FromSeconds(5));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // On a busy machine the reset for the failed local connect can beat the connect's or the send's completion:
            // the user connection was closed all the same, which is what is checked.
        }
        Assert.Equal(0, bytes);
        var stats = client.GetStatistics().Single();
        Assert.Equal(1, stats.FailedConnections);
        Assert.Contains(deadPort.ToString(), stats.LastError);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Single().FailedConnections == 1, TimeSpan.FromSeconds(2)),
            "the server did not count the failure");
    }

    [Fact]
    public async Task Without_a_pool_the_server_asks_for_a_data_connection_on_demand()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var (server, client) = await f.StartEchoTunnelAsync(echo, o => o.PoolCount = 0);
        for (var i = 0; i < 5; i++)
        {
            using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
            var r = await Transfer.EchoRoundTripAsync(user, 50_000, i);
            Assert.Equal(r.Sent, r.Received);
        }
    }

    [Fact]
    public async Task IPv6_loopback_works_end_to_end()
    {
        if (!Socket.OSSupportsIPv6) return;
        await using var f = NewFixture();
        await using var echo = new EchoService(IPAddress.IPv6Loopback);
        var server = await f.StartServerAsync(TunnelFixture.ServerOptions("::1"));
        var options = TunnelFixture.ClientOptions(server, address: "::1");
        options.Tunnels.Add(new TunnelDefinition { Name = "v6", LocalAddress = "::1", LocalPort = echo.Port });
        var client = await f.StartClientAsync(options);
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort, IPAddress.IPv6Loopback);
        var r = await Transfer.EchoRoundTripAsync(user, 200_000, 3);
        Assert.Equal(r.Sent, r.Received);
    }

    [Fact]
    public async Task Stop_lets_an_active_connection_drain_then_frees_the_control_port()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var so = ServerOptions();
        so.DrainTimeout = TimeSpan.FromSeconds(5);
        var server = new TunnelServer(f.Apply(so));
        await server.StartAsync();
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(Echo(echo));
        var client = await f.StartClientAsync(options);
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
        // Start a transfer, then stop the server while it runs: the transfer still completes intact.
        var transfer = Transfer.EchoRoundTripAsync(user, 4 * 1024 * 1024, 11);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.Totals.BytesIn > 0, TimeSpan.FromSeconds(5)));
        var stop = server.StopAsync();
        var r = await transfer;
        Assert.Equal(r.Sent, r.Received);
        await stop;
        Assert.Equal("Stopped", server.State);
        Assert.True(CanBind(server.ControlEndpoint!.Port));
    }

    [Fact]
    public async Task Tunnels_can_be_added_and_removed_on_a_live_client()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var client = await f.StartClientAsync(TunnelFixture.ClientOptions(server));
        var t = await client.AddTunnelAsync(Echo(echo, "late"));
        using (var user = await TunnelFixture.ConnectAsync(t.RemotePort))
        {
            var r = await Transfer.EchoRoundTripAsync(user, 1000, 5);
            Assert.Equal(r.Sent, r.Received);
        }
        await client.RemoveTunnelAsync("late");
        Assert.True(await TunnelFixture.WaitUntilAsync(() => CanBind(t.RemotePort) && server.GetTunnelStatistics().Count == 0, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Rates_and_snapshots_report_recent_traffic()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var (server, client) = await f.StartEchoTunnelAsync(echo);
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
        await Task.Delay(1100); // let a baseline sample be taken
        var r = await Transfer.EchoRoundTripAsync(user, 2 * 1024 * 1024, 9);
        Assert.Equal(r.Sent, r.Received);
        var s = client.GetStatistics().Single();
        Assert.Equal("echo", s.Name);
        Assert.Equal(2 * 1024 * 1024, s.BytesIn);
        Assert.True(s.BytesInPerSec > 0, "rate should reflect the transfer");
        Assert.True(s.Uptime > TimeSpan.Zero);
        var ss = server.GetStatistics();
        Assert.Equal(1, ss.Clients);
        Assert.Equal(1, ss.Tunnels);
    }

    [Fact]
    public async Task Statistics_show_the_mode_in_force_and_count_each_connection_once()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var (server, client) = await f.StartEchoTunnelAsync(echo);
        const int connections = 3;
        for (var i = 0; i < connections; i++)
        {
            using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
            var r = await Transfer.EchoRoundTripAsync(user, 1024 * 1024, 40 + i);
            Assert.Equal(r.Sent, r.Received);
        }
        // A connection is counted when its pump ends, just after the user saw the end.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((client.GetStatistics().Single().ActiveConnections > 0 || server.GetTunnelStatistics().Single().ActiveConnections > 0) && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        // TLS bytes are decrypted in user space: always copied.
        var expected = SplicePump.IsSupported && !Tls ? Mode : ForwardingMode.Copy;
        foreach (var s in new[] { client.GetStatistics().Single(), server.GetTunnelStatistics().Single() })
        {
            Assert.Equal(expected, s.ForwardingMode);
            Assert.Equal(connections, s.SplicedConnections + s.CopiedConnections);
            Assert.Equal(0, s.SpliceFallbacks);
            if (expected == ForwardingMode.Splice) Assert.Equal(connections, s.SplicedConnections);
            if (expected == ForwardingMode.Copy) Assert.Equal(0, s.SplicedConnections);
            // 1 MiB arrives in bursts far above the threshold, so Auto splices too.
            if (expected == ForwardingMode.Auto) Assert.True(s.SplicedConnections > 0, "Auto spliced no bulk connection");
            // The async plane, asked for or taken by TLS, runs no loops. (What Auto resolves to is PumpSelector's to test.)
            if (Plane == DataPlaneKind.Async || Tls) Assert.Equal((DataPlaneKind.Async, 0), (s.DataPlane, s.EventLoops));
        }
    }

    internal static bool CanBind(int port)
    {
        try
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, port));
            s.Listen(1);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

public sealed class EndToEndCopyTests : EndToEndTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
}

public sealed class EndToEndSpliceTests : EndToEndTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
}

public sealed class EndToEndAutoTests : EndToEndTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

public sealed class EndToEndAsyncCopyTests : EndToEndTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

public sealed class EndToEndAsyncSpliceTests : EndToEndTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

public sealed class EndToEndAsyncAutoTests : EndToEndTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

/// <summary>The whole suite over TLS, asking for Splice: every behaviour (half-close, resets, drains, reconnects) must
/// hold through the stream pump, and the statistics must show Copy. Run alone: encrypting the bulk tests on top of the
/// other suites would crowd the 2-core machine into timeouts.</summary>
[Collection(EndToEndTlsCollection.Name)]
public sealed class EndToEndTlsTests : EndToEndTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
    protected override bool Tls => true;
}

/// <summary>The TLS tests, run after the parallel suites and one class at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EndToEndTlsCollection
{
    public const string Name = "End-to-end over TLS";
}
