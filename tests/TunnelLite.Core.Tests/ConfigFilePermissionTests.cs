using TunnelLite.Config;

namespace TunnelLite.Tests;

/// <summary>A test of Unix file modes: skipped on Windows, where TunnelLite checks no permissions (NTFS ACLs).</summary>
public sealed class UnixFactAttribute : FactAttribute
{
    public UnixFactAttribute()
    {
        if (OperatingSystem.IsWindows()) Skip = "Windows has no Unix file modes, and TunnelLite does not check NTFS ACLs";
    }
}

/// <summary>The theory form of <see cref="UnixFactAttribute"/>.</summary>
public sealed class UnixTheoryAttribute : TheoryAttribute
{
    public UnixTheoryAttribute()
    {
        if (OperatingSystem.IsWindows()) Skip = "Windows has no Unix file modes, and TunnelLite does not check NTFS ACLs";
    }
}

/// <summary>On Linux and macOS, a config file that holds a secret must not be writable by others (an error) and should
/// not be readable by them (a warning). Windows is not checked (NTFS ACLs), so these tests are skipped there.</summary>
public sealed class ConfigFilePermissionTests : IDisposable
{
    private const string Secret = "Zq8wK3vN7pR2xT5m";
    private readonly string _dir = Directory.CreateTempSubdirectory("tunnellite-perm-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string toml, UnixFileMode mode)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.toml");
        File.WriteAllText(path, toml);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, mode);
        return path;
    }

    private const UnixFileMode Mode600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Mode644 = Mode600 | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Mode666 = Mode644 | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
    private const UnixFileMode Mode640 = Mode600 | UnixFileMode.GroupRead;
    private const UnixFileMode Mode620 = Mode600 | UnixFileMode.GroupWrite;

    [UnixFact]
    public void A_secret_in_a_file_others_can_write_is_an_error_naming_file_line_and_key()
    {
        var path = Write($"bindPort = 7000\nauth.token = \"{Secret}\"\n", Mode666);
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.LoadServer(path));
        Assert.Equal((path, (int?)2, "auth.token"), (e.FilePath, e.Line, e.Key));
        Assert.Equal($"{path}:2: auth.token: the file holds a secret and is writable by others (mode 0666); chmod 600 it", e.Message);

        // Group-writable is enough, and a client file the same.
        path = Write($"serverAddr = \"h\"\nauth.token = \"{Secret}\"\n", Mode620);
        e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.LoadClient(path));
        Assert.Contains("writable by others (mode 0620)", e.Message);
    }

    [UnixFact]
    public void A_secret_in_a_file_others_can_read_is_a_warning()
    {
        foreach (var mode in new[] { Mode644, Mode640 })
        {
            var path = Write($"auth.token = \"{Secret}\"\nlog.level = \"info\"\n", mode);
            var r = TunnelConfigLoader.LoadServer(path);
            Assert.Equal(Secret, r.Options.Token.Reveal());
            Assert.Equal(new[] { ("auth.token", 1), ("log.level", 2) }, r.Warnings.Select(w => (w.Key, w.Line)));
            Assert.Contains("readable by others", r.Warnings[0].Message);
            Assert.Contains("chmod 600", r.Warnings[0].Message);
            Assert.DoesNotContain(Secret, r.Warnings[0].Message);
        }
    }

    [UnixFact]
    public void A_private_file_gets_no_word()
    {
        var r = TunnelConfigLoader.LoadServer(Write($"auth.token = \"{Secret}\"\n", Mode600));
        Assert.Empty(r.Warnings);
    }

    [UnixTheory]
    [InlineData("[[clients]]\nname = \"a\"\ntoken = \"" + Secret + "\"\n", 3, "clients[0].token")]
    [InlineData("bindPort = 7000\ntransport.tls.pfxPassword = \"" + Secret + "\"\ntransport.tls.pfxFile = \"missing.pfx\"\n", 2, "transport.tls.pfxPassword")]
    public void Client_tokens_and_the_PFX_password_are_secrets_too(string toml, int line, string key)
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.LoadServer(Write(toml, Mode666), tokenFallback: "from-the-command-line"));
        Assert.Equal((line, key), (e.Line, e.Key));
        Assert.Contains("writable by others", e.Message);
    }

    [UnixFact]
    public void A_secret_from_the_environment_is_not_held_by_the_file()
    {
        var name = "TUNNELLITE_TEST_PERM_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        Environment.SetEnvironmentVariable(name, Secret);
        try
        {
            var r = TunnelConfigLoader.LoadServer(Write($"auth.token = \"{{{{ .Envs.{name} }}}}\"\n", Mode666));
            Assert.Equal(Secret, r.Options.Token.Reveal());
            Assert.Empty(r.Warnings);
            // Text written around the template is in the file, so the file holds (part of) the secret.
            var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.LoadServer(Write($"auth.token = \"x{{{{ .Envs.{name} }}}}\"\n", Mode666)));
            Assert.Contains("writable by others", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [UnixFact]
    public void A_file_without_a_secret_is_not_checked()
    {
        // The token comes from the command line.
        var r = TunnelConfigLoader.LoadServer(Write("bindPort = 7000\n", Mode666), tokenFallback: Secret);
        Assert.Empty(r.Warnings);
    }

    [Fact]
    public void Text_without_a_file_has_no_permissions_to_check()
    {
        Assert.Empty(TunnelConfigLoader.ParseServer($"auth.token = \"{Secret}\"\n", "server.toml").Warnings);
    }
}
