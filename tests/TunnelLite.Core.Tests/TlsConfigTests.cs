using TunnelLite.Config;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The transport.tls keys of frps.toml and frpc.toml, and their errors (file, line and key).</summary>
public class TlsConfigTests
{
    private static TunnelConfigException Error(Action load, string file, int line, string key)
    {
        var e = Assert.Throws<TunnelConfigException>(load);
        Assert.Equal(file, e.FilePath);
        Assert.Equal(line, e.Line);
        Assert.Equal(key, e.Key);
        Assert.StartsWith($"{file}:{line}: {key}: ", e.Message);
        return e;
    }

    private static string Toml(string path) => path.Replace("\\", "\\\\");

    [Fact]
    public void Server_keys_bind_PEM_files_relative_to_the_config_file()
    {
        using var certs = new TestCertificates();
        var file = Path.Combine(certs.Directory, "frps.toml");
        File.WriteAllText(file, """
            auth.token = "s"
            [transport.tls]
            enable = true
            certFile = "server.pem"
            keyFile = "server.key"
            """);
        ConfigTests.TempFile.MakePrivate(file); // else a warning: the file holds a token and others could read it
        var result = TunnelConfigLoader.LoadServer(file);
        var tls = result.Options.Tls;
        Assert.True(tls.Enabled);
        Assert.Equal(certs.CertFile, tls.CertificateFile);
        Assert.Equal(certs.KeyFile, tls.KeyFile);
        Assert.Null(tls.PfxFile);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void Server_keys_bind_a_PFX_file_and_its_password()
    {
        using var certs = new TestCertificates();
        var toml = $"""
            auth.token = "s"
            transport.tls.enable = true
            transport.tls.pfxFile = "{Toml(certs.PfxFile)}"
            transport.tls.pfxPassword = "{TestCertificates.PfxPassword}"
            """;
        var tls = TunnelConfigLoader.ParseServer(toml, "frps.toml").Options.Tls;
        Assert.True(tls.Enabled);
        Assert.Equal(certs.PfxFile, tls.PfxFile);
        Assert.Equal(TestCertificates.PfxPassword, tls.PfxPassword?.Reveal());
    }

    [Fact]
    public void Tls_is_off_unless_enabled()
    {
        var result = TunnelConfigLoader.ParseServer("auth.token = \"s\"\n", "frps.toml");
        Assert.False(result.Options.Tls.Enabled);
        var client = TunnelConfigLoader.ParseClient("serverAddr = \"h\"\nauth.token = \"s\"\ntransport.tls.enable = false\n", "frpc.toml");
        Assert.False(client.Options.Tls.Enabled);
        Assert.Empty(client.Warnings);
    }

    [Fact]
    public void Client_keys_bind_pin_CA_file_and_server_name()
    {
        using var certs = new TestCertificates();
        var toml = $"""
            serverAddr = "203.0.113.7"
            auth.token = "s"
            [transport.tls]
            enable = true
            serverFingerprint = "ab:cd:{string.Join(":", Enumerable.Repeat("01", 30))}"
            trustedCaFile = "{Toml(certs.CaFile)}"
            serverName = "tunnel.example.org"
            """;
        var result = TunnelConfigLoader.ParseClient(toml, "frpc.toml");
        var tls = result.Options.Tls;
        Assert.True(tls.Enabled);
        Assert.StartsWith("ab:cd:01", tls.ServerFingerprint);
        Assert.Equal(certs.CaFile, tls.TrustedCaFile);
        Assert.Equal("tunnel.example.org", tls.ServerName);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void Missing_certificate_file_is_an_error_at_its_line_naming_the_file()
    {
        var missing = Path.Combine(Path.GetTempPath(), "tunnellite-no-such-" + Guid.NewGuid().ToString("N") + ".pem");
        var toml = $"""
            auth.token = "s"
            [transport.tls]
            enable = true
            certFile = "{Toml(missing)}"
            """;
        var e = Error(() => TunnelConfigLoader.ParseServer(toml, "frps.toml"), "frps.toml", 4, "transport.tls.certFile");
        Assert.Contains(missing, e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Missing_CA_file_is_an_error_at_its_line()
    {
        var toml = """
            serverAddr = "h"
            auth.token = "s"
            transport.tls.enable = true
            transport.tls.trustedCaFile = "no-such-ca-file.pem"
            """;
        var e = Error(() => TunnelConfigLoader.ParseClient(toml, "frpc.toml"), "frpc.toml", 4, "transport.tls.trustedCaFile");
        Assert.Contains("no-such-ca-file.pem", e.Message);
    }

    [Fact]
    public void Bad_values_are_errors_at_their_lines()
    {
        using var certs = new TestCertificates();
        Error(() => TunnelConfigLoader.ParseServer("auth.token = \"s\"\ntransport.tls.enable = \"yes\"\n", "frps.toml"), "frps.toml", 2, "transport.tls.enable");
        var e = Error(() => TunnelConfigLoader.ParseClient("serverAddr = \"h\"\nauth.token = \"s\"\ntransport.tls.serverFingerprint = \"12:34\"\n", "frpc.toml"),
            "frpc.toml", 3, "transport.tls.serverFingerprint");
        Assert.Contains("64 hex digits", e.Message);
        Error(() => TunnelConfigLoader.ParseServer($"auth.token = \"s\"\ntransport.tls.keyFile = \"{Toml(certs.KeyFile)}\"\n", "frps.toml"), "frps.toml", 2, "transport.tls.keyFile");
        Error(() => TunnelConfigLoader.ParseServer(
            $"auth.token = \"s\"\ntransport.tls.certFile = \"{Toml(certs.CertFile)}\"\ntransport.tls.pfxFile = \"{Toml(certs.PfxFile)}\"\n", "frps.toml"), "frps.toml", 3, "transport.tls.pfxFile");
    }

    [Fact]
    public void Unknown_tls_keys_are_warnings()
    {
        const string toml = """
            auth.token = "s"
            [transport.tls]
            enable = true
            disableCustomTLSFirstByte = true
            """;
        var result = TunnelConfigLoader.ParseServer(toml, "frps.toml");
        Assert.True(result.Options.Tls.Enabled);
        var w = Assert.Single(result.Warnings);
        Assert.Equal(("transport.tls.disableCustomTLSFirstByte", 4), (w.Key, w.Line));
    }
}
