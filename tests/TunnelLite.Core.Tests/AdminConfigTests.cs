using System.Net;
using System.Net.Sockets;
using TunnelLite.Admin;
using TunnelLite.Config;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The admin endpoint's keys in both files (frp's webServer.* and enablePrometheus, TunnelLite's
/// webServer.allowedHosts and webServer.tls.enable): what they bind, their errors at file, line and key, and a file that
/// really starts an endpoint.</summary>
public sealed class AdminConfigTests
{
    private const string Token = "auth.token = \"s\"\n";
    private const string ClientHead = "serverAddr = \"h\"\n" + Token;

    private static AdminOptions Server(string toml) => TunnelConfigLoader.ParseServer(Token + toml, "server.toml").Options.Admin;

    private static AdminOptions Client(string toml) => TunnelConfigLoader.ParseClient(ClientHead + toml, "client.toml").Options.Admin;

    private static TunnelConfigException ServerError(string toml, int line, string key)
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + toml, "server.toml"));
        Assert.Equal((key, (int?)line), (e.Key, e.Line));
        Assert.StartsWith($"server.toml:{line}: {key}: ", e.Message);
        return e;
    }

    private const string Full = """
        [webServer]
        addr = "0.0.0.0"
        port = 7500
        user = "ops"
        password = "admin password"
        allowedHosts = ["dash.example.net", "vps"]
        """;

    [Fact]
    public void Both_files_bind_the_webServer_keys()
    {
        foreach (var admin in new[] { Server(Full), Client(Full) })
        {
            Assert.True(admin.Enabled);
            Assert.Equal(("0.0.0.0", 7500), (admin.Address, admin.Port));
            Assert.Equal("ops", admin.User);
            Assert.Equal("admin password", admin.Password.Reveal());
            Assert.Equal(["dash.example.net", "vps"], admin.AllowedHosts);
            Assert.True(admin.Metrics);
            Assert.True(admin.UsesTls); // off loopback
        }
        Assert.Empty(TunnelConfigLoader.ParseServer(Token + Full, "server.toml").Warnings);
    }

    [Fact]
    public void The_port_turns_the_endpoint_on_on_loopback_and_0_or_nothing_keeps_it_off()
    {
        var on = Server("webServer.port = 7501\n");
        Assert.Equal(("127.0.0.1", 7501), (on.Address, on.Port));
        Assert.False(on.UsesTls);
        Assert.False(on.HasCredentials);
        Assert.False(Server("webServer.port = 0\nwebServer.addr = \"0.0.0.0\"\n").Enabled);
        Assert.False(Server("").Enabled);
        Assert.False(Client("").Enabled);
    }

    [Fact]
    public void Other_webServer_keys_without_a_port_are_an_error_saying_how_to_turn_it_on()
    {
        var e = ServerError("[webServer]\naddr = \"127.0.0.1\"\n", 2, "webServer.port");
        Assert.Contains("add webServer.port = 7500", e.Message);
    }

    [Fact]
    public void Off_loopback_without_user_and_password_is_refused_at_the_address_naming_the_keys()
    {
        var e = ServerError("[webServer]\naddr = \"0.0.0.0\"\nport = 7500\n", 3, "webServer.addr");
        Assert.Contains("set webServer.user and webServer.password", e.Message);
        Assert.DoesNotContain("(Parameter", e.Message);
        var c = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(ClientHead + "webServer.addr = \"::\"\nwebServer.port = 7400\n", "client.toml"));
        Assert.Equal(("webServer.addr", (int?)3), (c.Key, c.Line));
    }

    [Theory]
    [InlineData("webServer.port = 7500\nwebServer.user = \"ops\"\n", 3, "webServer.user")]
    [InlineData("webServer.port = 7500\nwebServer.password = \"pw\"\n", 3, "webServer.password")]
    [InlineData("webServer.port = 7500\nwebServer.user = \"ops\"\nwebServer.password = \"\"\n", 3, "webServer.user")]
    public void A_user_without_a_password_or_the_reverse_is_an_error_at_the_key_written(string toml, int line, string key)
    {
        var e = ServerError(toml, line, key);
        Assert.Contains("needs both a user and a password", e.Message);
    }

    [Theory]
    [InlineData("webServer.port = 65536\n", "65536 is not a port (0-65535)")]
    [InlineData("webServer.port = -1\n", "is not a port")]
    [InlineData("webServer.port = \"7500\"\n", "expected an integer")]
    public void A_port_out_of_range_is_an_error(string toml, string message) =>
        Assert.Contains(message, ServerError(toml, 2, "webServer.port").Message);

    [Fact]
    public void A_user_with_a_colon_is_an_error_at_its_line() =>
        ServerError("webServer.port = 7500\nwebServer.user = \"a:b\"\nwebServer.password = \"pw\"\n", 3, "webServer.user");

    [Fact]
    public void EnablePrometheus_false_turns_metrics_off_in_either_file()
    {
        Assert.False(Server("enablePrometheus = false\nwebServer.port = 7500\n").Metrics);
        Assert.True(Server("enablePrometheus = true\nwebServer.port = 7500\n").Metrics);
        Assert.False(Client("enablePrometheus = false\n").Metrics);
        ServerError("enablePrometheus = \"yes\"\n", 2, "enablePrometheus");
    }

    [Theory]
    [InlineData("[\"*.example.net\"]", "is not a host name")]
    [InlineData("[\"dash.example.net:7500\"]", "is not a host name")]
    [InlineData("[7500]", "expected a host name")]
    public void Allowed_hosts_must_be_host_names(string value, string message)
    {
        var e = Assert.Throws<TunnelConfigException>(() => Server($"webServer.port = 7500\nwebServer.allowedHosts = {value}\n"));
        Assert.Equal(("webServer.allowedHosts[0]", (int?)3), (e.Key, e.Line));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void The_password_comes_from_the_environment_and_is_a_secret_of_the_file()
    {
        var name = "TUNNELLITE_TEST_ADMIN_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        Environment.SetEnvironmentVariable(name, "from the environment");
        try
        {
            var admin = Server($"[webServer]\nport = 7500\nuser = \"ops\"\npassword = \"{{{{ .Envs.{name} }}}}\"\n");
            Assert.Equal("from the environment", admin.Password.Reveal());
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
        if (OperatingSystem.IsWindows()) return;
        // Written in a file others may read: warned about like a token (the token here comes from the command line).
        using var file = new ConfigTests.TempFile("webServer.port = 7500\nwebServer.user = \"ops\"\nwebServer.password = \"pw\"\n");
        File.SetUnixFileMode(file.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var warning = Assert.Single(TunnelConfigLoader.LoadServer(file.Path, tokenFallback: "from-cli").Warnings);
        Assert.Equal(("webServer.password", 3), (warning.Key, warning.Line));
        Assert.Contains("readable by others", warning.Message);
    }

    [Fact]
    public void Tls_keys_bind_a_PEM_pair_relative_to_the_file_and_contradictions_are_errors()
    {
        using var certs = new TestCertificates();
        var file = Path.Combine(certs.Directory, "frps.toml");
        File.WriteAllText(file, Token + "[webServer]\nport = 7500\n[webServer.tls]\ncertFile = \"server.pem\"\nkeyFile = \"server.key\"\n");
        ConfigTests.TempFile.MakePrivate(file);
        var admin = TunnelConfigLoader.LoadServer(file).Options.Admin;
        Assert.Equal((certs.CertFile, certs.KeyFile), (admin.CertificateFile, admin.KeyFile));
        Assert.True(admin.UsesTls);

        Assert.True(Server("webServer.port = 7500\nwebServer.tls.enable = true\n").UsesTls);
        ServerError($"webServer.port = 7500\nwebServer.tls.keyFile = \"{certs.KeyFile.Replace("\\", "\\\\")}\"\n", 3, "webServer.tls.keyFile");
        ServerError($"webServer.port = 7500\nwebServer.tls.certFile = \"{certs.CertFile.Replace("\\", "\\\\")}\"\nwebServer.tls.enable = false\n", 4, "webServer.tls.enable");
        Assert.Contains("cannot read", ServerError("webServer.port = 7500\nwebServer.tls.certFile = \"no-such.pem\"\n", 3, "webServer.tls.certFile").Message);
        var open = ServerError("[webServer]\naddr = \"0.0.0.0\"\nport = 7500\nuser = \"ops\"\npassword = \"pw\"\ntls.enable = false\n", 7, "webServer.tls.enable");
        Assert.Contains("always uses TLS", open.Message);
    }

    [Fact]
    public void The_frp_keys_TunnelLite_cannot_honour_are_refused_or_warned_about()
    {
        var refused = ServerError("webServer.port = 7500\nwebServer.tls.trustedCaFile = \"ca.pem\"\n", 3, "webServer.tls.trustedCaFile");
        Assert.Contains("certificate signed by this CA", refused.Message);
        var warning = Assert.Single(TunnelConfigLoader.ParseClient(ClientHead + "webServer.port = 7400\nwebServer.pprofEnable = true\n", "client.toml").Warnings);
        Assert.Equal("webServer.pprofEnable", warning.Key);
        var typo = ServerError("webServer.port = 7500\nwebServer.usr = \"ops\"\n", 3, "webServer.usr");
        Assert.Contains("did you mean webServer.user?", typo.Message);
    }

    [Fact]
    public async Task A_server_file_with_webServer_keys_starts_an_endpoint_that_answers_with_its_credentials()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var options = TunnelConfigLoader.ParseServer($"""
            bindAddr = "127.0.0.1"
            bindPort = 7000
            auth.token = "{TunnelFixture.Token}"
            enablePrometheus = false

            [webServer]
            addr = "127.0.0.1"
            port = {LoopbackPort.Free()}
            user = "ops"
            password = "admin password"
            """, "server.toml").Options;
        options.ControlPort = 0;
        options.LoggerFactory = TunnelFixture.Log;
        var server = await f.StartServerAsync(options);
        var clientOptions = TunnelFixture.ClientOptions(server);
        clientOptions.Tunnels.Add(new TunnelDefinition { Name = "echo", LocalPort = echo.Port });
        var client = await f.StartClientAsync(clientOptions);
        using (var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort))
        {
            var (sent, received, _) = await Transfer.EchoRoundTripAsync(user, 20_000, seed: 7);
            Assert.Equal(sent, received);
        }
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Single().BytesIn == 20_000, TimeSpan.FromSeconds(5)));

        var admin = server.Admin!.Endpoint!;
        Assert.Equal(options.Admin.Port, admin.Port);
        var login = RawHttp.Basic("ops", "admin password");
        Assert.Equal(200, (await RawHttp.RequestAsync(admin, "GET", "/healthz")).Status);
        Assert.Equal(401, (await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels")).Status);
        var tunnels = await RawHttp.RequestAsync(admin, "GET", "/api/v1/tunnels", login);
        Assert.Equal(200, tunnels.Status);
        Assert.Contains("\"BytesIn\":20000", tunnels.Body);
        // enablePrometheus = false: the one page this file turned off.
        var metrics = await RawHttp.RequestAsync(admin, "GET", "/metrics", login);
        Assert.Equal(404, metrics.Status);
        Assert.Contains("enablePrometheus", metrics.Body);
    }

    [Fact]
    public async Task A_certificate_file_is_what_the_endpoint_presents()
    {
        await using var f = new TunnelFixture();
        using var certs = new TestCertificates();
        var options = TunnelFixture.ServerOptions();
        options.Admin = TunnelConfigLoader.ParseServer($"""
            auth.token = "s"
            webServer.port = {LoopbackPort.Free()}
            webServer.user = "ops"
            webServer.password = "pw"
            webServer.tls.certFile = "{certs.CertFile.Replace("\\", "\\\\")}"
            webServer.tls.keyFile = "{certs.KeyFile.Replace("\\", "\\\\")}"
            """, "server.toml").Options.Admin;
        var server = await f.StartServerAsync(options);
        Assert.Equal(certs.LeafFingerprint, server.Admin!.CertificateFingerprint);
        Assert.StartsWith("https://127.0.0.1:", server.Admin.Url);
        using var api = new AdminClient(server.Admin.Endpoint!.ToString(), "ops", "pw", certs.LeafFingerprint);
        Assert.Equal(0, (await api.GetSummaryAsync()).Clients);
    }

    [Fact]
    public async Task A_client_file_with_webServer_keys_starts_the_clients_endpoint()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var options = TunnelConfigLoader.ParseClient($"""
            serverAddr = "127.0.0.1"
            serverPort = {server.ControlEndpoint!.Port}
            auth.token = "{TunnelFixture.Token}"
            webServer.port = {LoopbackPort.Free()}

            [[proxies]]
            name = "web"
            type = "tcp"
            localPort = {echo.Port}
            """, "client.toml").Options;
        options.LoggerFactory = TunnelFixture.Log;
        var client = await f.StartClientAsync(options);
        var ready = await RawHttp.RequestAsync(client.Admin!.Endpoint!, "GET", "/ready?tunnel=web");
        Assert.Equal(200, ready.Status);
    }
}
