using System.Security.Cryptography;
using TunnelLite.Config;
using TunnelLite.Security;

namespace TunnelLite.Tests;

/// <summary>TokenStrength: which tokens are weak, that its reasons never show the token, and that the tokens it makes are strong.</summary>
public sealed class TokenStrengthTests
{
    private const string Base64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    // Seeded, so that a rare random token that happens to look patterned cannot make a test flaky.
    private static string RandomToken(Random random, string alphabet, int length) =>
        new(Enumerable.Range(0, length).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());

    private static string RepoFile(string relativePath)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TunnelLite.slnx")))
                return Path.Combine(dir.FullName, relativePath);
        throw new InvalidOperationException("repository root (TunnelLite.slnx) not found above " + AppContext.BaseDirectory);
    }

    [Theory]
    [InlineData("change-me")]
    [InlineData("CHANGEME")]
    [InlineData("Change_Me")]
    [InlineData("secret")]
    [InlineData("Password")]
    [InlineData("token")]
    [InlineData("test")]
    [InlineData("admin")]
    [InlineData("12345678")]
    [InlineData("change-me-to-a-long-random-secret")]
    [InlineData("change-me-please-to-something-much-longer-and-random")]
    [InlineData("correct horse battery staple")]
    [InlineData(" secret ")]
    public void Well_known_example_values_are_weak(string token)
    {
        var a = TokenStrength.Assess(token);
        Assert.True(a.IsWeak);
        Assert.Equal(0, a.EstimatedBits);
        Assert.Equal("it is a well-known example value", a.Reason);
    }

    [Theory]
    [InlineData("examples/server.toml")]
    [InlineData("examples/client.toml")]
    public void The_tokens_of_the_examples_are_known_to_be_examples(string file)
    {
        var path = RepoFile(file);
        var token = file.EndsWith("server.toml", StringComparison.Ordinal)
            ? TunnelConfigLoader.LoadServer(path).Options.Token
            : TunnelConfigLoader.LoadClient(path).Options.Token;
        Assert.Equal("it is a well-known example value", TokenStrength.Assess(token.Reveal()).Reason);
    }

    [Fact]
    public void The_token_of_the_readme_is_known_to_be_an_example()
    {
        var readme = File.ReadAllLines(RepoFile("README.md"));
        var tokens = readme.SelectMany(l => System.Text.RegularExpressions.Regex.Matches(l, "auth\\.token = \"([^\"]*)\"").Select(m => m.Groups[1].Value))
            .Where(t => !t.StartsWith("{{", StringComparison.Ordinal)) // a template, which takes the token from the environment
            .ToList();
        Assert.NotEmpty(tokens);
        Assert.All(tokens, t => Assert.Equal("it is a well-known example value", TokenStrength.Assess(t).Reason));
    }

    [Theory]
    [InlineData("")]
    [InlineData("x")]
    [InlineData("hunter2")]
    [InlineData("s3cr3t-T0ken")]
    [InlineData("0123456789abcdef0123456789abcde")] // 31 hex digits: 124 bits
    [InlineData("Zq3xV9tR2mP8kL5w")]                  // 16 base64 characters: 96 bits
    public void Short_tokens_are_weak(string token)
    {
        var a = TokenStrength.Assess(token);
        Assert.True(a.IsWeak);
        Assert.True(a.EstimatedBits < TokenStrength.MinimumBits);
        Assert.NotNull(a.Reason);
    }

    [Theory]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc")]
    [InlineData("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz")]
    [InlineData("0987654321098765432109876543210987654321")]
    [InlineData("Passw0rd!Passw0rd!Passw0rd!Passw0rd!Passw0rd!")]
    [InlineData("abababababbababababbabababaabababababbababababab")]
    [InlineData("Zq3xV9tR2mP8kL5wZq3xV9tR2mP8kL5wZq3xV9tR2mP8kL5wZq3xV9tR2mP8kL5w")]
    public void Repeated_characters_runs_and_patterns_are_weak(string token)
    {
        var a = TokenStrength.Assess(token);
        Assert.True(a.IsWeak, $"{a.EstimatedBits} bits");
        Assert.Matches("^it has about \\d+ bits of randomness, under 128, because it (repeats|uses only a few)", a.Reason);
    }

    [Fact]
    public void A_single_repeated_character_has_next_to_no_randomness()
    {
        Assert.True(TokenStrength.Assess(new string('a', 40)).EstimatedBits < 10);
        Assert.True(TokenStrength.Assess(new string('a', 4000)).EstimatedBits < 10);
    }

    [Fact]
    public void Thirty_two_random_hex_digits_are_strong_in_either_case_and_with_guid_dashes_too()
    {
        var random = new Random(20261126);
        for (var i = 0; i < 500; i++)
        {
            var hex = RandomToken(random, "0123456789abcdef", 32);
            foreach (var token in new[] { hex, hex.ToUpperInvariant(), Guid.ParseExact(hex, "N").ToString("D") })
            {
                var a = TokenStrength.Assess(token);
                Assert.False(a.IsWeak, $"{token}: {a.Reason}");
                Assert.Equal(128, a.EstimatedBits);
                Assert.Null(a.Reason);
            }
        }
    }

    [Fact]
    public void Random_base64url_of_32_bytes_is_strong()
    {
        var random = new Random(7);
        for (var i = 0; i < 500; i++)
        {
            var bytes = new byte[32];
            random.NextBytes(bytes);
            var token = Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            Assert.Equal(43, token.Length);
            var a = TokenStrength.Assess(token);
            Assert.False(a.IsWeak, $"{token}: {a.Reason}");
            Assert.True(a.EstimatedBits >= 240, $"{token}: {a.EstimatedBits}");
            // Standard base64 with its padding is as strong.
            Assert.False(TokenStrength.Assess(Convert.ToBase64String(bytes)).IsWeak);
        }
    }

    [Theory]
    [InlineData(128, 22)]
    [InlineData(192, 32)]
    [InlineData(256, 43)]
    [InlineData(384, 64)]
    [InlineData(512, 86)]
    [InlineData(1024, 171)]
    public void NewToken_is_strong_unique_base64url_of_the_right_length(int bits, int length)
    {
        var tokens = Enumerable.Range(0, 200).Select(_ => TokenStrength.NewToken(bits)).ToList();
        Assert.Equal(tokens.Count, tokens.Distinct(StringComparer.Ordinal).Count());
        foreach (var token in tokens)
        {
            Assert.Equal(length, token.Length);
            Assert.All(token, c => Assert.Contains(c, Base64Url));
            var a = TokenStrength.Assess(token);
            Assert.False(a.IsWeak, $"{token}: {a.Reason}");
            Assert.True(a.EstimatedBits >= bits, $"{token}: {a.EstimatedBits}");
            // It decodes back to bits / 8 bytes.
            var b64 = token.Replace('-', '+').Replace('_', '/');
            Assert.Equal(bits / 8, Convert.FromBase64String(b64.PadRight((b64.Length + 3) / 4 * 4, '=')).Length);
        }
    }

    [Fact]
    public void NewToken_defaults_to_256_bits()
    {
        Assert.Equal(256, TokenStrength.DefaultBits);
        Assert.Equal(43, TokenStrength.NewToken().Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(64)]
    [InlineData(120)]
    [InlineData(129)]
    [InlineData(1032)]
    [InlineData(-256)]
    public void NewToken_refuses_sizes_that_are_not_a_multiple_of_8_from_128_to_1024(int bits)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenStrength.NewToken(bits));
    }

    [Fact]
    public void The_reason_never_contains_the_token_or_a_part_of_it()
    {
        var random = new Random(42);
        var alphabets = new[] { "0123456789", "0123456789abcdef", "abcdefghijklmnopqrstuvwxyz", Base64Url, "abc", "ab-_ ", "Aa1!@#$%^&*()_+ ~" };
        var tokens = new List<string> { new('a', 40), "Password1Password1Password1", "abcdefghijklmnopqrstuvwxyz" };
        for (var i = 0; i < 5000; i++)
            tokens.Add(RandomToken(random, alphabets[random.Next(alphabets.Length)], random.Next(6, 80)));
        var weak = 0;
        foreach (var token in tokens)
        {
            var a = TokenStrength.Assess(token);
            if (!a.IsWeak) { Assert.Null(a.Reason); continue; }
            weak++;
            Assert.DoesNotContain(token, a.Reason!, StringComparison.OrdinalIgnoreCase);
            for (var start = 0; start + 6 <= token.Length; start++)
                Assert.DoesNotContain(token.Substring(start, 6), a.Reason!, StringComparison.OrdinalIgnoreCase);
            var warning = TokenStrength.WarningFor(token, "The token")!;
            Assert.DoesNotContain(token, warning, StringComparison.OrdinalIgnoreCase);
        }
        Assert.True(weak > 1000, $"only {weak} weak tokens: the property was hardly tested");
    }

    [Fact]
    public void WarningFor_names_the_token_by_its_role_and_says_what_to_do()
    {
        var warning = TokenStrength.WarningFor("change-me", "The shared token (auth.token)");
        Assert.Equal("The shared token (auth.token) is weak: it is a well-known example value. Without TLS an on-path observer who sees a login " +
            "can test guesses against it offline; use New-TunnelToken for a strong one.", warning);
        Assert.Null(TokenStrength.WarningFor(TokenStrength.NewToken(), "The shared token (auth.token)"));
    }

    [Fact]
    public void WarningsFor_a_server_names_each_weak_account_and_skips_strong_ones_and_an_absent_shared_token()
    {
        var strong = TokenStrength.NewToken();
        var options = new TunnelServerOptions
        {
            Token = "",
            Clients =
            {
                new ClientAccount { Name = "alice", Token = "password" },
                new ClientAccount { Name = "bob", Token = strong },
                new ClientAccount { Name = "carol", Token = "carol-secret" },
            },
        };
        var warnings = TokenStrength.WarningsFor(options).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.StartsWith("The token of client 'alice' ([[clients]]) is weak: ", warnings[0]);
        Assert.StartsWith("The token of client 'carol' ([[clients]]) is weak: ", warnings[1]);
        Assert.All(warnings, w => Assert.DoesNotContain("password", w));
        Assert.All(warnings, w => Assert.DoesNotContain("carol-secret", w));

        options.Token = "change-me";
        Assert.StartsWith("The shared token", TokenStrength.WarningsFor(options).First());
    }
}
