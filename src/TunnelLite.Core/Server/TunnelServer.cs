using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TunnelLite.Admin;
using TunnelLite.Config;
using TunnelLite.DataPlane;
using TunnelLite.Forwarding;
using TunnelLite.Logging;
using TunnelLite.Protocol;
using TunnelLite.Security;
using TunnelLite.Statistics;

namespace TunnelLite.Server;

/// <summary>The public end of TunnelLite: listens on a control port for clients, opens a public port for each tunnel they
/// register, and carries every user connection on such a port to the owning client over a data connection of its own.</summary>
public sealed class TunnelServer : IAsyncDisposable
{
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, ClientSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PublicTunnel> _tunnelsByName = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, PublicTunnel> _tunnelsByPort = new();
    // Load-balancing groups by name; their ports are taken as the tunnels' are (under the registry lock).
    private readonly ConcurrentDictionary<string, TunnelGroup> _groups = new(StringComparer.Ordinal);
    private long _groupKeyFailures;
    private readonly PendingWork _handshakes = new();
    private readonly object _registry = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _hardStop = new();
    private readonly HandshakeAdmission _admission;
    private readonly AuthThrottle _throttle;
    private readonly AdmissionCounters _refused = new();
    private readonly DescriptorBudget _descriptors = DescriptorBudget.Process;
    private readonly StrangerLog _strangers;
    private readonly ClientBans _bans = new();
    // What a reload replaces, each as a whole (under the registry lock, with the tunnels they shape): the options, the
    // server's source lists and the ports clients may bind.
    private volatile TunnelServerOptions _options;
    private volatile SourceFilter _sources;
    private volatile PortAllocator? _ports;
    private readonly SemaphoreSlim _reloadGate = new(1, 1);
    // The tokens accepted, swapped as a whole (never changed in place); the timer ends the sessions of previous tokens as
    // they expire: one timer for the server, set for the earliest expiry to come.
    private volatile CredentialSet _credentials;
    private readonly Timer _expiryTimer;
    private AdminServer? _admin;
    private readonly IPAddress _bindAddress;
    private ServerCertificate? _certificate;
    private Socket? _listener;
    private LoopListener? _loopListener;
    private Task _acceptLoop = Task.CompletedTask;
    private Task _sampler = Task.CompletedTask;
    private DateTimeOffset _started;
    private long _stoppedTicks; // UTC ticks of the end of StopAsync; 0 until then
    private long _workConnectionRequests;
    private int _state; // 0 new, 1 running, 2 stopping, 3 stopped
    // A drain (BeginDrain): set once, never cleared; the cut ends its delay and its wait for connections (a plain stop).
    private volatile ServerDrain? _drain;
    private readonly CancellationTokenSource _drainCut = new();

    /// <summary>Creates a server; <see cref="StartAsync"/> binds it.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public TunnelServer(TunnelServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _bindAddress = SocketListener.ParseBindAddress(options.BindAddress);
        _log = Events.Capture((options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("TunnelLite.Server"));
        _admission = new HandshakeAdmission(options.MaxPendingHandshakes, options.MaxPendingHandshakesPerSource);
        _throttle = new AuthThrottle(options.AuthFailureDelay, options.MaxAuthFailureDelay);
        _strangers = new StrangerLog(_log);
        _sources = new SourceFilter(options.AllowSources, options.DenySources);
        _credentials = CredentialSet.From(options);
        _expiryTimer = new Timer(static s => ((TunnelServer)s!).OnTokenExpiry(), this, Timeout.Infinite, Timeout.Infinite);
        Pump = PumpSelector.For(options.ForwardingMode, options.Tls.Enabled, options.DataPlane, options.EventLoops);
        if (Pump is DataPlane.EventLoopPump loops) loops.Failed += OnDataPlaneFailed;
    }

    /// <summary>Why the server stopped on its own: an event loop of its data plane failed (<see cref="TunnelErrorCode.DataPlaneFailed"/>);
    /// null while it runs and after a requested stop.</summary>
    public TunnelException? Fault { get; private set; }

    // A loop died (its connections were reset): the server cannot forward on it any more, so it stops with the error, and
    // the process, which may run other servers and tunnels, goes on.
    private void OnDataPlaneFailed(Exception e)
    {
        Fault = new TunnelException(TunnelErrorCode.DataPlaneFailed, $"The data plane failed and the server stopped: {e.Message}", e);
        _log.LogError(e, "The data plane failed; stopping.");
        Totals.RecordError(Fault.Message);
        _ = Task.Run(() => StopAsync());
    }

    /// <summary>The settings in force: the options given at construction, or those of the latest reload
    /// (<see cref="ReloadAsync"/>). Each is a snapshot: read it once where settings must agree with each other.</summary>
    public TunnelServerOptions Options => _options;

    /// <summary>Where <see cref="ReloadFromConfigAsync"/> reads the configuration again (its file, and what was given besides
    /// it at start); null when the server was not made from a file. Set by whoever made the options.</summary>
    public ServerConfigSource? ConfigSource
    {
        get => _configSource;
        set => _configSource = value;
    }
    private volatile ServerConfigSource? _configSource;

    /// <summary>The bound control endpoint (with the real port when 0 was asked).</summary>
    public IPEndPoint? ControlEndpoint { get; private set; }

    /// <summary>Totals over all tunnels, past and present.</summary>
    public TrafficCounters Totals { get; } = new();

    /// <summary>Running, Draining (a drain's delay: /ready answers 503, everything else serves), Stopping or Stopped.</summary>
    public string State => _state switch { 0 => "NotStarted", 1 => _drain is null ? "Running" : "Draining", 2 => "Stopping", _ => "Stopped" };

    /// <summary>The drain asked for (<see cref="BeginDrain"/>), from its start on, also once the server stopped; null when
    /// none was.</summary>
    public ServerDrain? Drain => _drain;

    /// <summary>Tunnels registered now, over all clients.</summary>
    internal int TunnelCount => _tunnelsByName.Count;

    /// <summary>Clients connected now.</summary>
    public int ClientCount => _sessions.Count;

    /// <summary>Completes when the server has stopped.</summary>
    public Task Completion => _completionSource.Task;
    private readonly TaskCompletionSource _completionSource = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>SHA-256 fingerprint (64 hex digits) of the certificate the control port presents; null without TLS or
    /// before <see cref="StartAsync"/>. Clients pin it (transport.tls.serverFingerprint, -CertificateFingerprint).</summary>
    public string? CertificateFingerprint => _certificate?.Fingerprint;

    /// <summary>The recent events the dashboard shows (clients connected and gone, failures).</summary>
    public RecentEvents Events { get; } = new();

    /// <summary>The admin endpoint, when <see cref="TunnelServerOptions.Admin"/> turned it on and the server started.</summary>
    public AdminServer? Admin => _admin;

    internal IForwardingPump Pump { get; }
    internal CancellationToken HardStop => _hardStop.Token;
    internal AdmissionCounters Refused => _refused;
    internal DescriptorBudget Descriptors => _descriptors;
    internal StrangerLog Strangers => _strangers;
    internal AuthThrottle Throttle => _throttle;

    /// <summary>False to behave like a server from before the pool refill: it ignores a client's offer to refill its pool
    /// and asks for a data connection per user (compatibility tests). Set before <see cref="StartAsync"/>.</summary>
    internal bool AcceptsClientRefill { get; set; } = true;

