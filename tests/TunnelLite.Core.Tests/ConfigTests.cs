using System.Text;
using TunnelLite.Config;
using TunnelLite.Forwarding;

namespace TunnelLite.Tests;

public class ConfigTests
{
    private static string Data(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "TestData", name);
        // Kept as an operator keeps a file with a token, readable by its owner only: others could read it (a warning).
        TempFile.MakePrivate(path);
        return path;
    }

    private static string RepoFile(string relativePath)
    {
        // The examples live at the repository root; find it from the test output directory.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TunnelLite.slnx")))
                return Path.Combine(dir.FullName, relativePath);
        throw new InvalidOperationException("repository root (TunnelLite.slnx) not found above " + AppContext.BaseDirectory);
    }

    private const string Token = "auth.token = \"secret\"\n";
    private const string ProxyHead = "serverAddr = \"example.com\"\n" + Token;

    /// <summary>Asserts an error's location and that its message starts with "file:line: key: ".</summary>
    private static TunnelConfigException AssertError(Action load, string file, int? line, string? key)
    {
        var e = Assert.Throws<TunnelConfigException>(load);
        Assert.Equal(file, e.FilePath);
        Assert.Equal(line, e.Line);
        Assert.Equal(key, e.Key);
        var prefix = file + (line is null ? "" : ":" + line) + ": " + (key is null ? "" : key + ": ");
        Assert.StartsWith(prefix, e.Message);
        return e;
    }

    private static TunnelConfigException ServerError(string toml, int? line, string? key) =>
        AssertError(() => TunnelConfigLoader.ParseServer(toml, "server.toml"), "server.toml", line, key);

    private static TunnelConfigException ClientError(string toml, int? line, string? key) =>
        AssertError(() => TunnelConfigLoader.ParseClient(toml, "client.toml"), "client.toml", line, key);

    // ---- Files that must load ----

    [Fact]
    public void FrpsSample_LoadsUnchanged()
    {
        var result = TunnelConfigLoader.LoadServer(Data("frps.toml"));
        var o = result.Options;
        Assert.Equal("0.0.0.0", o.BindAddress);
        Assert.Equal(7000, o.ControlPort);
        Assert.Equal("12345678", o.Token.Reveal());
        Assert.Equal(new[] { new PortRange(2000, 3000), new PortRange(3001, 3001), new PortRange(3003, 3003), new PortRange(4000, 50000) }, o.AllowPorts);
        Assert.Equal(5, o.MaxPoolCount);
        Assert.Equal(TimeSpan.FromSeconds(90), o.HeartbeatTimeout);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void FrpcSample_LoadsUnchanged()
    {
        var result = TunnelConfigLoader.LoadClient(Data("frpc.toml"));
        var o = result.Options;
        Assert.Equal("x.x.x.x", o.ServerAddress);
        Assert.Equal(7000, o.ServerPort);
        Assert.Equal("12345678", o.Token.Reveal());
        Assert.Equal(5, o.PoolCount);
        Assert.Equal(TimeSpan.FromSeconds(30), o.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(90), o.HeartbeatTimeout);
        Assert.Equal(
            new[]
            {
                new TunnelDefinition { Name = "ssh", LocalAddress = "127.0.0.1", LocalPort = 22, RemotePort = 6000 },
                new TunnelDefinition { Name = "rdp", LocalAddress = "192.168.1.20", LocalPort = 3389, RemotePort = 6001 },
            },
            o.Tunnels);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void ServerSample_WithTablesAndExtensions_Loads()
    {
        var result = TunnelConfigLoader.LoadServer(Data("server.toml"));
        var o = result.Options;
        Assert.Equal("::", o.BindAddress);
        Assert.Equal(7443, o.ControlPort);
        Assert.Equal("correct horse battery staple", o.Token.Reveal());
        Assert.Empty(o.AllowPorts);
        Assert.Equal(20, o.MaxPoolCount);
        Assert.Equal(TimeSpan.FromSeconds(15), o.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(45), o.HeartbeatTimeout);
        Assert.Equal(TimeSpan.FromSeconds(5), o.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(20), o.UserConnectionTimeout);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void ClientSample_WithInlineTables_Loads()
    {
        var result = TunnelConfigLoader.LoadClient(Data("client.toml"));
        var o = result.Options;
        Assert.Equal("tunnel.example.com", o.ServerAddress);
        Assert.Equal(7443, o.ServerPort);
        Assert.Equal("correct horse battery staple", o.Token.Reveal());
        Assert.Equal(2, o.PoolCount);
        Assert.Equal(TimeSpan.FromSeconds(15), o.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(45), o.HeartbeatTimeout);
        Assert.Equal(2, o.Tunnels.Count);
        Assert.Equal(new TunnelDefinition { Name = "web", LocalPort = 8080, RemotePort = 20080 }, o.Tunnels[0]);
        Assert.Equal(new TunnelDefinition { Name = "db", LocalAddress = "10.0.0.5", LocalPort = 5432, RemotePort = 0 }, o.Tunnels[1]);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void ExampleServerConfig_Loads()
    {
        // A private copy: a checkout leaves the example readable by others, which is a warning of its own.
        using var copy = new TempFile(File.ReadAllText(RepoFile(Path.Combine("examples", "server.toml"))));
        var result = TunnelConfigLoader.LoadServer(copy.Path);
        Assert.Empty(result.Warnings);
        Assert.Equal(7000, result.Options.ControlPort);
        Assert.Equal(new[] { new PortRange(20000, 20100), new PortRange(8080, 8080) }, result.Options.AllowPorts);
    }

    [Fact]
    public void ExampleClientConfig_Loads()
    {
        using var copy = new TempFile(File.ReadAllText(RepoFile(Path.Combine("examples", "client.toml"))));
        var result = TunnelConfigLoader.LoadClient(copy.Path);
        Assert.Empty(result.Warnings);
        Assert.Equal(new[] { "ssh", "web" }, result.Options.Tunnels.Select(t => t.Name));
    }

    [Theory]
    [InlineData("auth.token = \"s3\"\nauth.method = \"token\"\n")]
    [InlineData("[auth]\ntoken = \"s3\"\nmethod = \"token\"\n")]
    [InlineData("auth = { token = \"s3\", method = \"token\" }\n")]
    [InlineData("\"auth\".'token' = \"s3\"\n")]
    public void AuthToken_AnyTomlSpelling_Loads(string toml)
    {
        var result = TunnelConfigLoader.ParseServer(toml, "server.toml");
        Assert.Equal("s3", result.Options.Token.Reveal());
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void Defaults_AreKept_ForKeysNotWritten()
    {
        var o = TunnelConfigLoader.ParseClient(Token).Options;
        var d = new TunnelClientOptions();
        Assert.Equal(d.ServerAddress, o.ServerAddress);
        Assert.Equal(d.ServerPort, o.ServerPort);
        Assert.Equal(d.PoolCount, o.PoolCount);
        Assert.Equal(d.HeartbeatInterval, o.HeartbeatInterval);
        Assert.Empty(o.Tunnels);
    }

    [Fact]
    public void ClientName_names_the_account_and_must_be_printable()
    {
        Assert.Equal("alice", TunnelConfigLoader.ParseClient(Token + "clientName = \"alice\"\n").Options.ClientName);
        Assert.Null(TunnelConfigLoader.ParseClient(Token).Options.ClientName);
        ClientError(Token + "clientName = \"bad\\u202Ename\"\n", 2, "clientName");
        ClientError(Token + "clientName = \"\"\n", 2, "clientName");
    }

    [Fact]
    public void CrLfAndBom_AreAccepted()
    {
        var result = TunnelConfigLoader.ParseServer("\uFEFFbindPort = 7001\r\nauth.token = \"s\"\r\n", "server.toml");
        Assert.Equal(7001, result.Options.ControlPort);
    }

    // ---- Warnings and unknown keys (more in ConfigStrictnessTests) ----

    [Fact]
    public void HarmlessFrpKeys_AreWarnings_WithFullPathAndLine()
    {
        const string toml = """
            bindPort = 7000
            auth.token = "s"
            transport.tcpMux = true
            log.to = "./frps.log"
            log.level = "info"

            [webServer]
            port = 7500
            assetsDir = "./static"
            """;
        var result = TunnelConfigLoader.ParseServer(toml, "frps.toml");
        Assert.Equal(7000, result.Options.ControlPort);
        Assert.Equal(
            new (string, int)[] { ("transport.tcpMux", 3), ("log.to", 4), ("log.level", 5), ("webServer.assetsDir", 9) },
            result.Warnings.Select(w => (w.Key, w.Line)));
        var first = result.Warnings[0];
        Assert.Equal("frps.toml", first.FilePath);
        Assert.StartsWith("frps.toml:3: transport.tcpMux: frp key ignored: ", first.Message);
    }

    [Fact]
    public void KeysInProxy_HarmlessIsWarning_UnknownIsError_NamingTheProxyEntry()
    {
        const string proxies = """
            [[proxies]]
            name = "a"
            type = "tcp"
            localPort = 22

            [[proxies]]
            name = "b"
            type = "tcp"
            localPort = 23
            healthCheck.path = "/status"
            """;
        var result = TunnelConfigLoader.ParseClient(ProxyHead + proxies, "client.toml");
        var w = Assert.Single(result.Warnings);
        Assert.Equal("proxies[1].healthCheck.path", w.Key);
        Assert.Equal(12, w.Line);

        var e = ClientError(ProxyHead + proxies + "\nlocalAddr = \"10.0.0.1\"\n", 13, "proxies[1].localAddr");
        Assert.Contains("proxy 'b': unknown key", e.Message);
    }

    [Fact]
    public void MisCasedKey_IsError_SuggestingTheKnownKey()
    {
        var e = ServerError("BindPort = 7001\n" + Token, 1, "BindPort");
        Assert.Equal("server.toml:1: BindPort: unknown key; did you mean bindPort? (keys are case-sensitive)", e.Message);
    }

    // ---- Errors: ports ----

    [Fact]
    public void BindPort_OutOfRange_IsError()
    {
        var e = ServerError(Token + "\nbindPort = 70000\n", 3, "bindPort");
        Assert.Equal("server.toml:3: bindPort: 70000 is not a port (1-65535)", e.Message);
    }

    [Fact]
    public void ServerPort_Zero_IsError() =>
        ClientError("serverPort = 0\n" + Token, 1, "serverPort");

    [Fact]
    public void LocalPort_Zero_IsError()
    {
        var e = ClientError(ProxyHead + "[[proxies]]\nname = \"ssh\"\ntype = \"tcp\"\nlocalPort = 0\n", 6, "proxies[0].localPort");
        Assert.Contains("proxy 'ssh'", e.Message);
        Assert.Contains("0 is not a port (1-65535)", e.Message);
    }

    [Fact]
    public void RemotePort_OutOfRange_IsError() =>
        ClientError(ProxyHead + "[[proxies]]\nname = \"ssh\"\ntype = \"tcp\"\nlocalPort = 22\nremotePort = 70000\n", 7, "proxies[0].remotePort");

    // ---- Errors: token and auth ----

    [Fact]
    public void Token_Missing_IsError()
    {
        var e = ServerError("bindPort = 7000\n", null, "auth.token");
        Assert.Contains("token is required", e.Message);
    }

    [Fact]
    public void Token_MissingFromAuthTable_IsError_AtTheTable() =>
        ClientError("serverPort = 7000\n\n[auth]\nmethod = \"token\"\n", 3, "auth.token");

    [Fact]
    public void Token_Empty_IsError() =>
        ServerError("bindPort = 7000\nauth.token = \"\"\n", 2, "auth.token");

    [Fact]
    public void AuthMethod_OtherThanToken_IsError()
    {
        var e = ServerError(Token + "auth.method = \"oidc\"\n", 2, "auth.method");
        Assert.Contains("\"oidc\"", e.Message);
    }

    // ---- Errors: value types ----

    [Fact]
    public void StringWhereIntegerExpected_IsError()
    {
        var e = ServerError(Token + "bindPort = \"7000\"\n", 2, "bindPort");
        Assert.Contains("expected an integer, found a string", e.Message);
    }

    [Fact]
    public void IntegerWhereStringExpected_IsError()
    {
        var e = ServerError("auth.token = 1234\n", 1, "auth.token");
        Assert.Contains("expected a string, found an integer", e.Message);
    }

    [Fact]
    public void FloatTimeout_IsError() =>
        ServerError(Token + "transport.heartbeatTimeout = 1.5\n", 2, "transport.heartbeatTimeout");

    [Fact]
    public void ScalarWhereTableExpected_IsError() =>
        ServerError(Token + "transport = 5\n", 2, "transport");

    // ---- Errors: allowPorts ----

    [Fact]
    public void AllowPorts_EndBeforeStart_IsError_OnItsOwnLine()
    {
        const string toml = Token + """
            allowPorts = [
              { start = 2000, end = 3000 },
              { start = 5000, end = 4000 },
            ]
            """;
        var e = ServerError(toml, 4, "allowPorts[1].end");
        Assert.Contains("end 4000 is before start 5000", e.Message);
    }

    [Fact]
    public void AllowPorts_NeitherRangeNorSingle_IsError() =>
        ServerError(Token + "allowPorts = [{ single = 80 }, {}]\n", 2, "allowPorts[1]");

    [Fact]
    public void AllowPorts_StartWithoutEnd_IsError() =>
        ServerError(Token + "allowPorts = [{ start = 80 }]\n", 2, "allowPorts[0]");

    [Fact]
    public void AllowPorts_SingleAndRange_IsError() =>
        ServerError(Token + "allowPorts = [{ single = 80, start = 80, end = 90 }]\n", 2, "allowPorts[0]");

    [Fact]
    public void AllowPorts_PortOutOfRange_IsError() =>
        ServerError(Token + "allowPorts = [{ single = 0 }]\n", 2, "allowPorts[0].single");

    [Fact]
    public void AllowPorts_NotATable_IsError() =>
        ServerError(Token + "allowPorts = [\"20000-20100\"]\n", 2, "allowPorts[0]");

    // ---- Errors: proxies ----

    [Fact]
    public void ProxyType_NotTcp_IsError()
    {
        var e = ClientError(ProxyHead + "[[proxies]]\nname = \"web\"\ntype = \"http\"\nlocalPort = 80\n", 5, "proxies[0].type");
        Assert.Equal("client.toml:5: proxies[0].type: proxy 'web' has type \"http\"; TunnelLite carries only type = \"tcp\"", e.Message);
    }

    [Fact]
    public void ProxyType_Missing_IsError() =>
        ClientError(ProxyHead + "[[proxies]]\nname = \"web\"\nlocalPort = 80\n", 3, "proxies[0].type");

    [Fact]
    public void ProxyName_Missing_IsError_AtTheProxyHeader() =>
        ClientError(ProxyHead + "[[proxies]]\ntype = \"tcp\"\nlocalPort = 22\n", 3, "proxies[0].name");

    [Fact]
    public void ProxyName_Empty_IsError() =>
        ClientError(ProxyHead + "[[proxies]]\nname = \" \"\ntype = \"tcp\"\nlocalPort = 22\n", 4, "proxies[0].name");

    [Fact]
    public void ProxyLocalPort_Missing_IsError()
    {
        var e = ClientError(ProxyHead + "\n[[proxies]]\nname = \"ssh\"\ntype = \"tcp\"\n", 4, "proxies[0].localPort");
        Assert.Contains("proxy 'ssh'", e.Message);
    }

    [Fact]
    public void ProxyNames_Duplicate_IsError_AtTheSecond()
    {
        const string toml = ProxyHead + """
            [[proxies]]
            name = "ssh"
            type = "tcp"
            localPort = 22

            [[proxies]]
            name = "ssh"
            type = "tcp"
            localPort = 2222
            """;
        var e = ClientError(toml, 9, "proxies[1].name");
        Assert.Contains("already used at line 4", e.Message);
    }

    [Fact]
    public void Proxies_NotTables_IsError() =>
        ClientError(Token + "proxies = [\"ssh\"]\n", 2, "proxies[0]");

    // ---- Errors: timeouts and counts ----

    [Fact]
    public void Timeout_Negative_IsError() =>
        ServerError(Token + "[transport]\nheartbeatTimeout = -1\n", 3, "transport.heartbeatTimeout");

    [Fact]
    public void Timeout_Zero_IsError() =>
        ServerError(Token + "transport.handshakeTimeout = 0\n", 2, "transport.handshakeTimeout");

    [Fact]
    public void Timeout_Zero_IsError_ForUserConnectionTimeout() =>
        ServerError(Token + "transport.userConnectionTimeout = 0\n", 2, "transport.userConnectionTimeout");

    [Fact]
    public void Timeout_Huge_IsError() =>
        ClientError(Token + "transport.heartbeatTimeout = 99999999999\n", 2, "transport.heartbeatTimeout");

    [Fact]
    public void HeartbeatTimeout_NotLongerThanInterval_IsError_OnTheKeyWritten()
    {
        // Only the interval is written; the timeout is the default 30 s.
        var e = ClientError(Token + "transport.heartbeatInterval = 60\n", 2, "transport.heartbeatInterval");
        Assert.Contains("must be longer than", e.Message);
        ServerError(Token + "transport.heartbeatInterval = 5\ntransport.heartbeatTimeout = 5\n", 3, "transport.heartbeatTimeout");
    }

    [Fact]
    public void PoolCount_OutOfRange_IsError() =>
        ClientError(Token + "transport.poolCount = 5000\n", 2, "transport.poolCount");

    [Fact]
    public void EmptyAddress_IsError() =>
        ClientError(Token + "serverAddr = \"\"\n", 2, "serverAddr");

    // ---- Errors: TOML syntax ----

    [Fact]
    public void SyntaxError_ReportsTheParsersLine()
    {
        var e = ServerError(Token + "bindPort = 7000\nbindAddr = \n", 3, null);
        Assert.Contains("invalid TOML", e.Message);
    }

    [Fact]
    public void DuplicateKey_IsError_AtTheSecond() =>
        ServerError(Token + "bindPort = 7000\n\nbindPort = 7001\n", 4, null);

    [Fact]
    public void DeepNesting_IsError_NotACrash()
    {
        var toml = Token + "x = " + new string('[', 10_000) + new string(']', 10_000) + "\n";
        Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(toml, "server.toml"));
    }

    // ---- Errors: files ----

    [Fact]
    public void MissingFile_IsError_WithFullPath()
    {
        var path = Path.Combine("no-such-dir", "missing.toml");
        var full = Path.GetFullPath(path);
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.LoadServer(path));
        Assert.Equal(full, e.FilePath);
        Assert.Contains("not found", e.Message);
        Assert.Contains(full, e.Message);
        Assert.Null(e.Line);
        Assert.True(e.FileNotFound);
    }

    [Fact]
    public void A_file_that_exists_but_is_wrong_is_not_FileNotFound()
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer("bindPort = 70000\nauth.token = 'x'", "bad.toml"));
        Assert.False(e.FileNotFound);
    }

    [Fact]
    public void LoadedFile_ErrorsNameTheFullPath()
    {
        using var file = new TempFile(Token + "bindPort = 70000\n");
        var e = AssertError(() => TunnelConfigLoader.LoadServer(file.Path), file.Path, 2, "bindPort");
        Assert.Contains(file.Path, e.Message);
    }

    [Fact]
    public void FileOverOneMiB_IsError()
    {
        var big = new StringBuilder(Token);
        while (big.Length <= 1024 * 1024) big.Append("# padding padding padding padding padding padding padding\n");
        using var file = new TempFile(big.ToString());
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.LoadClient(file.Path));
        Assert.Contains("larger than 1024 KiB", e.Message);
        Assert.Equal(file.Path, e.FilePath);

        var e2 = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(big.ToString(), "client.toml"));
        Assert.Contains("larger than", e2.Message);
    }

    [Fact]
    public void InvalidUtf8_IsError()
    {
        using var file = new TempFile(Token);
        File.WriteAllBytes(file.Path, [.. Encoding.UTF8.GetBytes(Token), 0x23, 0xFF, 0xFE, 0x0A]);
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.LoadServer(file.Path));
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void Validate_ArgumentException_BecomesConfigError_AtTheKeysLine()
    {
        // Rules Validate() may gain later still surface in the file's terms.
        var parsed = TomlConfigDocument.Parse(Token + "transport.maxPoolCount = 7\n", "server.toml");
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ValidateOptions(
            parsed, () => throw new ArgumentException("MaxPoolCount 7 is odd.", nameof(TunnelServerOptions.MaxPoolCount)), TunnelConfigLoader.ServerKeys));
        Assert.Equal("server.toml:2: transport.maxPoolCount: MaxPoolCount 7 is odd.", e.Message);
        Assert.IsType<ArgumentException>(e.InnerException);
    }

    // ---- PortRange.Parse ----

    [Theory]
    [InlineData("8080", 8080, 8080)]
    [InlineData("20000-20100", 20000, 20100)]
    [InlineData(" 1 - 65535 ", 1, 65535)]
    [InlineData("443-443", 443, 443)]
    public void PortRange_Parse_Good(string text, int start, int end)
    {
        var r = PortRange.Parse(text);
        Assert.Equal(start, r.Start);
        Assert.Equal(end, r.End);
        Assert.Equal(end - start + 1, r.Count);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("70000")]
    [InlineData("100-50")]
    [InlineData("1-2-3")]
    [InlineData("-5")]
    [InlineData("+80")]
    [InlineData("80-")]
    public void PortRange_Parse_Bad(string text) =>
        Assert.Throws<FormatException>(() => PortRange.Parse(text));

    [Theory]
    [InlineData("31100-3119", "'31100-3119' is not a valid port range: it ends at 3119, below its start 31100. Write the lower port first")]
    [InlineData("0", "'0' is not a valid port range: 0 is not a port (1-65535).")]
    [InlineData("20000-70000", "'20000-70000' is not a valid port range: 70000 is not a port (1-65535).")]
    public void PortRange_Parse_says_what_is_wrong_without_naming_a_parameter(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => PortRange.Parse(text));
        Assert.StartsWith(expected, e.Message);
        Assert.DoesNotContain("Parameter", e.Message);
        Assert.DoesNotContain("Actual value", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void PortRange_ToString_RoundTrips()
    {
        Assert.Equal("8080", PortRange.Parse("8080").ToString());
        Assert.Equal("20000-20100", PortRange.Parse("20000-20100").ToString());
    }

    /// <summary>A file with a token, readable and writable by its owner only (mode 600), as TunnelLite asks.</summary>
    internal sealed class TempFile : IDisposable
    {
        public TempFile(string contents)
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"tunnellite-config-{Guid.NewGuid():N}.toml");
            File.WriteAllText(Path, contents);
            MakePrivate(Path);
        }

        public string Path { get; }

        public static void MakePrivate(string path)
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        public void Dispose() => File.Delete(Path);
    }
}

