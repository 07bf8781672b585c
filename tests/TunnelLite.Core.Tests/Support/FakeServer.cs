using System.Collections.Concurrent;
using System.Net.Sockets;
using TunnelLite.Protocol;

namespace TunnelLite.Tests.Support;

/// <summary>A hostile server on 127.0.0.1 that speaks protocol 2 by hand. Without the token it answers the login with a
/// made-up proof and asks for data connections at once; with the token it completes the login, confirms any
/// registration, and asks for far more data connections than a client should open. It counts the data connections it
/// gets and holds them, and can pair some with a tunnel (StartWork) to see the client's bound make room again. With
/// <c>pairOnArrival</c> it agrees to the client's pool refill and pairs each data connection the moment it arrives, asking
/// for a refill every time, up to that many pairings.</summary>
internal sealed class FakeServer : LoopbackService
{
    private readonly string? _token;
    private readonly int _askFor;
    private readonly ConcurrentQueue<FrameConnection> _data = new();
    private readonly string? _pairTunnel;
    private int _dataConnections, _controlConnections, _pairsLeft, _paired;

    /// <param name="token">The real token, or null for a server that does not know it.</param>
    /// <param name="askFor">Data connections to ask for, in one request, right after the login (and before it, without the token).</param>
    /// <param name="pairOnArrival">Pairings (StartWork with a refill asked) to make as data connections arrive; 0 for none.</param>
    /// <param name="pairTunnel">The tunnel those StartWork frames name.</param>
    public FakeServer(string? token, int askFor, int pairOnArrival = 0, string? pairTunnel = null) : base(backlog: 4096)
    {
        _token = token;
        _askFor = askFor;
        _pairsLeft = pairOnArrival;
        _pairTunnel = pairTunnel;
        Start();
    }

    /// <summary>Data connections paired on arrival so far.</summary>
    public int Paired => Volatile.Read(ref _paired);

    /// <summary>Whether the last client agreed on the pool refill in its login (<see cref="AuthMessage.RefillsPool"/>).</summary>
    public bool ClientOfferedRefill { get; private set; }

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
                if (_pairTunnel is not null && Interlocked.Decrement(ref _pairsLeft) >= 0)
                {
                    // Every connection paired at once, each asking for a refill: the client must stay within its bound.
                    await c.SendAsync(new StartWorkMessage { Tunnel = _pairTunnel, UserEndpoint = "203.0.113.1:1", Refill = true }, Stopping);
                    Interlocked.Increment(ref _paired);
                    return;
                }
                _data.Enqueue(c); // held open, never answered unless paired
                return;
            }
            Interlocked.Increment(ref _controlConnections);
            var hello = MessageSerializer.Read<HelloMessage>(first);
            var serverNonce = TokenProof.NewNonce();
            await c.SendAsync(new ChallengeMessage { Version = ProtocolConstants.Version, Nonce = serverNonce }, Stopping);
            if (_token is null) await c.SendAsync(new RequestWorkConnMessage { Count = _askFor }, Stopping); // out of turn
            var auth = await c.ReadExpectedAsync<AuthMessage>(Stopping);
            ClientOfferedRefill = auth.RefillsPool;
            var sessionId = TokenProof.NewNonce();
            await c.SendAsync(new AuthOkMessage
            {
                SessionId = sessionId,
                PoolCount = 4,
                HeartbeatIntervalMs = 500,
                HeartbeatTimeoutMs = 30_000,
                RefillsPool = _pairTunnel is not null,
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
