namespace TunnelLite.DataPlane;

/// <summary>The loops of one server or client: started on first use (a server's is its control port; a client that
/// forwards nothing runs none), each new pair given to the next loop in turn.</summary>
internal sealed class EventLoopGroup : IDisposable
{
    private readonly object _gate = new();
    private EventLoop[]? _loops;
    private int _next = -1;
    private bool _disposed;

    public EventLoopGroup(int count) => Count = count;

    /// <summary>Loops in the group.</summary>
    public int Count { get; }

    /// <summary>Raised once, from the failing loop's thread, when a loop dies.</summary>
    public event Action<Exception>? Failed;

    /// <summary>The loops started so far (none before the first pair).</summary>
    public IReadOnlyList<EventLoop> Loops => Volatile.Read(ref _loops) ?? [];

    /// <summary>The loop for the next pair, round robin.</summary>
    public EventLoop Next()
    {
        var loops = Volatile.Read(ref _loops) ?? Start();
        return loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)loops.Length)];
    }

    /// <summary>The calling thread's loop when it is one of this group's (work born on a loop stays there: no wake-up of
    /// another thread), else the next loop in turn.</summary>
    public EventLoop Local()
    {
        if (EventLoop.Current is { } here && Volatile.Read(ref _loops) is { } loops && Array.IndexOf(loops, here) >= 0) return here;
        return Next();
    }

    private EventLoop[] Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_loops is not null) return _loops;
            var loops = new EventLoop[Count];
            for (var i = 0; i < Count; i++) loops[i] = new EventLoop(i, OnFailed);
            Volatile.Write(ref _loops, loops);
            return loops;
        }
    }

    private int _failed;

    private void OnFailed(EventLoop loop, Exception e)
    {
        if (Interlocked.Exchange(ref _failed, 1) == 0)
            Failed?.Invoke(new IOException($"Event loop {loop.Id} failed: {e.Message}", e));
    }

    public void Dispose()
    {
        EventLoop[]? loops;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            loops = _loops;
        }
        if (loops is null) return;
        foreach (var loop in loops) loop.Dispose();
    }
}
