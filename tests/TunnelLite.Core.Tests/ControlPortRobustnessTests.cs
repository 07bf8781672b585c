using System.Net.Sockets;
using System.Text;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Bad peers on the control port: each gets a clear error or a closed connection. Settled before any user
/// connection is carried, the same whatever moves the bytes, so these run once.</summary>
public sealed class ControlPortHandshakeTests
{
    internal static async Task<FrameConnection> RawAsync(int port)
    {
        var s = await TunnelFixture.ConnectAsync(port);
        return new FrameConnection(s);
    }

    internal static async Task<ErrorMessage?> ReadErrorAsync(FrameConnection c)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var f = await c.ReadAsync(cts.Token);
        return f is { Type: FrameType.Error } ? MessageSerializer.Read<ErrorMessage>(f.Value) : null;
    }

    [Fact]
    public async Task A_peer_of_another_protocol_version_gets_a_clear_error()
    {
        await using var f = new TunnelFixture();
        var server = await f.StartServerAsync();
        using var c = await RawAsync(server.ControlEndpoint!.Port);
        await c.SendAsync(new HelloMessage { Version = 99 }, default, withPreamble: true);
        var err = await ReadErrorAsync(c);
        Assert.NotNull(err);
        Assert.Equal(TunnelErrorCode.VersionMismatch, err!.Code);
        Assert.Contains("99", err.Message);
    }

    [Fact]
    public async Task A_silent_connection_is_closed_after_the_handshake_deadline()
    {
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.HandshakeTimeout = TimeSpan.FromMilliseconds(300);
        var server = await f.StartServerAsync(so);
        // The server's deadline starts at its accept, which may run well before this side's connect continuation does
        // on a loaded machine: start the clock before connecting, so the lower bound cannot be undercut.
        var started = DateTime.UtcNow;
        using var s = await TunnelFixture.ConnectAsync(server.ControlEndpoint!.Port);
        var (bytes, _) = await Transfer.DrainAsync(s, TimeSpan.FromSeconds(5));
        Assert.Equal(0, bytes);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Pending_handshakes_are_capped_and_the_oldest_makes_room_so_a_login_always_gets_in()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var so = TunnelFixture.ServerOptions();
        so.MaxPendingHandshakes = 4;
        so.HandshakeTimeout = TimeSpan.FromSeconds(10);
        so.PreambleTimeout = TimeSpan.FromSeconds(10);
        var server = await f.StartServerAsync(so);
        var port = server.ControlEndpoint!.Port;
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++) idle.Add(await TunnelFixture.ConnectAsync(port));
            Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetStatistics().PendingHandshakes == 4, TimeSpan.FromSeconds(5)));
            // With every slot held by silent connections, a real client still logs in at once: the oldest is evicted.
            var options = TunnelFixture.ClientOptions(server);
            options.Tunnels.Add(new TunnelDefinition { Name = "during", LocalPort = echo.Port });
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await f.StartClientAsync(options);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"login took {clock.Elapsed}");
            // The evicted one was the oldest silent connection, and it saw a reset, not a hang.
            var (bytes, end) = await Transfer.DrainAsync(idle[0], TimeSpan.FromSeconds(5));
            Assert.Equal(0, bytes);
            var stats = server.GetStatistics();
            Assert.True(stats.HandshakesEvicted >= 1, $"evicted {stats.HandshakesEvicted}");
            Assert.InRange(stats.PendingHandshakes, 0, 4);
        }
        finally
        {
            foreach (var s in idle) s.Dispose();
        }
    }

    [Fact]
    public async Task One_source_at_its_cap_evicts_only_its_own_oldest_pending_connection()
    {
        await using var f = new TunnelFixture();
        var so = TunnelFixture.ServerOptions();
        so.MaxPendingHandshakes = 100;
        so.MaxPendingHandshakesPerSource = 3;
        so.HandshakeTimeout = TimeSpan.FromSeconds(10);
        so.PreambleTimeout = TimeSpan.FromSeconds(10);
        var server = await f.StartServerAsync(so);
        var port = server.ControlEndpoint!.Port;
        var other = new List<Socket>();
        var flooder = new List<Socket>();
        try
        {
            for (var i = 0; i < 2; i++) other.Add(await ConnectFromAsync("127.0.0.1", port));
            for (var i = 0; i < 6; i++) flooder.Add(await ConnectFromAsync("127.0.0.2", port));
            Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetStatistics().HandshakesEvicted == 3, TimeSpan.FromSeconds(5)));
            // The flooder's first three were evicted; the other source's connections were not touched.
            for (var i = 0; i < 3; i++) Assert.Equal(0, (await Transfer.DrainAsync(flooder[i], TimeSpan.FromSeconds(5))).Item1);
            Assert.Equal(5, server.GetStatistics().PendingHandshakes);
            foreach (var s in other) Assert.False(SocketClose.PeerClosed(s));
        }
        finally
        {
            foreach (var s in other.Concat(flooder)) s.Dispose();
        }
    }

    private static async Task<Socket> ConnectFromAsync(string source, int port)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(source), 0));
        await s.ConnectAsync(System.Net.IPAddress.Loopback, port);
        return s;
    }

    [Fact]
    public async Task A_data_connection_with_a_forged_proof_is_refused()
    {
        await using var f = new TunnelFixture();
        var server = await f.StartServerAsync();
        using var c = await RawAsync(server.ControlEndpoint!.Port);
        await c.SendAsync(new DataHelloMessage { Version = ProtocolConstants.Version, SessionId = new byte[32], Counter = 1, Proof = new byte[32] }, default, withPreamble: true);
        var err = await ReadErrorAsync(c);
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, err!.Code);
    }

    [Fact]
    public async Task A_data_connection_counter_cannot_be_replayed()
    {
        await using var f = new TunnelFixture();
        var server = await f.StartServerAsync();
        using var c = await RawAsync(server.ControlEndpoint!.Port);
        var session = await TestLogin.LoginAsync(c, TunnelFixture.Token, "replayer", poolCount: 1);
        await c.ReadExpectedAsync<RequestWorkConnMessage>(default);
        var hello = session.DataHello(1);
        using var d1 = await RawAsync(server.ControlEndpoint!.Port);
        await d1.SendAsync(hello, default, withPreamble: true);
        await Task.Delay(200);
        using var d2 = await RawAsync(server.ControlEndpoint!.Port);
        await d2.SendAsync(hello, default, withPreamble: true);
        var err = await ReadErrorAsync(d2);
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, err!.Code);
    }

    [Fact]
    public async Task Text_a_peer_sends_is_logged_escaped_and_names_must_be_printable()
    {
        await using var f = new TunnelFixture();
        var server = await f.StartServerAsync();
        var port = server.ControlEndpoint!.Port;
        using var c = await RawAsync(port);
        await TestLogin.LoginAsync(c, TunnelFixture.Token, "forger");
        // A tunnel name with a bidi override or a line break would show differently in every table and log: refused.
        await c.SendAsync(new RegisterMessage { RequestId = 7, Tunnels = { new TunnelRequest { Name = "evil\u202Eeman" }, new TunnelRequest { Name = "two\nlines" } } }, default);
        RegisterResultMessage? result = null;
        while (result is null)
        {
            var frame = await c.ReadRequiredAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
            if (frame.Type == FrameType.RegisterResult) result = MessageSerializer.Read<RegisterResultMessage>(frame);
        }
        Assert.All(result.Results, r => Assert.Equal(TunnelErrorCode.BadRequest, r.Error));
        // A goodbye reason that tries to forge a log line and colour the console comes out inert.
        var marker = $"marker-{Guid.NewGuid():N}";
        await c.SendAsync(new GoodbyeMessage { Reason = $"{marker}\u001b[31m\r\n12:00:00 Information: Client 10.0.0.1 authenticated" }, default);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => TunnelFixture.Log.Lines.Any(l => l.Contains(marker)), TimeSpan.FromSeconds(5)));
        var line = TunnelFixture.Log.Lines.Single(l => l.Contains(marker));
        Assert.DoesNotContain('\u001b', line);
        Assert.DoesNotContain('\n', line);
        Assert.DoesNotContain('\r', line);
        Assert.Contains("\\x1B[31m\\r\\n12:00:00", line);
    }
}

