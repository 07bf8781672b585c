using TunnelLite.Config;

namespace TunnelLite.Tests;

/// <summary>No configuration error or warning shows a secret (auth.token, a [[clients]] token, their previous tokens, transport.tls.pfxPassword,
/// webServer.password): such messages end up in consoles, job streams and bug reports.</summary>
public class ConfigSecretTests
{
    private const string Secret = "kQzVxwN7pR2xT5mJ";
    private const string Digits = "8472913650";

    // Each file is broken (or merely warned about) on purpose, with the secret where a secret goes.
    public static TheoryData<string, string> ServerFiles => new()
    {
        { "unquoted token", $"auth.token = {Secret}\n" },
        { "unquoted token with a space", $"auth.token = {Secret} {Secret}\n" },
        { "unterminated string", $"auth.token = \"{Secret}\n" },
        { "text after the string", $"auth.token = \"{Secret}\" x\n" },
        { "comma after the string", $"auth.token = \"{Secret}\",\n" },
        { "text after a multi-line string", $"auth.token = \"\"\"{Secret}\"\"\"x\n" },
        { "bad escape", $"auth.token = \"{Secret}\\q\"\n" },
        { "key written twice", $"auth.token = \"{Secret}\"\nauth.token = \"{Secret}\"\n" },
        { "table written twice", $"[auth]\ntoken = \"{Secret}\"\n[auth]\nmethod = \"token\"\n" },
        { "inline table extended", $"auth = {{ token = \"{Secret}\" }}\nauth.method = \"token\"\n" },
        { "token below a token", $"auth.token = \"{Secret}\"\nauth.token.x = 1\n" },
        { "integer token", $"auth.token = {Digits}\n" },
        { "float token", $"auth.token = {Digits}.5\n" },
        { "token as an array", $"auth.token = [\"{Secret}\"]\n" },
        { "token as a table", $"auth.token = {{ value = \"{Secret}\" }}\n" },
        { "auth as a string", $"auth = \"{Secret}\"\n" },
        { "auth as an integer", $"auth = {Digits}\n" },
        { "client token as an integer", $"[[clients]]\nname = \"a\"\ntoken = {Digits}\n" },
        { "client token shared with auth.token", $"auth.token = \"{Secret}\"\n[[clients]]\nname = \"a\"\ntoken = \"{Secret}\"\n" },
        { "client tokens twice", $"[[clients]]\nname = \"a\"\ntoken = \"{Secret}\"\n[[clients]]\nname = \"b\"\ntoken = \"{Secret}\"\n" },
        { "clients as strings", $"clients = [\"{Secret}\"]\n" },
        { "previous token as an integer", $"auth.token = \"x\"\nauth.previousToken = {Digits}\nauth.previousTokenExpires = 2099-01-01T00:00:00Z\n" },
        { "previous token without expiry", $"auth.token = \"x\"\nauth.previousToken = \"{Secret}\"\n" },
        { "previous token the same as the token", $"auth.token = \"{Secret}\"\nauth.previousToken = \"{Secret}\"\nauth.previousTokenExpires = 2099-01-01T00:00:00Z\n" },
        { "previous token already expired", $"auth.token = \"x\"\nauth.previousToken = \"{Secret}\"\nauth.previousTokenExpires = 2000-01-01T00:00:00Z\n" },
        { "client previous token shared with another client", $"[[clients]]\nname = \"a\"\ntoken = \"{Secret}\"\n[[clients]]\nname = \"b\"\ntoken = \"y\"\npreviousToken = \"{Secret}\"\npreviousTokenExpires = 2099-01-01T00:00:00Z\n" },
        { "client previous token with a local time", $"[[clients]]\nname = \"a\"\ntoken = \"x\"\npreviousToken = \"{Secret}\"\npreviousTokenExpires = 2099-01-01T00:00:00\n" },
        { "misspelled previous token", $"auth.token = \"x\"\nauth.previousTokn = \"{Secret}\"\n" },
        { "pfxPassword as an integer", $"auth.token = \"x\"\ntransport.tls.pfxPassword = {Digits}\n" },
        { "pfxPassword without pfxFile", $"auth.token = \"x\"\ntransport.tls.pfxPassword = \"{Secret}\"\n" },
        { "empty method next to the token", $"auth.token = \"{Secret}\"\nauth.method = \"\"\n" },
        { "misspelled token", $"auth.tokn = \"{Secret}\"\n" },
        { "unknown key next to the token", $"auth.token = \"{Secret}\"\nallowPort = []\n" },
        { "unknown key holding the secret", $"auth.token = \"x\"\nauth.secret = \"{Secret}\"\n" },
        { "admin password without a user", $"auth.token = \"x\"\nwebServer.port = 7500\nwebServer.password = \"{Secret}\"\n" },
        { "admin password without a port", $"auth.token = \"x\"\nwebServer.password = \"{Secret}\"\n" },
        { "admin password as an integer", $"auth.token = \"x\"\nwebServer.port = 7500\nwebServer.user = \"ops\"\nwebServer.password = {Digits}\n" },
        { "admin password as an array", $"auth.token = \"x\"\nwebServer.port = 7500\nwebServer.user = \"ops\"\nwebServer.password = [\"{Secret}\"]\n" },
        { "admin password and an unknown key", $"auth.token = \"x\"\nwebServer.port = 7500\nwebServer.user = \"ops\"\nwebServer.password = \"{Secret}\"\nwebServer.pasword = \"{Secret}\"\n" },
    };

