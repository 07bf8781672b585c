using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TunnelLite.Admin;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Logging;
using TunnelLite.Protocol;
using TunnelLite.Statistics;

namespace TunnelLite.Client;

/// <summary>The end behind NAT: connects to a <see cref="Server.TunnelServer"/>, registers tunnels, and serves each user
/// connection the server pairs with one of its data connections by connecting the tunnel's local service.
/// After the first successful start it reconnects by itself, with exponential backoff and jitter, and registers its tunnels again.</summary>
public sealed class TunnelClient : IAsyncDisposable
{
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, ClientTunnel> _tunnels = new(StringComparer.Ordinal);
    private readonly PendingWork _work = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _hardStop = new(); // aborts data connections after the drain
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _registerLock = new(1, 1);
    private readonly ClientTls? _tls;
    private ControlSession? _session;
    private Task _loop = Task.CompletedTask;
    private Task _sampler = Task.CompletedTask;
    private int _state = (int)ClientState.NotStarted;
    private DateTimeOffset _started = DateTimeOffset.UtcNow;
    private volatile ClientError? _serverError; // trouble with the server, which concerns every tunnel
    private readonly object _dataGate = new();
    private ControlSession? _dataSession; // the session the counts below belong to
    private int _dataOpen;                // data connections connecting or idle (not yet paired)
    private int _dataOwed;                // requested by the server, not yet opened
    private long _dataRequestsDropped;
    private bool _dataDropLogged;
    private long _dataOpened;             // since start: every data connection begun
    private long _dataRefills;            // since start: owed by this client's own refill, not by a request

    /// <summary>Data connections allowed beyond the granted pool, connecting or idle at once: room for a burst of users.</summary>
    internal const int DataConnectionMargin = 32;

    /// <summary>Requests for data connections the client keeps owing beyond its bound; more are ignored (a hostile server).</summary>
    internal const int MaxOwedDataConnections = 4096;

    /// <summary>Creates a client; <see cref="StartAsync(CancellationToken)"/> connects it.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="TunnelException">CertificateLoadFailed: the trusted CA file cannot be read.</exception>
    public TunnelClient(TunnelClientOptions options, string? clientName = null) : this(options, clientName, null, null)
    {
    }