    /// <summary>How long a user waiting for a data connection counts on the ones on their way, with none arriving, before
    /// the server asks again (a refill lost to a failed connect): short, so that a lost refill costs a user this and not
    /// its deadline. Slow ones (a loaded machine, a slow link) are asked for again only a few at a time (one, then twice as
    /// many each grace while users still wait), and a session never waits more than half the user's deadline.</summary>
    internal TimeSpan RefillGrace { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>RequestWorkConn frames sent to every client since start, first fills included.</summary>
    internal long WorkConnectionRequests => Interlocked.Read(ref _workConnectionRequests);

    /// <summary>Data hellos read on a loop (<see cref="LoopGreeting"/>) rather than by the control plane; for tests.</summary>
    internal long DataHellosOnLoops => Interlocked.Read(ref _dataHellosOnLoops);
    private long _dataHellosOnLoops;

    internal void WorkConnectionsRequested() => Interlocked.Increment(ref _workConnectionRequests);

    /// <summary>The sessions open now (for tests).</summary>
    internal IReadOnlyList<ClientSession> Sessions => _sessions.Values.ToList();

    /// <summary>Binds the control port and starts accepting clients.</summary>
    /// <exception cref="TunnelException">ControlPortInUse when the port is taken; AddressNotAvailable when this host has no
    /// such bind address; PortNotAllowed when it may not bind the port; CertificateLoadFailed when TLS is on and its
    /// certificate cannot be used.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0) throw new InvalidOperationException("The server was already started.");
        foreach (var weak in TokenStrength.WarningsFor(Options)) _log.LogWarning("{Warning}", weak);
        LogPreviousTokens();
        try
        {
            if (Options.Tls.Enabled) _certificate = ServerCertificate.Load(Options.Tls);
        }
        catch (TunnelException)
        {
            _state = 3;
            _completionSource.TrySetResult();
            throw;
        }
        try
        {
            _listener = SocketListener.Listen(_bindAddress, Options.ControlPort);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            _state = 3;
            _completionSource.TrySetResult();
            throw new TunnelException(TunnelErrorCode.ControlPortInUse, $"Control port {Options.ControlPort} on {Options.BindAddress} is already in use. Stop what uses it or choose another port (bindPort / -ControlPort).", e);
        }
        catch (SocketException e)
        {
            _state = 3;
            _completionSource.TrySetResult();
            throw e.SocketErrorCode switch
            {
                SocketError.AddressNotAvailable => new TunnelException(TunnelErrorCode.AddressNotAvailable,
                    $"Cannot listen on {Options.BindAddress}:{Options.ControlPort}: this host has no address {Options.BindAddress}. Bind one of its addresses, 0.0.0.0 (or ::) for all of them, or 127.0.0.1 for this host only (bindAddr / -BindAddress).", e),
                SocketError.AccessDenied => new TunnelException(TunnelErrorCode.PortNotAllowed,
                    $"Cannot listen on {Options.BindAddress}:{Options.ControlPort}: permission denied ({e.Message}). Ports below 1024 need privileges; choose a port from 1024 up (bindPort / -ControlPort).", e),
                _ => new TunnelException(TunnelErrorCode.Unknown, $"Cannot listen on {Options.BindAddress}:{Options.ControlPort}: {e.Message}", e),
            };
        }
        ControlEndpoint = (IPEndPoint)_listener.LocalEndPoint!;
        if (Options.Admin.Enabled)
        {
            try
            {
                _admin = new AdminServer(Options.Admin, new ServerAdminView(this), _certificate, _log);
                _admin.StartAsync();
            }
            catch (TunnelException)
            {
                _listener.Dispose();
                _state = 3;
                _completionSource.TrySetResult();
                throw;
            }
        }
        _ports = new PortAllocator(_bindAddress, Options.AllowPorts, p => p == ControlEndpoint.Port || _tunnelsByPort.ContainsKey(p) || PortOfGroup(p));
        _started = DateTimeOffset.UtcNow;
        ArmExpiryTimer(_started);
        StartAccepting();
        _sampler = Task.WhenAll(
            RateSampler.RunAsync(() => _tunnelsByName.Values.Select(t => t.Counters).Prepend(Totals), _stopping.Token),
            FlushStrangerLogAsync(_stopping.Token));
        _log.LogInformation("TunnelLite server listening on {Endpoint}.", ControlEndpoint);
        if (_certificate is { } c)
            _log.LogInformation("TLS is on; {Kind} certificate SHA-256 fingerprint {Fingerprint}. Clients pin it with -CertificateFingerprint (transport.tls.serverFingerprint).",
                c.SelfSigned ? "self-signed" : "the", c.Fingerprint);
        return Task.CompletedTask;
    }

