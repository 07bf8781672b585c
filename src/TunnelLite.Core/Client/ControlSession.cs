using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TunnelLite.Logging;
using TunnelLite.Protocol;

namespace TunnelLite.Client;

/// <summary>One authenticated control connection of a client: registration requests, heartbeats, and the server's
/// requests for data connections. A lost connection ends the session; the client then opens a new one.</summary>
internal sealed class ControlSession : ControlChannel
{
    private readonly TunnelClient _client;
    private readonly ConcurrentDictionary<int, TaskCompletionSource<RegisterResultMessage>> _pending = new();
    private int _nextRequestId;

    private readonly byte[] _sessionKey;
    private long _dataCounter;

    private ControlSession(TunnelClient client, FrameConnection control, IPEndPoint server, byte[] sessionId, byte[] sessionKey, int poolCount, bool refillsPool, bool hearsTunnelHealth, ILogger log)
        : base(control, client.Options.HeartbeatInterval, client.Options.HeartbeatTimeout, log)
    {
        _client = client;
        ServerEndpoint = server;
        SessionId = sessionId;
        _sessionKey = sessionKey;
        PoolCount = poolCount;
        RefillsPool = refillsPool;
        HearsTunnelHealth = hearsTunnelHealth;
    }

    /// <summary>The server understands <see cref="TunnelHealthMessage"/> (<see cref="AuthOkMessage.HearsTunnelHealth"/>).</summary>
    public bool HearsTunnelHealth { get; }

    /// <summary>Seals a group key with this session's key for a registration (<see cref="GroupKeySeal"/>).</summary>
    public byte[] SealGroupKey(Security.Secret key) => GroupKeySeal.Seal(_sessionKey, key.Utf8);

    /// <summary>Tells the server that a tunnel's health check withdrew it or put it back (only when it hears it).</summary>
    public Task ReportHealthAsync(string tunnel, bool healthy) =>
        HearsTunnelHealth ? SendOrCloseAsync(new TunnelHealthMessage { Name = tunnel, Healthy = healthy }) : Task.CompletedTask;

    public IPEndPoint ServerEndpoint { get; }
    public byte[] SessionId { get; }

    /// <summary>The pool size the server granted.</summary>
    public int PoolCount { get; }

    /// <summary>True when this client offered to refill its pool and the server agreed: a pooled connection whose StartWork
    /// asks for a refill is then replaced by the client, without a control frame.</summary>
    public bool RefillsPool { get; }

    /// <summary>The first frame of a new data connection: the next counter, proved with the session key.</summary>
    public DataHelloMessage NextDataHello()
    {
        var counter = Interlocked.Increment(ref _dataCounter);
        return new DataHelloMessage
        {
            Version = ProtocolConstants.Version,
            SessionId = SessionId,
            Counter = counter,
            Proof = TokenProof.ForData(_sessionKey, SessionId, counter),
        };
    }

