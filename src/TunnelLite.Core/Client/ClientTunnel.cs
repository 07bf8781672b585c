using TunnelLite.Config;
using TunnelLite.Statistics;

namespace TunnelLite.Client;

/// <summary>A tunnel as the client sees it: what was asked, the port the server bound, and its counters.</summary>
public sealed class ClientTunnel
{
    internal ClientTunnel(TunnelDefinition definition, TrafficCounters parent)
    {
        Definition = definition;
        Counters = new TrafficCounters(parent);
        // A limit the client enforces itself; one the server enforces goes with the tunnel's registration.
        if (definition.BandwidthLimitMode == BandwidthLimitMode.Client) Counters.Shaper = Forwarding.BandwidthShaper.For(definition.BandwidthLimit);
    }

    /// <summary>What was asked.</summary>
    public TunnelDefinition Definition { get; }

    /// <summary>Tunnel name.</summary>
    public string Name => Definition.Name;

    /// <summary>The public port the server bound (the requested one, or the one it picked for 0); 0 until registered.</summary>
    public int RemotePort { get; internal set; }

    /// <summary>The local service, "address:port".</summary>
    public string LocalEndpoint => Definition.LocalAddress.Contains(':') ? $"[{Definition.LocalAddress}]:{Definition.LocalPort}" : $"{Definition.LocalAddress}:{Definition.LocalPort}";

    /// <summary>False while the health check finds the local service failing (the server gives the tunnel no users then);
    /// true without a health check.</summary>
    public bool Healthy
    {
        get => _healthy;
        internal set => _healthy = value;
    }
    private volatile bool _healthy = true;

    // The health checker's state: failures in a row, when the next check is due (Environment.TickCount64), and 1 while one
    // is connecting.
    internal int Failures;
    internal long NextCheck;
    internal int Checking;

    /// <summary>Counters of this tunnel on the client.</summary>
    public TrafficCounters Counters { get; }

    /// <summary>When it was first registered.</summary>
    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;

    private long _stoppedTicks; // UTC ticks; 0 while it runs

    /// <summary>When it was removed from its client, or its client stopped; null while it runs.</summary>
    public DateTimeOffset? Stopped => Interlocked.Read(ref _stoppedTicks) is var t and not 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>Records the stop time once; a later stop (the client's, after the tunnel's removal) keeps the first.</summary>
    internal void MarkStopped(DateTimeOffset at) => Interlocked.CompareExchange(ref _stoppedTicks, at.UtcTicks, 0);
}
