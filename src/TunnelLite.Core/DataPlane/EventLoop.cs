using System.Runtime.InteropServices;
using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;

namespace TunnelLite.DataPlane;

/// <summary>One thread that owns an epoll instance and the connection pairs handed to it. A pass: take what was handed
/// over, wait for events (not at all when pairs still have work from a spent budget), run the pairs the events name,
/// then the pairs that spent their budget. Sockets are registered once, edge-triggered, for both directions
/// (as nginx's ngx_epoll_add_connection); the token is generation &lt;&lt; 32 | slot &lt;&lt; 1 | end, so an event for a
/// slot that was freed and reused is recognised and dropped (HAProxy keeps a generation in its epoll data the same way).
/// <para>A loop that fails (a bug, or the kernel refusing epoll) resets its pairs and reports the error to its owner,
/// which ends the server or tunnel job; it never ends the process.</para></summary>
internal sealed unsafe class EventLoop : IDisposable
{
#if DEBUG
    private const int MaxEvents = 4; // tiny, so that tests exercise a full event buffer
#else
    private const int MaxEvents = 256;
#endif
    private const ulong WakeToken = ulong.MaxValue;

    private readonly int _epoll;
    private readonly Handoff _handoff = new();
    private readonly Thread _thread;
    private readonly Action<EventLoop, Exception> _failed;
    private LoopHandle?[] _handles = new LoopHandle?[64];
    private uint[] _generations = new uint[64];
    private readonly Stack<int> _freeSlots = new();
    private int _slotsUsed;
    private List<LoopHandle> _again = new();
    private List<LoopHandle> _running = new();
    private volatile bool _stopping;
    private volatile bool _stopped;
    private int _handleCount;
    private long _staleEvents;
    private long _allocated;

    public EventLoop(int id, Action<EventLoop, Exception> failed)
    {
        Id = id;
        _failed = failed;
        _epoll = Interop.EpollCreate1(Interop.EPOLL_CLOEXEC);
        if (_epoll < 0) throw new IOException($"epoll_create1 failed (errno {Marshal.GetLastPInvokeError()}).");
        if (Interop.EpollCtl(_epoll, Interop.EPOLL_CTL_ADD, _handoff.Fd, Interop.EpollEvents.In | Interop.EpollEvents.EdgeTriggered, WakeToken) != 0)
            throw new IOException($"epoll_ctl failed on the loop's eventfd (errno {Marshal.GetLastPInvokeError()}).");
        _thread = new Thread(Run) { IsBackground = true, Name = $"TunnelLite loop {id}" };
        // Without the starter's ExecutionContext: a loop outlives the call that started it (a cmdlet's pipeline, a job) and
        // must not hold its async-locals, nor pass them to everything started from the loop.
        _thread.UnsafeStart();
    }

    public int Id { get; }

    /// <summary>Handles (connection pairs, listeners) on this loop now.</summary>
    public int Handles => Volatile.Read(ref _handleCount);

    /// <summary>Events for slots that had been freed (dropped, as they should be); for tests and diagnostics.</summary>
    public long StaleEvents => Volatile.Read(ref _staleEvents);

    /// <summary>Bytes the loop's thread has allocated, as of its last pass: the measure of "no allocation per message".</summary>
    public long AllocatedBytes => Volatile.Read(ref _allocated);

    /// <summary>True while the loop's thread runs.</summary>
    public bool IsRunning => _thread.IsAlive;

    /// <summary>The loop's timers (loop thread only).</summary>
    public TimerQueue Timers { get; } = new();

    /// <summary>The loop's buffers (loop thread only).</summary>
    public LoopBuffers Buffers { get; } = new();

    /// <summary>The loop's splice pipes, held only mid-burst; within the process's descriptor budget.</summary>
    public SplicePipePool Pipes { get; } = new(maxPipes: 256, maxIdle: 16, SplicePump.PipeSize);

    /// <summary>Hands work to the loop; any thread. After the loop stopped, a new pair is reset at once.</summary>
    public void Post(LoopWork work)
    {
        _handoff.Post(work);
        if (_stopped) FailQueued();
    }

    /// <summary>Loop thread: runs <paramref name="handle"/> again after this pass's events.</summary>
    public void RunAgain(LoopHandle handle)
    {
        if (handle.Queued) return;
        handle.Queued = true;
        _again.Add(handle);
    }

    /// <summary>Loop thread: registers <paramref name="fd"/> as end <paramref name="end"/> (0 or 1) of <paramref name="handle"/>,
    /// once, edge-triggered. False when epoll refuses it.</summary>
    public bool Watch(LoopHandle handle, int fd, int end, Interop.EpollEvents events)
    {
        var token = ((ulong)handle.Generation << 32) | ((ulong)(uint)handle.Slot << 1) | (uint)end;
        return Interop.EpollCtl(_epoll, Interop.EPOLL_CTL_ADD, fd, events | Interop.EpollEvents.EdgeTriggered, token) == 0;
    }