    /// <summary>A client whose events go to <paramref name="events"/>, and whose connections <paramref name="sharedPump"/>
    /// moves, both shared by the clients of a <see cref="MultiServerClient"/> (which then owns the pump: one set of event
    /// loops, one thread per core, however many servers). Null: its own.</summary>
    internal TunnelClient(TunnelClientOptions options, string? clientName, RecentEvents? events, IForwardingPump? sharedPump)
    {
        _oneOfSeveral = sharedPump is not null;
        ArgumentNullException.ThrowIfNull(options);
        Events = events ?? new RecentEvents();
        options.Validate();
        Options = options;
        ClientName = clientName ?? options.ClientName ?? HostName();
        _log = Events.Capture((options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("TunnelLite.Client"));
        foreach (var t in options.Tunnels) _tunnels[t.Name] = new ClientTunnel(t, Totals);
        _ownsPump = sharedPump is null;
        Pump = sharedPump ?? PumpSelector.For(options.ForwardingMode, options.Tls.Enabled, options.DataPlane, options.EventLoops);
        if (Pump is DataPlane.EventLoopPump loops) loops.Failed += OnDataPlaneFailed;
        _tls = options.Tls.Enabled ? ClientTls.Create(options) : null;
    }

    /// <summary>Why the client stopped on its own: an event loop of its data plane failed (<see cref="TunnelErrorCode.DataPlaneFailed"/>);
    /// null while it runs and after a requested stop.</summary>
    public TunnelException? Fault { get; private set; }

    // A loop died (its connections were reset): the client cannot forward on it any more, so it stops with the error, and
    // the process, which may run other servers and tunnels, goes on.
    private void OnDataPlaneFailed(Exception e)
    {
        Fault = new TunnelException(TunnelErrorCode.DataPlaneFailed, $"The data plane failed and the client stopped: {e.Message}", e);
        _log.LogError(e, "The data plane failed; stopping.");
        Totals.RecordError(Fault.Message);
        _ = Task.Run(() => StopAsync());
    }

    /// <summary>The settings in force.</summary>
    public TunnelClientOptions Options { get; }

    /// <summary>The recent events its admin endpoint's dashboard shows.</summary>
    public RecentEvents Events { get; }

    /// <summary>The admin endpoint, when <see cref="TunnelClientOptions.Admin"/> turned it on and the client started.</summary>
    public AdminServer? Admin { get; private set; }

    /// <summary>How long the server has been silent on the control connection; null while not connected.</summary>
    public TimeSpan? ServerSilentFor => State == ClientState.Connected ? _session?.SilentFor : null;

    /// <summary>Stable id of this client instance; a reconnect replaces its own stale session on the server.</summary>
    public string ClientId { get; internal set; } = Guid.NewGuid().ToString("N");

    /// <summary>The name the client gives in its hello (<see cref="TunnelClientOptions.ClientName"/>, or the name given to
    /// the constructor, else the host name): a server's <c>[[clients]]</c> account, whose token alone the server then checks,
    /// or, with the shared token, just how the server's statistics name this client. Null only when the host name is not
    /// a usable name (over 128 characters or not printable).</summary>
    public string? ClientName { get; }

    /// <summary>The host name as a client's name, or null when it cannot be one.</summary>
    internal static string? HostName()
    {
        string name;
        try
        {
            name = Environment.MachineName;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
        return name.Length is > 0 and <= 128 && Logging.PeerText.IsPrintable(name) ? name : null;
    }

    /// <summary>Where the client stands. Reconnecting while it retries, whatever the reason: a lost server, or one that
    /// now refuses it (a changed certificate, a changed token); <see cref="LastError"/> says which.</summary>
    public ClientState State => (ClientState)Volatile.Read(ref _state);

    /// <summary>The latest trouble with the server since the start (a lost connection, a failed reconnect), or null; it
    /// stays after a successful reconnect, with its time.</summary>
    public ClientError? LastError => _serverError;

    /// <summary>Totals over all tunnels of this client.</summary>
    public TrafficCounters Totals { get; } = new();

    /// <summary>The tunnels, with the ports the server bound.</summary>
    public IReadOnlyList<ClientTunnel> Tunnels => _tunnels.Values.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();

    /// <summary>Completes when the client has stopped.</summary>
    public Task Completion => _completion.Task;

    internal IForwardingPump Pump { get; }

    /// <summary>The server, "host:port" ("[v6]:port"), as messages name it.</summary>
    internal string Server => new ServerEndpoint(Options.ServerAddress, Options.ServerPort).ToString();

    // One of the clients of a MultiServerClient, which says once for all of them what is not about one server: the weak
    // token, the stop.
    private readonly bool _oneOfSeveral;

    private readonly bool _ownsPump;

    /// <summary>True when connections to the server are TLS (then data connections keep the stream pump).</summary>
    internal bool UsesTls => _tls is not null;

    /// <summary>Wraps a socket connected to the server in TLS when the client uses it; disposes the socket on failure.</summary>
    internal async Task<FrameConnection> OpenConnectionAsync(System.Net.Sockets.Socket socket, CancellationToken cancellationToken) =>
        _tls is null ? new FrameConnection(socket) : await _tls.AuthenticateAsync(socket, cancellationToken).ConfigureAwait(false);

    /// <summary>Connects, authenticates and registers every tunnel; returns once the server has confirmed them all.
    /// From then on the client keeps itself connected until <see cref="StopAsync"/>.</summary>
    /// <exception cref="TunnelException">ServerUnreachable, AuthenticationFailed, PortNotAllowed, PortInUse, DuplicateName, RegistrationTimeout, VersionMismatch;
    /// with TLS also TlsMismatch, CertificateMismatch, CertificateUntrusted.</exception>
    public Task<IReadOnlyList<ClientTunnel>> StartAsync(CancellationToken cancellationToken = default) => StartAsync(keepTrying: false, cancellationToken);

    /// <summary>Like <see cref="StartAsync(CancellationToken)"/>; with <paramref name="keepTrying"/> a failed first start
    /// still throws, but the client does not stop: it retries in the background as after a lost connection (one server of
    /// several, <see cref="MultiServerClient"/>, that is not up yet). A cancelled start stops it all the same.</summary>
    internal async Task<IReadOnlyList<ClientTunnel>> StartAsync(bool keepTrying, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, (int)ClientState.Connecting, (int)ClientState.NotStarted) != (int)ClientState.NotStarted)
            throw new InvalidOperationException("The client was already started.");
        if (!_oneOfSeveral && Security.TokenStrength.WarningFor(Options) is { } weak) _log.LogWarning("{Warning}", weak);
        try
        {
            // First, so that /ready can say "connecting" while the connection is made.
            if (Options.Admin.Enabled)
            {
                Admin = new AdminServer(Options.Admin, new ClientAdminView(this), null, _log);
                await Admin.StartAsync().ConfigureAwait(false);
            }
            _session = await ConnectAndRegisterAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (keepTrying && !cancellationToken.IsCancellationRequested && !_stopping.IsCancellationRequested
                                  && e is TunnelException or IOException or System.Net.Sockets.SocketException or ProtocolException)
        {
            RecordServerError(e is TunnelException te ? te.Code : TunnelErrorCode.ServerUnreachable, e.Message);
            _log.LogWarning("Could not register on {Server}:{Port}; retrying in the background: {Error}", Options.ServerAddress, Options.ServerPort, e.Message);
            SetState(ClientState.Reconnecting);
            _loop = KeepConnectedAsync();
            _sampler = RateSampler.RunAsync(() => _tunnels.Values.Select(t => t.Counters).Prepend(Totals), _stopping.Token);
            throw;
        }
        catch
        {
            if (Admin is not null) await Admin.StopAsync().ConfigureAwait(false);
            SetState(ClientState.Stopped);
            MarkTunnelsStopped();
            _completion.TrySetResult();
            throw;
        }
        SetState(ClientState.Connected);
        _log.LogInformation("Connected to {Server}:{Port}; tunnels: {Tunnels}.", Options.ServerAddress, Options.ServerPort,
            string.Join(", ", Tunnels.Select(t => $"{t.Name} :{t.RemotePort} -> {t.LocalEndpoint}")));
        _loop = KeepConnectedAsync();
        _sampler = Task.WhenAll(RateSampler.RunAsync(() => _tunnels.Values.Select(t => t.Counters).Prepend(Totals), _stopping.Token),
            new HealthChecker(this, _log).RunAsync(_stopping.Token));
        return Tunnels;
    }

    /// <summary>Registers one more tunnel on the live connection.</summary>
    /// <exception cref="TunnelException">The server refused it, or the client is not connected.</exception>
    public async Task<ClientTunnel> AddTunnelAsync(TunnelDefinition definition, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var session = _session;
        if (State != ClientState.Connected || session is null)
            throw new TunnelException(TunnelErrorCode.ServerUnreachable, "The client is not connected to its server.");
        definition.ValidateBalancing();
        var tunnel = new ClientTunnel(definition, Totals);
        if (!_tunnels.TryAdd(definition.Name, tunnel))
            throw new TunnelException(TunnelErrorCode.DuplicateName, $"This client already has a tunnel named '{definition.Name}'.");
        try
        {
            await RegisterAsync(session, new[] { tunnel }, cancellationToken).ConfigureAwait(false);
            return tunnel;
        }
        catch
        {
            _tunnels.TryRemove(definition.Name, out _);
            throw;
        }
    }

    /// <summary>Releases a tunnel: the server closes its public port. Connections in flight finish.</summary>
    public async Task RemoveTunnelAsync(string name, CancellationToken cancellationToken = default)
    {
        if (!_tunnels.TryRemove(name, out var removed)) return;
        removed.MarkStopped(DateTimeOffset.UtcNow);
        var session = _session;
        if (session is null) return;
        try
        {
            await session.UnregisterAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // Disconnected: the server frees the port with the session anyway.
        }
    }

    /// <summary>Raised when the server closed one of this client's tunnels while the session goes on (a reload of its
    /// configuration took the tunnel's port away), with why; the tunnel is no longer this client's, and is not registered
    /// again after a reconnect.</summary>
    public event Action<ClientTunnel, TunnelException>? TunnelClosed;

    /// <summary>The server says it closed tunnel <paramref name="message"/>.Name: the client lets it go, records why on the
    /// tunnel and logs it. A name that is not one of this client's tunnels changes nothing.</summary>
    internal void TunnelClosedByServer(UnregisterMessage message)
    {
        if (message.Name is null || !_tunnels.TryRemove(message.Name, out var tunnel)) return;
        var why = PeerText.Escape(message.Message ?? $"The server closed tunnel '{message.Name}'.", 512);
        tunnel.MarkStopped(DateTimeOffset.UtcNow);
        tunnel.Counters.RecordError(why);
        _log.LogWarning("Tunnel {Tunnel} closed by the server ({Code}): {Reason}", PeerText.Escape(tunnel.Name, 128), message.Code, why);
        try
        {
            TunnelClosed?.Invoke(tunnel, new TunnelException(message.Code, why));
        }
        catch (Exception e)
        {
            _log.LogError(e, "A handler of TunnelClosed failed.");
        }
    }

    /// <summary>The health checker changed <paramref name="tunnel"/>'s health: the server is told, if it hears it (an older
    /// server does not: the tunnel then keeps its users, and that is logged once per change).</summary>
    internal void ReportHealth(ClientTunnel tunnel)
    {
        if (_session is not { } session || State != ClientState.Connected || !_tunnels.ContainsKey(tunnel.Name)) return;
        if (!session.HearsTunnelHealth)
        {
            _log.LogWarning("Tunnel {Tunnel}: the server does not hear health checks (an older TunnelLite), so it keeps giving the tunnel users.", PeerText.Escape(tunnel.Name, 128));
            return;
        }
        _ = session.ReportHealthAsync(tunnel.Name, tunnel.Healthy);
    }

    /// <summary>Finds a tunnel by name.</summary>
    public ClientTunnel? FindTunnel(string name) => _tunnels.TryGetValue(name, out var t) ? t : null;

    /// <summary>The client as a whole: all its tunnels' traffic, past and present (its name is the server it uses).</summary>
    public TunnelStats GetSummary()
    {
        var now = DateTimeOffset.UtcNow;
        var s = TunnelStats.From(Totals, now, _started == default ? now : _started, $"client:{Options.ServerAddress}:{Options.ServerPort}", TunnelRole.Client, State.ToString(), Pump) with
        {
            ClientName = ClientName,
            Tunnels = _tunnels.Count,
        };
        return WithServerError(s);
    }

    /// <summary>A snapshot of each tunnel.</summary>
    public IReadOnlyList<TunnelStats> GetStatistics()
    {
        var now = DateTimeOffset.UtcNow;
        return Tunnels.Select(t => Snapshot(t, now)).ToList();
    }

    /// <summary>A snapshot of <paramref name="tunnel"/>, one of this client's tunnels now or before it was removed; a
    /// stopped tunnel's Uptime is the time it ran.</summary>
    public TunnelStats GetStatistics(ClientTunnel tunnel)
    {
        ArgumentNullException.ThrowIfNull(tunnel);
        return Snapshot(tunnel, DateTimeOffset.UtcNow);
    }

    private TunnelStats Snapshot(ClientTunnel t, DateTimeOffset now)
    {
        var s = TunnelStats.From(t.Counters, now, t.Started, t.Name, TunnelRole.Client, State.ToString(), Pump, t.Stopped) with
        {
            Port = t.RemotePort,
            LocalEndpoint = t.LocalEndpoint,
            ClientName = ClientName,
            Reconnects = Totals.Reconnects,
            Group = t.Definition.Group,
            Healthy = t.Healthy,
        };
        return WithServerError(s);
    }

    /// <summary>A lost server is every tunnel's latest error too (and the client's), when it is newer than its own.</summary>
    private TunnelStats WithServerError(TunnelStats s)
    {
        var err = _serverError;
        return err is not null && (s.LastErrorTime is null || err.Time > s.LastErrorTime)
            ? s with { LastError = err.Message, LastErrorTime = err.Time }
            : s;
    }

    /// <summary>Stops: closes the control connection (the server frees the ports), closes idle data connections,
    /// lets active connections drain for up to <paramref name="drainTimeout"/> (default 5 s), then closes them.</summary>
    public async Task StopAsync(TimeSpan? drainTimeout = null)
    {
        var previous = (ClientState)Interlocked.Exchange(ref _state, (int)ClientState.Stopped);
        if (previous == ClientState.Stopped)
        {
            await Completion.ConfigureAwait(false);
            return;
        }
        _stopping.Cancel();
        var session = _session;
        if (session is not null) await session.CloseAsync("client stopping").ConfigureAwait(false);
        var deadline = Environment.TickCount64 + (long)(drainTimeout ?? TimeSpan.FromSeconds(5)).TotalMilliseconds;
        while (Totals.ActiveConnections > 0 && Environment.TickCount64 < deadline)
            await Task.Delay(20).ConfigureAwait(false);
        _hardStop.Cancel();
        await _loop.ConfigureAwait(false);
        await _work.WhenDrainedAsync().ConfigureAwait(false);
        await _sampler.ConfigureAwait(false);
        if (_ownsPump) (Pump as IDisposable)?.Dispose(); // the event loops, once the hard stop has reset what was left on them
        MarkTunnelsStopped();
        if (_oneOfSeveral) _log.LogInformation("Stopped serving through {Server}.", Server);
        else _log.LogInformation("Client stopped.");
        if (Admin is not null) await Admin.StopAsync().ConfigureAwait(false);
        _completion.TrySetResult();
    }

    /// <summary>The client stopped: its tunnels' Uptime stops now (a tunnel removed before keeps its own stop time).</summary>
    private void MarkTunnelsStopped()
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var t in _tunnels.Values) t.MarkStopped(now);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);

    /// <summary>False to log in like a client from before the pool refill: it does not offer to refill its pool, so the
    /// server asks for a data connection per user (compatibility tests). Set before <see cref="StartAsync(CancellationToken)"/>.</summary>
    internal bool OffersPoolRefill { get; set; } = true;

    /// <summary>The server asks for <paramref name="count"/> data connections. They are opened within a bound: at most the
    /// granted pool plus <see cref="DataConnectionMargin"/> may be connecting or idle at once (one paired with a user no
    /// longer counts), so a hostile server cannot make the client open connections without end. Requests beyond the bound
    /// wait, counted, until earlier connections are paired; beyond <see cref="MaxOwedDataConnections"/> they are dropped.</summary>
    internal void RequestWorkConnections(ControlSession session, int count)
    {
        if (_stopping.IsCancellationRequested || count <= 0) return;
        var dropped = 0;
        var firstDrop = false;
        lock (_dataGate)
        {
            if (!ReferenceEquals(session, _dataSession))
            {
                // A new session: what was owed to the old one is void, and its idle connections end with it (they settle
                // against the old session, which no longer counts).
                _dataSession = session;
                _dataOwed = 0;
                _dataOpen = 0;
                _dataDropLogged = false;
            }
            var room = MaxOwedDataConnections - _dataOwed;
            if (count > room) dropped = count - room;
            _dataOwed += Math.Min(count, room);
            if (dropped > 0 && !_dataDropLogged) firstDrop = _dataDropLogged = true;
        }
        if (dropped > 0) Interlocked.Add(ref _dataRequestsDropped, dropped);
        // Once per session: a server that keeps asking must not flood this client's log either.
        if (firstDrop)
            _log.LogWarning("The server asked for more data connections than this client keeps owing ({Max}); the rest are ignored for this session.", MaxOwedDataConnections);
        OpenOwedDataConnections();
    }

    /// <summary>A pooled data connection received StartWork: it leaves the bound, and when the StartWork asks for a refill
    /// (<paramref name="refill"/>) and this session agreed on it (<see cref="ControlSession.RefillsPool"/>), a replacement is
    /// owed. Owed like a requested one, so within the same bounds: a server that pairs every connection at once and asks
    /// each time gets one replacement per pairing, never more than the pool plus <see cref="DataConnectionMargin"/>
    /// connecting or idle. Called before the local service is connected, so that the replacement is on its way while this
    /// user's connection is set up.</summary>
    internal void DataConnectionPaired(ControlSession session, bool refill)
    {
        refill &= session.RefillsPool;
        lock (_dataGate)
        {
            if (!ReferenceEquals(session, _dataSession)) return;
            _dataOpen--;
            if (refill && _dataOwed < MaxOwedDataConnections) _dataOwed++;
            else refill = false;
        }
        if (refill) Interlocked.Increment(ref _dataRefills);
        OpenOwedDataConnections();
    }

    /// <summary>A data connection stopped counting against the bound without a user: it ended, or was refused.</summary>
    internal void DataConnectionSettled(ControlSession session)
    {
        lock (_dataGate)
        {
            if (ReferenceEquals(session, _dataSession)) _dataOpen--;
        }
        OpenOwedDataConnections();
    }

    /// <summary>The server refused a data connection because its pool is full: requests still owed are for users who gave
    /// up (after an outage of the data path, say), so opening them would only churn.</summary>
    internal void DataPoolFull(ControlSession session)
    {
        lock (_dataGate)
        {
            if (ReferenceEquals(session, _dataSession)) _dataOwed = 0;
        }
    }

    /// <summary>The data connections under way, which a stop waits for.</summary>
    internal PendingWork Work => _work;

    /// <summary>Data connections requested beyond the bound and ignored, since start.</summary>
    internal long DataRequestsDropped => Interlocked.Read(ref _dataRequestsDropped);

    /// <summary>Data connections connecting or idle now (for tests).</summary>
    internal int DataConnectionsOpen { get { lock (_dataGate) return _dataOpen; } }

    /// <summary>Data connections begun since start, whether asked for or refilled (for tests).</summary>
    internal long DataConnectionsOpened => Interlocked.Read(ref _dataOpened);

    /// <summary>Replacements owed for pooled connections whose StartWork asked for a refill, since start (for tests).</summary>
    internal long DataRefills => Interlocked.Read(ref _dataRefills);

    private void OpenOwedDataConnections()
    {
        while (true)
        {
            ControlSession session;
            lock (_dataGate)
            {
                if (_dataSession is null || _dataOwed == 0 || _dataOpen >= _dataSession.PoolCount + DataConnectionMargin) return;
                if (_stopping.IsCancellationRequested || _dataSession.Closing.IsCancellationRequested) return;
                _dataOwed--;
                _dataOpen++;
                session = _dataSession;
            }
            Interlocked.Increment(ref _dataOpened);
            WorkConnection.Start(this, session, _log, _hardStop.Token);
        }
    }

    private void RecordServerError(TunnelErrorCode code, string message)
    {
        _serverError = new ClientError(code, message, DateTimeOffset.UtcNow);
        Totals.RecordError(message);
    }

    private void SetState(ClientState s)
    {
        // Never leave Stopped once there.
        var cur = Volatile.Read(ref _state);
        while (cur != (int)ClientState.Stopped)
        {
            var seen = Interlocked.CompareExchange(ref _state, (int)s, cur);
            if (seen == cur) return;
            cur = seen;
        }
    }

    private async Task<ControlSession> ConnectAndRegisterAsync(CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        cts.CancelAfter(Options.ConnectTimeout);
        ControlSession? session = null;
        var phase = "connect";
        try
        {
            var socket = await ControlSession.ConnectAsync(Options.ServerAddress, Options.ServerPort, cts.Token).ConfigureAwait(false);
            // Connected: from here on silence means something else listens there (until the first answer), or that the
            // server did not confirm (after it), not that it is unreachable.
            phase = "hello";
            session = await ControlSession.OpenAsync(this, socket, _log, () => phase = "register", cts.Token).ConfigureAwait(false);
            var tunnels = _tunnels.Values.ToList();
            if (tunnels.Count > 0) await RegisterAsync(session, tunnels, cts.Token).ConfigureAwait(false);
            return session;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_stopping.IsCancellationRequested)
        {
            if (session is not null) await session.CloseAsync("registration timed out").ConfigureAwait(false);
            throw phase switch
            {
                "connect" => new TunnelException(TunnelErrorCode.ServerUnreachable, $"No answer from the tunnel server at {Options.ServerAddress}:{Options.ServerPort} within {Options.ConnectTimeout.TotalSeconds:0.#} s. Check the address and that the server is running."),
                // A connect timeout shorter than the wait for the first answer ran out first: the same silence.
                "hello" => ServerAnswer.NoAnswer($"{Options.ServerAddress}:{Options.ServerPort}", Options.ConnectTimeout, Options.Tls.Enabled),
                _ => new TunnelException(TunnelErrorCode.RegistrationTimeout, $"The server at {Options.ServerAddress}:{Options.ServerPort} did not confirm the tunnels within {Options.ConnectTimeout.TotalSeconds:0.#} s. Try again, or raise the timeout."),
            };
        }
        catch
        {
            if (session is not null) await session.CloseAsync("registration failed").ConfigureAwait(false);
            throw;
        }
    }

    private async Task RegisterAsync(ControlSession session, IReadOnlyList<ClientTunnel> tunnels, CancellationToken cancellationToken)
    {
        await _registerLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            TunnelException? first = null;
            // Source lists make a request long: the tunnels go in as many frames as their lists need.
            foreach (var batch in RegistrationBatches.Split(tunnels))
            {
                // After a reconnect ask for the port bound before, so that the public endpoint stays the same.
                var result = await session.RegisterAsync(batch.Select(t => new TunnelRequest
                {
                    Name = t.Name,
                    RemotePort = t.RemotePort != 0 ? t.RemotePort : t.Definition.RemotePort,
                    ProxyProtocol = t.Definition.ProxyProtocol,
                    BandwidthLimitIn = t.Definition.BandwidthLimitMode == BandwidthLimitMode.Server ? t.Definition.BandwidthLimit.InBytesPerSecond : 0,
                    BandwidthLimitOut = t.Definition.BandwidthLimitMode == BandwidthLimitMode.Server ? t.Definition.BandwidthLimit.OutBytesPerSecond : 0,
                    AllowSources = RegistrationBatches.Texts(t.Definition.AllowSources),
                    DenySources = RegistrationBatches.Texts(t.Definition.DenySources),
                    Group = t.Definition.Group,
                    SealedGroupKey = t.Definition.Group is null ? null : session.SealGroupKey(t.Definition.GroupKey!),
                    Strategy = t.Definition.Group is null ? null : t.Definition.Strategy == LoadBalancingStrategy.LeastConnections ? "leastConn" : "roundRobin",
                }), cancellationToken).ConfigureAwait(false);
                foreach (var r in result.Results)
                {
                    var t = batch.FirstOrDefault(x => x.Name == r.Name);
                    if (t is null) continue;
                    var listed = t.Definition.AllowSources.Count + t.Definition.DenySources.Count > 0;
                    var grouped = t.Definition.Group is not null;
                    if (r.Error == TunnelErrorCode.Unknown && r.RemotePort > 0 && (r.SourcesEnforced || !listed) && (r.GroupJoined || !grouped))
                    {
                        t.RemotePort = r.RemotePort;
                        // Registered again (a reconnect) while its service fails: the new session withdraws it at once.
                        if (!t.Healthy && session.HearsTunnelHealth) await session.ReportHealthAsync(t.Name, false).ConfigureAwait(false);
                    }
                    else if (r.Error == TunnelErrorCode.Unknown && r.RemotePort > 0 && !(r.GroupJoined || !grouped))
                    {
                        // An older server ignores the group: the port would be this tunnel's alone.
                        try
                        {
                            await session.UnregisterAsync(t.Name, cancellationToken).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
                        {
                        }
                        first ??= new TunnelException(TunnelErrorCode.VersionMismatch,
                            $"Tunnel '{PeerText.Escape(r.Name, 128)}': the server does not know load-balancing groups (an older TunnelLite), so the tunnel was not opened. Update the server, or leave out the group.");
                    }
                    else if (r.Error == TunnelErrorCode.Unknown && r.RemotePort > 0)
                    {
                        // An older server ignores the lists: its port would be open to every address. Released at once
                        // (and with the session, which a failed start closes, should the connection be gone already).
                        try
                        {
                            await session.UnregisterAsync(t.Name, cancellationToken).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
                        {
                        }
                        first ??= new TunnelException(TunnelErrorCode.VersionMismatch,
                            $"Tunnel '{PeerText.Escape(r.Name, 128)}': the server does not enforce allowSources and denySources (an older TunnelLite), so the tunnel was not opened. Update the server, or leave out the source lists.");
                    }
                    else first ??= new TunnelException(r.Error, $"Tunnel '{PeerText.Escape(r.Name, 128)}': {PeerText.Escape(r.Message, 512)}");
                }
            }
            if (first is not null) throw first;
        }
        finally
        {
            _registerLock.Release();
        }
    }

    private async Task KeepConnectedAsync()
    {
        var backoff = new ReconnectBackoff(Options.ReconnectMinDelay, Options.ReconnectMaxDelay);
        while (!_stopping.IsCancellationRequested)
        {
            // No session yet: the first start failed and is retried (StartAsync with keepTrying).
            if (_session is { } session)
            {
                await session.Completion.ConfigureAwait(false);
                if (_stopping.IsCancellationRequested) return;
                SetState(ClientState.Reconnecting);
                RecordServerError(TunnelErrorCode.ServerUnreachable, $"Lost the server {Options.ServerAddress}:{Options.ServerPort}; reconnecting.");
                _log.LogWarning("Lost the server {Server}:{Port}; reconnecting.", Options.ServerAddress, Options.ServerPort);
            }
            while (!_stopping.IsCancellationRequested)
            {
                var delay = backoff.Next();
                try
                {
                    await Task.Delay(delay, _stopping.Token).ConfigureAwait(false);
                    _session = await ConnectAndRegisterAsync(CancellationToken.None).ConfigureAwait(false);
                    backoff.Reset();
                    Totals.Reconnected();
                    SetState(ClientState.Connected);
                    _log.LogInformation("Reconnected to {Server}:{Port}; tunnels registered again.", Options.ServerAddress, Options.ServerPort);
                    break;
                }
                catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
                {
                    return;
                }
                catch (TunnelException e)
                {
                    RecordServerError(e.Code, e.Message);
                    _log.LogWarning("Reconnect failed ({Code}): {Error}", e.Code, e.Message);
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ProtocolException)
                {
                    RecordServerError(TunnelErrorCode.ServerUnreachable, e.Message);
                    _log.LogWarning("Reconnect failed: {Error}", e.Message);
                }
            }
        }
    }
}
