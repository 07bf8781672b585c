using System.Runtime.InteropServices;

namespace TunnelLite.DataPlane.Native;

/// <summary>The socket calls of the loops: non-blocking recv/send (never SIGPIPE), half-close, abortive close, descriptor
/// flags.</summary>
internal static unsafe partial class Interop
{
    public const int MSG_PEEK = 0x2;
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
        SetLingerZero(fd, true);
        Forwarding.LinuxNative.Close(fd);
    }

    /// <summary>Closes a connection whose streams ended cleanly, with a FIN after its unsent bytes: undoes
    /// <see cref="SetLingerZero"/> first, which a plain close would turn into a reset that drops those bytes.</summary>
    public static void CloseGracefully(int fd)
    {
        SetLingerZero(fd, false);
        Forwarding.LinuxNative.Close(fd);
    }

    /// <summary>SO_LINGER 0 on (or off): a close, including the kernel's when the process dies, sends a reset rather than
    /// a FIN. A connection carries it while its streams run (see <see cref="Forwarding.SocketClose.ResetIfAbandoned"/>).</summary>
    public static void SetLingerZero(int fd, bool on)
    {
        var linger = new Linger { OnOff = on ? 1 : 0, Seconds = 0 };
        SetSockOpt(fd, SOL_SOCKET, SO_LINGER, &linger, (uint)sizeof(Linger));
    }

    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int ECONNABORTED = 103;
    public const int AF_INET = 2;
    public const int AF_INET6 = 10;

    /// <summary>Room for a sockaddr_in6 (28 bytes) and more.</summary>
    public const int SockAddrSize = 128;

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, byte* address, uint* addressLength, int flags);

    /// <summary>The peer address an accept4 filled in (IPv4 or IPv6); null for any other family.</summary>
    public static System.Net.IPEndPoint? ToEndPoint(byte* sockaddr)
    {
        var family = *(ushort*)sockaddr;
        var port = (sockaddr[2] << 8) | sockaddr[3];
        if (family == AF_INET) return new System.Net.IPEndPoint(new System.Net.IPAddress(new ReadOnlySpan<byte>(sockaddr + 4, 4)), port);
        if (family == AF_INET6)
            return new System.Net.IPEndPoint(new System.Net.IPAddress(new ReadOnlySpan<byte>(sockaddr + 8, 16), *(uint*)(sockaddr + 24)), port);
        return null;
    }

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    private static partial int GetSockName(int fd, byte* address, uint* addressLength);

    /// <summary>The local address of a connected socket (on a wildcard listener, the address the peer reached); null when
    /// it cannot be read.</summary>
    public static System.Net.IPEndPoint? LocalEndPoint(int fd)
    {
        var address = stackalloc byte[SockAddrSize];
        var length = (uint)SockAddrSize;
        return GetSockName(fd, address, &length) == 0 ? ToEndPoint(address) : null;
    }

    public const int SOCK_STREAM = 1;
    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;
    public const int SO_ERROR = 4;
    public const int EINPROGRESS = 115;
    public const int ETIMEDOUT = 110;

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, byte* address, uint addressLength);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOpt(int fd, int level, int name, void* value, uint* length);

    /// <summary>Turns Nagle off, as the engine does on every tunnel socket.</summary>
    public static void SetNoDelay(int fd)
    {
        var one = 1;
        SetSockOpt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));
    }

    /// <summary>The pending error of a socket (SO_ERROR), which also clears it: how a non-blocking connect's outcome is read.</summary>
    public static int PendingError(int fd)
    {
        int error;
        var length = (uint)sizeof(int);
        return GetSockOpt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 ? error : Marshal.GetLastPInvokeError();
    }

    /// <summary>Writes <paramref name="endPoint"/> as a sockaddr_in or sockaddr_in6; returns its length.</summary>
    public static uint ToSockAddr(System.Net.IPEndPoint endPoint, byte* sockaddr)
    {
        new Span<byte>(sockaddr, 28).Clear();
        sockaddr[2] = (byte)(endPoint.Port >> 8);
        sockaddr[3] = (byte)endPoint.Port;
        if (endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            *(ushort*)sockaddr = AF_INET;
            endPoint.Address.TryWriteBytes(new Span<byte>(sockaddr + 4, 4), out _);
            return 16;
        }
        *(ushort*)sockaddr = AF_INET6;
        endPoint.Address.TryWriteBytes(new Span<byte>(sockaddr + 8, 16), out _);
        *(uint*)(sockaddr + 24) = (uint)endPoint.Address.ScopeId;
        return 28;
    }
}