public sealed class ConfigTokenFallbackTests
{
    [Fact]
    public void A_token_from_the_command_line_stands_in_for_a_missing_auth_token()
    {
        var server = TunnelLite.Config.TunnelConfigLoader.ParseServer("bindPort = 7100\n", "s.toml", tokenFallback: "from-cli");
        Assert.Equal("from-cli", server.Options.Token.Reveal());
        var client = TunnelLite.Config.TunnelConfigLoader.ParseClient("serverAddr = \"h\"\n[[proxies]]\nname = \"a\"\ntype = \"tcp\"\nlocalPort = 22\n", "c.toml", tokenFallback: "from-cli");
        Assert.Equal("from-cli", client.Options.Token.Reveal());
        // Without a fallback the missing token is still an error naming the key.
        var e = Assert.Throws<TunnelLite.Config.TunnelConfigException>(() => TunnelLite.Config.TunnelConfigLoader.ParseServer("bindPort = 7100\n", "s.toml"));
        Assert.Equal("auth.token", e.Key);
    }
}

/// <summary>The three ways to choose the forwarding mode: config key, options (cmdlet parameter), environment variable.</summary>
public class ForwardingModeSelectionTests
{
    [Theory]
    [InlineData("auto", TunnelLite.Forwarding.ForwardingMode.Auto)]
    [InlineData("Copy", TunnelLite.Forwarding.ForwardingMode.Copy)]
    [InlineData("SPLICE", TunnelLite.Forwarding.ForwardingMode.Splice)]
    public void ConfigKey_SetsTheMode_OnBothEnds(string text, TunnelLite.Forwarding.ForwardingMode expected)
    {
        var server = TunnelConfigLoader.ParseServer($"auth.token = \"s\"\n[transport]\nforwardingMode = \"{text}\"\n", "server.toml");
        Assert.Equal(expected, server.Options.ForwardingMode);
        Assert.Empty(server.Warnings);
        var client = TunnelConfigLoader.ParseClient(
            $"serverAddr = \"127.0.0.1\"\nauth.token = \"s\"\ntransport.forwardingMode = \"{text}\"\n[[proxies]]\nname = \"a\"\ntype = \"tcp\"\nlocalPort = 22\n", "client.toml");
        Assert.Equal(expected, client.Options.ForwardingMode);
    }

