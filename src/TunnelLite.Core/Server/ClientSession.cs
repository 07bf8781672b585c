using System.Diagnostics.CodeAnalysis;
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
    private readonly Channel<PooledDataConnection> _idle = Channel.CreateUnbounded<PooledDataConnection>();
    private readonly DataConnectionWindow _window = new();
    private readonly ConcurrentDictionary<string, PublicTunnel> _tunnels = new(StringComparer.Ordinal);
    private readonly byte[] _sessionKey;
    private int _idleCount;
    private int _waitingUsers;
    // When the client refills its pool: the data connections on their way (refills asked for in StartWork, requests sent),
    // as the times they were asked for, oldest first. A data connection that arrives meets the oldest. When none has
    // arrived for the refill grace, a few of those older than the grace are given up as lost and asked for again: one,
    // then twice as many each grace while users still wait (GiveUpLostLocked).
    private readonly object _refillGate = new();
    private readonly Queue<long> _expected = new();
    private long _lastArrival, _lastGiveUp;
    private int _giveUpBatch = 1;
    private long _requestFrames, _connectionsRequested;

    public ClientSession(TunnelServer server, FrameConnection control, byte[] sessionKey, Credential credential, string clientId, string? clientName, string? software, int poolCount, bool clientRefills, SourcePrefix source, ILogger log)
        : base(control, server.Options.HeartbeatInterval, server.Options.HeartbeatTimeout, log)
    {
        _server = server;
        _sessionKey = sessionKey;
        _credential = credential;
        ClientId = clientId;
        ClientName = clientName;
        Software = software is null ? null : PeerText.Escape(software, 64);
        PoolCount = poolCount;
        ClientRefills = clientRefills;
        Source = source;
        Id = TokenProof.NewNonce();
        IdText = Convert.ToHexString(Id);
        RemoteEndpoint = control.Socket.RemoteEndPoint?.ToString() ?? "?";
    }

    public byte[] Id { get; }
    public string IdText { get; }
    /// <summary>Where the client connects from, for the per-source session cap.</summary>
    public SourcePrefix Source { get; }
    /// <summary>The token the client proved: whose, current or previous, and when a previous one expires (the session
    /// ends then). A reload of the configuration replaces it with the new configuration's credential for the same token.</summary>
    public Credential Credential
    {
        get => _credential;
        set => _credential = value;
    }
    private volatile Credential _credential;
    /// <summary>The client's own account, or null when it proved the shared token.</summary>
    public ClientAccount? Account => Credential.Account;
    public string ClientId { get; }
    public string? ClientName { get; }
    /// <summary>The software the client says it runs, escaped and cut to 64 characters (it is the peer's text).</summary>
    public string? Software { get; }
    /// <summary>When the session opened.</summary>
    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;
    public int PoolCount { get; }

    /// <summary>True when the client offered to refill its pool and this server relies on it: refills are asked for in
    /// StartWork, requests are sent only when the pool runs short.</summary>
    public bool ClientRefills { get; }

    /// <summary>RequestWorkConn frames sent to this client, the first fill included.</summary>
    public long RequestFramesSent => Interlocked.Read(ref _requestFrames);

    /// <summary>Data connections those frames asked for.</summary>
    public long ConnectionsRequested => Interlocked.Read(ref _connectionsRequested);

    /// <summary>Idle data connections in the pool now (dead ones not yet found included).</summary>
    public int IdleCount => Volatile.Read(ref _idleCount);

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
            Token = Credential.Kind,
            TokenExpires = Credential.Expires,
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
        if (PoolCount > 0)
        {
            if (ClientRefills)
                lock (_refillGate)
                    for (var i = 0; i < PoolCount; i++) _expected.Enqueue(Environment.TickCount64);
            RequestWorkConnections(PoolCount);
        }
        StartLoops();
    }

    /// <summary>Asks the client for <paramref name="count"/> more data connections. Nothing is issued ahead that a missing
    /// connection could hold: the client proves each one with the session key and its next counter.</summary>
    private void RequestWorkConnections(int count = 1)
    {
        if (Closing.IsCancellationRequested) return;
        Interlocked.Increment(ref _requestFrames);
        Interlocked.Add(ref _connectionsRequested, count);
        _server.WorkConnectionsRequested();
        _ = SendOrCloseAsync(new RequestWorkConnMessage { Count = count });
    }

    /// <summary>Checks a data connection's proof and counter; on success it joins the idle pool. Returns why it was
    /// refused, or null when it was taken.</summary>
    public DataRefusal? TryAcceptDataConnection(DataHelloMessage hello, PooledDataConnection connection)
    {
        // The proof first, so that nobody without the session key can spend this session's counters.
        if (!TokenProof.Matches(TokenProof.ForData(_sessionKey, Id, hello.Counter), hello.Proof)) return DataRefusal.Rejected("its proof is wrong");
        if (_window.TryAccept(hello.Counter) is { } stale) return DataRefusal.Rejected(stale);
        if (Closing.IsCancellationRequested) return DataRefusal.Rejected("its session is closing");
        // More idle connections than the pool, the users waiting now and a margin is a client opening them unasked, or
        // one catching up on requests for users who gave up: tell it, so that it stops.
        var cap = PoolCount + Volatile.Read(ref _waitingUsers) + IdleMargin;
        lock (_refillGate)
        {
            // One step, so that a user counting what is idle and on its way never counts this one twice, or not at all.
            if (ClientRefills)
            {
                _lastArrival = Environment.TickCount64;
                _expected.TryDequeue(out _);
                // No one left waiting: whatever held the connections up is over; the next one given up starts at one.
                if (Volatile.Read(ref _waitingUsers) == 0) _giveUpBatch = 1;
            }
            if (Interlocked.Increment(ref _idleCount) > cap)
            {
                Interlocked.Decrement(ref _idleCount);
                return DataRefusal.PoolFull($"its session already pools {cap} idle data connections");
            }
        }
        if (_idle.Writer.TryWrite(connection)) return null;
        Interlocked.Decrement(ref _idleCount);
        return DataRefusal.Rejected("its session is closing");
    }

    /// <summary>Takes an idle data connection for a user, skipping ones that died meanwhile, and keeps the pool at its
    /// size. A client that does not refill by itself is asked for one connection per user, to replace the one this user
    /// takes. One that does is asked in the StartWork of the connection taken (<c>Refill</c>) while the idle connections
    /// and those on their way are fewer than the pool plus the users waiting, and by a request only for what that does
    /// not cover. Returns the connection and whether its StartWork asks for a refill.</summary>
    public async Task<(PooledDataConnection Connection, bool Refill)> TakeDataConnectionAsync(CancellationToken cancellationToken) =>
        ClientRefills ? await TakeRefilledAsync(cancellationToken).ConfigureAwait(false) : (await TakeRequestedAsync(cancellationToken).ConfigureAwait(false), false);

    private async Task<PooledDataConnection> TakeRequestedAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waitingUsers);
        try
        {
            // One request per user keeps the pool at its size: it replaces the one this user takes.
            RequestWorkConnections();
            while (true)
            {
                var c = await _idle.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                Interlocked.Decrement(ref _idleCount);
                if (!c.PeerClosed()) return c;
                c.Dispose();
                RequestWorkConnections();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waitingUsers);
        }
    }

    /// <summary>The take for a client that refills its pool. At each take the server brings the idle connections and those
    /// on their way back to the pool plus the users waiting: one by the StartWork's refill, anything more by a request.
    /// A user who finds none idle asks only for the users waiting beyond those on their way. So requests are sent only
    /// for a burst larger than the pool (or a pool of 0), a pooled connection found dead, and refills given up as lost
    /// (none arrived for <see cref="TunnelServer.RefillGrace"/> while a user waited: that user then waits the grace, not
    /// its deadline).</summary>
    private async Task<(PooledDataConnection, bool)> TakeRefilledAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waitingUsers);
        var waiting = true;
        try
        {
            while (true)
            {
                if (!_idle.Reader.TryRead(out var c))
                {
                    RequestShortfall();
                    c = await ReadWithinGraceAsync(cancellationToken).ConfigureAwait(false);
                    if (c is null) continue; // the grace passed: ask for what should have come and did not
                }
                var dead = c.PeerClosed();
                int need;
                lock (_refillGate)
                {
                    // One fewer idle and this user no longer waiting, in one step: counting the shortfall, another user
                    // sees both or neither. A user whose connection was dead still waits, but asks for itself when it
                    // finds none idle: counted here it would be asked for twice.
                    Interlocked.Decrement(ref _idleCount);
                    Interlocked.Decrement(ref _waitingUsers);
                    need = ShortfallLocked(PoolCount);
                    if (dead) Interlocked.Increment(ref _waitingUsers);
                    else waiting = false;
                }
                if (dead)
                {
                    c.Dispose();
                    if (need > 0) RequestWorkConnections(need);
                    continue;
                }
                // One in StartWork; more (refills given up as lost, or waiting users not yet counted) by a request.
                if (need > 1) RequestWorkConnections(need - 1);
                return (c, need > 0);
            }
        }
        finally
        {
            if (waiting) Interlocked.Decrement(ref _waitingUsers);
        }
    }

    /// <summary>The take without a wait, for a user that the event-loop plane pairs on the spot (on a loop's thread):
    /// false when no live idle connection is at hand, and the user then waits through <see cref="TakeDataConnectionAsync"/>.
    /// The pool is kept as by the waiting take: a request per user for a client that does not refill, the StartWork's
    /// refill (and a request for anything more) for one that does.</summary>
    public bool TryTakeIdleDataConnection([NotNullWhen(true)] out PooledDataConnection? connection, out bool refill)
    {
        refill = false;
        while (_idle.Reader.TryRead(out var c))
        {
            var dead = c.PeerClosed();
            int need;
            if (!ClientRefills)
            {
                Interlocked.Decrement(ref _idleCount);
                need = 1; // one request replaces the connection taken, live or dead
            }
            else
            {
                lock (_refillGate)
                {
                    Interlocked.Decrement(ref _idleCount);
                    need = ShortfallLocked(PoolCount);
                }
            }
            if (dead)
            {
                c.Dispose();
                if (need > 0) RequestWorkConnections(need);
                continue;
            }
            refill = ClientRefills && need > 0;
            if (need > (refill ? 1 : 0)) RequestWorkConnections(need - (refill ? 1 : 0));
            connection = c;
            return true;
        }
        connection = null;
        return false;
    }

    private async Task<PooledDataConnection?> ReadWithinGraceAsync(CancellationToken cancellationToken)
    {
        using var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        grace.CancelAfter(GraceTime());
        try
        {
            return await _idle.Reader.ReadAsync(grace.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>A data connection taken from the pool broke before its StartWork reached the client: when that StartWork
    /// asked for a refill, which will now not come, ask for it instead (it is counted on its way already). Otherwise
    /// enough were on their way, or, without the client's refill, the user's own request replaced it.</summary>
    public void DataConnectionBroke(bool refillAsked)
    {
        if (refillAsked) RequestWorkConnections();
    }

    /// <summary>A user found no idle connection: asks for what the users waiting now need beyond those on their way. Not
    /// for the pool: a user served by a refill still on its way is replaced in its StartWork; asking now would bring one
    /// connection too many whenever users come faster than refills for a moment.</summary>
    private void RequestShortfall()
    {
        int need;
        lock (_refillGate) need = ShortfallLocked(0);
        if (need > 0) RequestWorkConnections(need);
    }

    /// <summary>The connections missing for <paramref name="pool"/> idle ones and the users waiting, counted on their way
    /// from now on.</summary>
    private int ShortfallLocked(int pool)
    {
        var now = Environment.TickCount64;
        var target = pool + Volatile.Read(ref _waitingUsers) - Volatile.Read(ref _idleCount);
        GiveUpLostLocked(now, target);
        var need = target - _expected.Count;
        for (var i = 0; i < need; i++) _expected.Enqueue(now);
        return need;
    }

    /// <summary>While data connections keep arriving (a burst served as fast as the client opens them) nothing is lost.
    /// Once none has come for the grace, some of those asked for longer ago may never come (a connect that failed, a path
    /// that swallows them), or may only be slow (a saturated machine, a slow link): a client that is behind must not be
    /// sent a second request for each. So at most once a grace, and only when the connections counted on leave the
    /// <paramref name="target"/> (the pool and the users waiting, less those idle) covered, as many are given up as make
    /// it short by the batch: one, doubled each grace that brings nothing, back to one once no user waits (connections lost
    /// by the dozen are so asked for again within a few graces, connections that are only slow cost a few more). The
    /// queue stays small anyway: it grows only up to the pool plus the users waiting, and each arrival takes one.</summary>
    private void GiveUpLostLocked(long now, int target)
    {
        if (_expected.Count <= target - 1) return; // short already: asked for anyway
        var grace = (long)GraceTime().TotalMilliseconds;
        if (now - Math.Max(_lastArrival, _lastGiveUp) < grace) return;
        var gaveUp = false;
        while (_expected.Count > target - _giveUpBatch && _expected.TryPeek(out var due) && now - due >= grace)
        {
            _expected.Dequeue();
            gaveUp = true;
        }
        if (!gaveUp) return;
        _lastGiveUp = now;
        _giveUpBatch = Math.Min(2 * _giveUpBatch, DataConnectionWindow.Size);
    }

    /// <summary><see cref="TunnelServer.RefillGrace"/>, but at most half the user's deadline, so that a request made at its
    /// end still has time to bring a connection.</summary>
    private TimeSpan GraceTime() => TimeSpan.FromTicks(Math.Min(_server.RefillGrace.Ticks, _server.Options.UserConnectionTimeout.Ticks / 2));

    /// <summary>Adds a registered tunnel.</summary>
    public bool AddTunnel(PublicTunnel tunnel) => _tunnels.TryAdd(tunnel.Name, tunnel);

    /// <summary>The client understands the server's <see cref="UnregisterMessage"/> (<see cref="AuthMessage.HearsTunnelClosed"/>).</summary>
    public bool HearsTunnelClosed { get; init; }

    /// <summary>Tells the client that the server closed its tunnel <paramref name="name"/> (a reload took its port away),
    /// so that it lets the tunnel go rather than believe it open. An older client is not told (it would take the frame for
    /// a protocol error and drop every tunnel): its users of that port are refused, and it learns at its next registration.</summary>
    public void TunnelClosedByServer(string name, TunnelErrorCode code, string message)
    {
        if (HearsTunnelClosed) _ = SendOrCloseAsync(new UnregisterMessage { Name = name, Code = code, Message = message });
    }

    /// <summary>A tunnel of this session by name, or null.</summary>
    public PublicTunnel? FindTunnel(string name) => _tunnels.TryGetValue(name, out var t) ? t : null;

    /// <summary>A group key the client sealed with this session's key (<see cref="GroupKeySeal"/>), or null.</summary>
    public byte[]? OpenGroupKey(byte[] sealedKey) => GroupKeySeal.Open(_sessionKey, sealedKey);

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
            case FrameType.TunnelHealth:
                var health = MessageSerializer.Read<TunnelHealthMessage>(frame);
                _server.SetTunnelHealth(this, health.Name, health.Healthy);
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
