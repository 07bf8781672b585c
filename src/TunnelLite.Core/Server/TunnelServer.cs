using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TunnelLite.Config;
using TunnelLite.Forwarding;
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
    private readonly ConcurrentDictionary<Task, byte> _handshakes = new();
    private readonly object _registry = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _hardStop = new();
    private readonly SemaphoreSlim _handshakeSlots;
    private readonly AuthThrottle _throttle;
    private readonly IPAddress _bindAddress;
    private PortAllocator? _ports;
    private ServerCertificate? _certificate;
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private Task _sampler = Task.CompletedTask;
    private DateTimeOffset _started;
    private int _state; // 0 new, 1 running, 2 stopping, 3 stopped

    /// <summary>Creates a server; <see cref="StartAsync"/> binds it.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public TunnelServer(TunnelServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _bindAddress = SocketListener.ParseBindAddress(options.BindAddress);
        _log = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("TunnelLite.Server");
        _handshakeSlots = new SemaphoreSlim(options.MaxPendingHandshakes, options.MaxPendingHandshakes);
        _throttle = new AuthThrottle(options.AuthFailureDelay, options.MaxAuthFailureDelay);
        Pump = PumpSelector.For(options.ForwardingMode, options.Tls.Enabled);
    }

    /// <summary>The settings in force.</summary>
    public TunnelServerOptions Options { get; }

    /// <summary>The bound control endpoint (with the real port when 0 was asked).</summary>
    public IPEndPoint? ControlEndpoint { get; private set; }

    /// <summary>Totals over all tunnels, past and present.</summary>
    public TrafficCounters Totals { get; } = new();

    /// <summary>Running, Stopping or Stopped.</summary>
    public string State => _state switch { 0 => "NotStarted", 1 => "Running", 2 => "Stopping", _ => "Stopped" };

    /// <summary>Clients connected now.</summary>
    public int ClientCount => _sessions.Count;

    /// <summary>Completes when the server has stopped.</summary>
    public Task Completion => _completionSource.Task;
    private readonly TaskCompletionSource _completionSource = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>SHA-256 fingerprint (64 hex digits) of the certificate the control port presents; null without TLS or
    /// before <see cref="StartAsync"/>. Clients pin it (transport.tls.serverFingerprint, -CertificateFingerprint).</summary>
    public string? CertificateFingerprint => _certificate?.Fingerprint;

    internal IForwardingPump Pump { get; }
    internal CancellationToken HardStop => _hardStop.Token;

    /// <summary>Binds the control port and starts accepting clients.</summary>
    /// <exception cref="TunnelException">ControlPortInUse when the port is taken; CertificateLoadFailed when TLS is on and its certificate cannot be used.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0) throw new InvalidOperationException("The server was already started.");
        foreach (var weak in TokenStrength.WarningsFor(Options)) _log.LogWarning("{Warning}", weak);
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
            throw new TunnelException(TunnelErrorCode.Unknown, $"Cannot listen on {Options.BindAddress}:{Options.ControlPort}: {e.Message}", e);
        }
        ControlEndpoint = (IPEndPoint)_listener.LocalEndPoint!;
        _ports = new PortAllocator(_bindAddress, Options.AllowPorts, p => p == ControlEndpoint.Port || _tunnelsByPort.ContainsKey(p));
        _started = DateTimeOffset.UtcNow;
        _acceptLoop = AcceptLoopAsync();
        _sampler = RateSampler.RunAsync(() => _tunnelsByName.Values.Select(t => t.Counters).Prepend(Totals), _stopping.Token);
        _log.LogInformation("TunnelLite server listening on {Endpoint}.", ControlEndpoint);
        if (_certificate is { } c)
            _log.LogInformation("TLS is on; {Kind} certificate SHA-256 fingerprint {Fingerprint}. Clients pin it with -CertificateFingerprint (transport.tls.serverFingerprint).",
                c.SelfSigned ? "self-signed" : "the", c.Fingerprint);
        return Task.CompletedTask;
    }

    /// <summary>Stops accepting, closes the public listeners, lets active connections drain for <see cref="TunnelServerOptions.DrainTimeout"/>,
    /// then closes what is left and disconnects the clients.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1)
        {
            await Completion.ConfigureAwait(false);
            return;
        }
        _log.LogInformation("TunnelLite server on {Endpoint} stopping.", ControlEndpoint);
        _stopping.Cancel();
        _listener?.Dispose();
        foreach (var t in _tunnelsByName.Values) await t.CloseAsync().ConfigureAwait(false);
        var deadline = Environment.TickCount64 + (long)Options.DrainTimeout.TotalMilliseconds;
        while (Totals.ActiveConnections > 0 && Environment.TickCount64 < deadline && !cancellationToken.IsCancellationRequested)
            await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
        _hardStop.Cancel();
        await Task.WhenAll(_sessions.Values.Select(s => s.CloseAsync("server stopping"))).ConfigureAwait(false);
        await _acceptLoop.ConfigureAwait(false);
        await Task.WhenAll(_handshakes.Keys).ConfigureAwait(false);
        await _sampler.ConfigureAwait(false);
        _state = 3;
        _log.LogInformation("TunnelLite server stopped.");
        _completionSource.TrySetResult();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_state == 1) await StopAsync().ConfigureAwait(false);
    }

    /// <summary>A snapshot of the server as a whole.</summary>
    public TunnelStats GetStatistics(string? name = null)
    {
        var now = DateTimeOffset.UtcNow;
        return TunnelStats.From(Totals, now, _started == default ? now : _started, name ?? $"server:{ControlEndpoint?.Port ?? Options.ControlPort}", TunnelRole.Server, State, Pump.Mode) with
        {
            Port = ControlEndpoint?.Port ?? Options.ControlPort,
            Clients = _sessions.Count,
            Tunnels = _tunnelsByName.Count,
        };
    }

    /// <summary>A snapshot of each tunnel registered now.</summary>
    public IReadOnlyList<TunnelStats> GetTunnelStatistics()
    {
        var now = DateTimeOffset.UtcNow;
        return _tunnelsByName.Values.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t =>
            TunnelStats.From(t.Counters, now, t.Started, t.Name, TunnelRole.Server, State, Pump.Mode) with
            {
                Port = t.Port,
                ClientName = t.Session.ClientName,
            }).ToList();
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
            lock (_registry)
            {
                if (_tunnelsByName.ContainsKey(request.Name!))
                    throw new TunnelException(TunnelErrorCode.DuplicateName, $"A tunnel named '{request.Name}' is already registered on this server. Choose another name.");
                // An account's quota counts over all its sessions: a second process with the same token shares it.
                if (session.Account is { MaxTunnels: > 0 } account && _tunnelsByName.Values.Count(t => t.Session.Account == account) >= account.MaxTunnels)
                    throw new TunnelException(TunnelErrorCode.QuotaExceeded, $"Client '{account.Name}' may have at most {account.MaxTunnels} tunnel(s) open; close one first.");
                if (session.Account is not { MaxTunnels: > 0 } && session.TunnelCount >= Options.MaxTunnelsPerClient)
                    throw new TunnelException(TunnelErrorCode.QuotaExceeded, $"A client may have at most {Options.MaxTunnelsPerClient} tunnel(s) open on this server (transport.maxTunnelsPerClient); close one first.");
                var listener = _ports!.Bind(request.RemotePort, session.Account?.AllowPorts);
                var tunnel = new PublicTunnel(this, session, request.Name!, listener, _log);
                _tunnelsByName[tunnel.Name] = tunnel;
                _tunnelsByPort[tunnel.Port] = tunnel;
                session.AddTunnel(tunnel);
                tunnel.Start();
                result.RemotePort = tunnel.Port;
            }
            _log.LogInformation("Client {Client} registered tunnel {Tunnel} on port {Port}.", session.RemoteEndpoint, request.Name, result.RemotePort);
        }
        catch (TunnelException e)
        {
            result.Error = e.Code;
            result.Message = e.Message;
            _log.LogWarning("Client {Client}: tunnel {Tunnel} refused: {Error}", session.RemoteEndpoint, request.Name, e.Message);
        }
        catch (SocketException e)
        {
            result.Error = TunnelErrorCode.Unknown;
            result.Message = $"The server could not open port {request.RemotePort}: {e.Message}";
        }
        return result;
    }

    internal async Task UnregisterTunnelAsync(ClientSession session, string name)
    {
        var tunnel = session.RemoveTunnel(name);
        if (tunnel is null) return;
        lock (_registry)
        {
            _tunnelsByName.TryRemove(new KeyValuePair<string, PublicTunnel>(name, tunnel));
            _tunnelsByPort.TryRemove(new KeyValuePair<int, PublicTunnel>(tunnel.Port, tunnel));
        }
        await tunnel.CloseAsync().ConfigureAwait(false);
        _log.LogInformation("Tunnel {Tunnel} closed; port {Port} is free.", name, tunnel.Port);
    }

    private static void ValidateName(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 128 || name.Any(char.IsControl))
            throw new TunnelException(TunnelErrorCode.BadRequest, "A tunnel name must be 1-128 printable characters.");
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket s;
            try
            {
                s = await _listener!.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                _log.LogWarning("Control port accept failed: {Error}", e.Message);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }
            if (!_handshakeSlots.Wait(0))
            {
                // Too many unauthenticated connections: refuse at once rather than queue.
                SocketClose.Reset(s);
                continue;
            }
            var t = HandleIncomingAsync(s);
            _handshakes.TryAdd(t, 0);
            _ = t.ContinueWith(done => _handshakes.TryRemove(done, out _), TaskScheduler.Default);
        }
    }

    private async Task HandleIncomingAsync(Socket socket)
    {
        socket.NoDelay = true;
        var connection = new FrameConnection(socket);
        var handedOff = false;
        var slotHeld = true;
        var remoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
        var remote = remoteEndPoint?.ToString() ?? "?";
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            deadline.CancelAfter(Options.HandshakeTimeout);
            if (_certificate is not null)
            {
                var tls = await ControlPortTls.AcceptAsync(connection, _certificate, _log, remote, deadline.Token).ConfigureAwait(false);
                if (tls is null) return;
                connection = tls;
            }
            await FrameCodec.ReadPreambleAsync(connection.Stream, deadline.Token).ConfigureAwait(false);
            var first = await connection.ReadRequiredAsync(deadline.Token).ConfigureAwait(false);
            switch (first.Type)
            {
                case FrameType.Hello:
                    if (remoteEndPoint is not null && _throttle.RemainingWait(remoteEndPoint.Address) is { } wait && wait > TimeSpan.Zero)
                    {
                        // Debug, not warning: a guesser would otherwise fill the log at the rate it connects.
                        _log.LogDebug("Refused {Remote}: throttled after failed authentications.", remote);
                        await connection.TrySendErrorAsync(TunnelErrorCode.AuthenticationThrottled,
                            $"Too many failed authentications from this address; try again in {Math.Ceiling(wait.TotalSeconds):0} s.", deadline.Token).ConfigureAwait(false);
                        return;
                    }
                    var session = await AuthenticateAsync(connection, MessageSerializer.Read<HelloMessage>(first), remoteEndPoint, remote, deadline.Token).ConfigureAwait(false);
                    if (session is null) return;
                    handedOff = true;
                    _handshakeSlots.Release();
                    slotHeld = false;
                    await session.Completion.ConfigureAwait(false);
                    return;
                case FrameType.DataHello:
                    handedOff = AcceptDataConnection(connection, MessageSerializer.Read<DataHelloMessage>(first));
                    if (!handedOff)
                        await connection.TrySendErrorAsync(TunnelErrorCode.AuthenticationFailed, "The data connection's proof was rejected.", CancellationToken.None).ConfigureAwait(false);
                    return;
                default:
                    throw new ProtocolException($"A connection must open with Hello or DataHello, not {first.Type}.");
            }
        }
        catch (ProtocolException e)
        {
            _log.LogWarning("Rejected {Remote} on the control port: {Error}", remote, e.Message);
            await connection.TrySendErrorAsync(TunnelErrorCode.ProtocolError, e.Message, CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            if (!_stopping.IsCancellationRequested)
                _log.LogWarning("Closed {Remote}: no handshake within {Timeout} s.", remote, Options.HandshakeTimeout.TotalSeconds);
        }
        catch (AuthenticationException e)
        {
            // A client that rejects the certificate (a wrong pin) ends up here too; the client reports it.
            _log.LogWarning("TLS handshake with {Remote} failed: {Error}", remote, e.Message);
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
            if (slotHeld) _handshakeSlots.Release();
            if (!handedOff) connection.Dispose();
        }
    }

    private async Task<ClientSession?> AuthenticateAsync(FrameConnection connection, HelloMessage hello, IPEndPoint? remoteEndPoint, string remote, CancellationToken cancellationToken)
    {
        if (hello.Version != ProtocolConstants.Version)
        {
            await connection.TrySendErrorAsync(TunnelErrorCode.VersionMismatch,
                $"The server speaks TunnelLite protocol {ProtocolConstants.Version} but the client speaks {hello.Version}. Install matching TunnelLite versions on both ends.", cancellationToken).ConfigureAwait(false);
            _log.LogWarning("Rejected {Remote}: protocol version {Version}.", remote, hello.Version);
            return null;
        }
        var nonce = TokenProof.NewNonce();
        await connection.SendAsync(new ChallengeMessage { Version = ProtocolConstants.Version, Nonce = nonce }, cancellationToken).ConfigureAwait(false);
        var auth = MessageSerializer.Read<AuthMessage>(await connection.ReadRequiredAsync(cancellationToken).ConfigureAwait(false));
        if (!TryIdentify(nonce, auth.Proof, out var token, out var account))
        {
            var wait = remoteEndPoint is null ? TimeSpan.Zero : _throttle.Failed(remoteEndPoint.Address);
            Totals.RecordError($"Authentication failed from {remote}.");
            _log.LogWarning("Authentication failed from {Remote}; it may try again in {Wait} s.", remote, Math.Ceiling(wait.TotalSeconds));
            await connection.TrySendErrorAsync(TunnelErrorCode.AuthenticationFailed,
                "The server rejected the token. Check that the client's token matches the server's auth.token.", cancellationToken).ConfigureAwait(false);
            return null;
        }
        if (remoteEndPoint is not null) _throttle.Succeeded(remoteEndPoint.Address);
        if (auth.ClientId.Length is 0 or > 64 || (auth.ClientName?.Length ?? 0) > 128)
            throw new ProtocolException("Client id or name is missing or too long.");
        if (_stopping.IsCancellationRequested)
        {
            await connection.TrySendErrorAsync(TunnelErrorCode.ServerShuttingDown, "The server is shutting down.", cancellationToken).ConfigureAwait(false);
            return null;
        }
        // A client that reconnects before its old session timed out replaces it, so that its ports can be bound again at once.
        // Only a session of the same account: a client id is not a secret, and one client must not end another's session.
        foreach (var old in _sessions.Values.Where(s => s.ClientId == auth.ClientId && s.Account == account).ToList())
        {
            _log.LogInformation("Client {Client} reconnected; replacing its previous session.", remote);
            await old.CloseAsync("replaced by a new session of the same client").ConfigureAwait(false);
        }
        var pool = Math.Clamp(auth.PoolCount, 0, Options.MaxPoolCount);
        var session = new ClientSession(this, connection, token, account, auth.ClientId, account?.Name ?? auth.ClientName, pool, _log);
        _sessions[session.IdText] = session;
        await connection.SendAsync(new AuthOkMessage
        {
            SessionId = session.Id,
            PoolCount = pool,
            HeartbeatIntervalMs = (int)Options.HeartbeatInterval.TotalMilliseconds,
            HeartbeatTimeoutMs = (int)Options.HeartbeatTimeout.TotalMilliseconds,
        }, cancellationToken).ConfigureAwait(false);
        session.Start();
        _log.LogInformation("Client {Client} authenticated (pool {Pool}).", remote, pool);
        return session;
    }

    /// <summary>Which secret the proof was made with: the shared token or one client's own. Every candidate is checked, in
    /// constant time each, so the time taken does not tell which one matched.</summary>
    private bool TryIdentify(byte[] nonce, byte[] proof, out string token, out ClientAccount? account)
    {
        token = "";
        account = null;
        var found = false;
        if (Options.Token.Length > 0 && TokenProof.Matches(TokenProof.ForControl(Options.Token, nonce), proof))
        {
            token = Options.Token;
            found = true;
        }
        foreach (var c in Options.Clients)
        {
            if (TokenProof.Matches(TokenProof.ForControl(c.Token, nonce), proof) && !found)
            {
                token = c.Token;
                account = c;
                found = true;
            }
        }
        return found;
    }

    private bool AcceptDataConnection(FrameConnection connection, DataHelloMessage hello)
    {
        if (hello.Version != ProtocolConstants.Version) return false;
        return _sessions.TryGetValue(Convert.ToHexString(hello.SessionId), out var session) && session.TryAcceptDataConnection(hello, connection);
    }
}
