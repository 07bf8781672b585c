using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Logging;
using TunnelLite.Protocol;

namespace TunnelLite.Server;

/// <summary>One authenticated client on the server: its control connection, heartbeats, tunnels and pool of idle data connections.</summary>
internal sealed class ClientSession : ControlChannel
{
    private readonly TunnelServer _server;
    // Idle data connections beyond the pool and the users waiting now: slack for requests still in flight.
    private const int IdleMargin = 16;
    private readonly Channel<FrameConnection> _idle = Channel.CreateUnbounded<FrameConnection>();
    private readonly DataConnectionWindow _window = new();
    private readonly ConcurrentDictionary<string, PublicTunnel> _tunnels = new(StringComparer.Ordinal);
    private readonly byte[] _sessionKey;
    private int _idleCount;
    private int _waitingUsers;

    public ClientSession(TunnelServer server, FrameConnection control, byte[] sessionKey, ClientAccount? account, string clientId, string? clientName, string? software, int poolCount, SourcePrefix source, ILogger log)
        : base(control, server.Options.HeartbeatInterval, server.Options.HeartbeatTimeout, log)
    {
        _server = server;
        _sessionKey = sessionKey;
        Account = account;
        ClientId = clientId;
        ClientName = clientName;
        Software = software is null ? null : PeerText.Escape(software, 64);
        PoolCount = poolCount;
        Source = source;
        Id = TokenProof.NewNonce();
        IdText = Convert.ToHexString(Id);
        RemoteEndpoint = control.Socket.RemoteEndPoint?.ToString() ?? "?";
    }

    public byte[] Id { get; }
    public string IdText { get; }
    /// <summary>Where the client connects from, for the per-source session cap.</summary>
    public SourcePrefix Source { get; }
    /// <summary>The client's own account, or null when it proved the shared token.</summary>
    public ClientAccount? Account { get; }
    public string ClientId { get; }
    public string? ClientName { get; }
    /// <summary>The software the client says it runs, escaped and cut to 64 characters (it is the peer's text).</summary>
    public string? Software { get; }
    /// <summary>When the session opened.</summary>
    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;
    public int PoolCount { get; }
    public string RemoteEndpoint { get; }
    public IEnumerable<PublicTunnel> Tunnels => _tunnels.Values;
    public int TunnelCount => _tunnels.Count;

    /// <summary>What the operator sees of this session (Get-TunnelClient, /api/v1/clients).</summary>
    public TunnelClientInfo Describe(DateTimeOffset now)
    {
        var silent = SilentFor;
        return new TunnelClientInfo
        {
            Id = IdText,
            Name = ClientName,
            Account = Account?.Name,
            RemoteAddress = RemoteEndpoint,
            Version = Software,
            ConnectedSince = Started,
            LastHeartbeat = now - silent,
            HeartbeatAgeSeconds = Math.Round(silent.TotalSeconds, 3),
            Tunnels = _tunnels.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList(),
            PoolCount = PoolCount,
        };
    }

    /// <summary>Starts the read and heartbeat loops and fills the pool.</summary>
    public void Start()
    {
        if (PoolCount > 0) RequestWorkConnections(PoolCount);
        StartLoops();
    }

    /// <summary>Asks the client for <paramref name="count"/> more data connections. Nothing is issued ahead that a missing
    /// connection could hold: the client proves each one with the session key and its next counter.</summary>
    public void RequestWorkConnections(int count = 1)
    {
        if (Closing.IsCancellationRequested) return;
        _ = SendOrCloseAsync(new RequestWorkConnMessage { Count = count });
    }

    /// <summary>Checks a data connection's proof and counter; on success it joins the idle pool. Returns why it was
    /// refused, or null when it was taken.</summary>
    public DataRefusal? TryAcceptDataConnection(DataHelloMessage hello, FrameConnection connection)
    {
        // The proof first, so that nobody without the session key can spend this session's counters.
        if (!TokenProof.Matches(TokenProof.ForData(_sessionKey, Id, hello.Counter), hello.Proof)) return DataRefusal.Rejected("its proof is wrong");
        if (_window.TryAccept(hello.Counter) is { } stale) return DataRefusal.Rejected(stale);
        if (Closing.IsCancellationRequested) return DataRefusal.Rejected("its session is closing");
        // More idle connections than the pool, the users waiting now and a margin is a client opening them unasked, or
        // one catching up on requests for users who gave up: tell it, so that it stops.
        var cap = PoolCount + Volatile.Read(ref _waitingUsers) + IdleMargin;
        if (Interlocked.Increment(ref _idleCount) > cap)
        {
            Interlocked.Decrement(ref _idleCount);
            return DataRefusal.PoolFull($"its session already pools {cap} idle data connections");
        }
        if (_idle.Writer.TryWrite(connection)) return null;
        Interlocked.Decrement(ref _idleCount);
        return DataRefusal.Rejected("its session is closing");
    }

