namespace TunnelLite.Config;

/// <summary>
/// A configuration file could not be loaded: it is missing, too large, not valid TOML, or holds an invalid value.
/// The message reads like a compiler diagnostic (<c>server.toml:3: bindPort: 70000 is not a port (1-65535)</c>)
/// so that an operator can go straight to the offending line.
/// </summary>
public sealed class TunnelConfigException : Exception
{
    /// <summary>Creates the exception; <paramref name="detail"/> is prefixed with the file, line and key that are known.</summary>
    /// <param name="filePath">The file (or name given to the parser); null when unknown.</param>
    /// <param name="line">1-based line of the offending key; null when the problem has no single line (e.g. a required key is missing).</param>
    /// <param name="key">Full dotted path of the offending key, e.g. <c>transport.heartbeatTimeout</c> or <c>proxies[1].localPort</c>.</param>
    /// <param name="detail">What is wrong and, where useful, what to write instead.</param>
    /// <param name="innerException">The underlying failure, if any.</param>
    public TunnelConfigException(string? filePath, int? line, string? key, string detail, Exception? innerException = null)
        : base(Format(filePath, line, key, detail), innerException)
    {
        Detail = detail;
        FilePath = filePath;
        Line = line;
        Key = key;
    }

    /// <summary>The configuration file, as loaded (full path) or as named to the parser; null when unknown.</summary>
    public string? FilePath { get; }

    /// <summary>1-based line of the problem; null when it cannot be tied to one line.</summary>
    public int? Line { get; }

    /// <summary>Full dotted path of the offending key; null for problems of the file as a whole (missing, too large, syntax).</summary>
    public string? Key { get; }

    /// <summary>What is wrong, without the file, line and key that the message begins with.</summary>
    public string Detail { get; }

    /// <summary>True when the file does not exist: nothing in it is wrong, its path is (the module's ErrorId ConfigNotFound).</summary>
    public bool FileNotFound { get; init; }

    internal static string Format(string? filePath, int? line, string? key, string detail)
    {
        var location = filePath ?? "<config>";
        if (line is { } l) location += ":" + l.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return key is null ? $"{location}: {detail}" : $"{location}: {key}: {detail}";
    }
}
