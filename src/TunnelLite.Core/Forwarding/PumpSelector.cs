namespace TunnelLite.Forwarding;

/// <summary>Chooses the pump for a requested mode on this platform.</summary>
public static class PumpSelector
{
    /// <summary>Environment variable that sets the mode wherever the options leave it at Auto: copy, splice or auto.
    /// An escape hatch that needs no change to scripts or config files.</summary>
    public const string EnvironmentVariable = "TUNNELLITE_FORWARDING_MODE";

    /// <summary>The mode in force: an explicit Copy or Splice wins; Auto defers to <see cref="EnvironmentVariable"/>.</summary>
    public static ForwardingMode Resolve(ForwardingMode requested) =>
        Resolve(requested, Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <summary>As <see cref="Resolve(ForwardingMode)"/>, with the variable's value given (tests must not change the
    /// process environment under tests that run in parallel). A value that is not a mode is ignored.</summary>
    internal static ForwardingMode Resolve(ForwardingMode requested, string? env)
    {
        if (requested != ForwardingMode.Auto) return requested;
        return !string.IsNullOrWhiteSpace(env) && !int.TryParse(env, out _) && Enum.TryParse<ForwardingMode>(env.Trim(), ignoreCase: true, out var m) && Enum.IsDefined(m)
            ? m
            : ForwardingMode.Auto;
    }

    /// <summary>The pump for <paramref name="requested"/>: Copy is the buffered pump; Splice splices every burst and Auto only
    /// the bursts that stream (small messages are cheaper to copy), both where splice(2) exists, the buffered pump elsewhere.</summary>
    public static IForwardingPump For(ForwardingMode requested) => For(requested, tls: false);

    /// <summary>As <see cref="For(ForwardingMode)"/>; under TLS always the <see cref="StreamPump"/>, whatever was asked:
    /// the bytes must be decrypted in user space, so there is nothing to splice.</summary>
    public static IForwardingPump For(ForwardingMode requested, bool tls)
    {
        if (tls) return StreamPump.Instance;
        var mode = Resolve(requested);
        if (mode == ForwardingMode.Copy || !SplicePump.IsSupported) return BufferedPump.Instance;
        return mode == ForwardingMode.Splice ? SplicePump.Always : SplicePump.Auto;
    }
}