    /// <summary>A user connection of one of this session's tunnels starts, or stops, waiting for a data connection.</summary>
    public void UserWaiting(bool waiting)
    {
        if (waiting) Interlocked.Increment(ref _waitingUsers);
        else Interlocked.Decrement(ref _waitingUsers);
    }

    /// <summary>Takes an idle data connection, skipping ones the client has closed meanwhile.</summary>
    public async Task<FrameConnection> TakeDataConnectionAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var c = await _idle.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Decrement(ref _idleCount);
            if (!SocketClose.PeerClosed(c.Socket)) return c;
            c.Dispose();
            RequestWorkConnections();
        }
    }

    /// <summary>Adds a registered tunnel.</summary>
    public bool AddTunnel(PublicTunnel tunnel) => _tunnels.TryAdd(tunnel.Name, tunnel);

    /// <summary>Removes a tunnel by name.</summary>
    public PublicTunnel? RemoveTunnel(string name) => _tunnels.TryRemove(name, out var t) ? t : null;

    protected override async ValueTask<bool> HandleAsync(Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Heartbeat:
                return true;
            case FrameType.Register:
                var reg = MessageSerializer.Read<RegisterMessage>(frame);
                var result = new RegisterResultMessage { RequestId = reg.RequestId };
                foreach (var t in reg.Tunnels.Take(64))
                    result.Results.Add(_server.RegisterTunnel(this, t));
                await Connection.SendAsync(result, Closing).ConfigureAwait(false);
                return true;
            case FrameType.Unregister:
                var un = MessageSerializer.Read<UnregisterMessage>(frame);
                await _server.UnregisterTunnelAsync(this, un.Name).ConfigureAwait(false);
                return true;
            case FrameType.WorkFailed:
                var wf = MessageSerializer.Read<WorkFailedMessage>(frame);
                if (_tunnels.TryGetValue(wf.Tunnel, out var tunnel))
                    tunnel.Counters.ConnectionFailed($"The client could not reach its local service: {PeerText.Escape(wf.Message)}");
                return true;
            case FrameType.Goodbye:
                var bye = MessageSerializer.Read<GoodbyeMessage>(frame);
                Log.LogInformation("Client {Client} said goodbye: {Reason}", RemoteEndpoint, PeerText.Escape(bye.Reason));
                return false;
            default:
                throw new ProtocolException($"Unexpected {frame.Type} frame on an open control connection.");
        }
    }

    protected override void OnSilence(double timeoutSeconds) =>
        Log.LogWarning("Client {Client} silent for more than {Timeout} s; dropping it and freeing its ports.", RemoteEndpoint, timeoutSeconds);

    protected override Task OnProtocolErrorAsync(ProtocolException error)
    {
        Log.LogWarning("Client {Client}: protocol error, closing its session: {Error}", RemoteEndpoint, PeerText.Escape(error.Message));
        return Connection.TrySendErrorAsync(TunnelErrorCode.ProtocolError, error.Message, CancellationToken.None);
    }

    protected override void OnConnectionLost(Exception? error)
    {
        // Logged once in OnClosedAsync: a client going away is routine for a server.
    }

    protected override async Task OnClosedAsync()
    {
        _idle.Writer.TryComplete();
        while (_idle.Reader.TryRead(out var c)) c.Dispose();
        foreach (var name in _tunnels.Keys.ToArray())
            await _server.UnregisterTunnelAsync(this, name).ConfigureAwait(false);
        _server.RemoveSession(this);
        Log.LogInformation("Client {Client} disconnected; its ports are free.", RemoteEndpoint);
    }
}
