using TunnelLite.Security;

namespace TunnelLite.Config;

/// <summary>Where a running server reads its configuration again (a reload): its file, and what was given besides the file
/// when it started (the parameters of Start-TunnelServer), which win over the file each time it is read, as they did at
/// start. Immutable: a reload from another file makes a new one (<see cref="WithPath"/>).</summary>
public sealed class ServerConfigSource
{
    private readonly Secret? _tokenFallback;
    private readonly Action<TunnelServerOptions>? _overrides;

    /// <summary>A source of <paramref name="path"/> (null: the server started without a file, and a reload needs one).</summary>
    /// <param name="path">The file.</param>
    /// <param name="tokenFallback">A token given besides the file: then the file need not hold auth.token.</param>
    /// <param name="overrides">Applies what was given besides the file over the options read from it; the same function
    /// that merged them at start.</param>
    public ServerConfigSource(string? path, Secret? tokenFallback = null, Action<TunnelServerOptions>? overrides = null)
    {
        Path = path is null ? null : System.IO.Path.GetFullPath(path);
        _tokenFallback = tokenFallback;
        _overrides = overrides;
    }

    /// <summary>The file, as a full path; null when the server started without one.</summary>
    public string? Path { get; }

    /// <summary>The same source reading <paramref name="path"/>.</summary>
    public ServerConfigSource WithPath(string path) => new(path, _tokenFallback, _overrides);

    /// <summary>Reads the file and applies what was given besides it; validated as a whole.</summary>
    /// <exception cref="TunnelConfigException">The file is missing, unreadable or invalid, or invalid with the overrides.</exception>
    /// <exception cref="InvalidOperationException">The source has no file.</exception>
    public ConfigLoadResult<TunnelServerOptions> Load()
    {
        if (Path is null) throw new InvalidOperationException("This source has no configuration file.");
        var loaded = TunnelConfigLoader.LoadServer(Path, _tokenFallback is { IsEmpty: false } t ? t.Reveal() : null);
        if (_overrides is null) return loaded;
        _overrides(loaded.Options);
        try
        {
            loaded.Options.Validate();
        }
        catch (ArgumentException e)
        {
            // The parameters of the start and the file together are invalid (an account's token that is also -Token).
            var key = e.ParamName is { } p && TunnelConfigLoader.ServerKeys.TryGetValue(p, out var k) ? k : null;
            var detail = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            throw new TunnelConfigException(Path, null, key, $"{detail} (with the parameters the server was started with)", e);
        }
        return loaded;
    }
}
