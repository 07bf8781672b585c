using System.Runtime.InteropServices;

namespace TunnelLite.DataPlane.Native;

/// <summary>The socket calls of the loops: non-blocking recv/send (never SIGPIPE), half-close, abortive close, descriptor
/// flags.</summary>
internal static unsafe partial class Interop
{
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int SHUT_WR = 1;
    public const int SOL_SOCKET = 1;
    public const int SO_LINGER = 13;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int F_DUPFD_CLOEXEC = 1030;
    public const int EPIPE = 32;
    public const int ECONNRESET = 104;

    [StructLayout(LayoutKind.Sequential)]
    private struct Linger
    {
        public int OnOff;
        public int Seconds;
    }

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    /// <summary>Closes with a reset (SO_LINGER 0), as <c>Socket.LingerState = (true, 0)</c> then Dispose does.</summary>
    public static void CloseWithReset(int fd)
    {
        var linger = new Linger { OnOff = 1, Seconds = 0 };
        SetSockOpt(fd, SOL_SOCKET, SO_LINGER, &linger, (uint)sizeof(Linger));
        Forwarding.LinuxNative.Close(fd);
    }
}
