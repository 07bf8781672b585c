using System.Buffers.Binary;
using System.Security.Cryptography;
using TunnelLite.Security;

namespace TunnelLite.Protocol;

/// <summary>HMAC-SHA256 proofs of the token, for both directions. The token never crosses the wire; proofs are compared in
/// constant time.
/// <para>Login (protocol 2): the client sends a nonce in its hello, the server one in its challenge. The client proves first,
/// over both nonces; only then does the server prove itself, over both nonces and the session id, so a stranger without the
/// token never receives anything it could test guesses against. Both ends derive a session key from the token and both
/// nonces; each data connection proves itself with that key over the session id and a counter, so the server keeps a
/// fixed-size replay window per session instead of a table of outstanding nonces.</para></summary>
public static class TokenProof
{
    // Distinct labels keep each proof from being replayed as another kind (a client proof as a server proof, and so on).
    private static readonly byte[] ClientLabel = "TunnelLite/2 client"u8.ToArray();
    private static readonly byte[] ServerLabel = "TunnelLite/2 server"u8.ToArray();
    private static readonly byte[] SessionLabel = "TunnelLite/2 session"u8.ToArray();
    private static readonly byte[] DataLabel = "TunnelLite/2 data"u8.ToArray();

    /// <summary>Fresh random bytes for a nonce or session id.</summary>
    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(ProtocolConstants.NonceSize);

    /// <summary>The client's login proof: HMAC(token, label || clientNonce || serverNonce).</summary>
    public static byte[] ForClient(Secret token, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce) =>
        Compute(token.Utf8, ClientLabel, clientNonce, serverNonce, default);

    /// <summary>The server's answering proof: HMAC(token, label || clientNonce || serverNonce || sessionId).</summary>
    public static byte[] ForServer(Secret token, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> sessionId) =>
        Compute(token.Utf8, ServerLabel, clientNonce, serverNonce, sessionId);

    /// <summary>The session key both ends derive: HMAC(token, label || clientNonce || serverNonce). A secret like the token.</summary>
    public static byte[] SessionKey(Secret token, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce) =>
        Compute(token.Utf8, SessionLabel, clientNonce, serverNonce, default);

    /// <summary>A data connection's proof: HMAC(sessionKey, label || sessionId || counter as 8 bytes big-endian).</summary>
    public static byte[] ForData(ReadOnlySpan<byte> sessionKey, ReadOnlySpan<byte> sessionId, long counter)
    {
        Span<byte> c = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(c, counter);
        return Compute(sessionKey, DataLabel, sessionId, c, default);
    }

    /// <summary>Constant-time comparison of an expected and a received proof.</summary>
    public static bool Matches(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> received) =>
        expected.Length == received.Length && CryptographicOperations.FixedTimeEquals(expected, received);

    private static byte[] Compute(ReadOnlySpan<byte> key, ReadOnlySpan<byte> label, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(label);
        hmac.AppendData(a);
        hmac.AppendData(b);
        hmac.AppendData(c);
        return hmac.GetHashAndReset();
    }
}
