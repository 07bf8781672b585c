namespace TunnelLite.DataPlane;

/// <summary>A loop's timers: each handle keeps its own deadline (<see cref="LoopHandle.TimerDue"/>), and the queue holds
/// (handle, deadline) entries that are checked against it when they come due, so re-arming or cancelling is a field
/// write and a stale entry is dropped then (nginx keeps the timer in the event the same way; a wheel would do as well
/// for the few timers the loops have: connect deadlines and accept back-off). Loop thread only.</summary>
internal sealed class TimerQueue
{
    private readonly PriorityQueue<LoopHandle, long> _queue = new();

    /// <summary>Fires <paramref name="handle"/>'s <see cref="LoopHandle.OnTimer"/> at <paramref name="dueMs"/>
    /// (Environment.TickCount64 time), replacing any deadline it had.</summary>
    public void Arm(LoopHandle handle, long dueMs)
    {
        handle.TimerDue = dueMs;
        _queue.Enqueue(handle, dueMs);
    }

    /// <summary>No entries (not even stale ones): the loop need not read the clock.</summary>
    public bool IsEmpty => _queue.Count == 0;

    /// <summary>Milliseconds until the next deadline: -1 when none, 0 when one is due.</summary>
    public int NextTimeout(long nowMs)
    {
        while (_queue.TryPeek(out var handle, out var due))
        {
            if (handle.TimerDue != due) { _queue.Dequeue(); continue; } // re-armed or cancelled
            return (int)Math.Clamp(due - nowMs, 0, int.MaxValue);
        }
        return -1;
    }

    /// <summary>Runs the timers due at <paramref name="nowMs"/>.</summary>
    public void RunDue(long nowMs)
    {
        while (_queue.TryPeek(out var handle, out var due) && due <= nowMs)
        {
            _queue.Dequeue();
            if (handle.TimerDue != due) continue;
            handle.TimerDue = 0;
            handle.OnTimer();
        }
    }
}
