using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using TunnelLite.Admin;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The admin endpoint end to end: real servers and clients on 127.0.0.1, real bytes through a tunnel, and the
/// endpoint read over real HTTP, well-formed and not.</summary>
public sealed class AdminEndpointTests
{
    private const string User = "ops";
    private const string Password = "admin password for the tests";

    private static AdminOptions Admin(bool credentials = false, AdminLimits? limits = null) => new()
    {
        Address = "127.0.0.1",
        Port = 0,
        User = credentials ? User : null,
        Password = credentials ? Password : Security.Secret.Empty,
        Limits = limits ?? new AdminLimits(),
    };

    private static async Task<(TunnelServer Server, TunnelClient Client, IPEndPoint Admin)> StartAsync(TunnelFixture f, EchoService echo, AdminOptions? admin = null, string tunnel = "echo")
    {
        var options = TunnelFixture.ServerOptions();
        options.Admin = admin ?? Admin();
        var server = await f.StartServerAsync(options);
        var clientOptions = TunnelFixture.ClientOptions(server);
        clientOptions.Tunnels.Add(new TunnelDefinition { Name = tunnel, LocalPort = echo.Port });
        var client = await f.StartClientAsync(clientOptions);
        return (server, client, server.Admin!.Endpoint!);
    }

    private static async Task MoveBytesAsync(TunnelClient client, int size, int seed)
    {
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
        var (sent, received, _) = await Transfer.EchoRoundTripAsync(user, size, seed);
        Assert.Equal(sent, received);
    }

    [Fact]
    public async Task Health_and_readiness_answer_for_the_server_and_for_one_tunnel()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (_, _, admin) = await StartAsync(f, echo);

