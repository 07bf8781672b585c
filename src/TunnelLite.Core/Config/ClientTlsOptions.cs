namespace TunnelLite.Config;

/// <summary>TLS towards the server (config keys under <c>transport.tls</c>). The server is trusted by its pinned
/// certificate fingerprint, else by a CA file, else by the system's trusted roots.</summary>
public sealed class ClientTlsOptions
{
    /// <summary>Speak TLS to the server (transport.tls.enable). Off by default.</summary>
    public bool Enabled { get; set; }

    /// <summary>SHA-256 fingerprint of the server's certificate, hex, with or without colons, any case
    /// (transport.tls.serverFingerprint). When set, it alone decides: no chain or host-name check.</summary>
    public string? ServerFingerprint { get; set; }

    /// <summary>PEM file of the CA certificate(s) that signed the server's certificate (transport.tls.trustedCaFile);
    /// they replace the system's trusted roots.</summary>
    public string? TrustedCaFile { get; set; }

    /// <summary>Host name the server's certificate must carry and that is sent as SNI (transport.tls.serverName);
    /// defaults to the server address.</summary>
    public string? ServerName { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> when the settings are invalid.</summary>
    public void Validate()
    {
        if (!Enabled) return;
        if (ServerFingerprint is not null && !Security.CertificateFingerprint.TryNormalize(ServerFingerprint, out _))
            throw new ArgumentException($"'{ServerFingerprint}' is not a SHA-256 fingerprint: expected 64 hex digits, colons allowed.", nameof(ServerFingerprint));
    }
}