    /// <summary>Loop thread: frees the handle's slot (its descriptors are about to close, which takes them out of epoll).</summary>
    public void Detach(LoopHandle handle)
    {
        _handles[handle.Slot] = null;
        _generations[handle.Slot]++;
        _freeSlots.Push(handle.Slot);
        Interlocked.Decrement(ref _handleCount);
    }

    /// <summary>Loop thread: for a handle that passes its descriptor on (to a pair, to the control plane): takes
    /// <paramref name="fd"/> out of this loop's epoll set and frees the handle's slot, leaving the descriptor open.</summary>
    public void Release(LoopHandle handle, int fd)
    {
        Interop.EpollCtl(_epoll, Interop.EPOLL_CTL_DEL, fd, 0, 0);
        Detach(handle);
    }

    [ThreadStatic] private static EventLoop? t_current;

    /// <summary>The loop whose thread this is; null on any other thread.</summary>
    public static EventLoop? Current => t_current;

    private void Run()
    {
        t_current = this;
        Statistics.TrafficCounters.CountOnLoop(Id);
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * Interop.EventSize));
        Exception? fault = null;
        try
        {
            while (!_stopping)
            {
                TakeHandoffs();
                var timeout = _again.Count > 0 ? 0 : Timers.IsEmpty ? -1 : Timers.NextTimeout(Environment.TickCount64);
                if (timeout != 0 && !_handoff.PrepareToSleep()) timeout = 0;
                var n = Interop.EpollWait(_epoll, events, MaxEvents, timeout);
                _handoff.Awake();
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == LinuxNative.EINTR) continue;
                    throw new IOException($"epoll_wait failed (errno {errno}).");
                }
                for (var i = 0; i < n; i++)
                {
                    var token = Interop.DataAt(events, i);
                    if (token == WakeToken) _handoff.Reset();
                    else Dispatch(token, Interop.EventsAt(events, i));
                }
                RunAgainList();
                if (!Timers.IsEmpty) Timers.RunDue(Environment.TickCount64);
                Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread());
            }
        }
        catch (Exception e)
        {
            fault = e;
        }
        finally
        {
            _stopped = true;
            // Nothing may escape this thread: an exception here would end the process, not just this loop.
            for (var slot = 0; slot < _slotsUsed; slot++)
            {
                try { _handles[slot]?.Abort(); }
                catch (Exception e) { fault ??= e; }
            }
            try { FailQueued(); }
            catch (Exception e) { fault ??= e; }
            NativeMemory.Free(events);
            LinuxNative.Close(_epoll);
            if (fault is not null)
            {
                try { _failed(this, fault); }
                catch (Exception) { /* the owner's handler failed; the loop is gone either way */ }
            }
        }
    }

    private void TakeHandoffs()
    {
        while (_handoff.TryTake(out var work))
        {
            switch (work.Kind)
            {
                case LoopWorkKind.Add: Add(work.Handle!); break;
                case LoopWorkKind.Abort: work.Handle!.Abort(); break;
                default: throw new InvalidOperationException("The loop was told to fail.");
            }
        }
    }

    private void Add(LoopHandle handle)
    {
        int slot;
        if (_freeSlots.Count > 0) slot = _freeSlots.Pop();
        else
        {
            if (_slotsUsed == _handles.Length)
            {
                Array.Resize(ref _handles, _handles.Length * 2);
                Array.Resize(ref _generations, _generations.Length * 2);
            }
            slot = _slotsUsed++;
        }
        _handles[slot] = handle;
        Interlocked.Increment(ref _handleCount);
        handle.Attach(this, slot, _generations[slot]);
        handle.Start();
    }

    private void Dispatch(ulong token, Interop.EpollEvents events)
    {
        var slot = (int)((uint)token >> 1);
        var handle = slot < _slotsUsed ? _handles[slot] : null;
        if (handle is null || handle.Generation != (uint)(token >> 32))
        {
            _staleEvents++;
            return;
        }
        handle.OnEvent((int)(token & 1), events);
    }

    private void RunAgainList()
    {
        if (_again.Count == 0) return;
        (_running, _again) = (_again, _running);
        foreach (var handle in _running)
        {
            handle.Queued = false;
            handle.RunAgain();
        }
        _running.Clear();
    }

    // Resets pairs handed over that the loop will never run (it stopped); safe from any thread, each item is taken once.
    private void FailQueued()
    {
        while (_handoff.TryTake(out var work))
            if (work.Kind == LoopWorkKind.Add) work.Handle!.AbortDetached();
    }

    /// <summary>Stops the loop: its pairs are reset (the owner lets connections drain before it disposes the loops).</summary>
    public void Dispose()
    {
        _stopping = true;
        _handoff.Wake();
        if (Thread.CurrentThread != _thread) _thread.Join();
        _handoff.Dispose();
    }
}
