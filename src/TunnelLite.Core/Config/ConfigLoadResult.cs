namespace TunnelLite.Config;

/// <summary>Options loaded from a configuration file, with what was ignored while loading them.</summary>
/// <typeparam name="T"><see cref="TunnelServerOptions"/> or <see cref="TunnelClientOptions"/>.</typeparam>
public sealed class ConfigLoadResult<T>
{
    /// <summary>Creates a result.</summary>
    public ConfigLoadResult(T options, IReadOnlyList<ConfigWarning> warnings)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(warnings);
        Options = options;
        Warnings = warnings;
    }

    /// <summary>The loaded options; they have passed their own <c>Validate()</c>.</summary>
    public T Options { get; }

    /// <summary>Ignored frp keys and similar, in file order; empty when the file was used in full.</summary>
    public IReadOnlyList<ConfigWarning> Warnings { get; }
}
