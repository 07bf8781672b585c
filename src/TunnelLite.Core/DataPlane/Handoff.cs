using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;

namespace TunnelLite.DataPlane;

/// <summary>How the control plane gives a loop work: a queue the loop drains on each pass, and an eventfd in the loop's
/// epoll set that is written only when the loop sleeps (as Tmds.LinuxAsync's EPollThread.Post does), so a busy loop
/// takes new work without a system call on either side.</summary>
internal sealed unsafe class Handoff : IDisposable
{
    private readonly ConcurrentQueue<LoopWork> _queue = new();
    // A SafeHandle, so that a Post racing with Dispose can never write to a closed number that another file reuses.
    private readonly SafeFileHandle _handle;
    private int _sleeping;

    public Handoff()
    {
        Fd = Interop.EventFd(0, Interop.EFD_NONBLOCK | Interop.EFD_CLOEXEC);
        if (Fd < 0) throw new IOException($"eventfd failed (errno {Marshal.GetLastPInvokeError()}).");
        _handle = new SafeFileHandle(Fd, ownsHandle: true);
    }

    /// <summary>The eventfd; readable when the loop was woken.</summary>
    public int Fd { get; }

    /// <summary>Queues work and wakes the loop if it sleeps. Any thread.</summary>
    public void Post(LoopWork work)
    {
        _queue.Enqueue(work);
        if (Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1) Wake();
    }

    /// <summary>Loop thread: about to wait. False when work came in meanwhile (then do not sleep).</summary>
    public bool PrepareToSleep()
    {
        Interlocked.Exchange(ref _sleeping, 1);
        if (_queue.IsEmpty) return true;
        Volatile.Write(ref _sleeping, 0);
        return false;
    }

    /// <summary>Loop thread: awake again.</summary>
    public void Awake() => Volatile.Write(ref _sleeping, 0);

    /// <summary>Loop thread: the next work item, if any.</summary>
    public bool TryTake(out LoopWork work) => _queue.TryDequeue(out work);

    /// <summary>Loop thread: resets the eventfd after it fired.</summary>
    public void Reset()
    {
        ulong value;
        LinuxNative.Read(Fd, (byte*)&value, sizeof(ulong));
    }

    /// <summary>Wakes the loop whatever it is doing (used to stop it).</summary>
    public void Wake()
    {
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            ulong one = 1;
            Interop.Write(Fd, (byte*)&one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
            // The loop is gone; whoever posted finds out from its stopped state.
        }
        finally
        {
            if (added) _handle.DangerousRelease();
        }
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>What the control plane asks of a loop.</summary>
internal enum LoopWorkKind
{
    /// <summary>Take a new handle (a connection pair, a listener) and start it.</summary>
    Add,
    /// <summary>Close a handle at once (a pair's owner was cancelled: a hard stop; a listener removed).</summary>
    Abort,
    /// <summary>Throw on the loop's thread, as a bug in it would (a test seam for the failure path).</summary>
    Fail,
}

/// <summary>One hand-off: what to do, to which handle (none for <see cref="LoopWorkKind.Fail"/>).</summary>
internal readonly record struct LoopWork(LoopWorkKind Kind, LoopHandle? Handle);
