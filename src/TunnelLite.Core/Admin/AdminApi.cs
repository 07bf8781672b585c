using System.Globalization;
using TunnelLite.Statistics;

namespace TunnelLite.Admin;

/// <summary>What the admin endpoint answers, route by route; <see cref="AdminServer"/> has already checked the request's
/// form, Host and credentials. Every answer is built from <see cref="IAdminSource"/> snapshots, never from live objects,
/// so nothing secret can be reached from it.</summary>
internal sealed class AdminApi
{
    private readonly IAdminSource _source;
    private readonly StatsHistory _history;
    private readonly AdminServer _server;

    public AdminApi(IAdminSource source, StatsHistory history, AdminServer server)
    {
        _source = source;
        _history = history;
        _server = server;
    }

    /// <summary>Answers one request.</summary>
    public async Task<AdminResponse> HandleAsync(HttpRequestHead request)
    {
        var get = request.Method is "GET" or "HEAD";
        switch (request.Segments)
        {
            case []:
                return get ? Dashboard.File("index.html") : NotAllowed("GET, HEAD");
            case [var file] when Dashboard.Has(file):
                return get ? Dashboard.File(file) : NotAllowed("GET, HEAD");
            case ["healthz"]:
                return get ? AdminResponse.Json(200, new { Status = "ok", Role = _source.Role }) : NotAllowed("GET, HEAD");
            case ["ready"]:
                return get ? Ready(request.QueryValue("tunnel")) : NotAllowed("GET, HEAD");
            case ["metrics"] when !_server.Options.Metrics:
                return AdminResponse.Error(404, "Metrics are off here (enablePrometheus = false).");
            case ["metrics"]:
                return get ? AdminResponse.Text(200, PrometheusWriter.ContentType, PrometheusWriter.Write(Metrics())) : NotAllowed("GET, HEAD");
            case ["api", "v1"]:
                return get ? AdminResponse.Json(200, Index) : NotAllowed("GET, HEAD");
            case ["api", "v1", "server"]:
                return get ? AdminResponse.Json(200, ServerInfo()) : NotAllowed("GET, HEAD");
            case ["api", "v1", "tunnels"]:
                return get ? AdminResponse.Json(200, _source.Tunnels()) : NotAllowed("GET, HEAD");
            case ["api", "v1", "tunnels", var name]:
                if (!get) return NotAllowed("GET, HEAD");
                return _source.Tunnels().FirstOrDefault(t => t.Name == name) is { } tunnel
                    ? AdminResponse.Json(200, tunnel)
                    : AdminResponse.Error(404, "No tunnel has that name.");
            case ["api", "v1", "clients"]:
                if (!get) return NotAllowed("GET, HEAD");
                return _source.Role == TunnelRole.Server ? AdminResponse.Json(200, _source.Clients()) : NoClients();
            case ["api", "v1", "clients", var id]:
                if (_source.Role != TunnelRole.Server) return NoClients();
                if (get)
                    return _source.Clients().FirstOrDefault(c => c.Id == id) is { } client
                        ? AdminResponse.Json(200, client)
                        : AdminResponse.Error(404, "No client connected now has that id.");
                if (request.Method != "DELETE") return NotAllowed("GET, HEAD, DELETE");
                return await DisconnectAsync(id, request.QueryValue("banSeconds")).ConfigureAwait(false);
            case ["api", "v1", "reload"]:
                if (_source.Role != TunnelRole.Server) return AdminResponse.Error(404, "This is a client's admin endpoint; a server's reloads its configuration.");
                return request.Method == "POST" ? await ReloadAsync().ConfigureAwait(false) : NotAllowed("POST");
            case ["api", "v1", "drain"]:
                if (_source.Role != TunnelRole.Server) return AdminResponse.Error(404, "This is a client's admin endpoint; a server's drains the server.");
                return request.Method == "POST" ? Drain(request.QueryValue("delaySeconds"), request.QueryValue("timeoutSeconds")) : NotAllowed("POST");
            case ["api", "v1", "events"]:
                return get ? AdminResponse.Json(200, _source.Events.Snapshot()) : NotAllowed("GET, HEAD");
            case ["api", "v1", "history"]:
                return get ? History(request.QueryValue("tunnel"), request.QueryValue("minutes")) : NotAllowed("GET, HEAD");
            default:
                return AdminResponse.Error(404, "Nothing is served at this path; see /api/v1 for the API.");
        }
    }

    /// <summary>What /metrics shows now.</summary>
    internal MetricsSnapshot Metrics() => new(_source.Role, _source.Summary(), _source.Tunnels(), _source.Clients(),
        _source.ControlHeartbeatAgeSeconds, _server.Refusals);