    [Theory]
    [InlineData("\"zerocopy\"")]
    [InlineData("\"1\"")]
    [InlineData("2")]
    [InlineData("\"copy, splice\"")]
    public void ConfigKey_RejectsWhatIsNotAMode_WithFileAndLine(string value)
    {
        var e = Assert.Throws<TunnelConfigException>(() =>
            TunnelConfigLoader.ParseServer($"auth.token = \"s\"\n[transport]\nforwardingMode = {value}\n", "server.toml"));
        Assert.Equal(3, e.Line);
        Assert.Contains("forwardingMode", e.Message);
    }

    [Fact]
    public void ConfigKey_Absent_LeavesAuto()
    {
        Assert.Equal(TunnelLite.Forwarding.ForwardingMode.Auto, TunnelConfigLoader.ParseServer("auth.token = \"s\"\n", "s.toml").Options.ForwardingMode);
    }

    [Theory]
    [InlineData(TunnelLite.Forwarding.ForwardingMode.Auto, null, TunnelLite.Forwarding.ForwardingMode.Auto)]
    [InlineData(TunnelLite.Forwarding.ForwardingMode.Auto, "copy", TunnelLite.Forwarding.ForwardingMode.Copy)]
    [InlineData(TunnelLite.Forwarding.ForwardingMode.Auto, " Splice ", TunnelLite.Forwarding.ForwardingMode.Splice)]
    [InlineData(TunnelLite.Forwarding.ForwardingMode.Auto, "nonsense", TunnelLite.Forwarding.ForwardingMode.Auto)]
    [InlineData(TunnelLite.Forwarding.ForwardingMode.Auto, "1", TunnelLite.Forwarding.ForwardingMode.Auto)]
    [InlineData(TunnelLite.Forwarding.ForwardingMode.Copy, "splice", TunnelLite.Forwarding.ForwardingMode.Copy)]
    [InlineData(TunnelLite.Forwarding.ForwardingMode.Splice, "copy", TunnelLite.Forwarding.ForwardingMode.Splice)]
    public void EnvironmentVariable_AppliesOnlyWhereNothingWasAsked(TunnelLite.Forwarding.ForwardingMode asked, string? env, TunnelLite.Forwarding.ForwardingMode expected)
    {
        Assert.Equal(expected, TunnelLite.Forwarding.PumpSelector.Resolve(asked, env));
    }

