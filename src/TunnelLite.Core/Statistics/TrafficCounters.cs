namespace TunnelLite.Statistics;

/// <summary>Lock-free counters of one tunnel (or of a whole server), updated by the pumps and read as a snapshot.
/// "In" is toward the local service, "Out" toward the user. Updates also flow to an optional parent (the server total).</summary>
public sealed class TrafficCounters
{
    private long _bytesIn, _bytesOut, _active, _total, _failed, _reconnects, _spliced, _copied, _fallbacks, _refused;
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

    /// <summary>Bytes carried toward the local service.</summary>
    public long BytesIn => Interlocked.Read(ref _bytesIn);
    /// <summary>Bytes carried toward the user.</summary>
    public long BytesOut => Interlocked.Read(ref _bytesOut);
    /// <summary>Connections open now.</summary>
    public long ActiveConnections => Interlocked.Read(ref _active);
    /// <summary>Connections accepted since start.</summary>
    public long TotalConnections => Interlocked.Read(ref _total);
    /// <summary>Connections that failed: local service refused or timed out, no data connection in time.</summary>
    public long FailedConnections => Interlocked.Read(ref _failed);
    /// <summary>Times the client reconnected to the server.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);
    /// <summary>Connections forwarded with splice(2).</summary>
    public long SplicedConnections => Interlocked.Read(ref _spliced);
    /// <summary>Connections forwarded with the buffered copy.</summary>
    public long CopiedConnections => Interlocked.Read(ref _copied);
    /// <summary>Connections that wanted splice but fell back to copy (no pipes, unsupported socket).</summary>
    public long SpliceFallbacks => Interlocked.Read(ref _fallbacks);
    /// <summary>User connections refused at once because the tunnel was at its connection cap.</summary>
    public long RefusedConnections => Interlocked.Read(ref _refused);
    /// <summary>The most recent error and when it happened.</summary>
    public LastErrorInfo? LastError => _lastError;

    /// <summary>Adds bytes carried toward the local service.</summary>
    public void AddIn(long bytes) { Interlocked.Add(ref _bytesIn, bytes); _parent?.AddIn(bytes); }
    /// <summary>Adds bytes carried toward the user.</summary>
    public void AddOut(long bytes) { Interlocked.Add(ref _bytesOut, bytes); _parent?.AddOut(bytes); }
    /// <summary>A connection opened.</summary>
    public void ConnectionOpened() { Interlocked.Increment(ref _active); Interlocked.Increment(ref _total); _parent?.ConnectionOpened(); }
    /// <summary>A connection closed (after <see cref="ConnectionOpened"/>).</summary>
    public void ConnectionClosed() { Interlocked.Decrement(ref _active); _parent?.ConnectionClosed(); }
    // The message first: whoever sees the count (a volatile read after it) sees the message too, never a failure without one.
    /// <summary>A connection failed; it still needs <see cref="ConnectionClosed"/> if it was opened.</summary>
    public void ConnectionFailed(string error) { RecordError(error); Interlocked.Increment(ref _failed); _parent?.ConnectionFailed(error); }
    /// <summary>A user connection was refused at the tunnel's connection cap.</summary>
    public void ConnectionRefused() { Interlocked.Increment(ref _refused); _parent?.ConnectionRefused(); }
    /// <summary>The client reconnected.</summary>
    public void Reconnected() { Interlocked.Increment(ref _reconnects); _parent?.Reconnected(); }
    /// <summary>Counts the forwarding mode a connection used.</summary>
    public void Forwarded(Forwarding.ForwardingMode mode, bool fellBack)
    {
        if (mode == Forwarding.ForwardingMode.Splice) Interlocked.Increment(ref _spliced); else Interlocked.Increment(ref _copied);
        if (fellBack) Interlocked.Increment(ref _fallbacks);
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
