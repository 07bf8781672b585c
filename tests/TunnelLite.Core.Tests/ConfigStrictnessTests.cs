using TunnelLite.Config;

namespace TunnelLite.Tests;

/// <summary>Strict configuration: unknown keys and frp keys that guard something are errors naming file, line and key
/// (with the nearest known key); frp's harmless keys are warnings (the list is FrpKeys).</summary>
public class ConfigStrictnessTests
{
    private const string Token = "auth.token = \"s\"\n";
    private const string ClientHead = "serverAddr = \"h\"\n" + Token;
    private const string Proxy = "[[proxies]]\nname = \"p\"\ntype = \"tcp\"\nlocalPort = 22\n";

    private static TunnelConfigException ServerError(string toml, int line, string key)
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(toml, "server.toml"));
        Assert.Equal(("server.toml", (int?)line, key), (e.FilePath, e.Line, e.Key));
        Assert.StartsWith($"server.toml:{line}: {key}: ", e.Message);
        return e;
    }

    private static TunnelConfigException ClientError(string toml, int line, string key)
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(toml, "client.toml"));
        Assert.Equal(("client.toml", (int?)line, key), (e.FilePath, e.Line, e.Key));
        Assert.StartsWith($"client.toml:{line}: {key}: ", e.Message);
        return e;
    }

    // ---- Typos of keys that matter ----

    [Fact]
    public void AllowPort_IsError_SuggestingAllowPorts()
    {
        // Ignored, it would leave the server accepting any port.
        var e = ServerError(Token + "allowPort = [{ start = 20000, end = 20100 }]\n", 2, "allowPort");
        Assert.Equal("server.toml:2: allowPort: unknown key; did you mean allowPorts?", e.Message);
    }

    [Fact]
    public void Bindport_IsError_SuggestingBindPort_WhateverTheCase()
    {
        // Ignored, it would leave the server on 0.0.0.0:7000.
        var e = ServerError(Token + "bindport = 7443\n", 2, "bindport");
        Assert.Equal("server.toml:2: bindport: unknown key; did you mean bindPort? (keys are case-sensitive)", e.Message);
        e = ServerError(Token + "BINDPROT = 7443\n", 2, "BINDPROT");
        Assert.Contains("did you mean bindPort?", e.Message);
    }

    [Theory]
    [InlineData("transport.maxPoolCont = 5\n", 2, "transport.maxPoolCount")]
    [InlineData("[transport]\nheartbeatTimout = 90\n", 3, "transport.heartbeatTimeout")]
    [InlineData("[transprot]\nmaxPoolCount = 5\n", 2, "transport")]
    [InlineData("auth.metod = \"token\"\n", 2, "auth.method")]
    [InlineData("transport.tls.enabled = true\n", 2, "transport.tls.enable")]
    public void Misspelled_server_keys_suggest_the_known_key(string line, int at, string suggested)
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(Token + line, "server.toml"));
        Assert.Equal(at, e.Line);
        Assert.EndsWith($"unknown key; did you mean {suggested}?", e.Message);
    }

    [Fact]
    public void A_key_written_in_the_wrong_table_suggests_where_it_belongs()
    {
        var e = ClientError(ClientHead + "poolCount = 8\n[transport]\nheartbeatInterval = 10\n", 3, "poolCount");
        Assert.EndsWith("did you mean transport.poolCount?", e.Message);
    }

    [Fact]
    public void A_far_fetched_key_gets_no_suggestion()
    {
        var e = ServerError(Token + "colour = \"red\"\n", 2, "colour");
        Assert.Equal("server.toml:2: colour: unknown key", e.Message);
    }

    [Fact]
    public void Unknown_keys_in_a_proxy_are_errors_naming_the_proxy()
    {
        var e = ClientError(ClientHead + Proxy + "remotPort = 6000\n", 7, "proxies[0].remotPort");
        Assert.Equal("client.toml:7: proxies[0].remotPort: proxy 'p': unknown key; did you mean proxies[0].remotePort?", e.Message);
    }

    [Fact]
    public void A_missing_key_points_at_its_misspelling()
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer("auth.tokn = \"s\"\n", "server.toml"));
        Assert.Equal("auth.token", e.Key);
        Assert.Contains("(line 1 has auth.tokn: did you mean token?)", e.Message);
        e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer("[[clients]]\nname = \"a\"\ntokn = \"x\"\n", "server.toml"));
        Assert.Contains("(line 3 has clients[0].tokn: did you mean token?)", e.Message);
    }

    [Fact]
    public void The_first_error_names_how_many_more_there_are()
    {
        var e = ServerError(Token + "allowPort = []\ncolour = 1\nproxyBindAddr = \"127.0.0.1\"\n", 2, "allowPort");
        Assert.EndsWith("(and 2 more: colour (line 3), proxyBindAddr (line 4))", e.Message);
    }

    // ---- frp's keys: harmless ones warn, the ones that guard something are refused ----

    [Fact]
    public void Harmless_frp_keys_of_both_files_are_warnings_that_say_why()
    {
        const string server = Token + """
            kcpBindPort = 7000
            detailedErrorsToClient = true
            udpPacketSize = 1500
            natholeAnalysisDataReserveHours = 168
            auth.additionalScopes = ["HeartBeats", "NewWorkConns"]
            transport.tcpMuxKeepaliveInterval = 30
            webServer.pprofEnable = true
            log.maxDays = 3

            [sshTunnelGateway]
            bindPort = 2200
            """;
        var r = TunnelConfigLoader.ParseServer(server, "server.toml");
        Assert.Equal(
            ["kcpBindPort", "detailedErrorsToClient", "udpPacketSize", "natholeAnalysisDataReserveHours",
             "auth.additionalScopes", "transport.tcpMuxKeepaliveInterval", "webServer.pprofEnable", "log.maxDays", "sshTunnelGateway.bindPort"],
            r.Warnings.Select(w => w.Key));
        Assert.All(r.Warnings, w => Assert.Contains(": frp key ignored: ", w.Message));
        Assert.Contains(r.Warnings, w => w.Message.EndsWith("log.maxDays: frp key ignored: TunnelLite writes its events to the job's streams (Receive-Job), not to a log file", StringComparison.Ordinal));
        Assert.DoesNotContain(r.Warnings, w => w.Message.Contains("admin", StringComparison.Ordinal));

        const string client = ClientHead + """
            user = "me"
            loginFailExit = false
            includes = ["./confd/*.toml"]
            metadatas.var1 = "abc"
            transport.tls.disableCustomTLSFirstByte = true
            [[proxies]]
            name = "p"
            type = "tcp"
            localPort = 22
            transport.useCompression = true
            healthCheck.path = "/"
            metadatas.var1 = "abc"
            [proxies.annotations]
            key1 = "value1"
            """;
        var c = TunnelConfigLoader.ParseClient(client, "client.toml");
        Assert.Equal(
            ["user", "loginFailExit", "includes", "metadatas.var1", "transport.tls.disableCustomTLSFirstByte",
             "proxies[0].transport.useCompression",
             "proxies[0].healthCheck.path", "proxies[0].metadatas.var1", "proxies[0].annotations.key1"],
            c.Warnings.Select(w => w.Key));
        Assert.Single(c.Options.Tunnels);
    }

    [Theory]
    [InlineData("allowedClientIPs = [\"127.0.0.1\"]\n", "allowedClientIPs", "firewall")]
    [InlineData("proxyBindAddr = \"127.0.0.1\"\n", "proxyBindAddr", "bindAddr")]
    [InlineData("auth.oidc.issuer = \"https://issuer\"\n", "auth.oidc.issuer", "only with a token")]
    [InlineData("auth.tokenSource.type = \"file\"\n", "auth.tokenSource.type", "{{ .Envs.NAME }}")]
    [InlineData("transport.tls.trustedCaFile = \"ca.crt\"\n", "transport.tls.trustedCaFile", "client certificates")]
    [InlineData("[[httpPlugins]]\nname = \"user-manager\"\n", "httpPlugins", "plugins")]
    [InlineData("[[proxies]]\nname = \"p\"\n", "proxies", "client's file")]
    public void Server_frp_keys_that_guard_something_are_errors(string toml, string key, string reason)
    {
        var e = ServerError(Token + toml, 2, key);
        Assert.Contains($"{key}: frp key not supported: ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("start = [\"ssh\"]\n", "start", "expose")]
    [InlineData("transport.proxyURL = \"socks5://127.0.0.1:1080\"\n", "transport.proxyURL", "bypass")]
    [InlineData("transport.connectServerLocalIP = \"10.8.0.2\"\n", "transport.connectServerLocalIP", "VPN")]
    [InlineData("transport.tls.certFile = \"client.crt\"\n", "transport.tls.certFile", "mutual TLS")]
    [InlineData("transport.tls.force = true\n", "transport.tls.force", "transport.tls.enable")]
    [InlineData("[[visitors]]\nname = \"v\"\n", "visitors", "no visitors")]
    [InlineData("[[clients]]\nname = \"c\"\n", "clients", "server's file")]
    public void Client_frp_keys_that_guard_something_are_errors(string toml, string key, string reason)
    {
        var e = ClientError(ClientHead + toml, 3, key);
        Assert.Contains($"{key}: frp key not supported: ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Proxy_frp_keys_that_guard_something_are_errors()
    {
        var e = ClientError(ClientHead + Proxy + "[proxies.plugin]\ntype = \"socks5\"\n", 8, "proxies[0].plugin.type");
        Assert.Contains("no client plugins", e.Message);
    }

    /// <summary>Every entry of the harmless list is a warning in at least one role, and is never read: a key a binder
    /// reads in both roles would make the entry dead, and one it reads in neither must not be an error.</summary>
    [Fact]
    public void Every_harmless_frp_key_is_a_warning_in_some_role()
    {
        foreach (var entry in FrpKeys.Harmless)
        {
            var path = Concrete(entry.Pattern);
            var outcomes = Roles(path);
            Assert.True(outcomes.Any(o => o.Warning), $"{entry.Pattern}: warned in no role ({string.Join("; ", outcomes.Select(o => o.Text))})");
            Assert.DoesNotContain(outcomes, o => o.Text.Contains("frp key not supported", StringComparison.Ordinal) || o.Text.Contains("unknown key", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Every_refused_frp_key_is_an_error_in_some_role()
    {
        foreach (var entry in FrpKeys.Refused)
        {
            var outcomes = Roles(Concrete(entry.Pattern));
            Assert.True(outcomes.Any(o => o.Text.Contains("frp key not supported: " + entry.Reason, StringComparison.Ordinal)),
                $"{entry.Pattern}: refused in no role ({string.Join("; ", outcomes.Select(o => o.Text))})");
        }
    }

    [Fact]
    public void The_help_lists_every_ignored_and_refused_frp_key()
    {
        string? root = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null && root is null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TunnelLite.slnx"))) root = dir.FullName;
        var help = File.ReadAllText(Path.Combine(root!, "docs", "about_TunnelLite.md"));
        foreach (var entry in FrpKeys.Harmless.Concat(FrpKeys.Refused))
        {
            // The help lists a proxy's keys under [[proxies]] entries, without the prefix.
            var written = entry.Pattern.StartsWith("proxies.", StringComparison.Ordinal) ? entry.Pattern["proxies.".Length..] : entry.Pattern;
            Assert.True(help.Contains(written, StringComparison.Ordinal), $"docs/about_TunnelLite.md does not name {written}");
        }
    }

    private static string Concrete(string pattern) => pattern.EndsWith(".*", StringComparison.Ordinal) ? pattern[..^2] + ".x" : pattern;

    /// <summary>Loads <paramref name="path"/> = "x" as a client key (inside a proxy for proxies.*) and as a server key.</summary>
    private static List<(bool Warning, string Text)> Roles(string path)
    {
        var outcomes = new List<(bool, string)>();
        var inProxy = path.StartsWith("proxies.", StringComparison.Ordinal);
        var line = $"{(inProxy ? path["proxies.".Length..] : path)} = \"x\"\n";
        var loads = new List<Func<IReadOnlyList<ConfigWarning>>>
        {
            () => TunnelConfigLoader.ParseClient(ClientHead + (inProxy ? Proxy : "") + line, "client.toml").Warnings,
        };
        // Servers have no proxies.
        if (!inProxy) loads.Add(() => TunnelConfigLoader.ParseServer(Token + line, "server.toml").Warnings);
        foreach (var load in loads)
        {
            try
            {
                var warnings = load();
                outcomes.Add((warnings.Any(w => w.Key.Replace("[0]", "", StringComparison.Ordinal) == path), string.Join(" | ", warnings.Select(w => w.Message))));
            }
            catch (TunnelConfigException e)
            {
                outcomes.Add((false, e.Message));
            }
        }
        return outcomes;
    }
}
