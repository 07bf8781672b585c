using TunnelLite.DataPlane.Native;

namespace TunnelLite.DataPlane;

/// <summary>Something a loop owns and wakes on events: a connection pair, a listener. It lives in one of the loop's slots;
/// its descriptors' epoll tokens carry that slot, the slot's generation and which of its ends (0 or 1) fired.</summary>
internal abstract class LoopHandle
{
    /// <summary>The loop's slot and its generation at attach: an event whose token names another generation is stale.</summary>
    public int Slot { get; private set; }
    public uint Generation { get; private set; }

    /// <summary>The loop that runs it (set on that loop's thread when it starts).</summary>
    public EventLoop? Loop { get; private set; }

    /// <summary>The loop it was posted to, readable from any thread (to post it an abort).</summary>
    public EventLoop? PostedLoop { get; private set; }

    /// <summary>Any thread, before posting: remembers the loop.</summary>
    public void PostedTo(EventLoop loop) => PostedLoop = loop;

    /// <summary>In the loop's list of handles to run again this pass.</summary>
    public bool Queued { get; set; }

    /// <summary>Loop thread: takes its slot, before <see cref="Start"/>.</summary>
    public void Attach(EventLoop loop, int slot, uint generation)
    {
        Loop = loop;
        Slot = slot;
        Generation = generation;
    }

    /// <summary>Loop thread: registers its descriptors (<see cref="EventLoop.Watch"/>) and does what is ready already.</summary>
    public abstract void Start();

    /// <summary>Loop thread: an edge on end <paramref name="end"/>.</summary>
    public abstract void OnEvent(int end, Interop.EpollEvents events);

    /// <summary>When its timer fires (Environment.TickCount64 ms); 0 for none. Set through <see cref="TimerQueue.Arm"/>;
    /// set to 0 to cancel.</summary>
    public long TimerDue { get; set; }

    /// <summary>Loop thread: its timer fired.</summary>
    public virtual void OnTimer() { }

    /// <summary>Loop thread: runs again after it asked to (<see cref="EventLoop.RunAgain"/>).</summary>
    public virtual void RunAgain() { }

    /// <summary>Loop thread: closes it at once (a hard stop, a removal, the loop going away). Safe to call twice.</summary>
    public abstract void Abort();

    /// <summary>Any thread: closes a handle that was posted to a loop that will never run it.</summary>
    public abstract void AbortDetached();
}
