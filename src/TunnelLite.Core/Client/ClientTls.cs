using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TunnelLite.Config;
using TunnelLite.Protocol;
using TunnelLite.Security;

namespace TunnelLite.Client;

/// <summary>The client's side of TLS: opens it on every connection to the server (control and data) and decides whether
/// to trust the server's certificate: by its pinned fingerprint, else by the trusted CA file, else by the system's roots.
/// Every failure becomes a <see cref="TunnelException"/> whose code says what to fix.</summary>
internal sealed class ClientTls
{
    private readonly string _server;
    private readonly string _targetHost;
    private readonly string? _pin;
    private readonly string? _caFile;
    private readonly X509Certificate2Collection? _trustedCas;

    private ClientTls(TunnelClientOptions options, string? pin, X509Certificate2Collection? trustedCas)
    {
        _server = $"{options.ServerAddress}:{options.ServerPort}";
        _targetHost = options.Tls.ServerName ?? options.ServerAddress.Trim('[', ']');
        _pin = pin;
        _caFile = options.Tls.TrustedCaFile;
        _trustedCas = trustedCas;
    }

    /// <exception cref="TunnelException">CertificateLoadFailed: the CA file cannot be read or holds no certificate.</exception>
    public static ClientTls Create(TunnelClientOptions options)
    {
        var tls = options.Tls;
        var pin = CertificateFingerprint.TryNormalize(tls.ServerFingerprint, out var p) ? p : null;
        X509Certificate2Collection? cas = null;
        if (pin is null && tls.TrustedCaFile is { } file)
        {
            cas = new X509Certificate2Collection();
            try
            {
                cas.ImportFromPemFile(file);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new TunnelException(TunnelErrorCode.CertificateLoadFailed, $"Cannot read the trusted CA file {file}: {e.Message}", e);
            }
            if (cas.Count == 0)
                throw new TunnelException(TunnelErrorCode.CertificateLoadFailed, $"The trusted CA file {file} holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
        }
        return new ClientTls(options, pin, cas);
    }

    /// <summary>Runs the TLS handshake over <paramref name="socket"/>; disposes the socket when it fails.</summary>
    /// <exception cref="TunnelException">TlsMismatch, CertificateMismatch, CertificateUntrusted, ServerUnreachable.</exception>
    public async Task<FrameConnection> AuthenticateAsync(Socket socket, CancellationToken cancellationToken)
    {
        var verdict = new Verdict();
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _targetHost,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => Check(certificate, errors, verdict),
        };
        if (_trustedCas is not null)
        {
            options.CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            options.CertificateChainPolicy.CustomTrustStore.AddRange(_trustedCas);
        }
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
            return new FrameConnection(socket, tls);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            socket.Dispose();
            if (verdict.Failure is { } failure) throw new TunnelException(verdict.Code, failure, e);
            if (!verdict.SawCertificate && e is AuthenticationException)
                // The answer to our ClientHello was not TLS: a plain TunnelLite server answers with an error frame.
                throw new TunnelException(TunnelErrorCode.TlsMismatch,
                    $"The server at {_server} does not speak TLS; remove -Tls (transport.tls.enable) or enable TLS on the server.", e);
            throw new TunnelException(TunnelErrorCode.ServerUnreachable,
                $"The TLS handshake with {_server} failed ({e.Message}). Check that the server has TLS enabled and that this is its control port.", e);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            socket.Dispose();
            throw;
        }
    }

    private bool Check(X509Certificate? certificate, SslPolicyErrors errors, Verdict verdict)
    {
        verdict.SawCertificate = true;
        if (certificate is null)
        {
            verdict.Fail(TunnelErrorCode.CertificateUntrusted, $"The server at {_server} presented no certificate.");
            return false;
        }
        var actual = CertificateFingerprint.Of(certificate);
        if (_pin is not null)
        {
            if (actual == _pin) return true;
            verdict.Fail(TunnelErrorCode.CertificateMismatch,
                $"The certificate of the server at {_server} has SHA-256 fingerprint {actual}, but {_pin} was expected. " +
                "If the server made a new certificate (a self-signed one changes at every start), pin the fingerprint it printed; otherwise something else answers at that address.");
            return false;
        }
        if (errors == SslPolicyErrors.None) return true;
        verdict.Fail(TunnelErrorCode.CertificateUntrusted, _caFile is null
            ? $"The server at {_server} presented a certificate the system does not trust ({errors}). If it made a self-signed certificate, pin the fingerprint it printed: -CertificateFingerprint {actual} (transport.tls.serverFingerprint), or trust its CA with -TrustedCaPath."
            : $"The certificate of the server at {_server} (SHA-256 {actual}) is not trusted through the CA file {_caFile} ({errors}). " +
              $"Check that the CA signed it and that it names the host '{_targetHost}' (set the name to check with transport.tls.serverName).");
        return false;
    }

    /// <summary>What the validation callback decided, for the exception thrown after the handshake fails.</summary>
    private sealed class Verdict
    {
        public bool SawCertificate;
        public string? Failure;
        public TunnelErrorCode Code;

        public void Fail(TunnelErrorCode code, string message)
        {
            Code = code;
            Failure = message;
        }
    }
}
