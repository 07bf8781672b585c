using System.Diagnostics;
using TunnelLite.Config;

namespace TunnelLite.Forwarding;

/// <summary>The bandwidth limit of one tunnel as the pumps apply it: a <see cref="TokenBucket"/> per limited direction,
/// shared by all the tunnel's connections, and the time during which a connection of the tunnel waited for tokens
/// (either direction; overlapping waits count once).</summary>
internal sealed class BandwidthShaper
{
    private readonly object _lock = new();
    private long _throttledUntil;
    private long _throttledTicks;

    public BandwidthShaper(BandwidthLimit limit)
    {
        Limit = limit;
        In = limit.InBytesPerSecond > 0 ? new TokenBucket(limit.InBytesPerSecond, Throttled) : null;
        Out = limit.OutBytesPerSecond > 0 ? new TokenBucket(limit.OutBytesPerSecond, Throttled) : null;
    }

    /// <summary>The limit applied.</summary>
    public BandwidthLimit Limit { get; }

    /// <summary>Toward the local service; null when unlimited.</summary>
    public TokenBucket? In { get; }

    /// <summary>Toward the user; null when unlimited.</summary>
    public TokenBucket? Out { get; }

    /// <summary>Time connections waited for tokens (waits that ended: from a refusal to the next grant).</summary>
    public TimeSpan ThrottledTime
    {
        get
        {
            lock (_lock) return Stopwatch.GetElapsedTime(0, _throttledTicks);
        }
    }

    /// <summary>A shaper for <paramref name="limit"/>, or null when it limits nothing.</summary>
    public static BandwidthShaper? For(BandwidthLimit limit) => limit.IsNone ? null : new BandwidthShaper(limit);

    // The union of the wait intervals: one that starts inside the last extends it.
    private void Throttled(long from, long until)
    {
        lock (_lock)
        {
            if (until <= _throttledUntil) return;
            _throttledTicks += until - Math.Max(from, _throttledUntil);
            _throttledUntil = until;
        }
    }
}
