using TunnelLite.Config;

namespace TunnelLite.Tests;

/// <summary>frp's {{ .Envs.NAME }} templates: expanded inside string values only, after parsing, so that a variable's
/// value is the string's content and can never write TOML; an unset variable is an error naming it, file and line.</summary>
public sealed class ConfigTemplateTests : IDisposable
{
    // Unique names: the process environment is shared with tests running in parallel.
    private readonly string _prefix = "TUNNELLITE_TEST_" + Guid.NewGuid().ToString("N")[..12].ToUpperInvariant() + "_";
    private readonly List<string> _set = new();

    private string Env(string name, string? value)
    {
        var full = _prefix + name;
        Environment.SetEnvironmentVariable(full, value);
        _set.Add(full);
        return full;
    }

    public void Dispose()
    {
        foreach (var name in _set) Environment.SetEnvironmentVariable(name, null);
    }

    private static string T(string name) => "{{ .Envs." + name + " }}";

    private static ConfigLoadResult<TunnelServerOptions> Server(string toml) => TunnelConfigLoader.ParseServer(toml, "server.toml");

    [Fact]
    public void A_token_comes_from_the_environment()
    {
        var name = Env("TOKEN", "from-the-environment");
        var r = Server($"auth.token = \"{{{{ .Envs.{name} }}}}\"\n");
        Assert.Equal("from-the-environment", r.Options.Token.Reveal());
        Assert.Empty(r.Warnings);
    }

    [Theory]
    [InlineData("{{.Envs.X}}")]
    [InlineData("{{ .Envs.X }}")]
    [InlineData("{{   .Envs.X\t}}")]
    public void Spaces_inside_the_braces_are_optional(string template)
    {
        var name = Env("X", "v");
        var client = TunnelConfigLoader.ParseClient($"serverAddr = \"{template.Replace("X", name)}\"\nauth.token = \"s\"\n", "client.toml");
        Assert.Equal("v", client.Options.ServerAddress);
    }

    [Fact]
    public void Templates_expand_within_text_in_every_kind_of_string()
    {
        var host = Env("HOST", "vps");
        var token = Env("TOKEN", "t0k3n");
        var toml = $"serverAddr = 'tunnel-{T(host)}.example.net'\n" +
                   $"auth.token = \"\"\"\n{T(token)}-{T(token)}\"\"\"\n" +
                   $"[[proxies]]\nname = \"{T(host)}-ssh\"\ntype = \"tcp\"\nlocalPort = 22\n";
        var o = TunnelConfigLoader.ParseClient(toml, "client.toml").Options;
        Assert.Equal("tunnel-vps.example.net", o.ServerAddress);
        Assert.Equal("t0k3n-t0k3n", o.Token.Reveal());
        Assert.Equal("vps-ssh", o.Tunnels[0].Name);
    }

    [Fact]
    public void An_unset_variable_is_an_error_naming_it_and_the_file_line_and_key()
    {
        var name = _prefix + "UNSET";
        var e = Assert.Throws<TunnelConfigException>(() => Server($"bindPort = 7000\nauth.token = \"{{{{ .Envs.{name} }}}}\"\n"));
        Assert.Equal(("server.toml", (int?)2, "auth.token"), (e.FilePath, e.Line, e.Key));
        Assert.Equal($"server.toml:2: auth.token: the environment variable {name} is not set ({{{{ .Envs.{name} }}}})", e.Message);
    }

    [Fact]
    public void An_empty_variable_is_set_and_the_key_judges_the_empty_value()
    {
        if (OperatingSystem.IsWindows()) return; // Windows cannot hold an empty environment variable: setting one removes it.
        var name = Env("EMPTY", "");
        var e = Assert.Throws<TunnelConfigException>(() => Server($"auth.token = \"{{{{ .Envs.{name} }}}}\"\n"));
        Assert.Contains("the token is empty", e.Message);
    }

    [Fact]
    public void A_value_with_quotes_newlines_and_braces_is_content_and_writes_no_TOML()
    {
        var other = Env("OTHER", "expanded-twice");
        var evil = $"x\"\nbindPort = 1\n[transport]\nmaxPoolCount = 999\n# {{{{ .Envs.{other} }}}}\n'''\"\"\"";
        var name = Env("EVIL", evil);
        var r = Server($"auth.token = \"{{{{ .Envs.{name} }}}}\"\n");
        Assert.Equal(evil, r.Options.Token.Reveal()); // verbatim, the template inside it not expanded
        Assert.Equal(7000, r.Options.ControlPort);
        Assert.Equal(50, r.Options.MaxPoolCount);
        Assert.Empty(r.Warnings);
    }

