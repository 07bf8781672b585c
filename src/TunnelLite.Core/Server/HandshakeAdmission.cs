namespace TunnelLite.Server;

/// <summary>Slots for connections to the control port that have not yet shown who they are. Capped per source
/// (<see cref="SourcePrefix"/>) and in all; at either cap a pending connection is evicted to make room, so a new
/// connection is never turned away for what strangers hold. The victim is the oldest connection that has sent nothing
/// yet (of that source, or of all), and only when there is none the oldest login in progress: a real client sends its
/// preamble and first frame as soon as it has connected and holds a slot for about a round trip, while a silent
/// connection ages to the front of the queue. A flood therefore only recycles the flooder's own connections (per source)
/// or the oldest silent ones (in all), and a data connection, which leaves its slot as soon as its first frame shows what
/// it is, never waits behind strangers.</summary>
internal sealed class HandshakeAdmission
{
    private readonly object _gate = new();
    private readonly LinkedList<Ticket> _silent = new();   // no first frame yet, oldest first
    private readonly LinkedList<Ticket> _logins = new();   // said hello, login in progress, oldest first
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
    public int Pending { get { lock (_gate) return _silent.Count + _logins.Count; } }

    /// <summary>Sources holding at least one slot now.</summary>
    public int Sources { get { lock (_gate) return _bySource.Count; } }

    /// <summary>Connections evicted because their source was at its cap.</summary>
    public long EvictedPerSource => Interlocked.Read(ref _evictedPerSource);

    /// <summary>Connections evicted because all slots were taken.</summary>
    public long EvictedGlobal => Interlocked.Read(ref _evictedGlobal);

    /// <summary>A pending connection's slot. <see cref="Evicted"/> is cancelled when it must make room for a newer one.</summary>
    public sealed class Ticket
    {
        private readonly CancellationTokenSource _evicted = new();
        internal Ticket(SourcePrefix source) => Source = source;
        public SourcePrefix Source { get; }
        internal LinkedListNode<Ticket>? StageNode;   // in _silent or _logins
        internal LinkedListNode<Ticket>? SourceNode;
        internal bool SaidHello;
        /// <summary>Cancelled on eviction; the handler links it into its deadline.</summary>
        public CancellationToken Evicted => _evicted.Token;
        /// <summary>Why it was evicted, for the log; null while it holds its slot or left on its own.</summary>
        public string? EvictionReason { get; private set; }
        internal void Evict(string reason)
        {
            EvictionReason = reason;
            try { _evicted.Cancel(); } catch (ObjectDisposedException) { }
        }
    }

    /// <summary>Takes a slot for a new connection from <paramref name="source"/>, evicting a pending connection of the
    /// source, or of all, when a cap is reached.</summary>
    public Ticket Admit(SourcePrefix source)
    {
        var ticket = new Ticket(source);
        Ticket? victimOfSource = null, victimOfAll = null;
        lock (_gate)
        {
            if (_bySource.TryGetValue(source, out var mine) && mine.Count >= MaxPendingPerSource)
            {
                victimOfSource = OldestSilentOf(mine) ?? mine.First!.Value;
                RemoveLocked(victimOfSource);
            }
            else if (_silent.Count + _logins.Count >= MaxPending)
            {
                victimOfAll = (_silent.First ?? _logins.First)!.Value;
                RemoveLocked(victimOfAll);
            }
            if (!_bySource.TryGetValue(source, out mine)) _bySource[source] = mine = new LinkedList<Ticket>();
            ticket.StageNode = _silent.AddLast(ticket);
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
            victimOfAll.Evict($"{MaxPending} unfinished handshakes were open (maxPendingHandshakes) and it was the oldest {(victimOfAll.SaidHello ? "login" : "silent one")}");
        }
        return ticket;
    }

    /// <summary>The connection said hello: from now on it is evicted only when no silent connection is left to evict.</summary>
    public void SaidHello(Ticket ticket)
    {
        lock (_gate)
        {
            if (ticket.StageNode is null || ticket.SaidHello) return;
            _silent.Remove(ticket.StageNode);
            ticket.SaidHello = true;
            ticket.StageNode = _logins.AddLast(ticket);
        }
    }

    /// <summary>Gives the slot back (idempotent; a no-op after eviction, which already took it).</summary>
    public void Release(Ticket ticket)
    {
        lock (_gate)
        {
            if (ticket.StageNode is null) return;
            RemoveLocked(ticket);
        }
    }

    // A source holds at most MaxPendingPerSource tickets, so the scan is short.
    private static Ticket? OldestSilentOf(LinkedList<Ticket> tickets)
    {
        for (var n = tickets.First; n is not null; n = n.Next)
            if (!n.Value.SaidHello) return n.Value;
        return null;
    }

    private void RemoveLocked(Ticket t)
    {
        (t.SaidHello ? _logins : _silent).Remove(t.StageNode!);
        t.StageNode = null;
        var list = t.SourceNode!.List!;
        list.Remove(t.SourceNode);
        t.SourceNode = null;
        if (list.Count == 0) _bySource.Remove(t.Source);
    }
}
