using TunnelLite.Security;

namespace TunnelLite.Config;

/// <summary>The <c>transport.tls</c> table of frps.toml and frpc.toml. Names follow frp where it has the key
/// (frps: force, certFile, keyFile; frpc: enable, trustedCaFile, serverName); the server's enable, and pfxFile,
/// pfxPassword and serverFingerprint are TunnelLite's. Files are checked here, so that a missing one is reported at its
/// line; relative paths are relative to the config file.</summary>
internal static class TlsConfigKeys
{
    public static ServerTlsOptions ReadServer(TomlConfigTable tls)
    {
        // frps' force ("accept TLS connections only") is what TunnelLite's server-side enable means: TunnelLite has no
        // mode that accepts both, so a file that says force = true gets TLS rather than the plain text frps would refuse.
        var force = SynonymKeys.Read(tls, "force", tls.GetBool("force"), Bool);
        var enable = SynonymKeys.Read(tls, "enable", tls.GetBool("enable"), Bool);
        var options = new ServerTlsOptions
        {
            Enabled = SynonymKeys.Agree(force, enable) ?? false,
            CertificateFile = ReadFile(tls, "certFile"),
            KeyFile = ReadFile(tls, "keyFile"),
            PfxFile = ReadFile(tls, "pfxFile"),
            PfxPassword = tls.GetString("pfxPassword", allowEmpty: true) is { } password ? Secret.From(password) : null,
        };
        if (options.PfxFile is not null && options.CertificateFile is not null)
            throw tls.ValueError(tls.Find("pfxFile")!, "write either pfxFile or certFile (with keyFile), not both");
        if (options.KeyFile is not null && options.CertificateFile is null)
            throw tls.ValueError(tls.Find("keyFile")!, "keyFile needs certFile, the certificate it belongs to");
        if (options.PfxPassword is not null && options.PfxFile is null)
            throw tls.ValueError(tls.Find("pfxPassword")!, "pfxPassword needs pfxFile");
        return options;
    }

    public static ClientTlsOptions ReadClient(TomlConfigTable tls)
    {
        var options = new ClientTlsOptions
        {
            Enabled = tls.GetBool("enable") ?? false,
            ServerFingerprint = tls.GetString("serverFingerprint"),
            TrustedCaFile = ReadFile(tls, "trustedCaFile"),
            ServerName = tls.GetString("serverName"),
        };
        if (options.ServerFingerprint is { } pin && !Security.CertificateFingerprint.TryNormalize(pin, out _))
            throw tls.ValueError(tls.Find("serverFingerprint")!, $"\"{pin}\" is not a SHA-256 fingerprint; write the 64 hex digits the server printed (colons allowed)");
        return options;
    }

    private static string Bool(bool b) => b ? "true" : "false";

    /// <summary>A path that must name a readable file; made absolute against the config file's directory.</summary>
    internal static string? ReadFile(TomlConfigTable tls, string key)
    {
        if (tls.GetString(key) is not { } path) return null;
        var baseDir = tls.Document.FilePath is { } f && Path.GetDirectoryName(Path.GetFullPath(f)) is { } d ? d : Directory.GetCurrentDirectory();
        var full = Path.GetFullPath(path, baseDir);
        try
        {
            using var _ = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var why = e is FileNotFoundException or DirectoryNotFoundException ? "the file does not exist" : e.Message;
            throw tls.ValueError(tls.Find(key)!, $"cannot read \"{full}\": {why}");
        }
        return full;
    }
}
