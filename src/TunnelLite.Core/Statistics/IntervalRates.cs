namespace TunnelLite.Statistics;

/// <summary>Rates over the interval between two samples of the same tunnel, for a reader that samples statistics on a
/// schedule (Get-TunnelStats -SampleInterval). The engine's own rate covers its last few seconds, whatever the reader's
/// interval; a reader that samples every 10 s wants the bytes moved in those 10 s divided by 10, so that the rates of its
/// samples add up to the bytes it saw moved.</summary>
internal sealed class IntervalRates
{
    private readonly Dictionary<string, TunnelStats> _previous = new(StringComparer.Ordinal);

    /// <summary>Returns <paramref name="current"/> with BytesInPerSec and BytesOutPerSec replaced by the exact change of
    /// BytesIn and BytesOut since the previous sample of <paramref name="key"/>, divided by the time between their
    /// timestamps; and remembers it as the previous sample. The first sample of a key, and one whose counters went back
    /// (the tunnel behind the key started again) or whose timestamp did not advance, keeps the engine's rates.</summary>
    public TunnelStats Apply(string key, TunnelStats current)
    {
        var result = current;
        if (_previous.TryGetValue(key, out var previous))
        {
            var seconds = (current.Timestamp - previous.Timestamp).TotalSeconds;
            if (seconds > 0 && current.BytesIn >= previous.BytesIn && current.BytesOut >= previous.BytesOut)
            {
                result = current with
                {
                    BytesInPerSec = (current.BytesIn - previous.BytesIn) / seconds,
                    BytesOutPerSec = (current.BytesOut - previous.BytesOut) / seconds,
                };
            }
        }
        _previous[key] = current;
        return result;
    }
}
