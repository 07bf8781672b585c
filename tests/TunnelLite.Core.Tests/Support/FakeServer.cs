using System.Collections.Concurrent;
using System.Net.Sockets;
using TunnelLite.Protocol;

namespace TunnelLite.Tests.Support;

/// <summary>A hostile server on 127.0.0.1 that speaks protocol 2 by hand. Without the token it answers the login with a
/// made-up proof and asks for data connections at once; with the token it completes the login, confirms any
/// registration, and asks for far more data connections than a client should open. It counts the data connections it
/// gets and holds them, and can pair some with a tunnel (StartWork) to see the client's bound make room again.</summary>
internal sealed class FakeServer : LoopbackService
{
    private readonly string? _token;
    private readonly int _askFor;
    private readonly ConcurrentQueue<FrameConnection> _data = new();
    private int _dataConnections, _controlConnections;

    /// <param name="token">The real token, or null for a server that does not know it.</param>
    /// <param name="askFor">Data connections to ask for, in one request, right after the login (and before it, without the token).</param>
    public FakeServer(string? token, int askFor) : base(backlog: 4096)
    {
        _token = token;
        _askFor = askFor;
        Start();
    }

    /// <summary>Data connections that arrived (sent a DataHello), in all.</summary>
    public int DataConnections => Volatile.Read(ref _dataConnections);

    /// <summary>Logins attempted.</summary>
    public int ControlConnections => Volatile.Read(ref _controlConnections);

    /// <summary>Pairs <paramref name="count"/> held data connections with <paramref name="tunnel"/>, as a user would.</summary>
    public async Task<int> StartWorkAsync(string tunnel, int count)
    {
        var started = 0;
        while (started < count && _data.TryDequeue(out var c))
        {
            await c.SendAsync(new StartWorkMessage { Tunnel = tunnel, UserEndpoint = "203.0.113.1:1" }, default);
            started++;
        }
        return started;
    }

    protected override async Task ServeAsync(Socket s)
    {
        // Every connection is held until the server ends: a hostile server does not let go of what it was given.
        Keep(s);
        var c = new FrameConnection(s);
        try
        {
            await FrameCodec.ReadPreambleAsync(c.Stream, Stopping);
            var first = await c.ReadRequiredAsync(Stopping);
            if (first.Type == FrameType.DataHello)
            {
                Interlocked.Increment(ref _dataConnections);
                _data.Enqueue(c); // held open, never answered unless paired
                return;
            }
            Interlocked.Increment(ref _controlConnections);
            var hello = MessageSerializer.Read<HelloMessage>(first);
            var serverNonce = TokenProof.NewNonce();
            await c.SendAsync(new ChallengeMessage { Version = ProtocolConstants.Version, Nonce = serverNonce }, Stopping);
            if (_token is null) await c.SendAsync(new RequestWorkConnMessage { Count = _askFor }, Stopping); // out of turn
            await c.ReadExpectedAsync<AuthMessage>(Stopping);
            var sessionId = TokenProof.NewNonce();
            await c.SendAsync(new AuthOkMessage
            {
                SessionId = sessionId,
                PoolCount = 4,
                HeartbeatIntervalMs = 500,
                HeartbeatTimeoutMs = 30_000,
                Proof = _token is null ? TokenProof.NewNonce() : TokenProof.ForServer(_token, hello.Nonce, serverNonce, sessionId),
            }, Stopping);
            await c.SendAsync(new RequestWorkConnMessage { Count = _askFor }, Stopping);
            while (!Stopping.IsCancellationRequested)
            {
                var f = await c.ReadAsync(Stopping);
                if (f is null) return;
                if (f.Value.Type == FrameType.Register)
                {
                    var reg = MessageSerializer.Read<RegisterMessage>(f.Value);
                    var result = new RegisterResultMessage { RequestId = reg.RequestId };
                    foreach (var t in reg.Tunnels) result.Results.Add(new TunnelResult { Name = t.Name, RemotePort = 20000 });
                    await c.SendAsync(result, Stopping);
                }
                else if (f.Value.Type == FrameType.Heartbeat) await c.SendAsync(new HeartbeatMessage(), Stopping);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or ProtocolException or TunnelException)
        {
        }
    }
}