    [Fact]
    public void Copy_SelectsTheBufferedPump_AndSpliceTheSplicePumpOnLinux()
    {
        Assert.Same(TunnelLite.Forwarding.BufferedPump.Instance, TunnelLite.Forwarding.PumpSelector.For(TunnelLite.Forwarding.ForwardingMode.Copy));
        var splice = TunnelLite.Forwarding.PumpSelector.For(TunnelLite.Forwarding.ForwardingMode.Splice);
        Assert.Equal(OperatingSystem.IsLinux() ? TunnelLite.Forwarding.ForwardingMode.Splice : TunnelLite.Forwarding.ForwardingMode.Copy, splice.Mode);
    }
}

/// <summary>The ways to choose the data plane and its event loops: config keys, options (cmdlet parameters), environment
/// variable; and what each choice resolves to on Linux and elsewhere.</summary>
public class DataPlaneSelectionTests
{
    private const string Server = "auth.token = \"s\"\n[transport]\n";
    private const string Proxy = "[[proxies]]\nname = \"a\"\ntype = \"tcp\"\nlocalPort = 22\n";

    private static TunnelServerOptions ParseServer(string transportLines) =>
        TunnelConfigLoader.ParseServer(Server + transportLines, "server.toml").Options;

    private static TunnelClientOptions ParseClient(string transportLines) =>
        TunnelConfigLoader.ParseClient($"serverAddr = \"127.0.0.1\"\nauth.token = \"s\"\n{Proxy}[transport]\n{transportLines}", "client.toml").Options;

