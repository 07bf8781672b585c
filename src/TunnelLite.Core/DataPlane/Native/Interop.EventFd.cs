using System.Runtime.InteropServices;

namespace TunnelLite.DataPlane.Native;

/// <summary>eventfd(2): the counter a loop sleeps on, written by the thread that hands it work.</summary>
internal static unsafe partial class Interop
{
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint count);
}
