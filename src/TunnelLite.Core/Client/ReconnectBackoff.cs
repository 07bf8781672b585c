namespace TunnelLite.Client;

/// <summary>Exponential backoff with full jitter, capped: spreads reconnecting clients so that a restarted server is not stormed.</summary>
internal sealed class ReconnectBackoff
{
    private readonly TimeSpan _min;
    private readonly TimeSpan _max;
    private int _attempt;

    public ReconnectBackoff(TimeSpan min, TimeSpan max)
    {
        _min = min;
        _max = max;
    }

    /// <summary>The delay before the next attempt: between half and all of min * 2^attempt, capped at max.</summary>
    public TimeSpan Next()
    {
        var ceiling = Math.Min(_max.TotalMilliseconds, _min.TotalMilliseconds * Math.Pow(2, Math.Min(_attempt, 30)));
        _attempt++;
        return TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
    }

    /// <summary>Back to the shortest delay after a success.</summary>
    public void Reset() => _attempt = 0;
}
