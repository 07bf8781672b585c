namespace TunnelLite.Forwarding;

/// <summary>Chooses the pump for a requested mode on this platform.</summary>
public static class PumpSelector
{
    /// <summary>The pump for <paramref name="requested"/>. Until zero-copy lands every mode resolves to the buffered pump.</summary>
    public static IForwardingPump For(ForwardingMode requested) => BufferedPump.Instance;
}