/// <summary>Bad peers on the control port, and the server keeps serving: its tunnels carry their users after the abuse,
/// and a client that falls silent frees its public port. Run per pump, since serving goes through it. On the default
/// plane in every mode; on the async plane in Auto only, as are the other limit, account, control-port and fuzz suites:
/// what they check is kept before and around the pump, which the data-path suites run on both planes in every mode, and
/// a run per mode and plane would cost the 2-core CI machine about 10 s for nothing the Auto run does not
/// check.</summary>
public abstract class ControlPortRobustnessTests : DataPathSuite
{
    [Fact]
    public async Task Garbage_http_and_tls_on_the_control_port_are_refused_and_the_server_keeps_serving()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var port = server.ControlEndpoint!.Port;
        var rng = new Random(99);
        var payloads = new List<byte[]>
        {
            Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc },
            "TNLT"u8.ToArray().Concat(new byte[] { 0xff, 0xff, 0xff, 0xff, 1 }).ToArray(), // preamble then an absurd length
            "TNLT"u8.ToArray().Concat(FrameCodec.Encode(FrameType.Register, "{}"u8)).ToArray(), // right preamble, wrong first frame
        };
        for (var i = 0; i < 20; i++)
        {
            var b = new byte[rng.Next(1, 2000)];
            rng.NextBytes(b);
            payloads.Add(b);
        }
        var messages = new List<string>();
        foreach (var p in payloads)
        {
            using var c = await ControlPortHandshakeTests.RawAsync(port);
            await c.Socket.SendAsync(p, SocketFlags.None);
            try
            {
                var err = await ControlPortHandshakeTests.ReadErrorAsync(c);
                if (err is not null) messages.Add(err.Message);
            }
            catch (Exception e) when (e is SocketException or IOException or ProtocolException) { }
        }
        Assert.Contains(messages, m => m.Contains("HTTP"));
        Assert.Contains(messages, m => m.Contains("TLS"));
        Assert.Contains(messages, m => m.Contains("exceeds"));

        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(new TunnelDefinition { Name = "still", LocalPort = echo.Port });
        var client = await f.StartClientAsync(options);
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
        var r = await Transfer.EchoRoundTripAsync(user, 10_000, 1);
        Assert.Equal(r.Sent, r.Received);
    }

    [Fact]
    public async Task A_client_that_falls_silent_is_dropped_and_its_port_freed_within_the_heartbeat_timeout()
    {
        await using var f = NewFixture();
        var so = ServerOptions();
        so.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
        so.HeartbeatTimeout = TimeSpan.FromSeconds(1);
        var server = await f.StartServerAsync(so);
        // Authenticate by hand, register, then never send another frame.
        var (control, port) = await RawControlClient.RegisterAsync(server, TunnelFixture.Token, "silent", "ghost");
        using var c = control;
        Assert.False(EndToEndTests.CanBind(port));
        var started = DateTime.UtcNow;
        Assert.True(await TunnelFixture.WaitUntilAsync(() => EndToEndTests.CanBind(port), TimeSpan.FromSeconds(3)));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2));
        // The session frees its ports first and leaves the client list just after: under load that can be a moment later.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.ClientCount == 0, TimeSpan.FromSeconds(2)));
    }
}

public sealed class ControlPortRobustnessCopyTests : ControlPortRobustnessTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
}

public sealed class ControlPortRobustnessSpliceTests : ControlPortRobustnessTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
}

public sealed class ControlPortRobustnessAutoTests : ControlPortRobustnessTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

/// <summary>The runtime's async sockets, in the default mode only (see the suite).</summary>
public sealed class ControlPortRobustnessAsyncAutoTests : ControlPortRobustnessTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}
