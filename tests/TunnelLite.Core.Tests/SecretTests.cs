using System.Security;
using System.Text.Json;
using TunnelLite.Config;
using TunnelLite.Security;

namespace TunnelLite.Tests;

/// <summary>A Secret shows nothing of itself to anything but the engine.</summary>
public sealed class SecretTests
{
    private const string Token = "9c1f0b7e-secret-token-value-42a7";

    [Fact]
    public void No_public_member_serializer_or_ToString_shows_the_secret()
    {
        Secret s = Token;
        Assert.Equal("(secret)", s.ToString());
        Assert.Equal("(none)", Secret.Empty.ToString());
        Assert.DoesNotContain(Token, JsonSerializer.Serialize(s));
        Assert.DoesNotContain(Token, JsonSerializer.Serialize(new TunnelClientOptions { Token = Token }));
        Assert.DoesNotContain(Token, JsonSerializer.Serialize(new TunnelServerOptions { Token = Token, Clients = { new ClientAccount { Name = "a", Token = Token + "a" } } }));
        // Only IsEmpty is public: nothing that returns the value, nothing that compares it (a guessing oracle).
        var members = typeof(Secret).GetMembers(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.DeclaredOnly)
            .Select(m => m.Name).Where(n => n is not ("get_IsEmpty" or "IsEmpty" or "ToString")).ToList();
        Assert.Empty(members);
        Assert.DoesNotContain(typeof(Secret).GetInterfaces(), i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEquatable<>));
    }

    [Fact]
    public void A_secret_from_a_SecureString_keys_the_same_proofs_as_one_from_its_text()
    {
        using var secure = new SecureString();
        foreach (var c in Token + "é") secure.AppendChar(c);
        var fromSecure = Secret.From(secure);
        Secret fromText = Token + "é";
        Assert.True(fromSecure.SameAs(fromText));
        Assert.False(fromSecure.SameAs(Token));
        var n = Protocol.TokenProof.NewNonce();
        Assert.Equal(Protocol.TokenProof.ForClient(fromText, n, n), Protocol.TokenProof.ForClient(fromSecure, n, n));
        Assert.True(Secret.From(new SecureString()).IsEmpty);
        Assert.True(((Secret)(string?)null).IsEmpty);
    }
}
