using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>How the server reads a connection's opening on the control port. On the event-loop plane a loop peeks at it
/// and takes a data connection into its pool there, and hands anything else to the control plane with its bytes unread;
/// on the async plane the control plane reads everything. Either way a data hello joins the pool whether it arrives whole
/// or in bits, a large one too, and a broken one is answered with the protocol error.</summary>
public sealed class ControlPortOpeningTests
{
    public static TheoryData<DataPlaneKind> Planes => new() { DataPlaneKind.EventLoops, DataPlaneKind.Async };

    [Theory]
    [MemberData(nameof(Planes))]
    public async Task A_data_hello_sent_a_byte_at_a_time_joins_the_pool_and_carries_a_user(DataPlaneKind plane)
    {
        var onLoops = await OpenDataConnectionAsync(plane, session => MessageSerializer.ToOpeningFrame(session.DataHello(1)), byteAtATime: true);
        // On the loops, the loop waited for the rest rather than giving the connection up to the control plane.
        Assert.Equal(plane == DataPlaneKind.EventLoops && OperatingSystem.IsLinux() ? 1 : 0, onLoops);
    }

    [Theory]
    [MemberData(nameof(Planes))]
    public async Task A_data_hello_larger_than_the_loop_reads_joins_the_pool_through_the_control_plane(DataPlaneKind plane)
    {
        // Valid JSON padded past what a loop reads (DataPlane.LoopGreeting.MaxDataHello): the control plane reads it whole.
        static byte[] Padded(TestLogin.Session session)
        {
            var json = MessageSerializer.ToFrame(session.DataHello(1))[ProtocolConstants.FrameHeaderSize..];
            var padded = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(json) + new string(' ', 2000));
            return "TNLT"u8.ToArray().Concat(FrameCodec.Encode(FrameType.DataHello, padded)).ToArray();
        }
        Assert.Equal(0, await OpenDataConnectionAsync(plane, Padded, byteAtATime: false));
    }

    // Logs in by hand with a pool of one and a tunnel, opens a data connection with the opening given, checks that a user
    // of the tunnel is carried over it, and returns how many data hellos the server read on its loops.
    private static async Task<long> OpenDataConnectionAsync(DataPlaneKind plane, Func<TestLogin.Session, byte[]> opening, bool byteAtATime)
    {
        await using var f = new TunnelFixture(plane: plane);
        var (server, port, session, control) = await LoginWithTunnelAsync(f);
        using var _ = control;
        var bytes = opening(session);
        using var data = await TunnelFixture.ConnectAsync(server.ControlEndpoint!.Port);
        if (byteAtATime)
        {
            foreach (var b in bytes)
            {
                await data.SendAsync(new[] { b }, SocketFlags.None);
                await Task.Delay(2);
            }
        }
        else await data.SendAsync(bytes, SocketFlags.None);
        await UserReachesAsync(port, data);
        return server.DataHellosOnLoops;
    }

    [Theory]
    [MemberData(nameof(Planes))]
    public async Task A_data_hello_that_is_not_json_gets_the_protocol_error_and_is_counted(DataPlaneKind plane)
    {
        await using var f = new TunnelFixture(plane: plane);
        var server = await f.StartServerAsync();
        var before = server.GetStatistics().GarbageConnections;
        using var c = await ControlPortHandshakeTests.RawAsync(server.ControlEndpoint!.Port);
        await c.Socket.SendAsync("TNLT"u8.ToArray().Concat(FrameCodec.Encode(FrameType.DataHello, "{not json"u8)).ToArray(), SocketFlags.None);
        var err = await ControlPortHandshakeTests.ReadErrorAsync(c);
        Assert.Equal(TunnelErrorCode.ProtocolError, err!.Code);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetStatistics().GarbageConnections == before + 1, TimeSpan.FromSeconds(5)),
            "the broken data hello was not counted as garbage");
    }

    // Logs in by hand with a pool of one, registers a tunnel and returns its public port (the pool is then filled by hand).
    private static async Task<(TunnelServer Server, int Port, TestLogin.Session Session, FrameConnection Control)> LoginWithTunnelAsync(TunnelFixture f)
    {
        var server = await f.StartServerAsync();
        var control = await ControlPortHandshakeTests.RawAsync(server.ControlEndpoint!.Port);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var session = await TestLogin.LoginAsync(control, TunnelFixture.Token, "opening", poolCount: 1, cancellationToken: cts.Token);
        await control.SendAsync(new RegisterMessage { RequestId = 1, Tunnels = { new TunnelRequest { Name = "opening" } } }, cts.Token);
        while (true)
        {
            var frame = await control.ReadRequiredAsync(cts.Token);
            if (frame.Type != FrameType.RegisterResult) continue;
            var result = MessageSerializer.Read<RegisterResultMessage>(frame).Results.Single();
            Assert.Equal(TunnelErrorCode.Unknown, result.Error);
            return (server, result.RemotePort, session, control);
        }
    }

    // A user of the tunnel is paired with the data connection: its StartWork, then the user's bytes, arrive on it.
    private static async Task UserReachesAsync(int port, Socket data)
    {
        using var user = await TunnelFixture.ConnectAsync(port);
        var sent = RandomNumberGenerator.GetBytes(4096);
        await user.SendAsync(sent, SocketFlags.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var stream = new NetworkStream(data, ownsSocket: false);
        var frame = await FrameCodec.ReadAsync(stream, cts.Token);
        Assert.Equal(FrameType.StartWork, frame!.Value.Type);
        Assert.Equal("opening", MessageSerializer.Read<StartWorkMessage>(frame.Value).Tunnel);
        var got = new byte[sent.Length];
        await stream.ReadExactlyAsync(got, cts.Token);
        Assert.Equal(SHA256.HashData(sent), SHA256.HashData(got));
    }
}
