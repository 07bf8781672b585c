using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using TunnelLite.Security;

namespace TunnelLite.Admin;

/// <summary>Reads (and steers) a server or client running in another process through its admin endpoint: what
/// <c>Get-TunnelStats -AdminEndpoint</c>, <c>Get-TunnelClient</c> and <c>Disconnect-TunnelClient</c> use.</summary>
public sealed class AdminClient : IDisposable
{
    private readonly HttpClient _http;

    /// <summary>Creates a client for <paramref name="endpoint"/>: "host:port", "[v6]:port", or a URL. Without a scheme it
    /// uses HTTPS when a fingerprint is pinned or the host is not loopback (such endpoints always use TLS), else HTTP.</summary>
    /// <param name="endpoint">Where the admin endpoint listens.</param>
    /// <param name="user">Basic-auth user, when the endpoint has credentials.</param>
    /// <param name="password">Its password.</param>
    /// <param name="certificateFingerprint">The SHA-256 fingerprint the endpoint logged at start (a self-signed certificate);
    /// without one, the certificate must chain to a trusted root.</param>
    /// <param name="timeout">How long one request may take (10 s by default).</param>
    /// <exception cref="ArgumentException">The endpoint or fingerprint is malformed.</exception>
    public AdminClient(string endpoint, string? user = null, Secret? password = null, string? certificateFingerprint = null, TimeSpan? timeout = null)
    {
        string? pin = null;
        if (certificateFingerprint is not null && !CertificateFingerprint.TryNormalize(certificateFingerprint, out pin))
            throw new ArgumentException("The certificate fingerprint must be 64 hexadecimal digits (SHA-256), as the admin endpoint logged it.");
        BaseAddress = ToUri(endpoint, pin is not null);
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectTimeout = timeout ?? TimeSpan.FromSeconds(10),
            AllowAutoRedirect = false,
            UseProxy = false, // an admin endpoint is reached directly; a proxy would see the credentials
        };
        if (pin is not null)
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                    cert is not null && CertificateFingerprint.Of(cert) == pin,
            };
        _http = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = timeout ?? TimeSpan.FromSeconds(10) };
        if (!string.IsNullOrEmpty(user))
        {
            var pair = Encoding.UTF8.GetBytes($"{user}:{(password ?? Secret.Empty).Reveal()}");
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(pair));
        }
    }

    /// <summary>The endpoint's base URL.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The server's or client's totals (GET /api/v1/server).</summary>
    /// <exception cref="TunnelException">AdminEndpointUnreachable, AdminAuthenticationFailed.</exception>
    public async Task<TunnelStats> GetSummaryAsync(CancellationToken cancellationToken = default) =>
        (await GetAsync<ServerInfo>("api/v1/server", cancellationToken).ConfigureAwait(false)).Stats
        ?? throw Unreachable("its answer to /api/v1/server has no statistics");

    /// <summary>Each tunnel's statistics (GET /api/v1/tunnels).</summary>
    /// <exception cref="TunnelException">AdminEndpointUnreachable, AdminAuthenticationFailed.</exception>
    public async Task<IReadOnlyList<TunnelStats>> GetTunnelsAsync(CancellationToken cancellationToken = default) =>
        await GetAsync<List<TunnelStats>>("api/v1/tunnels", cancellationToken).ConfigureAwait(false);

    /// <summary>The clients connected to a server (GET /api/v1/clients).</summary>
    /// <exception cref="TunnelException">AdminEndpointUnreachable, AdminAuthenticationFailed (and AdminEndpointUnreachable
    /// for a client's endpoint, which lists no clients).</exception>
    public async Task<IReadOnlyList<TunnelClientInfo>> GetClientsAsync(CancellationToken cancellationToken = default) =>
        await GetAsync<List<TunnelClientInfo>>("api/v1/clients", cancellationToken).ConfigureAwait(false);

    /// <summary>Disconnects a client and keeps it out for <paramref name="ban"/> (DELETE /api/v1/clients/{id}).</summary>
    /// <exception cref="TunnelException">ClientNotFound, AdminAuthenticationFailed, AdminEndpointUnreachable.</exception>
    public async Task<TunnelClientInfo> DisconnectClientAsync(string id, TimeSpan ban, CancellationToken cancellationToken = default)
    {
        var path = $"api/v1/clients/{Uri.EscapeDataString(id)}?banSeconds={(long)ban.TotalSeconds}";
        var answer = await SendAsync<DisconnectAnswer>(new HttpRequestMessage(HttpMethod.Delete, path), cancellationToken, notFound: TunnelErrorCode.ClientNotFound).ConfigureAwait(false);
        return answer.Disconnected ?? throw Unreachable("its answer names no client");
    }

    /// <summary>Has the server read its own configuration file again and apply it (POST /api/v1/reload): the file it was
    /// started with, on its host; nothing but the request is sent.</summary>
    /// <exception cref="TunnelException">ReloadRefused (nothing changed), AdminAuthenticationFailed, AdminEndpointUnreachable.</exception>
    /// <exception cref="Config.TunnelConfigException">The server's file is invalid (nothing changed); as the server read it.</exception>
    public Task<ServerReloadResult> ReloadAsync(CancellationToken cancellationToken = default) =>
        SendAsync<ServerReloadResult>(new HttpRequestMessage(HttpMethod.Post, "api/v1/reload") { Content = new ByteArrayContent([]) }, cancellationToken);

    /// <summary>Starts a drain of the server (POST /api/v1/drain) and returns at once with it; null times are the server's
    /// own (transport.drainDelay, transport.drainTimeout).</summary>
    /// <exception cref="TunnelException">AdminAuthenticationFailed; AdminEndpointUnreachable, also when the server is stopping
    /// already or the endpoint is a client's, which does not drain.</exception>
    public Task<ServerDrain> DrainAsync(TimeSpan? delay = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var query = new List<string>(2);
        if (delay is { } d) query.Add($"delaySeconds={(long)d.TotalSeconds}");
        if (timeout is { } t) query.Add($"timeoutSeconds={(long)t.TotalSeconds}");
        var path = query.Count == 0 ? "api/v1/drain" : "api/v1/drain?" + string.Join("&", query);
        return SendAsync<ServerDrain>(new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent([]) }, cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private Task<T> GetAsync<T>(string path, CancellationToken cancellationToken) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Get, path), cancellationToken);

    private async Task<T> SendAsync<T>(HttpRequestMessage request, CancellationToken cancellationToken, TunnelErrorCode notFound = TunnelErrorCode.AdminEndpointUnreachable)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new TunnelException(TunnelErrorCode.AdminEndpointUnreachable, e.InnerException is System.Security.Authentication.AuthenticationException
                ? $"The admin endpoint {BaseAddress} presented a certificate that is not trusted: pin the fingerprint it logged at start with -CertificateFingerprint."
                : $"Cannot reach the admin endpoint {BaseAddress}: {e.Message} Check that the server or client runs with -AdminEndpoint (webServer.port) and that the address is right.", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TunnelException(TunnelErrorCode.AdminEndpointUnreachable, $"The admin endpoint {BaseAddress} did not answer in time.", e);
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            switch (response.StatusCode)
            {
                case HttpStatusCode.OK or HttpStatusCode.Accepted:
                    try
                    {
                        return JsonSerializer.Deserialize<T>(body, AdminJson.Options) ?? throw Unreachable("its answer is empty");
                    }
                    catch (JsonException e)
                    {
                        throw Unreachable($"its answer is not the JSON of a TunnelLite admin endpoint ({e.Message})");
                    }
                case HttpStatusCode.Unauthorized:
                    throw new TunnelException(TunnelErrorCode.AdminAuthenticationFailed, _http.DefaultRequestHeaders.Authorization is null
                        ? $"The admin endpoint {BaseAddress} needs a user and password: give -Credential."
                        : $"The admin endpoint {BaseAddress} refused the user and password given.");
                case HttpStatusCode.TooManyRequests:
                    throw new TunnelException(TunnelErrorCode.AdminAuthenticationFailed, $"The admin endpoint {BaseAddress} refuses logins from this address for a while after failed ones; wait a minute.");
                case HttpStatusCode.Forbidden:
                    throw new TunnelException(TunnelErrorCode.AdminAuthenticationFailed, $"The admin endpoint {BaseAddress} refused: {ErrorOf(body)}");
                case HttpStatusCode.NotFound:
                    throw new TunnelException(notFound, $"{BaseAddress}: {ErrorOf(body)}");
                case HttpStatusCode.Conflict:
                    throw new TunnelException(TunnelErrorCode.ReloadRefused, $"{BaseAddress}: {ErrorOf(body)}");
                case HttpStatusCode.UnprocessableEntity:
                    throw ConfigErrorOf(body);
                default:
                    throw Unreachable($"it answered {(int)response.StatusCode}: {ErrorOf(body)}");
            }
        }
    }

    private TunnelException Unreachable(string why) =>
        new(TunnelErrorCode.AdminEndpointUnreachable, $"The admin endpoint {BaseAddress} did not answer as expected: {why}.");

    /// <summary>A 422's file error as the server's loader reported it (the peer's text, escaped and bounded).</summary>
    private Exception ConfigErrorOf(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object)
            {
                static string? Text(JsonElement e, string name, int max) =>
                    e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? Logging.PeerText.Escape(v.GetString(), max) : null;
                int? line = c.TryGetProperty("line", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) ? n : null;
                var notFound = c.TryGetProperty("fileNotFound", out var f) && f.ValueKind == JsonValueKind.True;
                return new Config.TunnelConfigException(Text(c, "file", 1024), line, Text(c, "key", 256), Text(c, "detail", 1024) ?? "the configuration is invalid") { FileNotFound = notFound };
            }
        }
        catch (JsonException)
        {
        }
        return Unreachable($"it answered 422: {ErrorOf(body)}");
    }

    private static string ErrorOf(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("error", out var e) && e.GetString() is { } text) return Logging.PeerText.Escape(text, 300);
        }
        catch (JsonException)
        {
        }
        return Logging.PeerText.Escape(body, 120);
    }

    private static Uri ToUri(string endpoint, bool pinned)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        if (endpoint.Contains("://"))
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                throw new ArgumentException($"'{endpoint}' is not an http:// or https:// URL.");
            return new Uri(u.GetLeftPart(UriPartial.Authority) + "/");
        }
        var (host, port) = AdminOptions.ParseEndpoint(endpoint);
        if (port == 0) throw new ArgumentException($"'{endpoint}' needs a port.");
        var scheme = pinned || !AdminOptions.IsLoopbackHost(host) ? "https" : "http";
        var shown = IPAddress.TryParse(host, out var a) && a.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{host}]" : host;
        return new Uri($"{scheme}://{shown}:{port}/");
    }

    private sealed class ServerInfo
    {
        public TunnelStats? Stats { get; set; }
    }

    private sealed class DisconnectAnswer
    {
        public TunnelClientInfo? Disconnected { get; set; }
    }
}
