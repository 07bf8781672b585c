using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using TunnelLite.Logging;
using TunnelLite.Protocol;
using TunnelLite.Security;

namespace TunnelLite.Server;

/// <summary>The server's side of TLS on the control port: opens TLS on a new connection, or answers a client that
/// spoke plain TunnelLite with an error frame it can read, so that it fails at once with a clear message instead of
/// waiting for a handshake that never comes.</summary>
internal static class ControlPortTls
{
    private const byte TlsHandshakeRecord = 0x16;

    /// <summary>Returns the connection wrapped in TLS, or null when the peer spoke plain TunnelLite and has been told
    /// to use TLS. <paramref name="plain"/> stays the caller's to dispose on failure or null.</summary>
    /// <exception cref="ProtocolException">The peer speaks neither TLS nor TunnelLite.</exception>
    /// <exception cref="AuthenticationException">The TLS handshake failed.</exception>
    public static async Task<FrameConnection?> AcceptAsync(FrameConnection plain, ServerCertificate certificate, StrangerLog strangers, System.Net.EndPoint? remote, CancellationToken cancellationToken)
    {
        // Peek, so that a ClientHello stays in the socket for SslStream.
        var first = new byte[1];
        var got = await plain.Socket.ReceiveAsync(first, SocketFlags.Peek, cancellationToken).ConfigureAwait(false);
        if (got == 1 && first[0] != TlsHandshakeRecord)
        {
            await FrameCodec.ReadPreambleAsync(plain.Stream, cancellationToken).ConfigureAwait(false);
            // Read the client's first frame too: closing with unread bytes would reset the connection and lose the answer.
            await plain.ReadRequiredAsync(cancellationToken).ConfigureAwait(false);
            strangers.Report(StrangerEvent.Garbage, remote, "it does not use TLS, which this server requires");
            await plain.TrySendErrorAsync(TunnelErrorCode.TlsMismatch,
                "The server requires TLS; use -Tls (transport.tls.enable = true) and pin the certificate fingerprint the server printed.", cancellationToken).ConfigureAwait(false);
            Forwarding.SocketClose.ShutdownSend(plain.Socket);
            return null;
        }
        var tls = new SslStream(new NetworkStream(plain.Socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = certificate.Context,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        plain.Stream.Dispose(); // the plain view of the socket; TLS replaces it
        return new FrameConnection(plain.Socket, tls);
    }
}
