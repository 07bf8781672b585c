using System.Text;

namespace TunnelLite.Config;

/// <summary>
/// Loads <see cref="TunnelServerOptions"/> and <see cref="TunnelClientOptions"/> from TOML files written with frp's keys,
/// so that an existing frps.toml / frpc.toml using only what TunnelLite supports (tcp proxies) loads unchanged.
/// </summary>
/// <remarks>
/// Strict, like frp: a key TunnelLite does not know is a <see cref="TunnelConfigException"/> naming file, line and key,
/// with the nearest known key as a suggestion, because a typo such as <c>allowPort</c> would otherwise leave the server
/// wide open. frp's keys whose absence is harmless here (<c>log.*</c>, <c>transport.tcpMux</c>...)
/// are returned as <see cref="ConfigWarning"/>s instead, so that a file shared with frp still loads; the list is
/// <see cref="FrpKeys"/>. Anything that would change behaviour (a proxy type other than tcp, another auth method, an
/// out-of-range value) is an error too. Files over 1 MiB are refused.
/// </remarks>
public static class TunnelConfigLoader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // Option property (ArgumentException.ParamName from Validate()) -> TOML key, to locate Validate's errors in the file.
    internal static readonly Dictionary<string, string> ServerKeys = new(AdminConfigKeys.OptionKeys, StringComparer.Ordinal)
    {
        [nameof(TunnelServerOptions.BindAddress)] = "bindAddr",
        [nameof(TunnelServerOptions.ControlPort)] = "bindPort",
        [nameof(TunnelServerOptions.Token)] = "auth.token",
        [nameof(TunnelServerOptions.PreviousToken)] = "auth.previousToken",
        [nameof(TunnelServerOptions.PreviousTokenExpires)] = "auth.previousTokenExpires",
        [nameof(TunnelServerOptions.AllowPorts)] = "allowPorts",
        [nameof(TunnelServerOptions.AllowSources)] = "allowSources",
        [nameof(TunnelServerOptions.DenySources)] = "denySources",
        [nameof(TunnelServerOptions.MaxPoolCount)] = "transport.maxPoolCount",
        [nameof(TunnelServerOptions.HeartbeatInterval)] = "transport.heartbeatInterval",
        [nameof(TunnelServerOptions.HeartbeatTimeout)] = "transport.heartbeatTimeout",
        [nameof(TunnelServerOptions.HandshakeTimeout)] = "transport.handshakeTimeout",
        [nameof(TunnelServerOptions.UserConnectionTimeout)] = "transport.userConnectionTimeout",
        [nameof(TunnelServerOptions.DataPlane)] = "transport.dataPlane",
        [nameof(TunnelServerOptions.EventLoops)] = "transport.eventLoops",
        [nameof(ServerTlsOptions.PfxFile)] = "transport.tls.pfxFile",
        [nameof(ServerTlsOptions.KeyFile)] = "transport.tls.keyFile",
    };

    internal static readonly Dictionary<string, string> ClientKeys = new(AdminConfigKeys.OptionKeys, StringComparer.Ordinal)
    {
        [nameof(TunnelClientOptions.ServerAddress)] = "serverAddr",
        [nameof(TunnelClientOptions.ServerPort)] = "serverPort",
        [nameof(TunnelClientOptions.Servers)] = "serverAddrs",
        [nameof(TunnelClientOptions.Token)] = "auth.token",
        [nameof(TunnelClientOptions.PoolCount)] = "transport.poolCount",
        [nameof(TunnelClientOptions.HeartbeatInterval)] = "transport.heartbeatInterval",
        [nameof(TunnelClientOptions.HeartbeatTimeout)] = "transport.heartbeatTimeout",
        [nameof(TunnelClientOptions.DataPlane)] = "transport.dataPlane",
        [nameof(TunnelClientOptions.EventLoops)] = "transport.eventLoops",
        [nameof(TunnelClientOptions.Tunnels)] = "proxies",
        [nameof(ClientTlsOptions.ServerFingerprint)] = "transport.tls.serverFingerprint",
    };

    /// <summary>Reads a server configuration (frps.toml) from <paramref name="path"/>.</summary>
    /// <returns>The validated options and the keys that were ignored.</returns>
    /// <exception cref="TunnelConfigException">The file is missing, unreadable, over 1 MiB, not TOML, or holds an invalid value.</exception>
    /// <param name="path">The file.</param>
    /// <param name="tokenFallback">A token given elsewhere (a command line): then the file need not hold auth.token.</param>
    public static ConfigLoadResult<TunnelServerOptions> LoadServer(string path, string? tokenFallback = null)
    {
        var fullPath = ResolvePath(path);
        var (text, mode) = ReadFile(fullPath);
        return Load(text, fullPath, mode, document => ServerConfigBinder.Bind(document, tokenFallback), o => o.Validate, ServerKeys);
    }

    /// <summary>Reads a server configuration (frps.toml) from TOML text.</summary>
    /// <param name="tomlText">The TOML.</param>
    /// <param name="fileName">Named in messages and in <see cref="TunnelConfigException.FilePath"/>; null when the text has no file.</param>
    /// <exception cref="TunnelConfigException">The text is over 1 MiB, not TOML, or holds an invalid value.</exception>
    /// <param name="tokenFallback">A token given elsewhere (a command line): then the text need not hold auth.token.</param>
    public static ConfigLoadResult<TunnelServerOptions> ParseServer(string tomlText, string? fileName = null, string? tokenFallback = null)
    {
        ArgumentNullException.ThrowIfNull(tomlText);
        return Load(tomlText, fileName, null, document => ServerConfigBinder.Bind(document, tokenFallback), o => o.Validate, ServerKeys);
    }

    /// <summary>Reads a client configuration (frpc.toml) from <paramref name="path"/>.</summary>
    /// <returns>The validated options and the keys that were ignored.</returns>
    /// <exception cref="TunnelConfigException">The file is missing, unreadable, over 1 MiB, not TOML, or holds an invalid value.</exception>
    /// <param name="path">The file.</param>
    /// <param name="tokenFallback">A token given elsewhere (a command line): then the file need not hold auth.token.</param>
    public static ConfigLoadResult<TunnelClientOptions> LoadClient(string path, string? tokenFallback = null)
    {
        var fullPath = ResolvePath(path);
        var (text, mode) = ReadFile(fullPath);
        return Load(text, fullPath, mode, document => ClientConfigBinder.Bind(document, tokenFallback), o => o.Validate, ClientKeys);
    }

    /// <summary>Reads a client configuration (frpc.toml) from TOML text.</summary>
    /// <param name="tomlText">The TOML.</param>
    /// <param name="fileName">Named in messages and in <see cref="TunnelConfigException.FilePath"/>; null when the text has no file.</param>
    /// <exception cref="TunnelConfigException">The text is over 1 MiB, not TOML, or holds an invalid value.</exception>
    /// <param name="tokenFallback">A token given elsewhere (a command line): then the text need not hold auth.token.</param>
    public static ConfigLoadResult<TunnelClientOptions> ParseClient(string tomlText, string? fileName = null, string? tokenFallback = null)
    {
        ArgumentNullException.ThrowIfNull(tomlText);
        return Load(tomlText, fileName, null, document => ClientConfigBinder.Bind(document, tokenFallback), o => o.Validate, ClientKeys);
    }

    /// <summary>Parses, checks the file's permissions (<paramref name="mode"/> is null for text without a file, and on
    /// Windows), binds, judges the keys no binder read, and validates.</summary>
    private static ConfigLoadResult<T> Load<T>(string text, string? fileName, UnixFileMode? mode, Func<TomlConfigDocument, T> bind,
        Func<T, Action> validate, Dictionary<string, string> keys)
    {
        var document = TomlConfigDocument.Parse(text, fileName);
        var warnings = new List<ConfigWarning>();
        // First: a secret that others can replace makes every other value of the file suspect.
        if (mode is { } m) ConfigFilePermissions.Check(document, m, warnings);
        var options = bind(document);
        warnings.AddRange(document.Warnings);
        // Before Validate(): a complaint about a value may stem from a misspelled key that was not read.
        warnings.AddRange(UnusedKeys.Check(document));
        ValidateOptions(document, validate(options), keys);
        return new ConfigLoadResult<T>(options, warnings.OrderBy(w => w.Line).ToList());
    }

    /// <summary>
    /// Runs the options' own checks, which the binders mostly anticipate; this keeps any rule added to
    /// <c>Validate()</c> later in force for files too, reported in the file's terms.
    /// </summary>
    internal static void ValidateOptions(TomlConfigDocument document, Action validate, Dictionary<string, string> keys)
    {
        try
        {
            validate();
        }
        catch (ArgumentException e)
        {
            var key = e.ParamName is { } p && keys.TryGetValue(p, out var k) ? k : null;
            var detail = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            throw document.Error(key is null ? null : document.LineOf(key), key, detail, e);
        }
    }

    private static string ResolvePath(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        try
        {
            return Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new TunnelConfigException(path, null, null, $"not a valid file path: {e.Message}", e);
        }
    }

    /// <summary>Reads at most 1 MiB (plus one byte, to notice more) so that a wrong path cannot make us read a huge file;
    /// also returns the mode of the file read (null on Windows), taken from the same handle so that it is this file's.</summary>
    private static (string Text, UnixFileMode? Mode) ReadFile(string fullPath)
    {
        if (Directory.Exists(fullPath))
            throw new TunnelConfigException(fullPath, null, null, "this is a directory, not a configuration file");
        if (!File.Exists(fullPath))
            throw new TunnelConfigException(fullPath, null, null, "configuration file not found") { FileNotFound = true };

        byte[] buffer;
        int length = 0;
        UnixFileMode? mode = null;
        try
        {
            using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (!OperatingSystem.IsWindows()) mode = File.GetUnixFileMode(stream.SafeFileHandle);
            if (stream.CanSeek && stream.Length > TomlConfigDocument.MaxSizeBytes) throw TooLarge(fullPath);
            buffer = new byte[TomlConfigDocument.MaxSizeBytes + 1];
            int read;
            while (length < buffer.Length && (read = stream.Read(buffer, length, buffer.Length - length)) > 0) length += read;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Gone between the check above and the open.
            throw new TunnelConfigException(fullPath, null, null, "configuration file not found", e) { FileNotFound = true };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TunnelConfigException(fullPath, null, null, $"cannot read the configuration file: {e.Message}", e);
        }

        // The file may have grown between the length check and the read.
        if (length > TomlConfigDocument.MaxSizeBytes) throw TooLarge(fullPath);

        var bytes = buffer.AsSpan(0, length);
        if (bytes.StartsWith(Encoding.UTF8.Preamble)) bytes = bytes[Encoding.UTF8.Preamble.Length..];
        try
        {
            // TOML is UTF-8 by definition; refusing bad bytes beats silently turning them into U+FFFD inside a token.
            return (StrictUtf8.GetString(bytes), mode);
        }
        catch (DecoderFallbackException e)
        {
            throw new TunnelConfigException(fullPath, null, null, "the file is not valid UTF-8 text, as TOML requires", e);
        }
    }

    private static TunnelConfigException TooLarge(string fullPath) =>
        new(fullPath, null, null, $"the file is larger than {TomlConfigDocument.MaxSizeBytes / 1024} KiB; is this the right file?");
}