    [Fact]
    public void Line_numbers_stay_those_of_the_file_whatever_a_value_holds()
    {
        var name = Env("LINES", "a\nb\nc\nd\ne");
        var e = Assert.Throws<TunnelConfigException>(() => Server($"auth.token = \"{{{{ .Envs.{name} }}}}\"\n\nbindPort = 70000\n"));
        Assert.Equal(3, e.Line);
        e = Assert.Throws<TunnelConfigException>(() => Server($"auth.token = \"{{{{ .Envs.{name} }}}}\"\n\"{{{{ .Envs.{name} }}}}\" = 1\n"));
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void Keys_and_comments_are_not_expanded()
    {
        var name = Env("KEY", "bindPort");
        var unset = _prefix + "UNSET";
        // A comment may mention an unset variable; a quoted key stays the text it is, so it is unknown.
        Assert.Equal("s", Server($"# auth.token = \"{{{{ .Envs.{unset} }}}}\"\nauth.token = \"s\" # {{{{ .Envs.{unset} }}}}\n").Options.Token.Reveal());
        var e = Assert.Throws<TunnelConfigException>(() => Server($"auth.token = \"s\"\n\"{{{{ .Envs.{name} }}}}\" = 7001\n"));
        Assert.Equal($"\"{{{{ .Envs.{name} }}}}\"", e.Key);
        Assert.Contains("unknown key", e.Message);
    }

    [Fact]
    public void A_bare_template_is_a_syntax_error_that_says_to_quote_it()
    {
        var name = Env("PORT", "7001");
        var e = Assert.Throws<TunnelConfigException>(() => Server($"auth.token = \"s\"\nbindPort = {{{{ .Envs.{name} }}}}\n"));
        Assert.Equal(2, e.Line);
        Assert.Contains("only inside quoted strings", e.Message);
        // Quoted where a number belongs: a string, and the message shows the template, not the value.
        e = Assert.Throws<TunnelConfigException>(() => Server($"auth.token = \"s\"\nbindPort = \"{{{{ .Envs.{name} }}}}\"\n"));
        Assert.StartsWith("server.toml:2: bindPort: expected an integer, found a string (\"{{ .Envs.TUNNELLITE_TEST_", e.Message);
        Assert.EndsWith("\", expanded from the environment)", e.Message);
    }

    [Theory]
    [InlineData("{{ .Env.X }}")]
    [InlineData("{{ .Envs.X | default \\\"y\\\" }}")]
    [InlineData("{{- .Envs.X -}}")]
    [InlineData("{{ .Envs.X }")]
    [InlineData("{ .Envs.X }}")]
    [InlineData("{{ .Envs.X")]
    public void Other_and_broken_templates_are_errors(string template)
    {
        var name = Env("X", "v");
        var e = Assert.Throws<TunnelConfigException>(() => Server($"auth.token = \"s\"\nbindAddr = \"{template.Replace("X", name)}\"\n"));
        Assert.Equal(("bindAddr", (int?)2), (e.Key, e.Line));
        Assert.Contains("template", e.Message);
    }

    [Fact]
    public void A_secret_from_the_environment_never_shows_in_a_message()
    {
        var name = Env("SECRET", "Zq8wK3vN7pR2xT5m");
        foreach (var toml in new[]
                 {
                     $"auth.token = \"{{{{ .Envs.{name} }}}}\"\n[[clients]]\nname = \"a\"\ntoken = \"{{{{ .Envs.{name} }}}}\"\n",
                     $"auth.token = \"s\"\nbindPort = \"{{{{ .Envs.{name} }}}}\"\n",
                     $"auth.token = \"s\"\nbindAddr = \"{{{{ .Envs.{name} }}}}\"\ntransport.tls.enable = 1\n",
                     $"auth = \"{{{{ .Envs.{name} }}}}\"\n",
                 })
        {
            var e = Assert.Throws<TunnelConfigException>(() => Server(toml));
            Assert.DoesNotContain("Zq8wK3", e.Message);
        }
    }
}
