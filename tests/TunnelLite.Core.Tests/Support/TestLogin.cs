using TunnelLite.Protocol;

namespace TunnelLite.Tests.Support;

/// <summary>The client's side of a protocol-2 login spoken by hand, for tests that then do only what they choose: hello
/// with a nonce, proof over both nonces, the server's proof checked. Returns the session and its key, with which a test
/// can open (or forge, or replay) data connections.</summary>
internal static class TestLogin
{
    public sealed record Session(AuthOkMessage Ok, byte[] Key)
    {
        /// <summary>A data hello for counter <paramref name="counter"/>, proved with the session key.</summary>
        public DataHelloMessage DataHello(long counter) => new()
        {
            Version = ProtocolConstants.Version,
            SessionId = Ok.SessionId,
            Counter = counter,
            Proof = TokenProof.ForData(Key, Ok.SessionId, counter),
        };
    }

    /// <summary>Logs in on <paramref name="c"/> (preamble included); throws the server's error as a TunnelException.</summary>
    public static async Task<Session> LoginAsync(FrameConnection c, string token, string clientId, int poolCount = 0, string? account = null, CancellationToken cancellationToken = default)
    {
        var clientNonce = TokenProof.NewNonce();
        await c.SendAsync(new HelloMessage { Version = ProtocolConstants.Version, Nonce = clientNonce, Account = account }, cancellationToken, withPreamble: true);
        var ch = await c.ReadExpectedAsync<ChallengeMessage>(cancellationToken);
        await c.SendAsync(new AuthMessage { Proof = TokenProof.ForClient(token, clientNonce, ch.Nonce), ClientId = clientId, PoolCount = poolCount }, cancellationToken);
        var ok = await c.ReadExpectedAsync<AuthOkMessage>(cancellationToken);
        if (!TokenProof.Matches(TokenProof.ForServer(token, clientNonce, ch.Nonce, ok.SessionId), ok.Proof))
            throw new InvalidOperationException("The server's proof did not check.");
        return new Session(ok, TokenProof.SessionKey(token, clientNonce, ch.Nonce));
    }
}