    private static readonly object Index = new
    {
        Endpoints = new[]
        {
            "GET /healthz", "GET /ready[?tunnel=NAME]", "GET /metrics", "GET /api/v1/server", "GET /api/v1/tunnels",
            "GET /api/v1/tunnels/{name}", "GET /api/v1/clients", "GET /api/v1/clients/{id}",
            "DELETE /api/v1/clients/{id}[?banSeconds=N]", "POST /api/v1/reload", "POST /api/v1/drain[?delaySeconds=N][&timeoutSeconds=N]", "GET /api/v1/events", "GET /api/v1/history[?tunnel=NAME][&minutes=N]",
        },
    };

    private object ServerInfo() => new
    {
        Role = _source.Role,
        Version = BuildInfo.Version,
        Stats = _source.Summary(),
        Admin = new { _server.Url, Tls = _server.UsesTls, HistoryIntervalSeconds = _history.Interval.TotalSeconds },
    };

    private AdminResponse Ready(string? tunnel)
    {
        var r = _source.Ready(string.IsNullOrEmpty(tunnel) ? null : tunnel);
        var answer = AdminResponse.Json(r.IsReady ? 200 : r.Found ? 503 : 404, new { Ready = r.IsReady, r.Reason, Tunnel = tunnel, r.Draining });
        // A draining server will not be back: a client that honours Retry-After waits long enough for it to be gone.
        return r.Draining ? answer with { Headers = [new("Retry-After", "60")] } : answer;
    }

    /// <summary>POST /api/v1/drain: starts a drain and answers at once, 202 with the drain (the first one, when it drains
    /// already); 503 when the server is stopping. The times are whole seconds from 0 to 3600; absent, the server's own.</summary>
    private AdminResponse Drain(string? delayText, string? timeoutText)
    {
        static bool TryRead(string? text, out TimeSpan? value)
        {
            value = null;
            if (text is null) return true;
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 3600) return false;
            value = TimeSpan.FromSeconds(seconds);
            return true;
        }
        if (!TryRead(delayText, out var delay)) return AdminResponse.Error(400, "delaySeconds must be a whole number from 0 to 3600.");
        if (!TryRead(timeoutText, out var timeout)) return AdminResponse.Error(400, "timeoutSeconds must be a whole number from 0 to 3600.");
        try
        {
            return AdminResponse.Json(202, _source.BeginDrain(delay, timeout));
        }
        catch (InvalidOperationException e)
        {
            return AdminResponse.Error(503, e.Message);
        }
    }

    private AdminResponse History(string? tunnel, string? minutesText)
    {
        var minutes = 15;
        if (minutesText is not null && (!int.TryParse(minutesText, NumberStyles.None, CultureInfo.InvariantCulture, out minutes) || minutes is < 1 or > 1440))
            return AdminResponse.Error(400, "minutes must be a whole number from 1 to 1440.");
        return _history.Series(string.IsNullOrEmpty(tunnel) ? null : tunnel, minutes) is { } series
            ? AdminResponse.Json(200, series)
            : AdminResponse.Error(404, "No tunnel with that name has a history (it may be new: points come every 10 s).");
    }

    private async Task<AdminResponse> DisconnectAsync(string id, string? banText)
    {
        var ban = _server.Options.DefaultBan;
        if (banText is not null)
        {
            if (!int.TryParse(banText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 7 * 86400)
                return AdminResponse.Error(400, "banSeconds must be a whole number from 0 to 604800.");
            ban = TimeSpan.FromSeconds(seconds);
        }
        var gone = await _source.DisconnectClientAsync(id, ban).ConfigureAwait(false);
        return gone is null
            ? AdminResponse.Error(404, "No client connected now has that id.")
            : AdminResponse.Json(200, new { Disconnected = gone, BanSeconds = ban.TotalSeconds, BannedUntil = DateTimeOffset.UtcNow + ban });
    }

    /// <summary>POST /api/v1/reload: the server reads its own file again. 200 with what changed; 409 when it refused (a key
    /// that cannot change live, or no file); 422 when the file is invalid, with where (file, line, key) so that the caller
    /// can report it as the file's error. Nothing from the request is used but its method.</summary>
    private async Task<AdminResponse> ReloadAsync()
    {
        try
        {
            return AdminResponse.Json(200, await _source.ReloadAsync().ConfigureAwait(false));
        }
        catch (TunnelException e) when (e.Code == TunnelErrorCode.ReloadRefused)
        {
            return AdminResponse.Json(409, new { error = e.Message, status = 409, code = e.Code.ToString() });
        }
        catch (Config.TunnelConfigException e)
        {
            return AdminResponse.Json(422, new
            {
                error = e.Message,
                status = 422,
                config = new { file = e.FilePath, line = e.Line, key = e.Key, detail = e.Detail, fileNotFound = e.FileNotFound },
            });
        }
        catch (InvalidOperationException e)
        {
            return AdminResponse.Error(503, e.Message);
        }
    }

    private static AdminResponse NoClients() => AdminResponse.Error(404, "This is a client's admin endpoint; clients are listed by their server's.");

    private static AdminResponse NotAllowed(string allow) =>
        AdminResponse.Error(405, $"This path takes {allow}.") with { Headers = [new("Allow", allow)] };
}
