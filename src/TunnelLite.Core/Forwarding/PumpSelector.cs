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
        return Config.EnumNames.TryParse<ForwardingMode>(env, out var m) ? m : ForwardingMode.Auto;
    }

    /// <summary>Environment variable that sets the data plane wherever the options leave it at Auto: eventloops or async.</summary>
    public const string DataPlaneEnvironmentVariable = "TUNNELLITE_DATA_PLANE";

    /// <summary>The most event loops one server or client may run (<c>transport.eventLoops</c>, <c>-EventLoops</c>).</summary>
    public const int MaxEventLoops = 256;

    /// <summary>The data plane in force: an explicit choice wins; Auto defers to <see cref="DataPlaneEnvironmentVariable"/>,
    /// then to event loops where they run (Linux). A request for event loops elsewhere gets the async plane.</summary>
    public static DataPlaneKind ResolvePlane(DataPlaneKind requested) =>
        ResolvePlane(requested, Environment.GetEnvironmentVariable(DataPlaneEnvironmentVariable), OperatingSystem.IsLinux());

    /// <summary>As <see cref="ResolvePlane(DataPlaneKind)"/>, with the variable's value and the platform given (a seam for tests).</summary>
    internal static DataPlaneKind ResolvePlane(DataPlaneKind requested, string? env, bool linux)
    {
        if (requested == DataPlaneKind.Auto && Config.EnumNames.TryParse<DataPlaneKind>(env, out var fromEnv)) requested = fromEnv;
        if (!linux) return DataPlaneKind.Async;
        return requested == DataPlaneKind.Async ? DataPlaneKind.Async : DataPlaneKind.EventLoops;
    }

    /// <summary>The number of loops for a requested count: 0 means one per core.</summary>
    public static int ResolveEventLoops(int requested) =>
        requested > 0 ? Math.Min(requested, MaxEventLoops) : Math.Clamp(Environment.ProcessorCount, 1, MaxEventLoops);

    /// <summary>The pump for <paramref name="requested"/>: Copy is the buffered pump; Splice splices every burst and Auto only
    /// the bursts that stream (small messages are cheaper to copy), both where splice(2) exists, the buffered pump elsewhere.</summary>
    public static IForwardingPump For(ForwardingMode requested) => For(requested, tls: false);

    /// <summary>As <see cref="For(ForwardingMode)"/>; under TLS always the <see cref="StreamPump"/>, whatever was asked:
    /// the bytes must be decrypted in user space, so there is nothing to splice.</summary>
    public static IForwardingPump For(ForwardingMode requested, bool tls) => For(requested, tls, DataPlaneKind.Async, 0);

    /// <summary>As <see cref="For(ForwardingMode, bool)"/> on the data plane <paramref name="plane"/> resolves to: on event
    /// loops a new pump that owns <paramref name="eventLoops"/> loops (0: one per core) and must be disposed with its owner.</summary>
    public static IForwardingPump For(ForwardingMode requested, bool tls, DataPlaneKind plane, int eventLoops)
    {
        if (tls) return StreamPump.Instance;
        var mode = Resolve(requested);
        if (!SplicePump.IsSupported) mode = ForwardingMode.Copy;
        if (ResolvePlane(plane) == DataPlaneKind.EventLoops) return new DataPlane.EventLoopPump(mode, ResolveEventLoops(eventLoops));
        if (mode == ForwardingMode.Copy) return BufferedPump.Instance;
        return mode == ForwardingMode.Splice ? SplicePump.Always : SplicePump.Auto;
    }
}