    /// <summary>Opens TLS if the client uses it, proves the token over a connected socket, checks the server's proof in
    /// return, and opens a session. Nothing else happens for a server whose proof does not check: no registration, no data
    /// connection, no local connection. The server's first answer is awaited for <see cref="ServerAnswer.WaitFor"/> at
    /// most, and must be a TunnelLite frame; <paramref name="answered"/> is called once it is.</summary>
    /// <exception cref="TunnelException">ServerUnreachable, AuthenticationFailed, ServerAuthenticationFailed, VersionMismatch,
    /// ProtocolError (also for a server that is not TunnelLite, or silent); TlsMismatch, CertificateMismatch, CertificateUntrusted.</exception>
    public static async Task<ControlSession> OpenAsync(TunnelClient client, Socket socket, ILogger log, Action answered, CancellationToken cancellationToken)
    {
        var o = client.Options;
        var server = $"{o.ServerAddress}:{o.ServerPort}";
        var wait = ServerAnswer.WaitFor(o.ConnectTimeout);
        using var answer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        answer.CancelAfter(wait);
        FrameConnection control;
        try
        {
            control = await client.OpenConnectionAsync(socket, answer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw ServerAnswer.NoAnswer(server, wait, tls: true);
        }
        try
        {
            var clientNonce = TokenProof.NewNonce();
            await control.SendAsync(new HelloMessage
            {
                Version = ProtocolConstants.Version,
                Software = $"TunnelLite {typeof(ControlSession).Assembly.GetName().Version}",
                Nonce = clientNonce,
                Account = client.ClientName,
            }, answer.Token, withPreamble: true).ConfigureAwait(false);
            var first = await ServerAnswer.ReadAsync(control, server, answer.Token).ConfigureAwait(false);
            answer.CancelAfter(Timeout.InfiniteTimeSpan);
            answered();
            var challenge = FrameConnection.Expect<ChallengeMessage>(first);
            if (challenge.Version != ProtocolConstants.Version)
                throw new TunnelException(TunnelErrorCode.VersionMismatch,
                    $"The server at {o.ServerAddress}:{o.ServerPort} speaks TunnelLite protocol {challenge.Version}, this client {ProtocolConstants.Version}. Install matching TunnelLite versions on both ends.");
            if (challenge.Nonce.Length != ProtocolConstants.NonceSize)
                throw new ProtocolException($"The server's challenge nonce must be {ProtocolConstants.NonceSize} bytes.");
            await control.SendAsync(new AuthMessage
            {
                Proof = TokenProof.ForClient(o.Token, clientNonce, challenge.Nonce),
                ClientId = client.ClientId,
                PoolCount = o.PoolCount,
                RefillsPool = client.OffersPoolRefill,
                HearsTunnelClosed = true,
            }, cancellationToken).ConfigureAwait(false);
            var ok = await control.ReadExpectedAsync<AuthOkMessage>(cancellationToken).ConfigureAwait(false);
            if (ok.SessionId.Length != ProtocolConstants.NonceSize
                || !TokenProof.Matches(TokenProof.ForServer(o.Token, clientNonce, challenge.Nonce, ok.SessionId), ok.Proof))
                throw new TunnelException(TunnelErrorCode.ServerAuthenticationFailed,
                    $"The server at {o.ServerAddress}:{o.ServerPort} could not prove that it knows the token: it is not the server you meant, or its token differs from this client's. Nothing was exposed to it. Check the address and the token; on an untrusted network use TLS with a pinned certificate.");
            var session = new ControlSession(client, control, (IPEndPoint)socket.RemoteEndPoint!, ok.SessionId,
                TokenProof.SessionKey(o.Token, clientNonce, challenge.Nonce), Math.Max(0, ok.PoolCount),
                // Only on an offer of ours: a server cannot turn on what this client did not offer.
                client.OffersPoolRefill && ok.RefillsPool, ok.HearsTunnelHealth, log);
            session.StartLoops();
            return session;
        }
        catch (TunnelException e) when (e.Code == TunnelErrorCode.AuthenticationFailed)
        {
            control.Dispose();
            throw new TunnelException(TunnelErrorCode.AuthenticationFailed,
                $"The server at {o.ServerAddress}:{o.ServerPort} rejected the token. Check that the client's token is the server's auth.token.", e);
        }
        catch (TunnelException e) when (e.Code == TunnelErrorCode.TlsMismatch)
        {
            control.Dispose();
            throw new TunnelException(TunnelErrorCode.TlsMismatch,
                $"The server at {o.ServerAddress}:{o.ServerPort} requires TLS; use -Tls (transport.tls.enable = true) and pin the certificate fingerprint the server printed (-CertificateFingerprint).", e);
        }
        catch (OperationCanceledException) when (answer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            control.Dispose();
            throw ServerAnswer.NoAnswer(server, wait, tls: false);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            control.Dispose();
            throw new TunnelException(TunnelErrorCode.ServerUnreachable,
                $"The connection to {o.ServerAddress}:{o.ServerPort} broke during the handshake ({e.Message}). Check that this is a TunnelLite server's control port.", e);
        }
        catch
        {
            control.Dispose();
            throw;
        }
    }

    /// <summary>Connects a TCP socket to the server (control or data connection).</summary>
    public static async Task<Socket> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        Socket? socket = null;
        try
        {
            if (IPAddress.TryParse(host.Trim('[', ']'), out var ip))
            {
                socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(new IPEndPoint(ip, port), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            }
            return socket;
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            throw new TunnelException(TunnelErrorCode.ServerUnreachable,
                $"Cannot reach the tunnel server at {host}:{port}: {e.Message}. Check the address and port, that the server is running, and that no firewall blocks the control port.", e);
        }
        catch
        {
            socket?.Dispose();
            throw;
        }
    }

    /// <summary>Registers tunnels and waits for the server's answer.</summary>
    public async Task<RegisterResultMessage> RegisterAsync(IEnumerable<TunnelRequest> tunnels, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextRequestId);
        var tcs = new TaskCompletionSource<RegisterResultMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        try
        {
            using var reg = Closing.Register(() => tcs.TrySetException(new TunnelException(TunnelErrorCode.ServerUnreachable, "The connection to the server closed before it confirmed the registration.")));
            await Connection.SendAsync(new RegisterMessage { RequestId = id, Tunnels = tunnels.ToList() }, cancellationToken).ConfigureAwait(false);
            return await tcs.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Releases a tunnel on the server (best effort).</summary>
    public Task UnregisterAsync(string name, CancellationToken cancellationToken) =>
        Connection.SendAsync(new UnregisterMessage { Name = name }, cancellationToken);

    /// <summary>Tells the server that a tunnel's local service could not be reached, so that its counters show it too.</summary>
    public Task ReportWorkFailedAsync(string tunnel, string message) =>
        SendOrCloseAsync(new WorkFailedMessage { Tunnel = tunnel, Message = message });

    protected override void OnSilence(double timeoutSeconds) =>
        Log.LogWarning("The server {Server} has been silent for more than {Timeout} s; reconnecting.", _client.Server, timeoutSeconds);

    protected override Task OnProtocolErrorAsync(ProtocolException error)
    {
        Log.LogWarning("Protocol error from the server {Server}: {Error}", _client.Server, PeerText.Escape(error.Message));
        return Task.CompletedTask;
    }

    protected override void OnConnectionLost(Exception? error)
    {
        if (error is null) Log.LogWarning("The server {Server} closed the control connection.", _client.Server);
        else Log.LogWarning("Lost the control connection to {Server}: {Error}", _client.Server, error.Message);
    }

    protected override Task OnClosedAsync()
    {
        foreach (var p in _pending.Values)
            p.TrySetException(new TunnelException(TunnelErrorCode.ServerUnreachable, "The connection to the server closed before it confirmed the registration."));
        return Task.CompletedTask;
    }

    protected override ValueTask<bool> HandleAsync(Frame frame) => ValueTask.FromResult(Handle(frame));

    private bool Handle(Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Heartbeat:
                return true;
            case FrameType.RequestWorkConn:
                var req = MessageSerializer.Read<RequestWorkConnMessage>(frame);
                _client.RequestWorkConnections(this, req.Count);
                return true;
            case FrameType.RegisterResult:
                var res = MessageSerializer.Read<RegisterResultMessage>(frame);
                if (_pending.TryRemove(res.RequestId, out var tcs)) tcs.TrySetResult(res);
                return true;
            case FrameType.Error:
                var err = MessageSerializer.Read<ErrorMessage>(frame);
                Log.LogWarning("The server {Server} reported {Code}: {Message}", _client.Server, err.Code, PeerText.Escape(err.Message));
                if (err.RequestId != 0 && _pending.TryRemove(err.RequestId, out var failed))
                    failed.TrySetException(new TunnelException(err.Code, err.Message));
                return err.RequestId != 0;
            case FrameType.Unregister:
                // The server closed one of our tunnels (a reload took its port away); the session goes on.
                _client.TunnelClosedByServer(MessageSerializer.Read<UnregisterMessage>(frame));
                return true;
            case FrameType.Goodbye:
                var bye = MessageSerializer.Read<GoodbyeMessage>(frame);
                Log.LogWarning("The server {Server} closed the session: {Reason}", _client.Server, PeerText.Escape(bye.Reason));
                return false;
            default:
                throw new ProtocolException($"Unexpected {frame.Type} frame from the server.");
        }
    }
}