        var health = await RawHttp.RequestAsync(admin, "GET", "/healthz");
        Assert.Equal(200, health.Status);
        var ready = await RawHttp.RequestAsync(admin, "GET", "/ready");
        Assert.Equal(200, ready.Status);
        Assert.True(JsonDocument.Parse(ready.Body).RootElement.GetProperty("Ready").GetBoolean());
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/ready?tunnel=echo")).Status);
        var missing = await RawHttp.RequestAsync(admin, "GET", "/ready?tunnel=nope");
        Assert.Equal(404, missing.Status);
        Assert.False(JsonDocument.Parse(missing.Body).RootElement.GetProperty("Ready").GetBoolean());
    }

    [Fact]
    public async Task A_client_is_ready_once_registered_and_answers_503_with_a_reason_while_its_server_is_gone()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var options = TunnelFixture.ClientOptions(server);
        options.Tunnels.Add(new TunnelDefinition { Name = "web", LocalPort = echo.Port });
        options.Admin = Admin();
        var client = await f.StartClientAsync(options);
        var admin = client.Admin!.Endpoint!;

        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/ready")).Status);
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/ready?tunnel=web")).Status);

        await server.StopAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.State == ClientState.Reconnecting, TimeSpan.FromSeconds(10)));
        var gone = await RawHttp.RequestAsync(admin, "GET", "/ready");
        Assert.Equal(503, gone.Status);
        Assert.Contains("reconnecting", JsonDocument.Parse(gone.Body).RootElement.GetProperty("Reason").GetString());
        Assert.Equal(503, (await RawHttp.RequestAsync(admin, "GET", "/ready?tunnel=web")).Status);
        // Health is the process's, not the tunnel's: it still serves.
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/healthz")).Status);
    }

    [Fact]
    public async Task The_API_shows_the_bytes_that_went_through_a_tunnel_and_the_client_that_carried_them()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, client, admin) = await StartAsync(f, echo);
        await MoveBytesAsync(client, 300_000, seed: 1);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Single().BytesOut >= 300_000, TimeSpan.FromSeconds(5)));

        using var api = new AdminClient(admin.ToString());
        var tunnels = await api.GetTunnelsAsync();
        var echoStats = Assert.Single(tunnels);
        Assert.Equal("echo", echoStats.Name);
        Assert.Equal(300_000, echoStats.BytesIn);
        Assert.Equal(300_000, echoStats.BytesOut);
        Assert.Equal(Statistics.TunnelRole.Server, echoStats.Role);
        var summary = await api.GetSummaryAsync();
        Assert.Equal(1, summary.Clients);
        Assert.True(summary.BytesIn >= 300_000);

        var who = Assert.Single(await api.GetClientsAsync());
        Assert.Equal(client.ClientName, who.Name);
        Assert.StartsWith("127.0.0.1:", who.RemoteAddress);
        Assert.StartsWith("TunnelLite", who.Version);
        Assert.Equal(new[] { "echo" }, who.Tunnels);
        Assert.InRange(who.HeartbeatAgeSeconds, 0, 4);

        // Enums travel by name, as the API promises.
        var raw = await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels");
        Assert.Contains("\"Role\":\"Server\"", raw.Body);
        Assert.Equal("application/json; charset=utf-8", raw.Headers["Content-Type"]);
    }

    // Would fail if the API wrote the plane as a number (0, 1, 2 say nothing to a reader of the JSON), if AdminClient could
    // not read it back, or if /metrics lacked the info family or labelled it apart from the plane in force.
    [Fact]
    public async Task The_data_plane_shows_by_name_in_the_API_and_as_an_info_metric_on_both_ends()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var so = TunnelFixture.ServerOptions();
        so.Admin = Admin();
        // Async whatever the platform, so that what is shown does not depend on where the test runs; the loop count is
        // asked for but not used, which is what the stats must say (0 on the async plane).
        so.DataPlane = DataPlaneKind.Async;
        so.EventLoops = 1;
        var server = await f.StartServerAsync(so);
        var co = TunnelFixture.ClientOptions(server);
        co.Tunnels.Add(new TunnelDefinition { Name = "echo", LocalPort = echo.Port });
        co.Admin = Admin();
        co.DataPlane = DataPlaneKind.Async;
        var client = await f.StartClientAsync(co);
        await MoveBytesAsync(client, 10_000, seed: 5);

        foreach (var (admin, role) in new[] { (server.Admin!.Endpoint!, "server"), (client.Admin!.Endpoint!, "client") })
        {
            var summary = await RawHttp.RequestAsync(admin, "GET", "/api/v1/server");
            Assert.Contains("\"DataPlane\":\"Async\"", summary.Body);
            Assert.Contains("\"EventLoops\":0", summary.Body);
            Assert.Contains("\"DataPlane\":\"Async\"", (await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels")).Body);
            using var api = new AdminClient(admin.ToString());
            Assert.Equal(DataPlaneKind.Async, (await api.GetSummaryAsync()).DataPlane);

            var info = Exposition.Parse((await RawHttp.RequestAsync(admin, "GET", "/metrics")).Body).Single(m => m.Name == "tunnellite_data_plane_info");
            Assert.Equal("gauge", info.Type);
            var sample = Assert.Single(info.Samples);
            Assert.Equal([("role", role), ("plane", "async"), ("event_loops", "0")], sample.Labels.Select(l => (l.Key, l.Value)));
            Assert.Equal(1d, sample.Value);
        }
    }

    [Fact]
    public async Task Names_a_peer_chose_arrive_escaped_and_no_answer_contains_a_secret()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        const string hostile = "<img src=x onerror=alert(1)>";
        var (_, client, admin) = await StartAsync(f, echo, tunnel: hostile);
        await MoveBytesAsync(client, 1000, seed: 2);
        foreach (var path in new[] { "/api/v1/tunnels", "/api/v1/clients", "/api/v1/server", "/api/v1/events", "/metrics", "/" })
        {
            var r = await RawHttp.RequestAsync(admin, "GET", path);
            Assert.Equal(200, r.Status);
            // The Prometheus text format has no HTML escaping: the label carries the name as it is, served as text/plain
            // with nosniff so that no browser renders it; everything else escapes it.
            if (path == "/metrics") Assert.Contains($"tunnel=\"{hostile}\"", r.Body);
            else Assert.DoesNotContain("<img", r.Body);
            Assert.DoesNotContain(TunnelFixture.Token, r.Body);
            Assert.Equal("default-src 'self'; frame-ancestors 'none'", r.Headers["Content-Security-Policy"]);
        }
        var tunnels = await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels");
        Assert.Contains("\\u003Cimg", tunnels.Body);
        // And it reads back as the same name.
        using var api = new AdminClient(admin.ToString());
        Assert.Equal(hostile, (await api.GetTunnelsAsync()).Single().Name);
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/ready?tunnel=" + Uri.EscapeDataString(hostile))).Status);
    }

    [Fact]
    public async Task Disconnecting_a_client_frees_its_port_and_keeps_it_out_for_the_ban_then_it_is_back()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, client, admin) = await StartAsync(f, echo, Admin(credentials: true));
        var port = client.Tunnels.Single().RemotePort;
        var id = server.GetClients().Single().Id;

        // No credentials, then wrong ones: refused, and nothing happens.
        Assert.Equal(401, (await RawHttp.RequestAsync(admin, "DELETE", $"/api/v1/clients/{id}")).Status);
        Assert.Equal(401, (await RawHttp.RequestAsync(admin, "DELETE", $"/api/v1/clients/{id}", RawHttp.Basic(User, "wrong"))).Status);
        Assert.Equal(1, server.ClientCount);

        // A failed login makes the next attempt wait about a second (the throttle); then the right one passes.
        await Task.Delay(1100);
        var kicked = await RawHttp.RequestAsync(admin, "DELETE", $"/api/v1/clients/{id}?banSeconds=3", RawHttp.Basic(User, Password));
        Assert.Equal(200, kicked.Status);
        Assert.Equal(id, JsonDocument.Parse(kicked.Body).RootElement.GetProperty("Disconnected").GetProperty("Id").GetString());

        // The port is free at once, and the client cannot come back while banned.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.ClientCount == 0, TimeSpan.FromSeconds(5)));
        await Assert.ThrowsAnyAsync<SocketException>(() => TunnelFixture.ConnectAsync(port));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.LastError?.Code == TunnelErrorCode.ClientBanned, TimeSpan.FromSeconds(5)));
        Assert.Equal(0, server.ClientCount);
        Assert.True(server.GetStatistics().SessionsRefused >= 1);

        // After the ban it reconnects on its own, on the same port, and carries bytes again.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.State == ClientState.Connected && server.ClientCount == 1, TimeSpan.FromSeconds(10)));
        await MoveBytesAsync(client, 50_000, seed: 3);
        Assert.Contains(server.Events.Snapshot(), e => e.Message.Contains("disconnected by the operator"));
    }

    [Fact]
    public async Task Without_credentials_the_API_reads_on_loopback_but_refuses_every_change()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, _, admin) = await StartAsync(f, echo);
        var id = server.GetClients().Single().Id;
        var r = await RawHttp.RequestAsync(admin, "DELETE", $"/api/v1/clients/{id}");
        Assert.Equal(403, r.Status);
        Assert.Contains("webServer.user", r.Body);
        Assert.Equal(1, server.ClientCount);
        Assert.Equal(405, (await RawHttp.RequestAsync(admin, "POST", "/api/v1/tunnels")).Status);
        Assert.Equal(404, (await RawHttp.RequestAsync(admin, "GET", "/api/v1/nothing")).Status);
    }

    [Fact]
    public async Task With_credentials_every_page_but_health_needs_them_and_guessing_is_throttled()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (_, _, admin) = await StartAsync(f, echo, Admin(credentials: true));
        var challenge = await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels");
        Assert.Equal(401, challenge.Status);
        Assert.StartsWith("Basic realm=\"TunnelLite\"", challenge.Headers["WWW-Authenticate"]);
        Assert.Equal(401, (await RawHttp.RequestAsync(admin, "GET", "/metrics")).Status);
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/healthz")).Status);
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/ready")).Status);
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels", RawHttp.Basic(User, Password))).Status);

        Assert.Equal(401, (await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels", RawHttp.Basic(User, "guess 1"))).Status);
        Assert.Equal(401, (await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels", RawHttp.Basic(User, "guess 2"))).Status);
        // Straight after two failures, even the right password waits: a guesser gets one try a second, then fewer.
        Assert.Equal(429, (await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels", RawHttp.Basic(User, Password))).Status);
        using var api = new AdminClient(admin.ToString(), User, "guess 2");
        var e = await Assert.ThrowsAsync<TunnelException>(() => api.GetTunnelsAsync());
        Assert.Equal(TunnelErrorCode.AdminAuthenticationFailed, e.Code);
    }

    [Fact]
    public async Task Malformed_requests_get_400_and_the_endpoint_serves_on()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, _, admin) = await StartAsync(f, echo);
        string[] bad =
        [
            "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // TLS on a plain port
            "GET /healthz\r\n\r\n",                          // no version
            "GET /healthz HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n",
            "GET /healthz HTTP/1.1\r\n\r\n",                 // HTTP/1.1 without Host
            "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n  folded\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
            "GET http://evil/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            "GET /../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            "GET /a\0b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        ];
        foreach (var request in bad)
        {
            using var http = await RawHttp.ConnectAsync(admin);
            await http.SendAsync(request);
            var r = await http.ReadAsync();
            Assert.NotNull(r);
            Assert.Equal(400, r!.Status);
            Assert.True(await http.ClosedWithinAsync(TimeSpan.FromSeconds(5)));
        }
        // A body, chunked or declared, is not taken.
        var body = await RawHttp.ConnectAsync(admin);
        await body.SendAsync("DELETE /api/v1/clients/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        Assert.Equal(413, (await body.ReadAsync())!.Status);
        body.Dispose();
        // An endless head is cut at the limit.
        using (var big = await RawHttp.ConnectAsync(admin))
        {
            await big.SendAsync("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + new string('a', 9000));
            Assert.Equal(431, (await big.ReadAsync())!.Status);
        }
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/healthz")).Status);
        Assert.Equal("Running", server.State);
        var metrics = (await RawHttp.RequestAsync(admin, "GET", "/metrics")).Body;
        Assert.Contains("reason=\"bad_request\"", metrics);
    }

    [Fact]
    public async Task A_Host_header_that_names_a_foreign_site_is_refused_against_DNS_rebinding()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var admin = Admin();
        admin.AllowedHosts.Add("tunnel.example.test");
        var (_, _, endpoint) = await StartAsync(f, echo, admin);
        Assert.Equal(421, (await RawHttp.RequestAsync(endpoint, "GET", "/api/v1/tunnels", host: "attacker.example:7500")).Status);
        Assert.Equal(421, (await RawHttp.RequestAsync(endpoint, "GET", "/", host: "127.0.0.1.attacker.example")).Status);
        Assert.Equal(200, (await RawHttp.RequestAsync(endpoint, "GET", "/api/v1/tunnels", host: "localhost:7500")).Status);
        Assert.Equal(200, (await RawHttp.RequestAsync(endpoint, "GET", "/api/v1/tunnels", host: "[::1]:7500")).Status);
        Assert.Equal(200, (await RawHttp.RequestAsync(endpoint, "GET", "/api/v1/tunnels", host: "Tunnel.Example.Test")).Status);
    }

    [Fact]
    public async Task Keep_alive_pipelining_and_HEAD_work_on_one_connection()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (_, _, admin) = await StartAsync(f, echo);
        using var http = await RawHttp.ConnectAsync(admin);
        // Two requests in one write: both are answered, in order.
        await http.SendAsync("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/v1/tunnels HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        var first = await http.ReadAsync();
        var second = await http.ReadAsync();
        Assert.Equal(200, first!.Status);
        Assert.Contains("ok", first.Body);
        Assert.Equal(200, second!.Status);
        Assert.Contains("echo", second.Body);
        Assert.Equal("keep-alive", second.Headers["Connection"]);
        await http.SendAsync("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        var head = await http.ReadAsync(headOnly: true);
        Assert.Equal(200, head!.Status);
        Assert.Equal(first.Body.Length.ToString(), head.Headers["Content-Length"]);
        Assert.Equal("", head.Body);
        await http.SendAsync("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        Assert.Equal(200, (await http.ReadAsync())!.Status);
        Assert.True(await http.ClosedWithinAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Connections_over_the_per_source_limit_are_reset_and_a_silent_one_is_closed_at_its_deadline()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var limits = new AdminLimits { MaxConnectionsPerSource = 4, RequestHeadTimeout = TimeSpan.FromSeconds(1) };
        var (server, _, admin) = await StartAsync(f, echo, Admin(limits: limits));
        var held = new List<RawHttp>();
        for (var i = 0; i < 4; i++) held.Add(await RawHttp.ConnectAsync(admin));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.Admin!.OpenConnections == 4, TimeSpan.FromSeconds(5)));
        // The fifth is reset at once: so fast that the reset may even beat the connect's completion here.
        try
        {
            using var fifth = await RawHttp.ConnectAsync(admin);
            Assert.True(await fifth.ClosedWithinAsync(TimeSpan.FromSeconds(2)));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
        // The silent ones are closed at the request deadline, freeing their places.
        foreach (var h in held) Assert.True(await h.ClosedWithinAsync(TimeSpan.FromSeconds(5)));
        foreach (var h in held) h.Dispose();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.Admin!.OpenConnections == 0, TimeSpan.FromSeconds(5)));
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/healthz")).Status);
        var reasons = server.Admin!.Refusals.ToDictionary(r => r.Key, r => r.Value);
        Assert.Equal(1, reasons["connection_limit"]);
        Assert.True(reasons["timeout"] >= 4);
    }

    [Fact]
    public async Task Over_TLS_a_pinned_client_reads_the_API_and_plain_HTTP_gets_nothing()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var options = Admin(credentials: true);
        options.Tls = true;
        var (server, client, admin) = await StartAsync(f, echo, options);
        await MoveBytesAsync(client, 10_000, seed: 4);
        var fingerprint = server.Admin!.CertificateFingerprint;
        Assert.NotNull(fingerprint);
        Assert.StartsWith("https://", server.Admin.Url);

        using var pinned = new AdminClient(admin.ToString(), User, Password, fingerprint);
        Assert.Equal(10_000, (await pinned.GetTunnelsAsync()).Single().BytesIn);

        using var unpinned = new AdminClient("https://" + admin, User, Password);
        var e = await Assert.ThrowsAsync<TunnelException>(() => unpinned.GetTunnelsAsync());
        Assert.Equal(TunnelErrorCode.AdminEndpointUnreachable, e.Code);
        Assert.Contains("-CertificateFingerprint", e.Message);

        using var plain = await RawHttp.ConnectAsync(admin);
        await plain.SendAsync("GET /api/v1/tunnels HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        Assert.Null(await plain.ReadAsync(timeoutMs: 15_000));
    }

    [Fact]
    public void Off_loopback_the_endpoint_will_not_start_without_credentials()
    {
        var open = new AdminOptions { Address = "0.0.0.0", Port = 7500 };
        var e = Assert.Throws<ArgumentException>(() => open.Validate());
        Assert.Contains("webServer.user", e.Message);
        new AdminOptions { Address = "0.0.0.0", Port = 7500, User = "ops", Password = "pw" }.Validate();
        new AdminOptions { Address = "127.0.0.1" }.Validate();
        new AdminOptions { Address = "::1" }.Validate();
        Assert.Throws<ArgumentException>(() => new AdminOptions { Address = "127.0.0.1", User = "ops" }.Validate());
        Assert.Equal(("127.0.0.1", 7500), AdminOptions.ParseEndpoint("127.0.0.1:7500"));
        Assert.Equal(("::1", 7501), AdminOptions.ParseEndpoint("[::1]:7501"));
        Assert.Equal(("0.0.0.0", 7500), AdminOptions.ParseEndpoint(":7500"));
        Assert.Throws<ArgumentException>(() => AdminOptions.ParseEndpoint("127.0.0.1"));
        Assert.Throws<ArgumentException>(() => AdminOptions.ParseEndpoint("::1:7500"));
    }

    [Fact]
    public void The_history_of_1000_tunnels_stays_under_4_MiB_and_gives_rates()
    {
        var history = new StatsHistory();
        var start = DateTimeOffset.UtcNow;
        for (var step = 0; step < StatsHistory.TunnelPoints + 10; step++)
        {
            var now = start + TimeSpan.FromSeconds(10 * step);
            var tunnels = Enumerable.Range(0, 1000).Select(i => Stats($"t{i}", bytes: step * 1000L * (i + 1), now)).ToList();
            history.Record(now, Stats("total", step * 5000L, now), tunnels);
        }
        Assert.Equal(1000, history.TunnelCount);
        Assert.True(history.EstimatedBytes < 4 * 1024 * 1024, $"{history.EstimatedBytes} bytes");
        var series = history.Series("t1")!;
        Assert.Equal(StatsHistory.TunnelPoints, series.Points.Count);
        Assert.Equal(200, series.Points[^1].BytesInPerSec); // 2,000 bytes more every 10 s
        // A tunnel that is gone is dropped at the next sample.
        history.Record(start + TimeSpan.FromHours(1), Stats("total", 0, start), new[] { Stats("t1", 0, start) });
        Assert.Equal(1, history.TunnelCount);
        Assert.Null(history.Series("t2"));
    }

    private static TunnelStats Stats(string name, long bytes, DateTimeOffset now) => new()
    {
        Name = name, Role = Statistics.TunnelRole.Server, State = "Running", BytesIn = bytes, BytesOut = bytes, Timestamp = now,
    };
}
