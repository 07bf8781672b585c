namespace TunnelLite.Config;

/// <summary>TLS on the server's control port (config keys under <c>transport.tls</c>). When enabled, every connection to the
/// control port, control and data alike, must speak TLS. Without a certificate file the server makes a self-signed one
/// at start; clients then pin its SHA-256 fingerprint (<see cref="Server.TunnelServer.CertificateFingerprint"/>).</summary>
public sealed class ServerTlsOptions
{
    /// <summary>Require TLS on the control port (transport.tls.enable, or frp's transport.tls.force). Off by default.</summary>
    public bool Enabled { get; set; }

    /// <summary>PEM certificate (chain) file (transport.tls.certFile); needs <see cref="KeyFile"/> unless the file also holds the key.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM private key file of <see cref="CertificateFile"/> (transport.tls.keyFile).</summary>
    public string? KeyFile { get; set; }

    /// <summary>PKCS#12 (.pfx/.p12) file with certificate and key (transport.tls.pfxFile); the alternative to the PEM pair.</summary>
    public string? PfxFile { get; set; }

    /// <summary>Password of <see cref="PfxFile"/> (transport.tls.pfxPassword); null when it has none.</summary>
    public Security.Secret? PfxPassword { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> when the settings contradict each other.</summary>
    public void Validate()
    {
        if (!Enabled) return;
        if (PfxFile is not null && (CertificateFile is not null || KeyFile is not null))
            throw new ArgumentException("Give either a PFX file or a PEM certificate and key, not both.", nameof(PfxFile));
        if (KeyFile is not null && CertificateFile is null)
            throw new ArgumentException("A key file needs its certificate file (transport.tls.certFile).", nameof(KeyFile));
    }
}
