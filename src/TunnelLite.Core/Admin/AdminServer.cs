using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Logging;
using TunnelLite.Forwarding;
using TunnelLite.Logging;
using TunnelLite.Security;
using TunnelLite.Server;

namespace TunnelLite.Admin;

/// <summary>The admin endpoint of a server or a client: a small HTTP/1.1 server on a Socket (ASP.NET Core cannot load in a
/// pwsh-hosted module, and HttpListener is legacy on Linux). Bounded like the control port (<see cref="AdminLimits"/>),
/// loopback by default, and with credentials and TLS anywhere else. What it serves is <see cref="AdminApi"/>'s.</summary>
public sealed class AdminServer : IAsyncDisposable
{
    private readonly AdminOptions _options;
    private readonly AdminLimits _limits;
    private readonly ILogger _log;
    private readonly StrangerLog _strangers;
    private readonly AuthThrottle _throttle = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
    private readonly AdminApi _api;
    private readonly ConcurrentDictionary<Task, byte> _connections = new();
    private readonly Dictionary<SourcePrefix, int> _perSource = new();
    private readonly ConcurrentDictionary<string, long> _refusals = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly IAdminSource _source;
    private ServerCertificate? _certificate;
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private Task _historyLoop = Task.CompletedTask;
    private int _open;

    internal AdminServer(AdminOptions options, IAdminSource source, ServerCertificate? certificate, ILogger log, StatsHistory? history = null)
    {
        options.Validate();
        _options = options;
        _limits = options.Limits;
        _source = source;
        _log = log;
        _strangers = new StrangerLog(log);
        UsesTls = options.UsesTls;
        // A certificate file of the endpoint's own wins over the server's (loaded at start, where failures are reported).
        _certificate = UsesTls && options.CertificateFile is null ? certificate : null;
        History = history ?? new StatsHistory();
        _api = new AdminApi(source, History, this);
    }

    /// <summary>The bound endpoint, once started.</summary>
    public IPEndPoint? Endpoint { get; private set; }

    /// <summary>Whether the endpoint speaks HTTPS.</summary>
    public bool UsesTls { get; }

    /// <summary>SHA-256 fingerprint of the certificate it presents (HTTPS only), for -CertificateFingerprint.</summary>
    public string? CertificateFingerprint => _certificate?.Fingerprint;

