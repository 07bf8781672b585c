using System.Runtime.InteropServices;
using System.Security;
using System.Security.Cryptography;
using System.Text;

namespace TunnelLite.Security;

/// <summary>A secret (a token, a certificate password), held so that nothing a user or a script can reach shows it: no
/// public member returns it or compares it, <see cref="ToString"/> says "(secret)", and serializers (ConvertTo-Json,
/// Format-Custom, Format-List * -Force) find nothing in it but <see cref="IsEmpty"/>. Only the engine reads it, to key
/// its HMACs. Make one from a string (implicitly) or, without a managed copy of the text, from a SecureString.</summary>
public sealed class Secret
{
    private readonly byte[] _utf8;

    private Secret(byte[] utf8) => _utf8 = utf8;

    /// <summary>No secret.</summary>
    public static Secret Empty { get; } = new(Array.Empty<byte>());

    /// <summary>True when there is no secret (an empty token).</summary>
    public bool IsEmpty => _utf8.Length == 0;

    /// <summary>A secret of <paramref name="value"/>'s text; null is empty.</summary>
    public static Secret From(string? value) => string.IsNullOrEmpty(value) ? Empty : new Secret(Encoding.UTF8.GetBytes(value));

    /// <summary>A secret of a SecureString's text, read through unmanaged memory that is zeroed after.</summary>
    public static Secret From(SecureString value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == 0) return Empty;
        var ptr = Marshal.SecureStringToGlobalAllocUnicode(value);
        try
        {
            unsafe
            {
                var chars = new ReadOnlySpan<char>((char*)ptr, value.Length);
                var bytes = new byte[Encoding.UTF8.GetByteCount(chars)];
                Encoding.UTF8.GetBytes(chars, bytes);
                return new Secret(bytes);
            }
        }
        finally
        {
            Marshal.ZeroFreeGlobalAllocUnicode(ptr);
        }
    }

    /// <summary>A secret of <paramref name="value"/>'s text, so that options can still be set from strings.</summary>
    public static implicit operator Secret(string? value) => From(value);

    /// <summary>Never the secret.</summary>
    public override string ToString() => IsEmpty ? "(none)" : "(secret)";

    /// <summary>The secret's UTF-8 bytes, as an HMAC key.</summary>
    internal ReadOnlySpan<byte> Utf8 => _utf8;

    /// <summary>The secret's text, for the few APIs that take only text (a PFX password, the strength estimate).</summary>
    internal string Reveal() => Encoding.UTF8.GetString(_utf8);

    /// <summary>Whether two secrets are the same, compared in constant time. Internal on purpose: a public comparison
    /// would let a script test guesses against a secret it can reach.</summary>
    internal bool SameAs(Secret other) => CryptographicOperations.FixedTimeEquals(_utf8, other._utf8);
}
