using System.Diagnostics;
using TunnelLite.Config;

namespace TunnelLite.Forwarding;

/// <summary>The bandwidth limit of one tunnel as the pumps apply it: a <see cref="TokenBucket"/> per limited direction,
/// shared by all the tunnel's connections, and the time during which a connection of the tunnel waited for tokens
/// (either direction; overlapping waits count once). A reload of the server's configuration changes it in place
/// (<see cref="Apply"/>): a changed rate applies at once to the connections that use its buckets.</summary>
internal sealed class BandwidthShaper
{
    private readonly object _lock = new();
    private long _throttledUntil;
    private long _throttledTicks;

    // Not _lock: a bucket calls Throttled (which takes _lock) under its own lock, and Apply takes a bucket's lock.
    private readonly object _applyLock = new();
    private volatile TokenBucket? _in, _out;
    private BandwidthLimit _limit;

    public BandwidthShaper(BandwidthLimit limit)
    {
        _limit = limit;
        _in = limit.InBytesPerSecond > 0 ? new TokenBucket(limit.InBytesPerSecond, Throttled) : null;
        _out = limit.OutBytesPerSecond > 0 ? new TokenBucket(limit.OutBytesPerSecond, Throttled) : null;
    }

    /// <summary>The limit applied.</summary>
    public BandwidthLimit Limit
    {
        get
        {
            lock (_applyLock) return _limit;
        }
    }

    /// <summary>Toward the local service; null when unlimited. A pump takes it once, when its connection starts.</summary>
    public TokenBucket? In => _in;

    /// <summary>Toward the user; null when unlimited.</summary>
    public TokenBucket? Out => _out;

    /// <summary>Applies <paramref name="limit"/> from now on. A direction limited before and after keeps its bucket at the new
    /// rate, for the connections open now too; one limited only now gets a bucket, for the connections that open from now
    /// on (those open now started without one); one no longer limited lets its connections run at the largest rate a limit
    /// may have (no limit a machine reaches), and the connections that open from now on take no bucket.</summary>
    public void Apply(BandwidthLimit limit)
    {
        lock (_applyLock)
        {
            _in = Rerate(_in, limit.InBytesPerSecond);
            _out = Rerate(_out, limit.OutBytesPerSecond);
            _limit = limit;
        }
    }

    private TokenBucket? Rerate(TokenBucket? bucket, long bytesPerSecond)
    {
        if (bytesPerSecond <= 0)
        {
            bucket?.SetRate(BandwidthLimit.MaxBytesPerSecond);
            return null;
        }
        if (bucket is null) return new TokenBucket(bytesPerSecond, Throttled);
        bucket.SetRate(bytesPerSecond);
        return bucket;
    }

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