    [Theory]
    [InlineData("auto", DataPlaneKind.Auto)]
    [InlineData("eventloops", DataPlaneKind.EventLoops)]
    [InlineData("EventLoops", DataPlaneKind.EventLoops)]
    [InlineData("ASYNC", DataPlaneKind.Async)]
    public void DataPlane_key_sets_the_plane_on_both_ends_in_any_case(string text, DataPlaneKind expected)
    {
        var server = TunnelConfigLoader.ParseServer($"{Server}dataPlane = \"{text}\"\n", "server.toml");
        Assert.Equal(expected, server.Options.DataPlane);
        Assert.Empty(server.Warnings);
        // Dotted at the top, as a client file may write it.
        var client = TunnelConfigLoader.ParseClient(
            $"serverAddr = \"127.0.0.1\"\nauth.token = \"s\"\ntransport.dataPlane = \"{text}\"\n{Proxy}", "client.toml");
        Assert.Equal(expected, client.Options.DataPlane);
        Assert.Empty(client.Warnings);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(PumpSelector.MaxEventLoops)]
    public void EventLoops_key_takes_0_to_the_maximum_on_both_ends(int loops)
    {
        Assert.Equal(loops, ParseServer($"eventLoops = {loops}\n").EventLoops);
        Assert.Equal(loops, ParseClient($"eventLoops = {loops}\n").EventLoops);
    }

