using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TunnelLite.Tests.Support;

/// <summary>A throw-away CA and a server certificate it signed, made fresh for a test and written as PEM (and PFX)
/// files to a temporary directory that is deleted on dispose. No key ever leaves the test run.</summary>
public sealed class TestCertificates : IDisposable
{
    public const string PfxPassword = "test-only";

    public TestCertificates(string leafDnsName = "localhost")
    {
        Directory = Path.Combine(Path.GetTempPath(), "tunnellite-tls-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        var now = DateTimeOffset.UtcNow;

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=TunnelLite Test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=" + leafDnsName, leafKey, HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(leafDnsName);
        san.AddIpAddress(IPAddress.Loopback);
        leafRequest.CertificateExtensions.Add(san.Build());
        using var leafPublic = leafRequest.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(8));
        using var leaf = leafPublic.CopyWithPrivateKey(leafKey);

        CaFile = Write("ca.pem", ca.ExportCertificatePem());
        CertFile = Write("server.pem", leaf.ExportCertificatePem());
        KeyFile = Write("server.key", leafKey.ExportPkcs8PrivateKeyPem());
        PfxFile = Path.Combine(Directory, "server.pfx");
        File.WriteAllBytes(PfxFile, leaf.Export(X509ContentType.Pkcs12, PfxPassword));
        LeafFingerprint = Convert.ToHexString(SHA256.HashData(leaf.RawData));
    }

    public string Directory { get; }
    public string CaFile { get; }
    public string CertFile { get; }
    public string KeyFile { get; }
    public string PfxFile { get; }
    public string LeafFingerprint { get; }

    private string Write(string name, string text)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
