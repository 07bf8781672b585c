using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TunnelLite.Security;

/// <summary>SHA-256 fingerprints of certificates, as the server prints them and clients pin them.</summary>
public static class CertificateFingerprint
{
    /// <summary>The SHA-256 of the certificate's DER encoding as 64 upper-case hex digits.</summary>
    public static string Of(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexString(SHA256.HashData(certificate.GetRawCertData()));
    }

    /// <summary>Accepts hex with or without colons (or spaces), any case; yields 64 upper-case hex digits.</summary>
    public static bool TryNormalize(string? text, out string normalized)
    {
        normalized = "";
        if (text is null) return false;
        var digits = new string(text.Where(c => c is not (':' or ' ' or '-')).ToArray()).ToUpperInvariant();
        if (digits.Length != 64 || !digits.All(Uri.IsHexDigit)) return false;
        normalized = digits;
        return true;
    }
}
