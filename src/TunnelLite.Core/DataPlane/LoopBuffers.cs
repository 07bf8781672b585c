using TunnelLite.Forwarding;

namespace TunnelLite.DataPlane;

/// <summary>A loop's buffers: taken only while bytes are in flight and given back as soon as a direction has sent all it
/// read, so an idle connection holds none. Used by one thread, so a plain stack; at most <see cref="MaxIdle"/> wait idle.</summary>
internal sealed class LoopBuffers
{
#if DEBUG
    public const int MaxIdle = 2; // tiny, so that tests exercise renting past the pool
#else
    public const int MaxIdle = 32;
#endif

    /// <summary>Size of each buffer: the buffered pump's, so both planes copy in the same steps.</summary>
    public const int Size = BufferedPump.BufferSize;

    private readonly Stack<byte[]> _idle = new();

    public byte[] Rent()
    {
        return _idle.TryPop(out var b) ? b : GC.AllocateUninitializedArray<byte>(Size, pinned: true);
    }

    public void Return(byte[] buffer)
    {
        if (_idle.Count < MaxIdle) _idle.Push(buffer);
    }
}
