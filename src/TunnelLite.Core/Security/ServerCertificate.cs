using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TunnelLite.Config;

namespace TunnelLite.Security;

/// <summary>The server's TLS identity: loaded from PEM or PFX files, or made up as a self-signed certificate at start.</summary>
internal sealed class ServerCertificate
{
    private ServerCertificate(X509Certificate2 certificate, X509Certificate2Collection intermediates, bool selfSigned)
    {
        Certificate = certificate;
        Context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
        Fingerprint = CertificateFingerprint.Of(certificate);
        SelfSigned = selfSigned;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Built once: it carries the chain, so that handshakes do not rebuild it.</summary>
    public SslStreamCertificateContext Context { get; }

    public string Fingerprint { get; }

    public bool SelfSigned { get; }

    /// <summary>Loads the certificate the options name, or makes a self-signed one when they name none.</summary>
    /// <exception cref="TunnelException">CertificateLoadFailed, naming the file.</exception>
    public static ServerCertificate Load(ServerTlsOptions options)
    {
        if (options.PfxFile is { } pfx) return FromPfx(pfx, options.PfxPassword);
        if (options.CertificateFile is { } cert) return FromPem(cert, options.KeyFile);
        return CreateSelfSigned();
    }

    private static ServerCertificate FromPem(string certFile, string? keyFile)
    {
        try
        {
            using var withKey = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(certFile);
            var intermediates = new X509Certificate2Collection(all.Skip(1).ToArray());
            return new ServerCertificate(Persist(withKey), intermediates, selfSigned: false);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new TunnelException(TunnelErrorCode.CertificateLoadFailed,
                $"Cannot use the certificate {certFile}{(keyFile is null ? "" : $" with the key {keyFile}")}: {e.Message}", e);
        }
    }

    private static ServerCertificate FromPfx(string pfxFile, Secret? password)
    {
        try
        {
            var cert = new X509Certificate2(pfxFile, password?.Reveal(), KeyStorage);
            if (!cert.HasPrivateKey)
            {
                cert.Dispose();
                throw new CryptographicException("the file holds no private key for its certificate");
            }
            return new ServerCertificate(cert, new X509Certificate2Collection(), selfSigned: false);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new TunnelException(TunnelErrorCode.CertificateLoadFailed,
                $"Cannot use the PFX file {pfxFile}: {e.Message}. Check the file and its password.", e);
        }
    }

    /// <summary>An ECDSA P-256 certificate for "TunnelLite", valid for a year; a new one (and fingerprint) at every start.</summary>
    internal static ServerCertificate CreateSelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=TunnelLite self-signed", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        var now = DateTimeOffset.UtcNow;
        using var cert = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(1));
        return new ServerCertificate(Persist(cert), new X509Certificate2Collection(), selfSigned: true);
    }

    // Ephemeral keys never touch the disk; macOS has no such key sets.
    private static X509KeyStorageFlags KeyStorage => OperatingSystem.IsMacOS() ? X509KeyStorageFlags.DefaultKeySet : X509KeyStorageFlags.EphemeralKeySet;

    /// <summary>A key made or read in memory is not usable by SslStream on every platform; a PKCS#12 round trip makes it so.</summary>
    private static X509Certificate2 Persist(X509Certificate2 cert) =>
        new(cert.Export(X509ContentType.Pkcs12), (string?)null, KeyStorage);
}
