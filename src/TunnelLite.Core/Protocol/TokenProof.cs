using System.Security.Cryptography;
using System.Text;

namespace TunnelLite.Protocol;

/// <summary>HMAC-SHA256 proofs of the shared token. The token never crosses the wire; proofs are compared in constant time.</summary>
public static class TokenProof
{
    // Distinct labels keep a control proof from being replayed as a data proof and vice versa.
    private static readonly byte[] ControlLabel = "TunnelLite/1 control"u8.ToArray();
    private static readonly byte[] DataLabel = "TunnelLite/1 data"u8.ToArray();

    /// <summary>Fresh random bytes for a nonce or session id.</summary>
    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(ProtocolConstants.NonceSize);

    /// <summary>Proof for a control connection: HMAC(token, label || nonce).</summary>
    public static byte[] ForControl(string token, ReadOnlySpan<byte> nonce) => Compute(token, ControlLabel, nonce, default);

    /// <summary>Proof for a data connection: HMAC(token, label || sessionId || nonce).</summary>
    public static byte[] ForData(string token, ReadOnlySpan<byte> sessionId, ReadOnlySpan<byte> nonce) => Compute(token, DataLabel, sessionId, nonce);

    /// <summary>Constant-time comparison of an expected and a received proof.</summary>
    public static bool Matches(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> received) =>
        expected.Length == received.Length && CryptographicOperations.FixedTimeEquals(expected, received);

    private static byte[] Compute(string token, ReadOnlySpan<byte> label, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(token));
        hmac.AppendData(label);
        hmac.AppendData(a);
        hmac.AppendData(b);
        return hmac.GetHashAndReset();
    }
}
