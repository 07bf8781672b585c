namespace TunnelLite.Statistics;

/// <summary>Lock-free counters of one tunnel (or of a whole server), updated by the pumps and read as a snapshot.
/// "In" is toward the local service, "Out" toward the user. Updates also flow to an optional parent (the server total).
/// <para>Per loop: each event loop thread counts in a stripe of its own (its own cache lines), every other thread in a
/// shared one, so that loops counting every send do not fight over one line; a read sums the stripes. Updates stay
/// atomic, so a stripe shared by two loops (more loops than stripes) still counts exactly.</para></summary>
public sealed class TrafficCounters
{
    // One stripe per processor for the loops (at most 8), plus the shared one (index 0).
    private static readonly int StripeCount = 1 + Math.Clamp(Environment.ProcessorCount, 1, 8);

    [ThreadStatic] private static int t_stripe;

    // 12 counters in 96 bytes, padded to 128 so that two stripes never share a cache line (nor an adjacent-line prefetch).
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 128)]
    private struct Stripe
    {
        [System.Runtime.InteropServices.FieldOffset(0)] public long BytesIn;
        [System.Runtime.InteropServices.FieldOffset(8)] public long BytesOut;
        [System.Runtime.InteropServices.FieldOffset(16)] public long Active;
        [System.Runtime.InteropServices.FieldOffset(24)] public long Total;
        [System.Runtime.InteropServices.FieldOffset(32)] public long Failed;
        [System.Runtime.InteropServices.FieldOffset(40)] public long Reconnects;
        [System.Runtime.InteropServices.FieldOffset(48)] public long Spliced;
        [System.Runtime.InteropServices.FieldOffset(56)] public long Copied;
        [System.Runtime.InteropServices.FieldOffset(64)] public long Fallbacks;
        [System.Runtime.InteropServices.FieldOffset(72)] public long Refused;
        [System.Runtime.InteropServices.FieldOffset(80)] public long SourceRefused;
        [System.Runtime.InteropServices.FieldOffset(88)] public long Reset;
    }

    private readonly Stripe[] _stripes = new Stripe[StripeCount];
    private readonly RateMeter _rate = new();
    private readonly TrafficCounters? _parent;
    private volatile LastErrorInfo? _lastError;

    /// <summary>Creates counters, optionally rolling up into <paramref name="parent"/>.</summary>
    public TrafficCounters(TrafficCounters? parent = null)
    {
        _parent = parent;
        // A baseline at birth, so that a rate is known before the first periodic sample.
        Sample(DateTimeOffset.UtcNow);
    }

    /// <summary>Called once on an event loop's thread, with the loop's number: from then on that thread counts in a stripe
    /// of its own (shared with other loops only when there are more loops than stripes).</summary>
    internal static void CountOnLoop(int loop) => t_stripe = 1 + (int)((uint)loop % (uint)(StripeCount - 1));

    private ref Stripe Mine => ref _stripes[t_stripe];

    private delegate long Field(ref Stripe stripe);

    private long Sum(Field field)
    {
        long sum = 0;
        for (var i = 0; i < _stripes.Length; i++) sum += field(ref _stripes[i]);
        return sum;
    }

    /// <summary>The tunnel's bandwidth limit, which the pumps of its connections apply; null when unlimited. Set before the
    /// tunnel carries its first connection.</summary>
    internal Forwarding.BandwidthShaper? Shaper { get; set; }

    /// <summary>Bytes carried toward the local service.</summary>
    public long BytesIn => Sum(static (ref Stripe s) => Volatile.Read(ref s.BytesIn));
    /// <summary>Bytes carried toward the user.</summary>
    public long BytesOut => Sum(static (ref Stripe s) => Volatile.Read(ref s.BytesOut));
    /// <summary>Connections open now.</summary>
    public long ActiveConnections => Sum(static (ref Stripe s) => Volatile.Read(ref s.Active));
    /// <summary>Connections accepted since start.</summary>
    public long TotalConnections => Sum(static (ref Stripe s) => Volatile.Read(ref s.Total));
    /// <summary>Connections that failed: local service refused or timed out, no data connection in time.</summary>
    public long FailedConnections => Sum(static (ref Stripe s) => Volatile.Read(ref s.Failed));
    /// <summary>Times the client reconnected to the server.</summary>
    public long Reconnects => Sum(static (ref Stripe s) => Volatile.Read(ref s.Reconnects));
    /// <summary>Connections forwarded with splice(2).</summary>
    public long SplicedConnections => Sum(static (ref Stripe s) => Volatile.Read(ref s.Spliced));
    /// <summary>Connections forwarded with the buffered copy.</summary>
    public long CopiedConnections => Sum(static (ref Stripe s) => Volatile.Read(ref s.Copied));
    /// <summary>Connections that wanted splice but fell back to copy (no pipes, unsupported socket).</summary>
    public long SpliceFallbacks => Sum(static (ref Stripe s) => Volatile.Read(ref s.Fallbacks));
    /// <summary>User connections refused at once because the tunnel was at its connection cap.</summary>
    public long RefusedConnections => Sum(static (ref Stripe s) => Volatile.Read(ref s.Refused));
    /// <summary>User connections refused at once for their source address (the tunnel's allow and deny lists).</summary>
    public long SourceRefusedConnections => Sum(static (ref Stripe s) => Volatile.Read(ref s.SourceRefused));
    /// <summary>Connections that ended in a reset once forwarding had begun: a peer reset one side or vanished, a send
    /// failed, or the engine cut them (the tunnel closed, a hard stop, a drain's deadline). Failures to set a connection up
    /// are in <see cref="FailedConnections"/> instead.</summary>
    public long ResetConnections => Sum(static (ref Stripe s) => Volatile.Read(ref s.Reset));
    /// <summary>The most recent error and when it happened.</summary>
    public LastErrorInfo? LastError => _lastError;

    /// <summary>Adds bytes carried toward the local service.</summary>
    public void AddIn(long bytes) { Interlocked.Add(ref Mine.BytesIn, bytes); _parent?.AddIn(bytes); }
    /// <summary>Adds bytes carried toward the user.</summary>
    public void AddOut(long bytes) { Interlocked.Add(ref Mine.BytesOut, bytes); _parent?.AddOut(bytes); }
    /// <summary>A connection opened.</summary>
    public void ConnectionOpened()
    {
        ref var mine = ref Mine;
        Interlocked.Increment(ref mine.Active);
        Interlocked.Increment(ref mine.Total);
        _parent?.ConnectionOpened();
    }
    /// <summary>A connection closed (after <see cref="ConnectionOpened"/>).</summary>
    public void ConnectionClosed() { Interlocked.Decrement(ref Mine.Active); _parent?.ConnectionClosed(); }
    // The message first: whoever sees the count (a volatile read after it) sees the message too, never a failure without one.
    /// <summary>A connection failed; it still needs <see cref="ConnectionClosed"/> if it was opened.</summary>
    public void ConnectionFailed(string error) { RecordError(error); Interlocked.Increment(ref Mine.Failed); _parent?.ConnectionFailed(error); }
    /// <summary>A user connection was refused at the tunnel's connection cap.</summary>
    public void ConnectionRefused() { Interlocked.Increment(ref Mine.Refused); _parent?.ConnectionRefused(); }
    /// <summary>A user connection was refused for its source address.</summary>
    public void SourceRefused() { Interlocked.Increment(ref Mine.SourceRefused); _parent?.SourceRefused(); }
    /// <summary>A forwarded connection ended in a reset (its pump reset both sockets); counted once per connection.</summary>
    public void ConnectionReset() { Interlocked.Increment(ref Mine.Reset); _parent?.ConnectionReset(); }
    /// <summary>The client reconnected.</summary>
    public void Reconnected() { Interlocked.Increment(ref Mine.Reconnects); _parent?.Reconnected(); }
    /// <summary>Counts the forwarding mode a connection used.</summary>
    public void Forwarded(Forwarding.ForwardingMode mode, bool fellBack)
    {
        ref var mine = ref Mine;
        if (mode == Forwarding.ForwardingMode.Splice) Interlocked.Increment(ref mine.Spliced); else Interlocked.Increment(ref mine.Copied);
        if (fellBack) Interlocked.Increment(ref mine.Fallbacks);
        _parent?.Forwarded(mode, fellBack);
    }
    /// <summary>Records an error without counting a failed connection.</summary>
    public void RecordError(string error) => _lastError = new LastErrorInfo(error, DateTimeOffset.UtcNow);

    /// <summary>Takes a rate sample; the engine calls it about once a second.</summary>
    public void Sample(DateTimeOffset now) => _rate.Sample(now.UtcTicks, BytesIn, BytesOut);

    /// <summary>Bytes per second over the last few seconds.</summary>
    public (double In, double Out) Rate(DateTimeOffset now) => _rate.Rate(now.UtcTicks, BytesIn, BytesOut);
}

/// <summary>An error message and its time.</summary>
public sealed record LastErrorInfo(string Message, DateTimeOffset Time);