    /// <summary>Starts a drain for a rolling upgrade and returns at once; <see cref="Completion"/> completes when the server
    /// has stopped. For <paramref name="delay"/> (default <see cref="TunnelServerOptions.DrainDelay"/>) /ready answers 503
    /// and <see cref="State"/> is Draining, while everything else serves as before, new users and clients included, so that
    /// a balancer has time to move new users away; then the server stops as <see cref="StopAsync"/> does: it stops accepting
    /// on the public ports and the control port and lets live connections finish for up to <paramref name="timeout"/>
    /// (default <see cref="TunnelServerOptions.DrainTimeout"/>). A drain is idempotent: a second one returns the first
    /// (<see cref="ServerDrain.AlreadyDraining"/>). A <see cref="StopAsync"/> during a drain stops at once.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A time below zero or above an hour.</exception>
    /// <exception cref="InvalidOperationException">The server is not running (not started, stopping or stopped).</exception>
    public ServerDrain BeginDrain(TimeSpan? delay = null, TimeSpan? timeout = null)
    {
        var options = Options;
        var d = delay ?? options.DrainDelay;
        var t = timeout ?? options.DrainTimeout;
        if (d < TimeSpan.Zero || d > TunnelServerOptions.MaxDrainTime) throw new ArgumentOutOfRangeException(nameof(delay), "The drain delay must be from 0 to 3600 seconds.");
        if (t < TimeSpan.Zero || t > TunnelServerOptions.MaxDrainTime) throw new ArgumentOutOfRangeException(nameof(timeout), "The drain timeout must be from 0 to 3600 seconds.");
        var now = DateTimeOffset.UtcNow;
        var drain = new ServerDrain { Started = now, DelaySeconds = d.TotalSeconds, TimeoutSeconds = t.TotalSeconds, StopsAccepting = now + d };
        lock (_drainCut)
        {
            if (_drain is { } first) return first with { AlreadyDraining = true };
            if (_state != 1) throw new InvalidOperationException($"The server is {State.ToLowerInvariant()}; only a running server drains.");
            _drain = drain;
        }
        _log.LogWarning("Draining: /ready answers 503 for {Delay} s so that balancers move new users away; then the server stops accepting and lets live connections finish within {Timeout} s, and stops.",
            d.TotalSeconds, t.TotalSeconds);
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(d, _drainCut.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            _log.LogInformation("Draining: the server stops accepting new users and clients now.");
            await StopWithinAsync(t).ConfigureAwait(false);
        });
        return drain;
    }

    /// <summary>Drains as <see cref="BeginDrain"/> does and completes when the server has stopped.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A time below zero or above an hour.</exception>
    /// <exception cref="InvalidOperationException">The server is not running.</exception>
    public async Task<ServerDrain> DrainAsync(TimeSpan? delay = null, TimeSpan? timeout = null)
    {
        var drain = BeginDrain(delay, timeout);
        await Completion.ConfigureAwait(false);
        return drain;
    }

    /// <summary>Stops accepting, closes the public listeners, lets active connections drain for <see cref="TunnelServerOptions.DrainTimeout"/>,
    /// then closes what is left and disconnects the clients. During a drain (<see cref="BeginDrain"/>) it stops at once: the
    /// drain's delay and its wait for connections end now.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_drain is not null) _drainCut.Cancel();
        return StopWithinAsync(Options.DrainTimeout, cancellationToken);
    }

    private async Task StopWithinAsync(TimeSpan drainTimeout, CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1)
        {
            await Completion.ConfigureAwait(false);
            return;
        }
        _log.LogInformation("TunnelLite server on {Endpoint} stopping.", ControlEndpoint);
        _stopping.Cancel();
        lock (_expiryTimer) _expiryTimer.Dispose();
        if (_loopListener is not null) await EventLoopPump.CloseListenerAsync(_loopListener).ConfigureAwait(false);
        _listener?.Dispose();
        foreach (var t in _tunnelsByName.Values) await t.CloseAsync().ConfigureAwait(false);
        foreach (var g in _groups.Values) await g.CloseAsync().ConfigureAwait(false);
        var deadline = Environment.TickCount64 + (long)drainTimeout.TotalMilliseconds;
        while (Totals.ActiveConnections > 0 && Environment.TickCount64 < deadline && !cancellationToken.IsCancellationRequested && !_drainCut.IsCancellationRequested)
            await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
        _hardStop.Cancel();
        await Task.WhenAll(_sessions.Values.Select(s => s.CloseAsync("server stopping"))).ConfigureAwait(false);
        await _acceptLoop.ConfigureAwait(false);
        await _handshakes.WhenDrainedAsync().ConfigureAwait(false);
        await _sampler.ConfigureAwait(false);
        _strangers.Flush(force: true);
        // The event loops go once the hard stop has reset what was left on them.
        (Pump as IDisposable)?.Dispose();
        // Last, so that /ready says "stopping" and /metrics still answers while connections drain.
        if (_admin is not null) await _admin.StopAsync().ConfigureAwait(false);
        Interlocked.Exchange(ref _stoppedTicks, DateTimeOffset.UtcNow.UtcTicks);
        _state = 3;
        _log.LogInformation("TunnelLite server stopped.");
        _completionSource.TrySetResult();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_state == 1) await StopAsync().ConfigureAwait(false);
    }

    /// <summary>When the server stopped; null while it runs (or never started).</summary>
    private DateTimeOffset? Stopped => Interlocked.Read(ref _stoppedTicks) is var t and not 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>A snapshot of the server as a whole; once stopped, its Uptime is the time it ran.</summary>
    public TunnelStats GetStatistics(string? name = null)
    {
        var now = DateTimeOffset.UtcNow;
        return TunnelStats.From(Totals, now, _started == default ? now : _started, name ?? $"server:{ControlEndpoint?.Port ?? Options.ControlPort}", TunnelRole.Server, State, Pump, Stopped) with
        {
            Port = ControlEndpoint?.Port ?? Options.ControlPort,
            Clients = _sessions.Count,
            Tunnels = _tunnelsByName.Count,
            HandshakesEvicted = _admission.EvictedPerSource + _admission.EvictedGlobal,
            HandshakeTimeouts = _refused.HandshakeTimeouts,
            GarbageConnections = _refused.Garbage,
            LoginsFailed = _throttle.Failed,
            LoginsThrottled = _throttle.Throttled,
            SessionsRefused = _refused.SessionsRefused,
            DataConnectionsRefused = _refused.DataConnectionsRefused,
            DescriptorRefusals = _refused.DescriptorRefusals,
            PendingHandshakes = _admission.Pending,
            OpenDescriptors = _descriptors.Estimate(), // 0 where there is no limit
            DescriptorLimit = _descriptors.IsBounded ? _descriptors.Limit : 0,
            GroupKeyFailures = Interlocked.Read(ref _groupKeyFailures),
        };
    }

    /// <summary>A snapshot of each tunnel registered now.</summary>
    public IReadOnlyList<TunnelStats> GetTunnelStatistics()
    {
        var now = DateTimeOffset.UtcNow;
        return _tunnelsByName.Values.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t =>
            TunnelStats.From(t.Counters, now, t.Started, t.Name, TunnelRole.Server, State, Pump, Stopped) with
            {
                Port = t.Port,
                ClientName = t.Session.ClientName,
                Group = t.Group?.Name,
                Healthy = t.Healthy,
            }).ToList();
    }

    /// <summary>The clients connected now, by when they connected.</summary>
    public IReadOnlyList<TunnelClientInfo> GetClients()
    {
        var now = DateTimeOffset.UtcNow;
        return _sessions.Values.OrderBy(s => s.Started).Select(s => s.Describe(now)).ToList();
    }

    /// <summary>Disconnects the client whose session has <paramref name="id"/>: its ports are freed at once, and for
    /// <paramref name="ban"/> (none when zero) it may not log in again (by its account, or without one by its client id).
    /// Returns what it was, or null when no client has that id.</summary>
    public async Task<TunnelClientInfo?> DisconnectClientAsync(string id, TimeSpan ban)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (!_sessions.TryGetValue(id.ToUpperInvariant(), out var session)) return null;
        var info = session.Describe(DateTimeOffset.UtcNow);
        _bans.Ban(session.Account?.Name, session.ClientId, ban);
        _log.LogWarning("Client {Client} ({Name}) disconnected by the operator{Ban}.", session.RemoteEndpoint, PeerText.Escape(session.ClientName, 128),
            ban > TimeSpan.Zero ? $"; it may not reconnect for {ban.TotalSeconds:0} s" : "");
        await session.CloseAsync(ban > TimeSpan.Zero ? $"disconnected by the server's operator; banned for {ban.TotalSeconds:0} s" : "disconnected by the server's operator").ConfigureAwait(false);
        return info;
    }

    /// <summary>Reads the configuration file again (<see cref="ConfigSource"/>, or <paramref name="path"/>, which becomes the
    /// server's file from then on) and applies it with <see cref="ReloadAsync"/>: all of it, or, when anything is wrong,
    /// nothing. Each outcome is logged.</summary>
    /// <exception cref="TunnelConfigException">The file is missing, unreadable or invalid: nothing changed.</exception>
    /// <exception cref="TunnelException">ReloadRefused: a key that cannot change live differs, or the server has no file.</exception>
    /// <exception cref="InvalidOperationException">The server is not running.</exception>
    public async Task<ServerReloadResult> ReloadFromConfigAsync(string? path = null)
    {
        var source = ConfigSource;
        if (path is null && source?.Path is null)
        {
            var e = new TunnelException(TunnelErrorCode.ReloadRefused,
                "This server was started without a configuration file, so there is none to read again: give one (Update-TunnelServer -ConfigPath). Nothing was changed.");
            _log.LogWarning("Reload refused: {Reason}", e.Message);
            throw e;
        }
        if (path is not null) source = (source ?? new ServerConfigSource(null)).WithPath(path);
        ConfigLoadResult<TunnelServerOptions> loaded;
        try
        {
            loaded = source!.Load();
        }
        catch (TunnelConfigException e)
        {
            _log.LogWarning("Reload refused, the running configuration stays: {Reason}", e.Message);
            throw;
        }
        var result = await ReloadAsync(loaded.Options, source.Path).ConfigureAwait(false);
        if (path is not null) ConfigSource = source;
        return result with { Warnings = loaded.Warnings.Select(w => w.Message).ToList() };
    }

    /// <summary>Applies <paramref name="options"/> to the running server without dropping a connection, or refuses them whole.
    /// Live: the tokens and accounts (an account removed, or a token no longer accepted, ends its sessions and frees their
    /// ports; one added can log in), allowPorts (a tunnel whose port is no longer allowed is closed and its client told),
    /// each account's ports, quota, bandwidth limit and source lists and the server's source lists (applied to the tunnels
    /// open now, and a changed rate to their connections), and the limits and timeouts, which apply from the next
    /// connection, login or registration. Fixed (<see cref="ServerReloadKeys"/>): the control port and its address, TLS,
    /// the data plane, the admin endpoint, the handshake admission and the login throttle; one that differs refuses the
    /// reload, naming its key. The server takes <paramref name="options"/>: do not change them afterwards.</summary>
    /// <param name="options">The new settings; their <see cref="TunnelServerOptions.LoggerFactory"/> is the server's.</param>
    /// <param name="configPath">The file they were read from, for the log and the result.</param>
    /// <exception cref="ArgumentException">The options are invalid: nothing changed.</exception>
    /// <exception cref="TunnelException">ReloadRefused: a fixed key differs; nothing changed.</exception>
    /// <exception cref="InvalidOperationException">The server is not running.</exception>
    public async Task<ServerReloadResult> ReloadAsync(TunnelServerOptions options, string? configPath = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        await _reloadGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_state != 1) throw new InvalidOperationException($"The server is {State.ToLowerInvariant()}; only a running server reloads.");
            var running = _options;
            options.LoggerFactory = running.LoggerFactory;
            options.Validate();
            if (ServerReloadKeys.FixedChange(running, options) is { } refusal)
            {
                _log.LogWarning("Reload refused, the running configuration stays: {Reason}", refusal);
                throw new TunnelException(TunnelErrorCode.ReloadRefused, refusal);
            }
            // Not in a file: the running endpoint's own limits and ban stay what they are.
            options.Admin = running.Admin;
            return await ApplyAsync(running, options, configPath).ConfigureAwait(false);
        }
        finally
        {
            _reloadGate.Release();
        }
    }

    /// <summary>The reload once it is known to be valid: swaps the options, the credentials, the source lists and the
    /// ports under the registry lock, with every session rebound to the new credential of its token and every tunnel's
    /// policy made anew; then ends the sessions and closes the tunnels that lost their place, and logs what changed.</summary>
    private async Task<ServerReloadResult> ApplyAsync(TunnelServerOptions running, TunnelServerOptions options, string? configPath)
    {
        var now = DateTimeOffset.UtcNow;
        var before = running.Clients.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var after = options.Clients.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var added = options.Clients.Where(c => !before.ContainsKey(c.Name)).Select(c => c.Name).ToList();
        var removed = running.Clients.Where(c => !after.ContainsKey(c.Name)).Select(c => c.Name).ToList();
        var changed = options.Clients.Where(c => before.TryGetValue(c.Name, out var old) && ServerReloadKeys.AccountChanged(old, c)).Select(c => c.Name).ToList();
        var keys = ServerReloadKeys.LiveChanges(running, options);
        var credentials = CredentialSet.From(options);
        var ports = new PortAllocator(_bindAddress, options.AllowPorts, p => p == ControlEndpoint!.Port || _tunnelsByPort.ContainsKey(p) || PortOfGroup(p));
        var serverSourcesChanged = keys.Contains("allowSources") || keys.Contains("denySources");
        var ending = new List<(ClientSession Session, string Reason)>();
        var closing = new List<(ClientSession Session, PublicTunnel Tunnel)>();
        var updated = 0;
        lock (_registry)
        {
            _options = options;
            _credentials = credentials;
            _sources = new SourceFilter(options.AllowSources, options.DenySources);
            _ports = ports;
            foreach (var session in _sessions.Values)
            {
                var account = session.Account;
                if (account is not null && !after.ContainsKey(account.Name))
                {
                    ending.Add((session, $"client '{account.Name}' was removed from the server's configuration"));
                    continue;
                }
                if (credentials.Equivalent(session.Credential) is not { } credential)
                {
                    ending.Add((session, $"{(account is null ? "the shared token" : $"the token of client '{account.Name}'")} it proved is no longer accepted: the server's configuration changed it; log in with the current token"));
                    continue;
                }
                // An expired previous token (given with a past expiry) ends the session by the expiry timer, below.
                session.Credential = credential;
                foreach (var tunnel in session.Tunnels)
                {
                    if (!ports.IsAllowed(tunnel.Port, credential.Account?.AllowPorts))
                    {
                        closing.Add((session, tunnel));
                        continue;
                    }
                    if (ApplyPolicy(tunnel) || serverSourcesChanged || !ServerReloadKeys.SameSources(account, credential.Account)) updated++;
                }
            }
        }
        var ended = new List<string>();
        foreach (var (session, reason) in ending)
        {
            _log.LogWarning("Client {Client} ({Name}): {Reason}; ending its session and freeing its ports.", session.RemoteEndpoint, PeerText.Escape(session.ClientName, 128), reason);
            ended.Add($"{PeerText.Escape(session.ClientName, 128)} ({session.RemoteEndpoint}): {reason}");
            await session.CloseAsync(reason).ConfigureAwait(false);
        }
        var closed = new List<string>();
        foreach (var (session, tunnel) in closing)
        {
            var name = PeerText.Escape(tunnel.Name, 128);
            var why = $"port {tunnel.Port} is no longer allowed {(session.Account is { AllowPorts.Count: > 0 } a ? $"for client '{a.Name}' (its allowPorts)" : "on this server (allowPorts)")}, after a reload of the server's configuration";
            _log.LogWarning("Tunnel {Tunnel} of client {Client} ({Name}) closed: {Reason}.", name, session.RemoteEndpoint, PeerText.Escape(session.ClientName, 128), why);
            closed.Add($"{name} (port {tunnel.Port})");
            session.TunnelClosedByServer(tunnel.Name, TunnelErrorCode.PortNotAllowed, $"The server closed tunnel '{name}': {why}.");
            await UnregisterTunnelAsync(session, tunnel.Name).ConfigureAwait(false);
        }
        OnTokenExpiry();
        var result = new ServerReloadResult
        {
            ConfigPath = configPath,
            Time = now,
            ChangedKeys = keys,
            ClientsAdded = added,
            ClientsRemoved = removed,
            ClientsChanged = changed,
            SessionsEnded = ended,
            TunnelsClosed = closed,
            TunnelsUpdated = updated,
        };
        LogReload(result);
        return result;
    }

    /// <summary>One line for a reload: what changed, by name (of keys, accounts, tunnels), never a value of a secret.</summary>
    private void LogReload(ServerReloadResult r)
    {
        static string List(IReadOnlyList<string> names) => string.Join(", ", names.Select(n => PeerText.Escape(n, 128)));
        var parts = new List<string>();
        if (r.ChangedKeys.Count > 0) parts.Add($"keys changed: {List(r.ChangedKeys)}");
        if (r.ClientsAdded.Count > 0) parts.Add($"clients added: {List(r.ClientsAdded)}");
        if (r.ClientsRemoved.Count > 0) parts.Add($"clients removed: {List(r.ClientsRemoved)}");
        if (r.ClientsChanged.Count > 0) parts.Add($"clients changed: {List(r.ClientsChanged)}");
        if (r.SessionsEnded.Count > 0) parts.Add($"sessions ended: {r.SessionsEnded.Count}");
        if (r.TunnelsClosed.Count > 0) parts.Add($"tunnels closed: {List(r.TunnelsClosed)}");
        if (r.TunnelsUpdated > 0) parts.Add($"tunnels updated: {r.TunnelsUpdated}");
        _log.LogInformation("Configuration reloaded{From}: {Changes}.", r.ConfigPath is null ? "" : $" from {r.ConfigPath}",
            parts.Count == 0 ? "nothing changed" : string.Join("; ", parts));
    }

    /// <summary>Sums up the strangers' rate-limited warnings each second, so a flood that stops is still reported.</summary>
    private async Task FlushStrangerLogAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false)) _strangers.Flush();
        }
        catch (OperationCanceledException)
        {
        }
    }

    internal void RemoveSession(ClientSession session) => _sessions.TryRemove(new KeyValuePair<string, ClientSession>(session.IdText, session));

    internal TunnelResult RegisterTunnel(ClientSession session, TunnelRequest request)
    {
        var result = new TunnelResult { Name = request.Name ?? "" };
        try
        {
            if (_stopping.IsCancellationRequested)
                throw new TunnelException(TunnelErrorCode.ServerShuttingDown, "The server is shutting down.");
            ValidateName(request.Name);
            if (!Enum.IsDefined(request.ProxyProtocol))
                throw new TunnelException(TunnelErrorCode.BadRequest, "Unknown PROXY protocol version; this server writes v1 or v2.");
            if (request.BandwidthLimitIn is < 0 or > BandwidthLimit.MaxBytesPerSecond || request.BandwidthLimitOut is < 0 or > BandwidthLimit.MaxBytesPerSecond)
                throw new TunnelException(TunnelErrorCode.BadRequest, "A bandwidth limit must be from 0 (none) to 1048576MB per second.");
            var requested = SourceFilter.FromRequest(request.AllowSources, request.DenySources);
            var groupKey = request.Group is null ? null : GroupKeyOf(session, request);
            lock (_registry)
            {
                var options = Options;
                if (_tunnelsByName.ContainsKey(request.Name!))
                    throw new TunnelException(TunnelErrorCode.DuplicateName, $"A tunnel named '{PeerText.Escape(request.Name, 128)}' is already registered on this server. Choose another name.");
                // An account's quota counts over all its sessions: a second process with the same token shares it.
                if (session.Account is { MaxTunnels: > 0 } account && _tunnelsByName.Values.Count(t => t.Session.Account == account) >= account.MaxTunnels)
                    throw new TunnelException(TunnelErrorCode.QuotaExceeded, $"Client '{account.Name}' may have at most {account.MaxTunnels} tunnel(s) open; close one first.");
                // The shared token is one account too: its cap counts the tunnels of every session that proved it.
                if (session.Account is not { MaxTunnels: > 0 } && _tunnelsByName.Values.Count(t => t.Session.Account == session.Account) >= options.MaxTunnelsPerClient)
                    throw new TunnelException(TunnelErrorCode.QuotaExceeded, session.Account is null
                        ? $"The clients of the shared token may have at most {options.MaxTunnelsPerClient} tunnel(s) open on this server in all (transport.maxTunnelsPerClient); close one first."
                        : $"Client '{session.Account.Name}' may have at most {options.MaxTunnelsPerClient} tunnel(s) open (transport.maxTunnelsPerClient); close one first.");
                var limit = new BandwidthLimit(request.BandwidthLimitIn, request.BandwidthLimitOut);
                PublicTunnel tunnel;
                if (groupKey is not null)
                {
                    tunnel = JoinGroupLocked(session, request, groupKey, requested, limit);
                    result.GroupJoined = true;
                }
                else
                {
                    var listener = _ports!.Bind(request.RemotePort, session.Account?.AllowPorts);
                    tunnel = new PublicTunnel(this, session, request.Name!, listener, requested, limit, _log) { ProxyProtocol = request.ProxyProtocol };
                    _tunnelsByPort[tunnel.Port] = tunnel;
                }
                ApplyPolicy(tunnel);
                _tunnelsByName[tunnel.Name] = tunnel;
                session.AddTunnel(tunnel);
                tunnel.Start();
                result.RemotePort = tunnel.Port;
                result.SourcesEnforced = !requested.IsEmpty;
            }
            _log.LogInformation("Client {Client} registered tunnel {Tunnel} on port {Port}{Group}.", session.RemoteEndpoint, PeerText.Escape(request.Name, 128), result.RemotePort,
                request.Group is null ? "" : $" in group {PeerText.Escape(request.Group, 128)}");
        }
        catch (TunnelException e)
        {
            result.Error = e.Code;
            result.Message = e.Message;
            // Debug, not warning: one Register frame may carry 64 refused names, which an authenticated client controls.
            _log.LogDebug("Client {Client}: tunnel {Tunnel} refused: {Error}", session.RemoteEndpoint, PeerText.Escape(request.Name, 128), e.Message);
        }
        catch (SocketException e)
        {
            result.Error = TunnelErrorCode.Unknown;
            result.Message = $"The server could not open port {request.RemotePort}: {e.Message}";
        }
        return result;
    }

    /// <summary>Under the registry lock: the source policy and bandwidth limit of <paramref name="tunnel"/> from the server's
    /// lists, its account's and what its client asked for; at registration, and again at a reload. The limit is the stricter
    /// of the operator's for the account and the client's own wish: a client cannot loosen it. Returns whether the limit
    /// changed.</summary>
    private bool ApplyPolicy(PublicTunnel tunnel)
    {
        var owner = tunnel.Session.Account;
        tunnel.Sources = TunnelSourcePolicy.For(tunnel.Name, _sources,
            owner is null ? null : new SourceFilter(owner.AllowSources, owner.DenySources), owner?.Name, tunnel.RequestedSources);
        var limit = (owner?.BandwidthLimit ?? BandwidthLimit.None).Min(tunnel.RequestedLimit);
        if (tunnel.Counters.Shaper is { } shaper)
        {
            if (shaper.Limit == limit) return false;
            shaper.Apply(limit);
            return true;
        }
        tunnel.Counters.Shaper = BandwidthShaper.For(limit);
        return !limit.IsNone;
    }

    internal async Task UnregisterTunnelAsync(ClientSession session, string name)
    {
        var tunnel = session.RemoveTunnel(name);
        if (tunnel is null) return;
        var emptied = false;
        lock (_registry)
        {
            _tunnelsByName.TryRemove(new KeyValuePair<string, PublicTunnel>(name, tunnel));
            _tunnelsByPort.TryRemove(new KeyValuePair<int, PublicTunnel>(tunnel.Port, tunnel));
            // The group's port stays bound while any member is registered, healthy or not.
            if (tunnel.Group is { } g && g.Remove(tunnel))
            {
                _groups.TryRemove(new KeyValuePair<string, TunnelGroup>(g.Name, g));
                emptied = true;
            }
        }
        await tunnel.CloseAsync().ConfigureAwait(false);
        if (tunnel.Group is null || emptied)
        {
            if (emptied) await tunnel.Group!.CloseAsync().ConfigureAwait(false);
            _log.LogInformation("Tunnel {Tunnel} closed; port {Port} is free.", PeerText.Escape(name, 128), tunnel.Port);
        }
        else _log.LogInformation("Tunnel {Tunnel} left group {Group}; port {Port} stays with the group's other members.", PeerText.Escape(name, 128), PeerText.Escape(tunnel.Group.Name, 128), tunnel.Port);
    }

    /// <summary>A client's health check withdrew its tunnel <paramref name="name"/> from its users, or put it back.</summary>
    internal void SetTunnelHealth(ClientSession session, string name, bool healthy)
    {
        if (session.FindTunnel(name) is not { } tunnel || tunnel.Healthy == healthy) return;
        tunnel.Healthy = healthy;
        var where = tunnel.Group is { } g ? $"group {PeerText.Escape(g.Name, 128)}" : $"port {tunnel.Port}";
        if (healthy) _log.LogInformation("Tunnel {Tunnel}: its service answers again; it takes users on {Where} again.", PeerText.Escape(name, 128), where);
        else _log.LogWarning("Tunnel {Tunnel}: its service fails its health checks; withdrawn from {Where} (the port stays bound).", PeerText.Escape(name, 128), where);
    }

    private bool PortOfGroup(int port) => _groups.Values.Any(g => g.Port == port);

    /// <summary>The hash of the group key a request carries, opened with the session key; BadRequest for a group without a
    /// valid name, key or strategy. The key itself is never kept, logged or echoed.</summary>
    private static byte[] GroupKeyOf(ClientSession session, TunnelRequest request)
    {
        if (request.Group!.Length is 0 or > 128 || !PeerText.IsPrintable(request.Group))
            throw new TunnelException(TunnelErrorCode.BadRequest, "A group name must be 1-128 printable characters.");
        if (request.Strategy is { } strategy && !TunnelGroup.Strategies.Contains(strategy))
            throw new TunnelException(TunnelErrorCode.BadRequest, "Unknown load-balancing strategy; this server knows roundRobin and leastConn.");
        if (request.SealedGroupKey is not { } sealedKey || session.OpenGroupKey(sealedKey) is not { } key)
            throw new TunnelException(TunnelErrorCode.BadRequest, $"A tunnel of a group needs its group key (1-{GroupKeySeal.MaxKeyBytes} bytes, loadBalancer.groupKey), sealed with its session key.");
        var hash = GroupKeySeal.Hash(key);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        return hash;
    }

    /// <summary>Under the registry lock: the member tunnel for a request that names a group. The first member binds the
    /// port (as a tunnel of its own would: PortInUse when anything holds it); a later one must prove the same key, ask for
    /// the group's port (or 0) and strategy (or none), and its account must allow the port.</summary>
    private PublicTunnel JoinGroupLocked(ClientSession session, TunnelRequest request, byte[] keyHash, SourceFilter requested, BandwidthLimit limit)
    {
        var name = PeerText.Escape(request.Group, 128);
        if (_groups.TryGetValue(request.Group!, out var group))
        {
            if (!group.KeyMatches(keyHash))
            {
                Interlocked.Increment(ref _groupKeyFailures);
                _log.LogWarning("Client {Client} ({Name}): tunnel {Tunnel} refused: wrong key for group {Group}.", session.RemoteEndpoint,
                    PeerText.Escape(session.ClientName, 128), PeerText.Escape(request.Name, 128), name);
                throw new TunnelException(TunnelErrorCode.GroupKeyMismatch, $"The key given is not the key of group '{name}' (loadBalancer.groupKey).");
            }
            if (request.RemotePort != 0 && request.RemotePort != group.Port)
                throw new TunnelException(TunnelErrorCode.PortInUse, $"Group '{name}' is on port {group.Port}, not {request.RemotePort}: a group has one port.");
            if ((request.Strategy ?? "roundRobin") != group.Strategy)
                throw new TunnelException(TunnelErrorCode.BadRequest, $"Group '{name}' spreads users by {group.Strategy}; ask for the same strategy (loadBalancer.strategy).");
            if (!_ports!.IsAllowed(group.Port, session.Account?.AllowPorts))
                throw new TunnelException(TunnelErrorCode.PortNotAllowed, $"Port {group.Port} of group '{name}' is not allowed {(session.Account is { AllowPorts.Count: > 0 } a ? $"for client '{a.Name}'" : "on this server")}.");
        }
        else
        {
            var listener = _ports!.Bind(request.RemotePort, session.Account?.AllowPorts);
            group = new TunnelGroup(this, request.Group!, keyHash, request.Strategy ?? "roundRobin", listener, _log);
            _groups[group.Name] = group;
            group.Start();
        }
        var tunnel = new PublicTunnel(this, session, request.Name!, null, requested, limit, _log, group) { ProxyProtocol = request.ProxyProtocol };
        group.Add(tunnel);
        return tunnel;
    }

    private static void ValidateName(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 128 || !PeerText.IsPrintable(name))
            throw new TunnelException(TunnelErrorCode.BadRequest, "A tunnel name must be 1-128 printable characters.");
    }

    /// <summary>Accepts on the control port: on a loop of the event-loop plane, where data connections are taken into their
    /// session's pool without a thread-pool hop (TLS servers excepted, whose pump is the stream pump), else with the
    /// runtime's accept loop.</summary>
    private void StartAccepting()
    {
        if (Pump is EventLoopPump loops)
        {
            try
            {
                _loopListener = loops.Listen(_listener!, OnLoopAccepted,
                    errno => _log.LogWarning("Control port: accept failed: {Error}", new SocketException(errno).Message));
                return;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                _log.LogDebug("Control port: accepting without the event loops: {Error}", e.Message);
            }
        }
        _acceptLoop = AcceptLoopAsync();
    }

    private async Task AcceptLoopAsync()
    {
        while (await SocketListener.AcceptAsync(_listener!, _stopping.Token, _log, "Control port").ConfigureAwait(false) is { } s)
        {
            var remote = s.RemoteEndPoint as IPEndPoint;
            if (Admit(remote) is not { } ticket)
            {
                SocketClose.Reset(s);
                continue;
            }
            TrackHandshake(s, ticket, Environment.TickCount64);
        }
    }

    // Counts a new connection to the control port and gives it an admission slot; null when it must be reset at once.
    private HandshakeAdmission.Ticket? Admit(IPEndPoint? remote)
    {
        _descriptors.Opened();
        if (!_descriptors.MayOpenControl())
        {
            // At the very edge of the descriptor limit even the reserve is gone: refuse rather than fail later.
            _refused.DescriptorRefused();
            _strangers.Report(StrangerEvent.DescriptorRefusal, remote, $"the control port: the process is within a few descriptors of its limit ({_descriptors.Limit})");
            return null;
        }
        return _admission.Admit(remote is null ? SourcePrefix.Unknown : SourcePrefix.Of(remote.Address));
    }

    private void TrackHandshake(Socket socket, HandshakeAdmission.Ticket ticket, long started)
    {
        _handshakes.Track(HandleIncomingAsync(socket, ticket, started));
    }

    private TimeSpan OpeningTimeout => Options.PreambleTimeout < Options.HandshakeTimeout ? Options.PreambleTimeout : Options.HandshakeTimeout;

    /// <summary>Loop thread: a connection accepted on the control port waits on the loop for its opening
    /// (<see cref="LoopGreeting"/>). A data connection joins its session's pool from there; anything else goes to
    /// <see cref="HandleIncomingAsync"/> with its bytes unread and its slot and deadline as they were.</summary>
    private void OnLoopAccepted(int fd, IPEndPoint? remote)
    {
        if (Admit(remote) is not { } ticket)
        {
            DataPlane.Native.Interop.CloseWithReset(fd);
            return;
        }
        var started = Environment.TickCount64;
        var greeting = new LoopGreeting(fd, started + (long)OpeningTimeout.TotalMilliseconds,
            (socket, frame) => OnLoopDataHello(socket, frame, ticket, remote),
            socket => HandOff(socket, ticket, started),
            _ => _admission.Release(ticket));
        var loops = (EventLoopPump)Pump;
        loops.Greet(greeting, _stopping.Token, ticket.Evicted);
    }

    // Loop thread: the control plane takes over a connection whose opening is not a data hello.
    private void HandOff(int fd, HandshakeAdmission.Ticket ticket, long started)
    {
        if (RuntimeSockets.Adopt(fd, out var error) is not { } socket)
        {
            _admission.Release(ticket);
            _log.LogDebug("Control port: a connection could not be taken over: {Error}", error);
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Server.TrackHandshake(s.Socket, s.Ticket, s.Started), (Server: this, Socket: socket, Ticket: ticket, Started: started), preferLocal: false);
    }

    // Loop thread: a data connection's preamble and hello were read on the loop; it joins its session's pool as a bare
    // descriptor, or is refused (the refusal is answered from the thread pool, through a runtime socket).
    private void OnLoopDataHello(int fd, Frame frame, HandshakeAdmission.Ticket ticket, IPEndPoint? remote)
    {
        Interlocked.Increment(ref _dataHellosOnLoops);
        _admission.Release(ticket);
        var pooled = new PooledDataConnection(fd);
        DataRefusal? refusal;
        ProtocolException? garbage = null;
        try
        {
            refusal = AcceptDataConnection(pooled, MessageSerializer.Read<DataHelloMessage>(frame));
        }
        catch (ProtocolException e)
        {
            refusal = null;
            garbage = e;
        }
        if (refusal is null && garbage is null) return;
        if (pooled.TakeConnection(out var error) is not { } connection)
        {
            _log.LogDebug("Control port: a connection could not be taken over: {Error}", error);
            return;
        }
        if (garbage is not null)
            ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.Server.RefuseGarbageAsync(s.Connection, s.Error, s.Remote), (Server: this, Connection: connection, Error: garbage, Remote: remote), preferLocal: false);
        else
            ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.Server.RefuseDataConnectionAsync(s.Connection, s.Refusal, s.Remote), (Server: this, Connection: connection, Refusal: refusal!, Remote: remote), preferLocal: false);
    }

    /// <summary>Counts, reports and answers a data connection that was refused, then closes it.</summary>
    private async Task RefuseDataConnectionAsync(FrameConnection connection, DataRefusal refusal, IPEndPoint? remote)
    {
        _refused.DataConnectionRefused();
        _strangers.Report(StrangerEvent.DataConnectionRefused, remote, refusal.Reason);
        await connection.TrySendErrorAsync(refusal.Code, refusal.Code == TunnelErrorCode.QuotaExceeded
            ? "The session has enough idle data connections." : "The data connection was refused.", CancellationToken.None).ConfigureAwait(false);
        connection.Dispose();
    }

    /// <summary>Counts, reports and answers a connection that sent what is not the protocol, then closes it.</summary>
    private async Task RefuseGarbageAsync(FrameConnection connection, ProtocolException e, IPEndPoint? remote)
    {
        _refused.GarbageClosed();
        _strangers.Report(StrangerEvent.Garbage, remote, e.Message);
        await connection.TrySendErrorAsync(TunnelErrorCode.ProtocolError, e.Message, CancellationToken.None).ConfigureAwait(false);
        connection.Dispose();
    }

    /// <summary>One new connection to the control port, from its first byte until it is a session, a pooled data
    /// connection, or closed. It holds an admission slot until its first frame shows what it is (a data connection then
    /// leaves at once) or, for a login, until the login is through. Its deadlines count from <paramref name="started"/>
    /// (Environment.TickCount64 time), its accept.</summary>
    private async Task HandleIncomingAsync(Socket socket, HandshakeAdmission.Ticket ticket, long started)
    {
        socket.NoDelay = true;
        var connection = new FrameConnection(socket);
        var handedOff = false;
        var remoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
        var remote = remoteEndPoint?.ToString() ?? "?";
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, ticket.Evicted);
        try
        {
            var opening = OpeningTimeout - TimeSpan.FromMilliseconds(Environment.TickCount64 - started);
            deadline.CancelAfter(opening > TimeSpan.Zero ? opening : TimeSpan.Zero);
            if (_certificate is not null)
            {
                var tls = await ControlPortTls.AcceptAsync(connection, _certificate, _strangers, remoteEndPoint, deadline.Token).ConfigureAwait(false);
                if (tls is null) return;
                connection = tls;
            }
            await FrameCodec.ReadPreambleAsync(connection.Stream, deadline.Token).ConfigureAwait(false);
            var first = await connection.ReadRequiredAsync(deadline.Token).ConfigureAwait(false);
            switch (first.Type)
            {
                case FrameType.DataHello:
                    // A data connection needs no slot from here: it is checked at once, without waiting for anything.
                    _admission.Release(ticket);
                    var refusal = AcceptDataConnection(new PooledDataConnection(connection), MessageSerializer.Read<DataHelloMessage>(first));
                    handedOff = true;
                    if (refusal is not null) await RefuseDataConnectionAsync(connection, refusal, remoteEndPoint).ConfigureAwait(false);
                    return;
                case FrameType.Hello:
                    _admission.SaidHello(ticket);
                    // A login may take the rest of the handshake timeout (a challenge and an answer over a slow link).
                    var left = Options.HandshakeTimeout - TimeSpan.FromMilliseconds(Environment.TickCount64 - started);
                    deadline.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
                    var session = await AuthenticateAsync(connection, MessageSerializer.Read<HelloMessage>(first), ticket.Source, remoteEndPoint, deadline.Token).ConfigureAwait(false);
                    if (session is null) return;
                    handedOff = true;
                    _admission.Release(ticket);
                    deadline.CancelAfter(Timeout.InfiniteTimeSpan);
                    await session.Completion.ConfigureAwait(false);
                    return;
                default:
                    throw new ProtocolException($"A connection must open with Hello or DataHello, not {first.Type}.");
            }
        }
        catch (ProtocolException e)
        {
            handedOff = true;
            await RefuseGarbageAsync(connection, e, remoteEndPoint).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ticket.EvictionReason is { } why)
        {
            _strangers.Report(StrangerEvent.HandshakeEvicted, remoteEndPoint, why);
            // A reset, so that a real client whose connection was evicted knows it was never answered and retries.
            SocketClose.Reset(socket);
        }
        catch (OperationCanceledException)
        {
            if (!_stopping.IsCancellationRequested)
            {
                _refused.HandshakeTimedOut();
                _strangers.Report(StrangerEvent.HandshakeTimeout, remoteEndPoint,
                    $"the deadline is {Options.PreambleTimeout.TotalSeconds:0.#} s for the first frame, {Options.HandshakeTimeout.TotalSeconds:0.#} s for a login");
            }
        }
        catch (AuthenticationException e)
        {
            // A client that rejects the certificate (a wrong pin) ends up here too; the client reports it.
            _strangers.Report(StrangerEvent.Garbage, remoteEndPoint, $"TLS handshake failed: {e.Message}");
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            _log.LogDebug("Connection from {Remote} broke during the handshake: {Error}", remote, e.Message);
        }
        catch (Exception e)
        {
            // Last line of defence: nothing a peer sends may take the server down.
            _log.LogError(e, "Unexpected failure handling {Remote}.", remote);
        }
        finally
        {
            _admission.Release(ticket);
            if (!handedOff) connection.Dispose();
        }
    }

    private async Task<ClientSession?> AuthenticateAsync(FrameConnection connection, HelloMessage hello, SourcePrefix source, IPEndPoint? remoteEndPoint, CancellationToken cancellationToken)
    {
        var remote = remoteEndPoint?.ToString() ?? "?";
        if (hello.Version != ProtocolConstants.Version)
        {
            await connection.TrySendErrorAsync(TunnelErrorCode.VersionMismatch,
                $"The server speaks TunnelLite protocol {ProtocolConstants.Version} but the client speaks {hello.Version}. Install matching TunnelLite versions on both ends.", cancellationToken).ConfigureAwait(false);
            _strangers.Report(StrangerEvent.Garbage, remoteEndPoint, $"it speaks protocol version {hello.Version}");
            return null;
        }
        if (hello.Nonce.Length != ProtocolConstants.NonceSize)
            throw new ProtocolException($"The hello's nonce must be {ProtocolConstants.NonceSize} bytes.");
        if (hello.Account is { } named && (named.Length is 0 or > 128 || !PeerText.IsPrintable(named)))
            throw new ProtocolException("The account a hello names must be 1-128 printable characters.");
        // A name the server knows is an account, checked against its token only. Any other name (a client's host name, by
        // default) is just a name: checked like no name, so that it never breaks a login, and with no throttle entry of its
        // own, so that made-up names cannot grow the throttle's table.
        var credentials = _credentials;
        var namedAccount = credentials.Account(hello.Account);
        var knownAccount = namedAccount?.Name;
        if (_throttle.RemainingWait(source, knownAccount) is var early && early > TimeSpan.Zero)
        {
            _throttle.NoteThrottled();
            return await RefuseThrottledAsync(connection, remoteEndPoint, early, cancellationToken).ConfigureAwait(false);
        }

        var serverNonce = TokenProof.NewNonce();
        await connection.SendAsync(new ChallengeMessage { Version = ProtocolConstants.Version, Nonce = serverNonce }, cancellationToken).ConfigureAwait(false);
        var auth = MessageSerializer.Read<AuthMessage>(await connection.ReadRequiredAsync(cancellationToken).ConfigureAwait(false));

        // The throttle is decided where the proof is checked, one attempt of a source at a time, so parallel guesses count.
        Credential? identity = null, expired = null;
        var (verdict, wait) = _throttle.Attempt(source, knownAccount, () =>
        {
            (identity, expired) = credentials.Identify(namedAccount, hello.Nonce, serverNonce, auth.Proof, DateTimeOffset.UtcNow);
            return identity is not null;
        });
        if (verdict == AuthThrottle.Verdict.Throttled)
            return await RefuseThrottledAsync(connection, remoteEndPoint, wait, cancellationToken).ConfigureAwait(false);
        if (verdict == AuthThrottle.Verdict.Failed || identity is null)
        {
            Totals.RecordError($"Authentication failed from {remote}.");
            _strangers.Report(StrangerEvent.AuthenticationFailed, remoteEndPoint,
                $"{(knownAccount is not null ? $"for account {knownAccount}; " : hello.Account is not null ? $"naming itself {PeerText.Escape(hello.Account, 128)}; " : "")}{(expired is null ? "" : ExpiredNote(expired) + "; ")}it may try again in {Math.Ceiling(wait.TotalSeconds)} s");
            await connection.TrySendErrorAsync(TunnelErrorCode.AuthenticationFailed,
                "The server rejected the token. Check that the client's token matches the server's auth.token.", cancellationToken).ConfigureAwait(false);
            return null;
        }
        if (auth.ClientId.Length is 0 or > 64)
            throw new ProtocolException("Client id is missing or too long.");
        if (_stopping.IsCancellationRequested)
        {
            await connection.TrySendErrorAsync(TunnelErrorCode.ServerShuttingDown, "The server is shutting down.", cancellationToken).ConfigureAwait(false);
            return null;
        }
        var account = identity.Account;
        // A ban is checked only now, after the proof: a stranger learns nothing from it, and cannot spend it.
        if (_bans.Remaining(account?.Name, auth.ClientId) is var banned && banned > TimeSpan.Zero)
        {
            _refused.SessionRefused();
            _log.LogInformation("Refused {Remote} ({Name}): disconnected by the operator, banned for {Seconds} s more.", remote,
                PeerText.Escape(account?.Name ?? hello.Account, 128), Math.Ceiling(banned.TotalSeconds));
            await connection.TrySendErrorAsync(TunnelErrorCode.ClientBanned,
                $"The server's operator disconnected this client; it may reconnect in {Math.Ceiling(banned.TotalSeconds):0} s.", cancellationToken).ConfigureAwait(false);
            return null;
        }
        var pool = Math.Clamp(auth.PoolCount, 0, Options.MaxPoolCount);
        var sessionKey = TokenProof.SessionKey(identity.Token, hello.Nonce, serverNonce);
        // An account's clients are named by their account; a shared-token client by the name it gave (printable, checked above).
        var session = new ClientSession(this, connection, sessionKey, identity, auth.ClientId, account?.Name ?? hello.Account, hello.Software, pool,
            auth.RefillsPool && AcceptsClientRefill, source, _log) { HearsTunnelClosed = auth.HearsTunnelClosed };
        List<ClientSession> replaced;
        string? full;
        bool expiredNow;
        var withdrawn = false;
        var options = Options;
        lock (_registry)
        {
            // A reload since the proof was checked: the login holds if the new configuration accepts the same token.
            if (!ReferenceEquals(credentials, _credentials))
            {
                if (_credentials.Equivalent(identity) is { } rebound)
                {
                    identity = rebound;
                    session.Credential = rebound;
                    account = rebound.Account;
                }
                else
                {
                    withdrawn = true;
                }
                options = Options;
            }
            // A client that reconnects before its old session timed out replaces it, so that its ports can be bound again at once.
            // Only a session of the same account: a client id is not a secret, and one client must not end another's session.
            replaced = _sessions.Values.Where(s => s.ClientId == auth.ClientId && s.Account == account).ToList();
            var others = _sessions.Values.Except(replaced).ToList();
            var ofAccount = others.Count(s => s.Account == account);
            var ofSource = others.Count(s => s.Source == source);
            full = ofAccount >= options.MaxSessionsPerAccount
                ? $"{(account is null ? "The shared token" : $"Client '{account.Name}'")} already has {ofAccount} sessions open, the most this server allows (transport.maxSessionsPerAccount). Stop one, or raise the limit on the server."
                : ofSource >= options.MaxSessionsPerSource
                    ? $"This address already has {ofSource} sessions open, the most this server allows (transport.maxSessionsPerSource). Stop one, or raise the limit on the server."
                    : null;
            // A previous token that expired since its proof was checked: the expiry timer, which looks for such sessions
            // under this lock, may have run already, and the session would outlive its token.
            expiredNow = identity.HasExpired(DateTimeOffset.UtcNow);
            if (full is null && !expiredNow && !withdrawn) _sessions[session.IdText] = session;
        }
        if (withdrawn)
        {
            _strangers.Report(StrangerEvent.AuthenticationFailed, remoteEndPoint, "a reload of the configuration withdrew its token during its login");
            await connection.TrySendErrorAsync(TunnelErrorCode.AuthenticationFailed,
                "The server rejected the token. Check that the client's token matches the server's auth.token.", cancellationToken).ConfigureAwait(false);
            return null;
        }
        if (expiredNow)
        {
            _strangers.Report(StrangerEvent.AuthenticationFailed, remoteEndPoint, ExpiredNote(identity) + " during its login");
            await connection.TrySendErrorAsync(TunnelErrorCode.AuthenticationFailed,
                "The server rejected the token. Check that the client's token matches the server's auth.token.", cancellationToken).ConfigureAwait(false);
            return null;
        }
        if (full is not null)
        {
            _refused.SessionRefused();
            _strangers.Report(StrangerEvent.SessionLimit, remoteEndPoint, full);
            await connection.TrySendErrorAsync(TunnelErrorCode.TooManySessions, full, cancellationToken).ConfigureAwait(false);
            return null;
        }
        foreach (var old in replaced)
        {
            _log.LogInformation("Client {Client} reconnected; replacing its previous session.", remote);
            await old.CloseAsync("replaced by a new session of the same client").ConfigureAwait(false);
        }
        try
        {
            await connection.SendAsync(new AuthOkMessage
            {
                SessionId = session.Id,
                PoolCount = pool,
                HeartbeatIntervalMs = (int)Options.HeartbeatInterval.TotalMilliseconds,
                HeartbeatTimeoutMs = (int)Options.HeartbeatTimeout.TotalMilliseconds,
                RefillsPool = session.ClientRefills,
                HearsTunnelHealth = true,
                // Only now, after the client proved the token, does the server prove it: a stranger learns nothing to guess against.
                Proof = TokenProof.ForServer(identity.Token, hello.Nonce, serverNonce, session.Id),
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            RemoveSession(session);
            throw;
        }
        session.Start();
        // Which token, never its value: while a token is rotated, the operator sees who has yet to move to the new one.
        _log.LogInformation("Client {Client} ({Name}) authenticated with {Token} (pool {Pool}{Refill}).", remote, PeerText.Escape(session.ClientName, 128),
            identity.Describe(), pool, session.ClientRefills ? ", refilled by the client" : "");
        return session;
    }

    private async Task<ClientSession?> RefuseThrottledAsync(FrameConnection connection, IPEndPoint? remote, TimeSpan wait, CancellationToken cancellationToken)
    {
        _strangers.Report(StrangerEvent.Throttled, remote, $"it must wait {Math.Ceiling(wait.TotalSeconds)} s more");
        await connection.TrySendErrorAsync(TunnelErrorCode.AuthenticationThrottled,
            $"Too many failed authentications from this address or for this account; try again in {Math.Ceiling(wait.TotalSeconds):0} s.", cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>"it proved the previous token of alice, which expired at ...": for the operator's log of a failed login
    /// with a token that is no longer accepted (a client yet to move to the new one). Never the token.</summary>
    private static string ExpiredNote(Credential expired) =>
        $"it proved {(expired.Account is null ? "the previous shared token" : $"the previous token of {expired.Account.Name}")}, which expired at {Credential.Time(expired.Expires)}";

    /// <summary>Logs, at start, each previous token still accepted and until when, or that it has expired.</summary>
    private void LogPreviousTokens()
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var c in _credentials.All.Where(c => c.Kind == TokenKind.Previous))
        {
            var whose = c.Account is null ? "The previous shared token (auth.previousToken)" : $"The previous token of client '{c.Account.Name}'";
            if (c.HasExpired(now)) _log.LogWarning("{Whose} expired at {Expires}; it is refused.", whose, Credential.Time(c.Expires));
            else _log.LogInformation("{Whose} is accepted until {Expires}; the sessions that prove it end then.", whose, Credential.Time(c.Expires));
        }
    }

    /// <summary>Sets the expiry timer for the earliest expiry after <paramref name="now"/>, if any. A timer takes at most
    /// about 49 days, so a later expiry is reached in steps of a day; one that fires early (the wall clock moved) is set again.</summary>
    private void ArmExpiryTimer(DateTimeOffset now)
    {
        if (_credentials.NextExpiry(now) is not { } next) return;
        var due = Math.Min(Math.Ceiling((next - now).TotalMilliseconds), TimeSpan.FromDays(1).TotalMilliseconds);
        lock (_expiryTimer)
        {
            try
            {
                if (_state == 1) _expiryTimer.Change((long)due, Timeout.Infinite);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Timer: ends the sessions whose previous token has expired, with a goodbye that says why; their ports are
    /// freed as for any session that ends. Then sets the timer for the next expiry.</summary>
    private void OnTokenExpiry()
    {
        if (_state != 1) return;
        var now = DateTimeOffset.UtcNow;
        List<ClientSession> ended;
        // Under the registry lock, where a login that checked its proof just before the expiry registers its session.
        lock (_registry) ended = _sessions.Values.Where(s => s.Credential.HasExpired(now)).ToList();
        foreach (var session in ended)
        {
            _log.LogWarning("Client {Client} ({Name}): {Token} has expired; ending its session.", session.RemoteEndpoint,
                PeerText.Escape(session.ClientName, 128), session.Credential.Describe());
            _ = session.CloseAsync($"{(session.Account is null ? "the previous shared token" : $"the previous token of client '{session.Account.Name}'")} expired at {Credential.Time(session.Credential.Expires)}; log in with the current token");
        }
        ArmExpiryTimer(now);
    }

    /// <summary>Hands a data connection to its session; returns why it was refused, or null when it was taken.</summary>
    private DataRefusal? AcceptDataConnection(PooledDataConnection connection, DataHelloMessage hello)
    {
        if (hello.Version != ProtocolConstants.Version) return DataRefusal.Rejected($"it speaks protocol {hello.Version}");
        if (!_sessions.TryGetValue(Convert.ToHexString(hello.SessionId), out var session)) return DataRefusal.Rejected("its session is unknown");
        return session.TryAcceptDataConnection(hello, connection);
    }
}
