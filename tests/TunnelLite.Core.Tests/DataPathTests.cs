using System.Net;
using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>What the data-path lifecycle, concurrency, footprint and latency suites share, on top of <see cref="DataPathSuite"/>. They check the data path only through the public API (a server, a client, real
/// sockets on 127.0.0.1), never through a pump, so that they hold whatever moves the bytes. Each suite is an abstract class with
/// one sealed subclass per kind of data path (mode, TLS, data plane), which it passes to this constructor: another dimension
/// of the data path is one more parameter here and one more subclass per suite.</summary>
public abstract class DataPathTests : DataPathSuite
{
    /// <summary>How long a tunnel end may take to pass an end of connection on, or to settle its counters, on the loaded
    /// 2-core machine; a pass-on takes milliseconds, so only a hang comes near it.</summary>
    protected static readonly TimeSpan Prompt = TimeSpan.FromSeconds(5);

    private readonly ForwardingMode _mode;
    private readonly bool _tls;
    private readonly DataPlaneKind _plane;

    protected DataPathTests(ForwardingMode mode, bool tls, DataPlaneKind plane = DataPlaneKind.Auto)
    {
        _mode = mode;
        _tls = tls;
        _plane = plane;
    }

    /// <inheritdoc />
    protected override ForwardingMode Mode => _mode;

    /// <inheritdoc />
    protected override bool Tls => _tls;

    /// <inheritdoc />
    protected override DataPlaneKind Plane => _plane;

    /// <summary>A server and a client of this data path with one tunnel, "data", to <paramref name="localPort"/>.</summary>
    protected static async Task<(TunnelServer Server, TunnelClient Client, int Port)> StartTunnelAsync(TunnelFixture f, int localPort,
        Action<TunnelServerOptions>? server = null, Action<TunnelClientOptions>? client = null)
    {
        var so = TunnelFixture.ServerOptions(tls: f.Tls);
        server?.Invoke(so);
        var s = await f.StartServerAsync(so);
        var co = TunnelFixture.ClientOptions(s);
        co.Tunnels.Add(new TunnelDefinition { Name = "data", LocalPort = localPort });
        client?.Invoke(co);
        var c = await f.StartClientAsync(co);
        return (s, c, c.Tunnels.Single().RemotePort);
    }

    /// <summary>Opens a user connection to <paramref name="port"/> and takes its end at <paramref name="service"/>; a few bytes
    /// each way prove the two are one connection, paired and pumping. With <paramref name="receiveBuffer"/>, the user's
    /// receive buffer is fixed at that size (no autotuning) before it connects. The user's socket is closed with
    /// <paramref name="f"/>, before its tunnel ends: a test that fails with connections open must not leave the stop of
    /// the tunnel waiting for them (the service's ends close with the service).</summary>
    protected static async Task<(Socket User, Socket Service)> OpenAsync(TunnelFixture f, int port, HandOffService service, int receiveBuffer = 0)
    {
        var user = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        f.Own(new Closing(user));
        if (receiveBuffer > 0) user.ReceiveBufferSize = receiveBuffer;
        await user.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await user.SendAsync("ping"u8.ToArray(), SocketFlags.None);
        var end = await service.NextAsync();
        Assert.Equal("ping"u8.ToArray(), await ReceiveExactlyAsync(end, 4));
        await end.SendAsync("pong"u8.ToArray(), SocketFlags.None);
        Assert.Equal("pong"u8.ToArray(), await ReceiveExactlyAsync(user, 4));
        return (user, end);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes; fails on an early end, and after <see cref="Prompt"/>.</summary>
    protected static Task<byte[]> ReceiveExactlyAsync(Socket s, int count) => Transfer.ReceiveExactlyAsync(s, count, Prompt);

    /// <summary>Waits until neither end counts an active connection: a connection whose end was not noticed, or whose
    /// count was lost, keeps it above zero.</summary>
    protected static async Task AssertSettledAsync(TunnelServer server, TunnelClient client)
    {
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.Totals.ActiveConnections == 0 && client.Totals.ActiveConnections == 0, Prompt),
            $"active connections stayed at {server.Totals.ActiveConnections} on the server and {client.Totals.ActiveConnections} on the client\n{TunnelFixture.Log.Tail()}");
    }

    /// <summary>Both ends counted exactly <paramref name="expected"/> connections that ended in a reset (call after
    /// <see cref="AssertSettledAsync"/>: a pump counts the reset before the connection's close).</summary>
    protected static void AssertResetsCounted(TunnelServer server, TunnelClient client, long expected)
    {
        Assert.True(server.Totals.ResetConnections == expected && client.Totals.ResetConnections == expected,
            $"resets counted: {server.Totals.ResetConnections} on the server, {client.Totals.ResetConnections} on the client; expected {expected} on each");
    }

    /// <summary>Closes a socket when its owner is disposed.</summary>
    private sealed class Closing(Socket socket) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>The data-path tests that measure the whole process (heap, descriptors, round-trip times): after the parallel
/// tests, one class at a time, so that no other test's connections or allocations are counted or slow them down.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DataPathMeasurementCollection
{
    public const string Name = "Data-path measurements";
}
