using System.Globalization;

namespace TunnelLite.Config;

/// <summary>
/// The permissions of a configuration file on Linux and macOS. A file that holds a secret (<see cref="SecretKeys"/>,
/// written in the file rather than taken from <c>{{ .Envs.NAME }}</c>) and that other users may write is refused: they
/// could swap the token for their own, or open the server's ports. One they may read is a warning: they can read the
/// token. Windows is not checked: its ACLs do not map onto these bits, and the file's folder usually decides who can read it.
/// </summary>
internal static class ConfigFilePermissions
{
    private const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
    private const UnixFileMode ReadableByOthers = UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Throws when the file holds a secret and is writable by others; adds a warning for lesser problems.</summary>
    /// <param name="document">The parsed file (templates expanded, so that what came from the environment is known).</param>
    /// <param name="mode">The file's mode, read from the handle the text was read through.</param>
    /// <param name="warnings">Where warnings go.</param>
    public static void Check(TomlConfigDocument document, UnixFileMode mode, List<ConfigWarning> warnings)
    {
        var secret = document.Nodes().OfType<TomlConfigValue>()
            .Where(v => SecretKeys.HoldsSecret(v.SchemaPath) && v.HeldByFile && v.Value is string { Length: > 0 })
            .MinBy(v => v.Line);
        if (secret is null) return;
        if ((mode & WritableByOthers) != 0)
            throw secret.Error($"the file holds a secret and is writable by others (mode {Octal(mode)}); chmod 600 it");
        if ((mode & ReadableByOthers) != 0)
            warnings.Add(document.Warning(secret.Line, secret.Path,
                $"the file holds a secret and is readable by others (mode {Octal(mode)}); chmod 600 it, or write \"{{{{ .Envs.NAME }}}}\" and keep the secret in the environment"));
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0xFFF, 8).PadLeft(4, '0');
}
