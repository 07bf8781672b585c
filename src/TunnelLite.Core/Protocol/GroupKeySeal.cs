using System.Security.Cryptography;

namespace TunnelLite.Protocol;

/// <summary>A load-balancing group's key on the wire: sealed with AES-256-GCM under a key derived from the session key, so
/// that it is never plain text on a control connection without TLS, and a sealed key seen on one session opens on no
/// other. The server opens it and compares a hash of it with the group's in constant time.</summary>
public static class GroupKeySeal
{
    /// <summary>The longest group key, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 256;

    private const int NonceSize = 12, TagSize = 16;
    private static readonly byte[] Label = "TunnelLite/2 group key"u8.ToArray();

    /// <summary>nonce || ciphertext || tag of <paramref name="key"/> under the session key.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> sessionKey, ReadOnlySpan<byte> key)
    {
        var sealedKey = new byte[NonceSize + key.Length + TagSize];
        RandomNumberGenerator.Fill(sealedKey.AsSpan(0, NonceSize));
        using var aes = new AesGcm(Derive(sessionKey), TagSize);
        aes.Encrypt(sealedKey.AsSpan(0, NonceSize), key, sealedKey.AsSpan(NonceSize, key.Length), sealedKey.AsSpan(NonceSize + key.Length));
        return sealedKey;
    }

    /// <summary>The key sealed in <paramref name="sealedKey"/>, or null when it is not one sealed under this session key
    /// (or is too short or too long).</summary>
    public static byte[]? Open(ReadOnlySpan<byte> sessionKey, ReadOnlySpan<byte> sealedKey)
    {
        var length = sealedKey.Length - NonceSize - TagSize;
        if (length is < 1 or > MaxKeyBytes) return null;
        var key = new byte[length];
        using var aes = new AesGcm(Derive(sessionKey), TagSize);
        try
        {
            aes.Decrypt(sealedKey[..NonceSize], sealedKey.Slice(NonceSize, length), sealedKey[(NonceSize + length)..], key);
            return key;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }

    /// <summary>What the server keeps of a group's key: its SHA-256, compared in constant time.</summary>
    public static byte[] Hash(ReadOnlySpan<byte> key) => SHA256.HashData(key);

    private static byte[] Derive(ReadOnlySpan<byte> sessionKey) => HMACSHA256.HashData(sessionKey, Label);
}