    [Fact]
    public void Both_keys_together_and_next_to_the_forwarding_mode()
    {
        var o = ParseServer("forwardingMode = \"copy\"\ndataPlane = \"async\"\neventLoops = 2\n");
        Assert.Equal((ForwardingMode.Copy, DataPlaneKind.Async, 2), (o.ForwardingMode, o.DataPlane, o.EventLoops));
        var c = ParseClient("dataPlane = \"eventloops\"\neventLoops = 1\n");
        Assert.Equal((DataPlaneKind.EventLoops, 1), (c.DataPlane, c.EventLoops));
    }

    [Fact]
    public void Absent_keys_leave_Auto_and_one_loop_per_core()
    {
        var server = TunnelConfigLoader.ParseServer("auth.token = \"s\"\n", "s.toml").Options;
        Assert.Equal((DataPlaneKind.Auto, 0), (server.DataPlane, server.EventLoops));
        var client = TunnelConfigLoader.ParseClient($"serverAddr = \"127.0.0.1\"\nauth.token = \"s\"\n{Proxy}", "c.toml").Options;
        Assert.Equal((DataPlaneKind.Auto, 0), (client.DataPlane, client.EventLoops));
    }

    // A number would be taken by Enum.TryParse ("2" is Async), and a list ORed into one member ("auto, async" is Async):
    // neither is a name a reader of the file could look up.
    [Theory]
    [InlineData("\"epoll\"")]
    [InlineData("\"event-loops\"")]
    [InlineData("\"2\"")]
    [InlineData("\"auto, async\"")]
    public void DataPlane_key_refuses_what_is_not_a_plane_naming_key_line_and_the_choices(string value)
    {
        foreach (var e in new[]
        {
            Assert.Throws<TunnelConfigException>(() => ParseServer($"dataPlane = {value}\n")),
            Assert.Throws<TunnelConfigException>(() => ParseClient($"dataPlane = {value}\n")),
        })
        {
            Assert.Equal("transport.dataPlane", e.Key);
            Assert.Contains("is not a data plane; use \"auto\", \"eventloops\" or \"async\"", e.Message);
        }
        Assert.Equal(3, Assert.Throws<TunnelConfigException>(() => ParseServer($"dataPlane = {value}\n")).Line);
    }