    public static TheoryData<string, string> ClientFiles => new()
    {
        { "unquoted token", $"serverAddr = \"h\"\nauth.token = {Secret}\n" },
        { "integer token", $"serverAddr = \"h\"\nauth.token = {Digits}\n" },
        { "key written twice", $"serverAddr = \"h\"\n[auth]\ntoken = \"{Secret}\"\ntoken = \"{Secret}\"\n" },
        { "auth as a string", $"serverAddr = \"h\"\nauth = \"{Secret}\"\n" },
        { "admin password without a user", $"serverAddr = \"h\"\nauth.token = \"x\"\nwebServer.port = 7400\nwebServer.password = \"{Secret}\"\n" },
        { "admin password as an integer", $"serverAddr = \"h\"\nauth.token = \"x\"\nwebServer.port = 7400\nwebServer.password = {Digits}\n" },
    };

    [Theory]
    [MemberData(nameof(ServerFiles))]
    public void Server_messages_never_show_the_secret(string why, string toml) =>
        AssertNoSecret(why, () => TunnelConfigLoader.ParseServer(toml, "server.toml").Warnings);

    [Theory]
    [MemberData(nameof(ClientFiles))]
    public void Client_messages_never_show_the_secret(string why, string toml) =>
        AssertNoSecret(why, () => TunnelConfigLoader.ParseClient(toml, "client.toml").Warnings);

    [Fact]
    public void A_secret_of_the_wrong_type_is_described_by_type_and_length()
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer($"auth.token = {Digits}\n", "server.toml"));
        Assert.Equal("server.toml:1: auth.token: expected a string, found an integer of 10 digits (not shown: a secret)", e.Message);
        e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer($"auth = \"{Secret}\"\n", "server.toml"));
        Assert.Equal("server.toml:1: auth: expected a table, found a string of 16 characters (not shown: a secret)", e.Message);
    }

    [Fact]
    public void A_key_written_twice_is_named_with_the_line_of_its_first_definition()
    {
        var e = Assert.Throws<TunnelConfigException>(() =>
            TunnelConfigLoader.ParseServer($"bindPort = 7000\nauth.token = \"{Secret}\"\nauth.token = \"{Secret}\"\n", "server.toml"));
        Assert.Equal("server.toml:3: invalid TOML: the key auth.token is already defined at line 2", e.Message);
    }

    /// <summary>Loads; whatever it throws or warns, no message (nor inner message) may hold the secret or a part of it.</summary>
    private static void AssertNoSecret(string why, Func<IReadOnlyList<ConfigWarning>> load)
    {
        var messages = new List<string>();
        try
        {
            messages.AddRange(load().Select(w => w.Message));
        }
        catch (TunnelConfigException e)
        {
            for (Exception? x = e; x is not null; x = x.InnerException) messages.Add(x.Message);
        }
        foreach (var m in messages)
        {
            foreach (var part in Parts(Secret).Concat(Parts(Digits)))
                Assert.False(m.Contains(part, StringComparison.Ordinal), $"{why}: the message shows '{part}': {m}");
        }
    }

    // Every 6-character piece: a message that shows part of a secret shows too much.
    private static IEnumerable<string> Parts(string secret) => Enumerable.Range(0, secret.Length - 5).Select(i => secret.Substring(i, 6));
}
