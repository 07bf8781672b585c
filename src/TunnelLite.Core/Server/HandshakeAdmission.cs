namespace TunnelLite.Server;

/// <summary>Slots for connections to the control port that have not yet shown who they are. Capped per source
/// (<see cref="SourcePrefix"/>) and in all; at either cap the oldest pending connection (of that source, or of all) is
/// evicted to make room, so a new connection is never turned away for what strangers hold. A real client sends its
/// preamble and first frame as soon as it has connected and holds a slot for about one round trip; a silent connection
/// ages to the front of the queue and is the one evicted. A flood therefore only recycles the flooder's own connections
/// (per source) or the oldest silent ones (in all), and a data connection, which leaves its slot as soon as its first
/// frame shows what it is, never waits behind strangers.</summary>
internal sealed class HandshakeAdmission
{
    private readonly object _gate = new();
    private readonly LinkedList<Ticket> _all = new();
    private readonly Dictionary<SourcePrefix, LinkedList<Ticket>> _bySource = new();
    private long _evictedPerSource, _evictedGlobal;

    public HandshakeAdmission(int maxPending, int maxPendingPerSource)
    {
        MaxPending = maxPending;
        MaxPendingPerSource = maxPendingPerSource;
    }

    public int MaxPending { get; }
    public int MaxPendingPerSource { get; }

    /// <summary>Connections holding a slot now.</summary>
    public int Pending { get { lock (_gate) return _all.Count; } }

    /// <summary>Sources holding at least one slot now.</summary>
    public int Sources { get { lock (_gate) return _bySource.Count; } }

    /// <summary>Connections evicted because their source was at its cap.</summary>
    public long EvictedPerSource => Interlocked.Read(ref _evictedPerSource);

    /// <summary>Connections evicted because all slots were taken.</summary>
    public long EvictedGlobal => Interlocked.Read(ref _evictedGlobal);

    /// <summary>A pending connection's slot. <see cref="Evicted"/> is cancelled when it must make room for a newer one.</summary>
    public sealed class Ticket
    {
        internal Ticket(SourcePrefix source) => Source = source;
        public SourcePrefix Source { get; }
        internal LinkedListNode<Ticket>? AllNode;
        internal LinkedListNode<Ticket>? SourceNode;
        private readonly CancellationTokenSource _evicted = new();
        /// <summary>Cancelled on eviction; the handler links it into its deadline.</summary>
        public CancellationToken Evicted => _evicted.Token;
        /// <summary>Why it was evicted, for the log; null while it holds its slot or left on its own.</summary>
        public string? EvictionReason { get; internal set; }
        internal void Evict(string reason)
        {
            EvictionReason = reason;
            try { _evicted.Cancel(); } catch (ObjectDisposedException) { }
        }
    }

    /// <summary>Takes a slot for a new connection from <paramref name="source"/>, evicting the oldest pending connection of
    /// the source, or of all, when a cap is reached.</summary>
    public Ticket Admit(SourcePrefix source)
    {
        var ticket = new Ticket(source);
        Ticket? victimOfSource = null, victimOfAll = null;
        lock (_gate)
        {
            if (!_bySource.TryGetValue(source, out var mine))
                _bySource[source] = mine = new LinkedList<Ticket>();
            if (mine.Count >= MaxPendingPerSource)
            {
                victimOfSource = mine.First!.Value;
                RemoveLocked(victimOfSource);
            }
            else if (_all.Count >= MaxPending)
            {
                victimOfAll = _all.First!.Value;
                RemoveLocked(victimOfAll);
            }
            if (!_bySource.ContainsKey(source)) _bySource[source] = mine; // the victim may have been its last
            ticket.AllNode = _all.AddLast(ticket);
            ticket.SourceNode = mine.AddLast(ticket);
        }
        // Cancel outside the lock: the victim's continuations may run inline and call Release.
        if (victimOfSource is not null)
        {
            Interlocked.Increment(ref _evictedPerSource);
            victimOfSource.Evict($"its address held {MaxPendingPerSource} unfinished handshakes (maxPendingHandshakesPerSource) and a newer connection came");
        }
        if (victimOfAll is not null)
        {
            Interlocked.Increment(ref _evictedGlobal);
            victimOfAll.Evict($"{MaxPending} unfinished handshakes were open (maxPendingHandshakes) and it was the oldest");
        }
        return ticket;
    }

    /// <summary>Gives the slot back (idempotent; a no-op after eviction, which already took it).</summary>
    public void Release(Ticket ticket)
    {
        lock (_gate)
        {
            if (ticket.AllNode is null) return;
            RemoveLocked(ticket);
        }
    }

    private void RemoveLocked(Ticket t)
    {
        _all.Remove(t.AllNode!);
        t.AllNode = null;
        var list = t.SourceNode!.List!;
        list.Remove(t.SourceNode);
        t.SourceNode = null;
        if (list.Count == 0) _bySource.Remove(t.Source);
    }
}
