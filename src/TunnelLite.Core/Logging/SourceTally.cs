using TunnelLite.Server;

namespace TunnelLite.Logging;

/// <summary>Counts events per source in a fixed number of slots, whatever the number of sources (the Space-Saving scheme):
/// when every slot is taken, a new source takes the slot of the least counted one and inherits its count as a possible
/// error. So a source that caused more than 1/capacity of the events is always in a slot, and its count is exact as long
/// as no slot was ever taken over; an attacker spreading over many addresses cannot hide the one that matters. Not
/// thread-safe: the owner locks.</summary>
internal sealed class SourceTally
{
    private readonly Dictionary<SourcePrefix, int> _slotOf;
    private readonly SourcePrefix[] _sources;
    private readonly long[] _counts;
    private readonly long[] _errors;
    private int _used;

    /// <summary>Creates a tally of at most <paramref name="capacity"/> sources.</summary>
    public SourceTally(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _slotOf = new Dictionary<SourcePrefix, int>(capacity);
        _sources = new SourcePrefix[capacity];
        _counts = new long[capacity];
        _errors = new long[capacity];
    }

    /// <summary>Sources in a slot now (at most the capacity).</summary>
    public int Tracked => _used;

    /// <summary>Whether a slot was taken over: then more sources were seen than there are slots, and counts are upper bounds.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Counts one event of <paramref name="source"/>.</summary>
    public void Add(SourcePrefix source)
    {
        if (_slotOf.TryGetValue(source, out var slot))
        {
            _counts[slot]++;
            return;
        }
        if (_used < _sources.Length)
        {
            slot = _used++;
            _errors[slot] = 0;
            _counts[slot] = 1;
        }
        else
        {
            // A linear scan: the table is small, and this runs only for a source not in it.
            slot = 0;
            for (var i = 1; i < _used; i++)
                if (_counts[i] < _counts[slot]) slot = i;
            _slotOf.Remove(_sources[slot]);
            _errors[slot] = _counts[slot];
            _counts[slot]++;
            Overflowed = true;
        }
        _sources[slot] = source;
        _slotOf[source] = slot;
    }

    /// <summary>The source that surely caused the most events, with that many (a lower bound once <see cref="Overflowed"/>);
    /// (Unknown, 0) when nothing was counted.</summary>
    public (SourcePrefix Source, long AtLeast) Top()
    {
        var best = -1;
        for (var i = 0; i < _used; i++)
            if (best < 0 || _counts[i] - _errors[i] > _counts[best] - _errors[best]) best = i;
        return best < 0 ? (SourcePrefix.Unknown, 0) : (_sources[best], _counts[best] - _errors[best]);
    }

    /// <summary>Forgets every source (the slots stay allocated for the next window).</summary>
    public void Clear()
    {
        _slotOf.Clear();
        _used = 0;
        Overflowed = false;
    }
}
