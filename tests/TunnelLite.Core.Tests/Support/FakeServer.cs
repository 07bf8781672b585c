using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using TunnelLite.Protocol;

namespace TunnelLite.Tests.Support;

/// <summary>A hostile server on 127.0.0.1 that speaks protocol 2 by hand. Without the token it answers the login with a
/// made-up proof and asks for data connections at once; with the token it completes the login, confirms any
/// registration, and asks for far more data connections than a client should open. It counts the data connections it
/// gets and holds them, and can pair some with a tunnel (StartWork) to see the client's bound make room again.</summary>
internal sealed class FakeServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly string? _token;
    private readonly int _askFor;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<FrameConnection> _data = new();
    private readonly ConcurrentBag<FrameConnection> _all = new();
    private readonly Task _loop;
    private int _dataConnections, _controlConnections;

    /// <param name="token">The real token, or null for a server that does not know it.</param>
    /// <param name="askFor">Data connections to ask for, in one request, right after the login (and before it, without the token).</param>
    public FakeServer(string? token, int askFor)
    {
        _token = token;
        _askFor = askFor;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(4096);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _loop = AcceptLoopAsync();
    }

    public int Port { get; }

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

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = HandleAsync(new FrameConnection(s));
        }
    }

    private async Task HandleAsync(FrameConnection c)
    {
        _all.Add(c);
        try
        {
            await FrameCodec.ReadPreambleAsync(c.Stream, _stop.Token);
            var first = await c.ReadRequiredAsync(_stop.Token);
            if (first.Type == FrameType.DataHello)
            {
                Interlocked.Increment(ref _dataConnections);
                _data.Enqueue(c); // held open, never answered unless paired
                return;
            }
            Interlocked.Increment(ref _controlConnections);
            var hello = MessageSerializer.Read<HelloMessage>(first);
            var serverNonce = TokenProof.NewNonce();
            await c.SendAsync(new ChallengeMessage { Version = ProtocolConstants.Version, Nonce = serverNonce }, _stop.Token);
            if (_token is null) await c.SendAsync(new RequestWorkConnMessage { Count = _askFor }, _stop.Token); // out of turn
            await c.ReadExpectedAsync<AuthMessage>(_stop.Token);
            var sessionId = TokenProof.NewNonce();
            await c.SendAsync(new AuthOkMessage
            {
                SessionId = sessionId,
                PoolCount = 4,
                HeartbeatIntervalMs = 500,
                HeartbeatTimeoutMs = 30_000,
                Proof = _token is null ? TokenProof.NewNonce() : TokenProof.ForServer(_token, hello.Nonce, serverNonce, sessionId),
            }, _stop.Token);
            await c.SendAsync(new RequestWorkConnMessage { Count = _askFor }, _stop.Token);
            while (!_stop.IsCancellationRequested)
            {
                var f = await c.ReadAsync(_stop.Token);
                if (f is null) return;
                if (f.Value.Type == FrameType.Register)
                {
                    var reg = MessageSerializer.Read<RegisterMessage>(f.Value);
                    var result = new RegisterResultMessage { RequestId = reg.RequestId };
                    foreach (var t in reg.Tunnels) result.Results.Add(new TunnelResult { Name = t.Name, RemotePort = 20000 });
                    await c.SendAsync(result, _stop.Token);
                }
                else if (f.Value.Type == FrameType.Heartbeat) await c.SendAsync(new HeartbeatMessage(), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or ProtocolException or TunnelException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var c in _all) c.Dispose();
        await _loop;
    }
}
