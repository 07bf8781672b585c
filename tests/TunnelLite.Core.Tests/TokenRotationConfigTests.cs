using TunnelLite.Config;

namespace TunnelLite.Tests;

/// <summary>The rotation keys of a server file: previousToken and previousTokenExpires beside auth.token and each
/// [[clients]] token. Errors name the file, line and key, never a token.</summary>
public sealed class TokenRotationConfigTests
{
    private const string Current = "current-kQzVxwN7pR2xT5mJ";
    private const string Previous = "previous-Hc8LwZ4bN6yQ1sDf";
    private const string Other = "other-Tg5VmK9pX2rW7nBc";

    private static TunnelConfigException Error(string toml, int line, string key)
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseServer(toml, "server.toml"));
        Assert.Equal(line, e.Line);
        Assert.Equal(key, e.Key);
        foreach (var token in new[] { Current, Previous, Other })
            Assert.DoesNotContain(token[^10..], e.Message, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public void An_account_and_the_shared_token_take_a_previous_token_with_an_RFC_3339_expiry_as_a_TOML_time_or_a_string()
    {
        var toml = $"""
            [auth]
            token = "{Current}"
            previousToken = "{Previous}"
            previousTokenExpires = 2099-12-31T00:00:00Z

            [[clients]]
            name = "alice"
            token = "{Other}"
            previousToken = "{Other}-old"
            previousTokenExpires = "2099-06-30T12:30:00.5+02:00"

            [[clients]]
            name = "bob"
            token = "{Other}-bob"
            """;
        var result = TunnelConfigLoader.ParseServer(toml, "server.toml");
        var o = result.Options;
        Assert.Empty(result.Warnings);
        Assert.True(o.PreviousToken.SameAs(Previous));
        Assert.Equal(new DateTimeOffset(2099, 12, 31, 0, 0, 0, TimeSpan.Zero), o.PreviousTokenExpires);
        Assert.True(o.Clients[0].PreviousToken.SameAs(Other + "-old"));
        Assert.Equal(new DateTimeOffset(2099, 6, 30, 10, 30, 0, 500, TimeSpan.Zero), o.Clients[0].PreviousTokenExpires);
        Assert.True(o.Clients[1].PreviousToken.IsEmpty);
        Assert.Null(o.Clients[1].PreviousTokenExpires);
    }

    [Theory]
    [InlineData("2026-12-31T00:00:00Z", "2026-12-31T00:00:00Z")]
    [InlineData("2026-12-31t01:00:00+01:00", "2026-12-31T00:00:00Z")]
    [InlineData("2026-12-31 00:00:00z", "2026-12-31T00:00:00Z")]
    [InlineData("2026-12-30T19:00:00.123456789-05:00", "2026-12-31T00:00:00Z")]
    public void RFC_3339_strings_parse_to_their_moment(string text, string utc)
    {
        var time = TokenRotationKeys.Parse(text);
        Assert.NotNull(time);
        Assert.Equal(utc, TokenRotationKeys.Show(time.Value));
    }

    [Theory]
    [InlineData("previousTokenExpires = 2026-12-31T00:00:00", "has no offset")]
    [InlineData("previousTokenExpires = 2026-12-31", "has no offset")]
    [InlineData("previousTokenExpires = \"2026-12-31T00:00:00\"", "is not an RFC 3339 time")]
    [InlineData("previousTokenExpires = \"2026-12-31\"", "is not an RFC 3339 time")]
    [InlineData("previousTokenExpires = \"2026-13-31T00:00:00Z\"", "is not an RFC 3339 time")]
    [InlineData("previousTokenExpires = \"next friday\"", "is not an RFC 3339 time")]
    [InlineData("previousTokenExpires = 1798675200", "expected an RFC 3339 time")]
    public void An_expiry_that_is_not_an_RFC_3339_time_with_an_offset_is_an_error(string line, string phrase)
    {
        var e = Error($"[[clients]]\nname = \"alice\"\ntoken = \"{Current}\"\npreviousToken = \"{Previous}\"\n{line}\n", 5, "clients[0].previousTokenExpires");
        Assert.Contains(phrase, e.Message, StringComparison.Ordinal);
        Assert.Contains("2026-12-31T00:00:00Z", e.Message, StringComparison.Ordinal); // the example of what to write
    }

    [Fact]
    public void A_previous_token_needs_its_expiry_and_an_expiry_its_previous_token()
    {
        Assert.Contains("needs previousTokenExpires", Error($"auth.token = \"{Current}\"\nauth.previousToken = \"{Previous}\"\n", 2, "auth.previousToken").Message);
        Assert.Contains("no previousToken", Error($"auth.token = \"{Current}\"\nauth.previousTokenExpires = 2099-01-01T00:00:00Z\n", 2, "auth.previousTokenExpires").Message);
        Assert.Contains("needs previousTokenExpires",
            Error($"[[clients]]\nname = \"alice\"\ntoken = \"{Current}\"\npreviousToken = \"{Previous}\"\n", 4, "clients[0].previousToken").Message);
        Assert.Contains("must not be empty",
            Error($"[[clients]]\nname = \"alice\"\ntoken = \"{Current}\"\npreviousToken = \"\"\npreviousTokenExpires = 2099-01-01T00:00:00Z\n", 4, "clients[0].previousToken").Message);
    }

    [Fact]
    public void Every_token_current_and_previous_must_be_unique_and_the_error_names_the_keys()
    {
        const string Expires = "previousTokenExpires = 2099-01-01T00:00:00Z\n";
        Assert.Contains("the same as auth.token",
            Error($"[auth]\ntoken = \"{Current}\"\npreviousToken = \"{Current}\"\n{Expires}", 3, "auth.previousToken").Message);
        Assert.Contains("the same token as auth.previousToken",
            Error($"[auth]\ntoken = \"{Current}\"\npreviousToken = \"{Previous}\"\n{Expires}[[clients]]\nname = \"alice\"\ntoken = \"{Previous}\"\n", 7, "clients[0].token").Message);
        Assert.Contains("the same as its own token (clients[0].token)",
            Error($"[[clients]]\nname = \"alice\"\ntoken = \"{Current}\"\npreviousToken = \"{Current}\"\n{Expires}", 4, "clients[0].previousToken").Message);
        Assert.Contains("the same as another client (clients[0].previousToken)",
            Error($"[[clients]]\nname = \"alice\"\ntoken = \"{Current}\"\npreviousToken = \"{Previous}\"\n{Expires}[[clients]]\nname = \"bob\"\ntoken = \"{Other}\"\npreviousToken = \"{Previous}\"\n{Expires}",
                9, "clients[1].previousToken").Message);
        Assert.Contains("the same as auth.token",
            Error($"auth.token = \"{Current}\"\n[[clients]]\nname = \"alice\"\ntoken = \"{Other}\"\npreviousToken = \"{Current}\"\n{Expires}", 5, "clients[0].previousToken").Message);
    }

    [Fact]
    public void An_expiry_already_past_loads_with_a_warning_and_the_token_is_treated_as_expired()
    {
        var result = TunnelConfigLoader.ParseServer(
            $"[[clients]]\nname = \"alice\"\ntoken = \"{Current}\"\npreviousToken = \"{Previous}\"\npreviousTokenExpires = 2020-01-01T00:00:00Z\n", "server.toml");
        var warning = Assert.Single(result.Warnings);
        Assert.Equal(5, warning.Line);
        Assert.Equal("clients[0].previousTokenExpires", warning.Key);
        Assert.Contains("expired at 2020-01-01T00:00:00Z", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Previous[^10..], warning.Message, StringComparison.Ordinal);
        Assert.Equal(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), result.Options.Clients[0].PreviousTokenExpires);
    }

    [Fact]
    public void A_previous_token_is_a_secret_for_the_file_permission_check_and_in_messages()
    {
        Assert.True(SecretKeys.HoldsSecret("auth.previousToken"));
        Assert.True(SecretKeys.HoldsSecret("clients.previousToken"));
        var e = Error($"[[clients]]\nname = \"alice\"\ntoken = \"{Current}\"\npreviousToken = 12345678901\n", 4, "clients[0].previousToken");
        Assert.Contains("an integer of 11 digits (not shown: a secret)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_client_file_knows_no_previous_token()
    {
        var e = Assert.Throws<TunnelConfigException>(() => TunnelConfigLoader.ParseClient(
            $"serverAddr = \"h\"\nauth.token = \"{Current}\"\nauth.previousToken = \"{Previous}\"\n", "client.toml"));
        Assert.Equal("auth.previousToken", e.Key);
        Assert.DoesNotContain(Previous[^10..], e.Message, StringComparison.Ordinal);
    }
}
