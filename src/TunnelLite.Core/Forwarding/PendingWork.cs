namespace TunnelLite.Forwarding;

/// <summary>Work a stop must wait for: tasks, and work that runs without one (a data connection on an event loop, which
/// says when it began and ended). Cheaper than a set of tasks: a count, and a continuation that runs where the task ends,
/// so tracking costs no thread-pool hop.</summary>
internal sealed class PendingWork
{
    private readonly object _gate = new();
    private int _count;
    private TaskCompletionSource? _drained;

    /// <summary>Work in progress now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Work without a task began; <see cref="End"/> once it is over.</summary>
    public void Begin() => Interlocked.Increment(ref _count);

    /// <summary>Work begun with <see cref="Begin"/> is over.</summary>
    public void End()
    {
        if (Interlocked.Decrement(ref _count) != 0) return;
        lock (_gate) _drained?.TrySetResult();
    }

    /// <summary>Counts <paramref name="task"/> until it completes.</summary>
    public void Track(Task task)
    {
        Begin();
        task.ContinueWith(static (_, s) => ((PendingWork)s!).End(), this, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Completes once no work is in progress (for a stop, after which no new work begins).</summary>
    public Task WhenDrainedAsync()
    {
        lock (_gate)
        {
            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (Count == 0) _drained.TrySetResult();
            return _drained.Task;
        }
    }
}
