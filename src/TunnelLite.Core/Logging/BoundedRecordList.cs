using System.Collections;
using System.Runtime.CompilerServices;

namespace TunnelLite.Logging;

/// <summary>Bounds a list of log records that others may read and drain meanwhile (a PowerShell job stream, which Receive-Job
/// empties): it holds at most <see cref="MaxRecords"/> ordinary records and, apart from them, at most <see cref="MaxKept"/>
/// kept ones (security events). When a budget is full, the oldest record of the same sort goes. So a flood of ordinary
/// records, which strangers can cause at will, cannot push a kept one out, and kept records cannot grow without bound either.
/// Records that others add to the list count as ordinary; what others do to the list (a reader draining it, the job adding a
/// record of its own) is noticed on the next Add, which then counts again. Thread-safe as far as the list allows: the
/// trimming holds the list's SyncRoot, which a synchronized list (PSDataCollection) also takes for each of its own
/// operations; such a list is added to after the trimming, so it may exceed a budget by one record per concurrent writer.</summary>
/// <typeparam name="T">The record type; records are told apart by identity, so the same record must not be added twice.</typeparam>
internal sealed class BoundedRecordList<T> where T : class
{
    private static readonly object Mark = new();

    // Marks kept records by identity without holding them: once a reader drains a record, its mark goes with it.
    private readonly ConditionalWeakTable<T, object> _kept = new();
    private readonly object _sync;
    private readonly bool _addOutsideLock;
    private int _keptCount;
    private int _ordinaryCount;
    // What the list should look like if nobody else touched it since our last Add: this many records, the last one ours.
    // When it does not, the counts are redone (a reader drained it, or the job added a record of its own).
    private int _expectedCount = -1;
    private T? _lastAdded;
    // How many records at the head of the list are known not to be kept (resp. not ordinary), so that trimming one sort does
    // not scan, on every Add, past all the records of the other sort that sit before it (a thousand kept ones, say).
    private int _headNotKept;
    private int _headNotOrdinary;

    /// <summary>Bounds <paramref name="records"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A budget is below 1.</exception>
    public BoundedRecordList(IList<T> records, int maxRecords, int maxKept)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecords, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKept, 1);
        Records = records;
        MaxRecords = maxRecords;
        MaxKept = maxKept;
        var collection = records as ICollection;
        _sync = collection?.SyncRoot ?? records;
        // A synchronized list locks each operation itself and may call out to event handlers after an Add (PSDataCollection
        // raises DataAdded for Receive-Job -Wait): add to it outside our lock. A plain list is added to under the lock.
        _addOutsideLock = collection?.IsSynchronized ?? false;
    }

    /// <summary>The bounded list.</summary>
    public IList<T> Records { get; }

    /// <summary>Ordinary records the list holds at most.</summary>
    public int MaxRecords { get; }

    /// <summary>Kept records the list holds at most, on top of the ordinary ones.</summary>
    public int MaxKept { get; }

    /// <summary>Adds <paramref name="record"/> at the end, first dropping the oldest record of its sort if that sort's budget
    /// is full.</summary>
    /// <param name="record">The record.</param>
    /// <param name="keep">Whether it is a kept record (a security event), which ordinary records cannot push out.</param>
    public void Add(T record, bool keep)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (keep) _kept.AddOrUpdate(record, Mark);
        lock (_sync)
        {
            if (Changed()) Recount();
            while (keep ? _keptCount >= MaxKept : _ordinaryCount >= MaxRecords)
            {
                if (!RemoveOldest(keep))
                {
                    // The counts were stale (someone else changed the list): none of that sort is left.
                    Recount();
                    continue;
                }
                if (keep) _keptCount--;
                else _ordinaryCount--;
            }
            if (keep) _keptCount++;
            else _ordinaryCount++;
            _expectedCount = Records.Count + 1;
            _lastAdded = record;
            if (!_addOutsideLock) Records.Add(record);
        }
        if (_addOutsideLock) Records.Add(record);
    }

    /// <summary>Whether <paramref name="record"/> was added as a kept record.</summary>
    public bool IsKept(T record) => _kept.TryGetValue(record, out _);

    private bool Changed()
    {
        var count = Records.Count;
        return count != _expectedCount || (count > 0 && !ReferenceEquals(Records[count - 1], _lastAdded));
    }

    private bool RemoveOldest(bool kept)
    {
        ref var skip = ref kept ? ref _headNotKept : ref _headNotOrdinary;
        ref var otherSkip = ref kept ? ref _headNotOrdinary : ref _headNotKept;
        for (var i = Math.Min(skip, Records.Count); i < Records.Count; i++)
        {
            if (IsKept(Records[i]) != kept) continue;
            Records.RemoveAt(i);
            // Everything before i is of the other sort; the other sort's head lost a record of this sort if it spanned i.
            skip = i;
            if (otherSkip > i) otherSkip--;
            return true;
        }
        skip = Records.Count;
        return false;
    }

    private void Recount()
    {
        _keptCount = 0;
        _ordinaryCount = 0;
        for (var i = 0; i < Records.Count; i++)
        {
            if (IsKept(Records[i])) _keptCount++;
            else _ordinaryCount++;
        }
        _expectedCount = Records.Count;
        _lastAdded = _expectedCount > 0 ? Records[_expectedCount - 1] : null;
        _headNotKept = 0;
        _headNotOrdinary = 0;
    }
}
