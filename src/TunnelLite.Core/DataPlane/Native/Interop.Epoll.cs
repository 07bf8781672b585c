using System.Runtime.InteropServices;

namespace TunnelLite.DataPlane.Native;

/// <summary>epoll(7). <c>struct epoll_event</c> is packed on x86-64 (12 bytes, data at offset 4) and naturally aligned
/// elsewhere (16 bytes, data at offset 8), so events are read through <see cref="EventSize"/> and <see cref="DataOffset"/>
/// rather than one struct layout.</summary>
internal static unsafe partial class Interop
{
    [Flags]
    public enum EpollEvents : uint
    {
        In = 0x001,
        Out = 0x004,
        Err = 0x008,
        Hup = 0x010,
        RdHup = 0x2000,
        EdgeTriggered = 1u << 31,
    }

    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int ENOENT = 2;

    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    public static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, byte* events, int maxEvents, int timeoutMs);

    /// <summary>epoll_ctl with the event built in the platform's layout; 0 or -1 (errno in GetLastPInvokeError).</summary>
    public static int EpollCtl(int epfd, int op, int fd, EpollEvents events, ulong data)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = (uint)events;
        *(ulong*)(ev + DataOffset) = data;
        return EpollCtl(epfd, op, fd, ev);
    }

    public static EpollEvents EventsAt(byte* events, int i) => (EpollEvents)(*(uint*)(events + i * EventSize));

    public static ulong DataAt(byte* events, int i) => *(ulong*)(events + i * EventSize + DataOffset);
}
