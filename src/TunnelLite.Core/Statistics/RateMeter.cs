namespace TunnelLite.Statistics;

/// <summary>Bytes per second over a recent window, from periodic samples of two monotonic counters.
/// Lock-protected because samples are rare (about once a second) and reads are rarer.</summary>
internal sealed class RateMeter
{
    private const int Slots = 8;
    private static readonly long Window = TimeSpan.FromSeconds(5).Ticks;
    private readonly (long Ticks, long In, long Out)[] _samples = new (long, long, long)[Slots];
    private int _count;
    private int _next;

    /// <summary>Records the counters at <paramref name="ticks"/> (Stopwatch-independent DateTime ticks, UTC).</summary>
    public void Sample(long ticks, long bytesIn, long bytesOut)
    {
        lock (_samples)
        {
            // Keep samples at least 500 ms apart so that frequent readers do not shrink the window.
            if (_count > 0)
            {
                var last = _samples[(_next + Slots - 1) % Slots];
                if (ticks - last.Ticks < TimeSpan.TicksPerMillisecond * 500) return;
            }
            _samples[_next] = (ticks, bytesIn, bytesOut);
            _next = (_next + 1) % Slots;
            if (_count < Slots) _count++;
        }
    }

    /// <summary>Rates between the oldest sample inside the window and the current counters.</summary>
    public (double In, double Out) Rate(long ticks, long bytesIn, long bytesOut)
    {
        lock (_samples)
        {
            (long Ticks, long In, long Out)? oldest = null;
            for (var i = 0; i < _count; i++)
            {
                var s = _samples[(_next + Slots - _count + i) % Slots];
                if (ticks - s.Ticks <= Window) { oldest = s; break; }
            }
            if (oldest is null && _count > 0) oldest = _samples[(_next + Slots - 1) % Slots];
            if (oldest is null) return (0, 0);
            var seconds = (ticks - oldest.Value.Ticks) / (double)TimeSpan.TicksPerSecond;
            if (seconds < 0.2) return (0, 0);
            return (Math.Max(0, bytesIn - oldest.Value.In) / seconds, Math.Max(0, bytesOut - oldest.Value.Out) / seconds);
        }
    }
}