    [Theory]
    [InlineData("2", "expected a string")]
    [InlineData("\"\"", "must not be empty")]
    [InlineData("true", "expected a string")]
    public void DataPlane_key_refuses_a_value_that_is_not_a_name(string value, string message)
    {
        var e = Assert.Throws<TunnelConfigException>(() => ParseServer($"dataPlane = {value}\n"));
        Assert.Equal("transport.dataPlane", e.Key);
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("-1", "between 0 and 256")]
    [InlineData("257", "between 0 and 256")]
    [InlineData("100000000000", "between 0 and 256")]
    [InlineData("\"4\"", "expected an integer")]
    [InlineData("1.5", "expected an integer")]
    public void EventLoops_key_refuses_what_is_not_a_count_in_range(string value, string message)
    {
        foreach (var e in new[]
        {
            Assert.Throws<TunnelConfigException>(() => ParseServer($"eventLoops = {value}\n")),
            Assert.Throws<TunnelConfigException>(() => ParseClient($"eventLoops = {value}\n")),
        })
        {
            Assert.Equal("transport.eventLoops", e.Key);
            Assert.Contains(message, e.Message);
        }
    }

    [Fact]
    public void A_misspelled_key_is_an_error_that_suggests_the_real_one()
    {
        var e = Assert.Throws<TunnelConfigException>(() => ParseServer("dataplane = \"async\"\n"));
        Assert.Contains("did you mean transport.dataPlane?", e.Message);
        e = Assert.Throws<TunnelConfigException>(() => ParseClient("eventLoop = 2\n"));
        Assert.Contains("did you mean transport.eventLoops?", e.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(PumpSelector.MaxEventLoops + 1)]
    public void Options_refuse_an_event_loop_count_out_of_range(int loops)
    {
        var server = Valid.Server();
        server.EventLoops = loops;
        Assert.Equal(nameof(TunnelServerOptions.EventLoops), Assert.Throws<ArgumentException>(server.Validate).ParamName);
        var client = Valid.Client();
        client.EventLoops = loops;
        Assert.Equal(nameof(TunnelClientOptions.EventLoops), Assert.Throws<ArgumentException>(client.Validate).ParamName);
    }

    [Fact]
    public void Options_refuse_a_plane_that_is_not_one()
    {
        var server = Valid.Server();
        server.DataPlane = (DataPlaneKind)7;
        Assert.Equal(nameof(TunnelServerOptions.DataPlane), Assert.Throws<ArgumentException>(server.Validate).ParamName);
        var client = Valid.Client();
        client.DataPlane = (DataPlaneKind)7;
        Assert.Equal(nameof(TunnelClientOptions.DataPlane), Assert.Throws<ArgumentException>(client.Validate).ParamName);
    }

    [Theory]
    // Auto: event loops on Linux, the async plane elsewhere.
    [InlineData(DataPlaneKind.Auto, null, true, DataPlaneKind.EventLoops)]
    [InlineData(DataPlaneKind.Auto, null, false, DataPlaneKind.Async)]
    [InlineData(DataPlaneKind.Auto, "", true, DataPlaneKind.EventLoops)]
    [InlineData(DataPlaneKind.Auto, "  ", true, DataPlaneKind.EventLoops)]
    // The variable decides where nothing was asked, in any case and with spaces around.
    [InlineData(DataPlaneKind.Auto, "async", true, DataPlaneKind.Async)]
    [InlineData(DataPlaneKind.Auto, " Async ", true, DataPlaneKind.Async)]
    [InlineData(DataPlaneKind.Auto, "EVENTLOOPS", true, DataPlaneKind.EventLoops)]
    [InlineData(DataPlaneKind.Auto, "auto", true, DataPlaneKind.EventLoops)]
    [InlineData(DataPlaneKind.Auto, "auto", false, DataPlaneKind.Async)]
    // What is not a plane's name is ignored, numbers too ("2" would be Async).
    [InlineData(DataPlaneKind.Auto, "epoll", true, DataPlaneKind.EventLoops)]
    [InlineData(DataPlaneKind.Auto, "2", true, DataPlaneKind.EventLoops)]
    // Nor a list, which Enum.TryParse would OR into a member ("auto, async" would be Async).
    [InlineData(DataPlaneKind.Auto, "auto, async", true, DataPlaneKind.EventLoops)]
    // An explicit choice wins over the variable.
    [InlineData(DataPlaneKind.EventLoops, "async", true, DataPlaneKind.EventLoops)]
    [InlineData(DataPlaneKind.Async, "eventloops", true, DataPlaneKind.Async)]
    [InlineData(DataPlaneKind.Async, null, true, DataPlaneKind.Async)]
    // Not Linux: the async plane, whatever was asked or set.
    [InlineData(DataPlaneKind.EventLoops, null, false, DataPlaneKind.Async)]
    [InlineData(DataPlaneKind.Auto, "eventloops", false, DataPlaneKind.Async)]
    [InlineData(DataPlaneKind.Async, null, false, DataPlaneKind.Async)]
    public void ResolvePlane_explicit_beats_the_variable_beats_the_platform_default(DataPlaneKind asked, string? env, bool linux, DataPlaneKind expected)
    {
        Assert.Equal(expected, PumpSelector.ResolvePlane(asked, env, linux));
    }

    [Fact]
    public void ResolvePlane_reads_the_variable_named_in_the_docs()
    {
        Assert.Equal("TUNNELLITE_DATA_PLANE", PumpSelector.DataPlaneEnvironmentVariable);
        // Never Auto: the stats show what runs.
        Assert.NotEqual(DataPlaneKind.Auto, PumpSelector.ResolvePlane(DataPlaneKind.Auto));
        Assert.Equal(DataPlaneKind.Async, PumpSelector.ResolvePlane(DataPlaneKind.Async));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(7, 7)]
    [InlineData(PumpSelector.MaxEventLoops, PumpSelector.MaxEventLoops)]
    [InlineData(PumpSelector.MaxEventLoops + 1, PumpSelector.MaxEventLoops)]
    [InlineData(int.MaxValue, PumpSelector.MaxEventLoops)]
    public void ResolveEventLoops_takes_a_count_as_given_up_to_the_maximum(int asked, int expected)
    {
        Assert.Equal(expected, PumpSelector.ResolveEventLoops(asked));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void ResolveEventLoops_without_a_count_runs_one_loop_per_core(int asked)
    {
        Assert.Equal(Math.Clamp(Environment.ProcessorCount, 1, PumpSelector.MaxEventLoops), PumpSelector.ResolveEventLoops(asked));
    }

    /// <summary>Valid options to break one setting of.</summary>
    private static class Valid
    {
        public static TunnelServerOptions Server() => new() { Token = "s" };

        public static TunnelClientOptions Client() => new() { ServerAddress = "127.0.0.1", ServerPort = 7000, Token = "s" };
    }
}

/// <summary>[[clients]] and the limit keys of a server config.</summary>
public class ServerClientsConfigTests
{
    private static TunnelConfigException Error(string toml) =>
        Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(toml, "server.toml"));

    [Fact]
    public void Clients_load_with_their_ports_and_quota_and_make_the_shared_token_optional()
    {
        var toml = """
            [[clients]]
            name = "alice"
            token = "a-secret"
            allowPorts = [{ start = 20000, end = 20009 }, { single = 8080 }]
            maxTunnels = 3

            [[clients]]
            name = "bob"
            token = "b-secret"

            [transport]
            maxConnectionsPerTunnel = 100
            maxTunnelsPerClient = 16
            maxPendingHandshakes = 64
            maxPendingUserConnections = 500
            authFailureDelay = 2
            """;
        var r = TunnelConfigLoader.ParseServer(toml, "server.toml");
        Assert.Empty(r.Warnings);
        var o = r.Options;
        Assert.Equal("", o.Token.Reveal());
        Assert.Equal(2, o.Clients.Count);
        Assert.Equal("alice", o.Clients[0].Name);
        Assert.Equal(new[] { new PortRange(20000, 20009), new PortRange(8080, 8080) }, o.Clients[0].AllowPorts);
        Assert.Equal(3, o.Clients[0].MaxTunnels);
        Assert.Empty(o.Clients[1].AllowPorts);
        Assert.Equal(0, o.Clients[1].MaxTunnels);
        Assert.Equal(100, o.MaxConnectionsPerTunnel);
        Assert.Equal(16, o.MaxTunnelsPerClient);
        Assert.Equal(64, o.MaxPendingHandshakes);
        Assert.Equal(500, o.MaxPendingUserConnections);
        Assert.Equal(TimeSpan.FromSeconds(2), o.AuthFailureDelay);
        new Server.TunnelServer(o); // valid as a whole
    }

    [Fact]
    public void Without_clients_the_shared_token_is_still_required()
    {
        Assert.Contains("token", Error("bindPort = 7000\n").Message);
    }

    [Fact]
    public void A_client_without_a_token_is_an_error_naming_its_line()
    {
        var e = Error("[[clients]]\nname = \"alice\"\n");
        Assert.Equal(1, e.Line);
        Assert.Contains("alice", e.Message);
    }

    [Fact]
    public void Duplicate_names_and_tokens_are_errors_at_their_lines()
    {
        var e = Error("[[clients]]\nname = \"a\"\ntoken = \"x\"\n[[clients]]\nname = \"a\"\ntoken = \"y\"\n");
        Assert.Equal(5, e.Line);
        Assert.Contains("twice", e.Message);
        e = Error("auth.token = \"x\"\n[[clients]]\nname = \"a\"\ntoken = \"x\"\n");
        Assert.Equal(4, e.Line);
        Assert.Contains("auth.token", e.Message);
        e = Error("[[clients]]\nname = \"a\"\ntoken = \"x\"\n[[clients]]\nname = \"b\"\ntoken = \"x\"\n");
        Assert.Equal(6, e.Line);
        Assert.Contains("another client", e.Message);
    }

    [Fact]
    public void Unknown_keys_in_a_client_are_errors_naming_it_with_a_suggestion()
    {
        var e = Error("[[clients]]\nname = \"a\"\ntoken = \"x\"\ncolour = \"red\"\nmaxTunnel = 2\n");
        Assert.Equal(4, e.Line);
        Assert.Equal("clients[0].colour", e.Key);
        Assert.Contains("unknown key", e.Message);
        Assert.Contains("and 1 more: clients[0].maxTunnel (line 5)", e.Message);
        e = Error("[[clients]]\nname = \"a\"\ntoken = \"x\"\nmaxTunnel = 2\n");
        Assert.EndsWith("clients[0].maxTunnel: unknown key; did you mean clients[0].maxTunnels?", e.Message);
    }
}