    /// <summary>The endpoint's URL, for messages ("http://127.0.0.1:7500/").</summary>
    public string? Url => Endpoint is null ? null
        : $"{(UsesTls ? "https" : "http")}://{(Endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Endpoint.Address}]" : Endpoint.Address.ToString())}:{Endpoint.Port}/";

    /// <summary>The charts' history.</summary>
    public StatsHistory History { get; }

    internal AdminOptions Options => _options;

    /// <summary>Refusals by reason since start, for /metrics.</summary>
    internal IReadOnlyList<KeyValuePair<string, long>> Refusals => _refusals.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();

    /// <summary>Connections open now.</summary>
    internal int OpenConnections => Volatile.Read(ref _open);

    /// <summary>Binds and starts serving.</summary>
    /// <exception cref="TunnelException">AdminPortInUse, AddressNotAvailable, PortNotAllowed, CertificateLoadFailed (a
    /// webServer.tls.certFile that cannot be used).</exception>
    public Task StartAsync()
    {
        if (UsesTls)
            _certificate ??= _options.CertificateFile is { } file
                ? ServerCertificate.Load(new Config.ServerTlsOptions { Enabled = true, CertificateFile = file, KeyFile = _options.KeyFile })
                : ServerCertificate.CreateSelfSigned();
        var address = _options.Address!.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? "127.0.0.1" : _options.Address!;
        try
        {
            _listener = SocketListener.Listen(SocketListener.ParseBindAddress(address), _options.Port);
        }
        catch (SocketException e)
        {
            throw e.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => new TunnelException(TunnelErrorCode.AdminPortInUse,
                    $"The admin endpoint's port {_options.Port} on {address} is already in use. Stop what uses it or choose another (webServer.port / -AdminEndpoint).", e),
                SocketError.AddressNotAvailable => new TunnelException(TunnelErrorCode.AddressNotAvailable,
                    $"Cannot listen on {address}:{_options.Port} for the admin endpoint: this host has no address {address} (webServer.addr / -AdminEndpoint).", e),
                SocketError.AccessDenied => new TunnelException(TunnelErrorCode.PortNotAllowed,
                    $"Cannot listen on {address}:{_options.Port} for the admin endpoint: permission denied ({e.Message}).", e),
                _ => new TunnelException(TunnelErrorCode.Unknown, $"Cannot listen on {address}:{_options.Port} for the admin endpoint: {e.Message}", e),
            };
        }
        Endpoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = AcceptLoopAsync();
        _historyLoop = RecordHistoryAsync();
        _log.LogInformation("Admin endpoint on {Url} (metrics at /metrics, dashboard at /){Tls}.", Url,
            _certificate is { } c ? $"; TLS certificate SHA-256 fingerprint {c.Fingerprint}" : "");
        return Task.CompletedTask;
    }

    /// <summary>Stops listening and closes every connection.</summary>
    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        _stopping.Cancel();
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        await _historyLoop.ConfigureAwait(false);
        await Task.WhenAll(_connections.Keys).ConfigureAwait(false);
        _strangers.Flush(force: true);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private async Task RecordHistoryAsync()
    {
        using var timer = new PeriodicTimer(History.Interval);
        try
        {
            History.Record(DateTimeOffset.UtcNow, _source.Summary(), _source.Tunnels());
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                History.Record(DateTimeOffset.UtcNow, _source.Summary(), _source.Tunnels());
                _strangers.Flush();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (await SocketListener.AcceptAsync(_listener!, _stopping.Token, _log, "Admin endpoint").ConfigureAwait(false) is { } s)
        {
            var remote = s.RemoteEndPoint as IPEndPoint;
            var source = SourcePrefix.Of(remote?.Address);
            if (!TryAdmit(source, out var why))
            {
                Refused("connection_limit", remote, why);
                SocketClose.Reset(s);
                continue;
            }
            var t = ServeConnectionAsync(s, remote, source);
            _connections.TryAdd(t, 0);
            _ = t.ContinueWith(done => _connections.TryRemove(done, out _), TaskScheduler.Default);
        }
    }

    private bool TryAdmit(SourcePrefix source, out string why)
    {
        lock (_perSource)
        {
            var ofSource = _perSource.GetValueOrDefault(source);
            why = _open >= _limits.MaxConnections ? $"the admin endpoint has {_limits.MaxConnections} connections open, its limit"
                : ofSource >= _limits.MaxConnectionsPerSource ? $"this source has {_limits.MaxConnectionsPerSource} admin connections open, the limit per source"
                : "";
            if (why.Length > 0) return false;
            _perSource[source] = ofSource + 1;
            _open++;
            return true;
        }
    }

    private void Release(SourcePrefix source)
    {
        lock (_perSource)
        {
            _open--;
            if (_perSource.TryGetValue(source, out var n) && n > 1) _perSource[source] = n - 1;
            else _perSource.Remove(source);
        }
    }

    /// <summary>Counts a refusal by reason and reports it, rate-limited.</summary>
    internal void Refused(string reason, EndPoint? remote, string detail, StrangerEvent kind = StrangerEvent.AdminRefused)
    {
        _refusals.AddOrUpdate(reason, 1, (_, n) => n + 1);
        _strangers.Report(kind, remote, detail);
    }

    private async Task ServeConnectionAsync(Socket socket, IPEndPoint? remote, SourcePrefix source)
    {
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        byte[]? buffer = null;
        var filled = 0;
        try
        {
            socket.NoDelay = true;
            using var first = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            first.CancelAfter(_limits.RequestHeadTimeout);
            if (_certificate is not null)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = _certificate.Context,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                }, first.Token).ConfigureAwait(false);
            }
            for (var served = 0; served < _limits.MaxRequestsPerConnection && !_stopping.IsCancellationRequested; served++)
            {
                if (filled == 0)
                {
                    // Wait for the next request without holding a buffer: an idle keep-alive connection holds none.
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                    idle.CancelAfter(served == 0 ? _limits.RequestHeadTimeout : _limits.KeepAliveTimeout);
                    try
                    {
                        await stream.ReadAsync(Memory<byte>.Empty, idle.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        if (served == 0 && !_stopping.IsCancellationRequested) Refused("timeout", remote, "it sent no request in time");
                        return;
                    }
                }
                buffer ??= ArrayPool<byte>.Shared.Rent(_limits.MaxRequestHeadBytes);
                var (head, consumed, read, rejection) = await ReadHeadAsync(stream, buffer, filled, remote).ConfigureAwait(false);
                if (head is null && rejection is null) return; // closed by the peer, or timed out (counted)
                // What follows the head stays for the next request (a pipelining client).
                filled = head is null ? 0 : read - consumed;
                var response = rejection ?? await HandleAsync(head!, remote, source).ConfigureAwait(false);
                var keepAlive = rejection is null && !head!.Close && !response.CloseConnection && served + 1 < _limits.MaxRequestsPerConnection && !_stopping.IsCancellationRequested;
                await WriteAsync(stream, response, head?.Method == "HEAD", keepAlive).ConfigureAwait(false);
                if (!keepAlive) return;
                if (filled > 0) Buffer.BlockCopy(buffer, consumed, buffer, 0, filled);
                else
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or AuthenticationException)
        {
            _log.LogDebug("Admin connection from {Remote} ended: {Error}", remote, e.Message);
        }
        catch (Exception e)
        {
            // Last line of defence: nothing a peer sends may take the process down.
            _log.LogError(e, "Unexpected failure serving the admin endpoint to {Remote}.", remote);
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            await stream.DisposeAsync().ConfigureAwait(false);
            Release(source);
        }
    }

    /// <summary>Reads until a head is complete or rejected: the head, the bytes it took, the bytes in the buffer, or the
    /// answer to a rejected one. Returns no head and no answer when the peer closed or ran out of time.</summary>
    private async Task<(HttpRequestHead? Head, int Consumed, int Filled, AdminResponse? Rejection)> ReadHeadAsync(Stream stream, byte[] buffer, int filled, IPEndPoint? remote)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        deadline.CancelAfter(_limits.RequestHeadTimeout);
        while (true)
        {
            var parsed = Http1Parser.TryParse(buffer.AsSpan(0, filled), _limits.MaxRequestHeadBytes, _limits.MaxHeaderCount);
            switch (parsed.Outcome)
            {
                case Http1Parser.Outcome.Complete:
                    return (parsed.Head, parsed.Consumed, filled, null);
                case Http1Parser.Outcome.Rejected:
                    Refused(parsed.Status == 431 ? "too_large" : "bad_request", remote, parsed.Reason!);
                    return (null, 0, 0, AdminResponse.Error(parsed.Status, parsed.Reason!) with { CloseConnection = true });
            }
            int n;
            try
            {
                n = await stream.ReadAsync(buffer.AsMemory(filled, _limits.MaxRequestHeadBytes - filled), deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
            {
                Refused("timeout", remote, $"its request did not arrive within {_limits.RequestHeadTimeout.TotalSeconds:0} s");
                if (filled == 0) return (null, 0, 0, null);
                return (null, 0, 0, AdminResponse.Error(408, "The request did not arrive in time.") with { CloseConnection = true });
            }
            if (n == 0) return (null, 0, 0, null);
            filled += n;
        }
    }

    private async Task<AdminResponse> HandleAsync(HttpRequestHead head, IPEndPoint? remote, SourcePrefix source)
    {
        if (head.HasTransferEncoding || head.ContentLength > _limits.MaxRequestBodyBytes)
        {
            Refused("bad_request", remote, "it sent a request body");
            return AdminResponse.Error(413, "This endpoint takes no request body.") with { CloseConnection = true };
        }
        if (!HostAllowed(head.Host))
        {
            Refused("host", remote, $"its Host header names {PeerText.Escape(head.Host, 64)}");
            return AdminResponse.Error(421, "This Host is not served here. Use the address (or localhost), or add the name to webServer.allowedHosts.");
        }
        var isPublic = head.Segments is ["healthz"] or ["ready"];
        var login = isPublic && !_options.HasCredentials ? LoginResult.NotNeeded : CheckLogin(head, source, remote);
        if (login == LoginResult.Throttled)
            return AdminResponse.Error(429, "Too many failed logins from this address; wait and try again.") with { Headers = [new("Retry-After", "60")] };
        if (login == LoginResult.Failed && !isPublic)
            return AdminResponse.Error(401, "This admin endpoint needs a user and password.") with { Headers = [new("WWW-Authenticate", "Basic realm=\"TunnelLite\", charset=\"UTF-8\"")] };
        // The requests that change something (DELETE a client, POST a reload or a drain) are the operator's only: they need credentials.
        if (head.Method == "DELETE" || (head.Method == "POST" && head.Segments is ["api", "v1", "reload"] or ["api", "v1", "drain"]))
        {
            if (!_options.HasCredentials)
                return AdminResponse.Error(403, "Changes through the admin endpoint need credentials: set webServer.user and webServer.password (or -AdminCredential).");
            // A browser sends Origin on a cross-site DELETE or POST; one that names another site is a forged request.
            if (head.Origin is { } origin && !SameOrigin(origin, head.Host))
            {
                Refused("origin", remote, $"its Origin is {PeerText.Escape(origin, 64)}");
                return AdminResponse.Error(403, "Cross-origin changes are refused.");
            }
        }
        try
        {
            return await _api.HandleAsync(head).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.LogError(e, "The admin endpoint failed to answer {Method} {Path}.", head.Method, PeerText.Escape(head.Path, 128));
            return AdminResponse.Error(500, "The admin endpoint failed to answer; see the server's log.");
        }
    }

    private enum LoginResult { NotNeeded, Passed, Failed, Throttled }

    private LoginResult CheckLogin(HttpRequestHead head, SourcePrefix source, IPEndPoint? remote)
    {
        if (!_options.HasCredentials) return LoginResult.NotNeeded;
        if (head.Authorization is not { } auth || !auth.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return LoginResult.Failed;
        string user, password;
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(auth[6..].Trim()));
            var colon = text.IndexOf(':');
            if (colon < 0) return LoginResult.Failed;
            (user, password) = (text[..colon], text[(colon + 1)..]);
        }
        catch (FormatException)
        {
            Refused("unauthorized", remote, "its Authorization header is malformed");
            return LoginResult.Failed;
        }
        // The configured user is throttled as an account; any other name shares the source's entry only, so that made-up
        // names cannot grow the throttle's table.
        var account = user == _options.User ? user : null;
        // Attempt refuses (and counts) a source or user that must still wait, before it checks anything.
        var (verdict, wait) = _throttle.Attempt(source, account, () =>
            System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(_options.User!))
            & Secret.From(password).SameAs(_options.Password));
        switch (verdict)
        {
            case AuthThrottle.Verdict.Throttled:
                Refused("throttled", remote, "it must wait after failed logins", StrangerEvent.AdminLoginFailed);
                return LoginResult.Throttled;
            case AuthThrottle.Verdict.Failed:
                Refused("unauthorized", remote, $"wrong user or password; it may try again in {Math.Ceiling(wait.TotalSeconds)} s", StrangerEvent.AdminLoginFailed);
                return LoginResult.Failed;
            default:
                return LoginResult.Passed;
        }
    }

    /// <summary>Whether a Host header may reach the API: an IP literal, localhost, or a configured name. A name an
    /// attacker's DNS points at 127.0.0.1 (DNS rebinding) is none of them.</summary>
    internal bool HostAllowed(string? host)
    {
        if (host is null) return true; // HTTP/1.0 without Host: no browser sends that
        var name = host;
        if (name.StartsWith('['))
        {
            var close = name.IndexOf(']');
            if (close < 0) return false;
            return IPAddress.TryParse(name[1..close], out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6;
        }
        var colon = name.LastIndexOf(':');
        if (colon >= 0) name = name[..colon];
        if (name.Length == 0) return false;
        if (IPAddress.TryParse(name, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork && name.Count(c => c == '.') == 3) return true;
        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return _options.AllowedHosts.Any(h => h.Equals(name, StringComparison.OrdinalIgnoreCase));
    }

    private static bool SameOrigin(string origin, string? host) =>
        host is not null && Uri.TryCreate(origin, UriKind.Absolute, out var o) && string.Equals(o.Authority, host, StringComparison.OrdinalIgnoreCase);

    private async Task WriteAsync(Stream stream, AdminResponse response, bool headOnly, bool keepAlive)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        deadline.CancelAfter(_limits.ResponseTimeout);
        await stream.WriteAsync(response.Head(keepAlive), deadline.Token).ConfigureAwait(false);
        if (!headOnly && response.Body.Length > 0) await stream.WriteAsync(response.Body, deadline.Token).ConfigureAwait(false);
        await stream.FlushAsync(deadline.Token).ConfigureAwait(false);
    }
}
