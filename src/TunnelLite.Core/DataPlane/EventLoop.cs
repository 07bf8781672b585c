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
    private const Interop.EpollEvents SocketEvents =
        Interop.EpollEvents.In | Interop.EpollEvents.Out | Interop.EpollEvents.RdHup | Interop.EpollEvents.EdgeTriggered;

    private readonly int _epoll;
    private readonly Handoff _handoff = new();
    private readonly Thread _thread;
    private readonly Action<EventLoop, Exception> _failed;
    private SocketPair?[] _pairs = new SocketPair?[64];
    private uint[] _generations = new uint[64];
    private readonly Stack<int> _freeSlots = new();
    private int _slotsUsed;
    private List<SocketPair> _again = new();
    private List<SocketPair> _running = new();
    private volatile bool _stopping;
    private volatile bool _stopped;
    private int _pairCount;
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
        _thread.Start();
    }

    public int Id { get; }

    /// <summary>Pairs on this loop now.</summary>
    public int Pairs => Volatile.Read(ref _pairCount);

    /// <summary>Events for slots that had been freed (dropped, as they should be); for tests and diagnostics.</summary>
    public long StaleEvents => Volatile.Read(ref _staleEvents);

    /// <summary>Bytes the loop's thread has allocated, as of its last pass: the measure of "no allocation per message".</summary>
    public long AllocatedBytes => Volatile.Read(ref _allocated);

    /// <summary>True while the loop's thread runs.</summary>
    public bool IsRunning => _thread.IsAlive;

    /// <summary>The loop's buffers (loop thread only).</summary>
    public LoopBuffers Buffers { get; } = new();

    /// <summary>The loop's splice pipes, held only mid-burst; within the process's descriptor budget.</summary>
    public SplicePipePool Pipes { get; } = new(maxPipes: 256, maxIdle: 16, SplicePump.PipeSize);

    /// <summary>The error the loop died of, if it did.</summary>
    public Exception? Fault { get; private set; }

    /// <summary>Hands work to the loop; any thread. After the loop stopped, a new pair is reset at once.</summary>
    public void Post(LoopWork work)
    {
        _handoff.Post(work);
        if (_stopped) FailQueued();
    }

    /// <summary>Loop thread: runs <paramref name="pair"/> again after this pass's events.</summary>
    public void RunAgain(SocketPair pair)
    {
        pair.Queued = true;
        _again.Add(pair);
    }

    /// <summary>Loop thread: frees the pair's slot (its descriptors are about to close, which takes them out of epoll).</summary>
    public void Detach(SocketPair pair)
    {
        _pairs[pair.Slot] = null;
        _generations[pair.Slot]++;
        _freeSlots.Push(pair.Slot);
        Interlocked.Decrement(ref _pairCount);
    }

    private void Run()
    {
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * Interop.EventSize));
        try
        {
            while (!_stopping)
            {
                TakeHandoffs();
                var timeout = _again.Count > 0 || !_handoff.PrepareToSleep() ? 0 : -1;
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
                Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread());
            }
        }
        catch (Exception e)
        {
            Fault = e;
        }
        finally
        {
            _stopped = true;
            for (var slot = 0; slot < _slotsUsed; slot++) _pairs[slot]?.Abort();
            FailQueued();
            NativeMemory.Free(events);
            LinuxNative.Close(_epoll);
            if (Fault is { } fault) _failed(this, fault);
        }
    }

    private void TakeHandoffs()
    {
        while (_handoff.TryTake(out var work))
        {
            switch (work.Kind)
            {
                case LoopWorkKind.Add: Add(work.Pair!); break;
                case LoopWorkKind.Abort: work.Pair!.Abort(); break;
                default: throw new InvalidOperationException("The loop was told to fail.");
            }
        }
    }

    private void Add(SocketPair pair)
    {
        int slot;
        if (_freeSlots.Count > 0) slot = _freeSlots.Pop();
        else
        {
            if (_slotsUsed == _pairs.Length)
            {
                Array.Resize(ref _pairs, _pairs.Length * 2);
                Array.Resize(ref _generations, _generations.Length * 2);
            }
            slot = _slotsUsed++;
        }
        var generation = _generations[slot];
        _pairs[slot] = pair;
        Interlocked.Increment(ref _pairCount);
        pair.Attach(this, slot, generation);
        var token = ((ulong)generation << 32) | ((ulong)(uint)slot << 1);
        if (Interop.EpollCtl(_epoll, Interop.EPOLL_CTL_ADD, pair.UserFd, SocketEvents, token) != 0
            || Interop.EpollCtl(_epoll, Interop.EPOLL_CTL_ADD, pair.ServiceFd, SocketEvents, token | 1) != 0)
        {
            pair.Abort();
            return;
        }
        // Both ends start ready: whatever arrived before registration is read now, not at the next edge.
        pair.Progress();
    }

    private void Dispatch(ulong token, Interop.EpollEvents events)
    {
        var slot = (int)((uint)token >> 1);
        var pair = slot < _slotsUsed ? _pairs[slot] : null;
        if (pair is null || pair.Generation != (uint)(token >> 32))
        {
            _staleEvents++;
            return;
        }
        pair.OnEvent((int)(token & 1), events);
        pair.Progress();
    }

    private void RunAgainList()
    {
        if (_again.Count == 0) return;
        (_running, _again) = (_again, _running);
        foreach (var pair in _running)
        {
            pair.Queued = false;
            pair.Progress();
        }
        _running.Clear();
    }

    // Resets pairs handed over that the loop will never run (it stopped); safe from any thread, each item is taken once.
    private void FailQueued()
    {
        while (_handoff.TryTake(out var work))
            if (work.Kind == LoopWorkKind.Add) work.Pair!.AbortDetached();
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
