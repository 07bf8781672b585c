using System.Collections.Concurrent;

namespace TunnelLite.Forwarding;

/// <summary>A bounded pool of splice pipes. A pipe is held only while a burst of bytes moves, so an idle connection holds
/// none; at most <see cref="MaxPipes"/> exist at once (the per-user pipe budget is finite), and a pipe that is not empty
/// is closed rather than pooled, so no stale bytes can leak into another connection.</summary>
internal sealed class SplicePipePool
{
    private readonly ConcurrentBag<SplicePipe> _idle = new();
    private int _total;
    private int _idleCount;

    public SplicePipePool(int maxPipes, int maxIdle, int pipeSize)
    {
        MaxPipes = maxPipes;
        MaxIdle = maxIdle;
        PipeSize = pipeSize;
    }

    public int MaxPipes { get; }
    public int MaxIdle { get; }
    public int PipeSize { get; }

    // Descriptors a pipe may not eat into: the pool is shared by the whole process, so the default of the servers'
    // transport.descriptorReserve rather than any one server's.
    private const int DescriptorReserve = Config.TunnelServerOptions.DefaultDescriptorReserve;

    /// <summary>Pipes in existence now (in use and idle).</summary>
    public int Total => Volatile.Read(ref _total);

    /// <summary>A pipe, or null when the cap is reached or the system has none: the caller copies instead.</summary>
    public SplicePipe? TryRent()
    {
        if (_idle.TryTake(out var pipe))
        {
            Interlocked.Decrement(ref _idleCount);
            return pipe;
        }
        // Claim a slot without ever counting past the cap: a caller that is turned away must not, even for a moment,
        // make Total exceed MaxPipes, nor make a concurrent caller find the pool full while a slot is still free.
        // Near the descriptor limit a pipe's two descriptors are worth more to a connection than to an optimisation.
        if (!DescriptorBudget.Process.MayOpenPipe(DescriptorReserve)) return null;
        var total = Volatile.Read(ref _total);
        while (true)
        {
            if (total >= MaxPipes) return null;
            var seen = Interlocked.CompareExchange(ref _total, total + 1, total);
            if (seen == total) break;
            total = seen;
        }
        try
        {
            pipe = SplicePipe.TryCreate(PipeSize);
        }
        catch (IOException)
        {
            pipe = null;
        }
        if (pipe is null) Interlocked.Decrement(ref _total);
        else DescriptorBudget.Process.Opened(2);
        return pipe;
    }

    /// <summary>Takes a pipe back: pooled when empty and there is room, closed otherwise.</summary>
    public void Return(SplicePipe pipe)
    {
        if (pipe.Buffered == 0 && Interlocked.Increment(ref _idleCount) <= MaxIdle)
        {
            _idle.Add(pipe);
            return;
        }
        if (pipe.Buffered == 0) Interlocked.Decrement(ref _idleCount);
        pipe.Dispose();
        Interlocked.Decrement(ref _total);
    }
}
