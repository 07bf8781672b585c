using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;

namespace TunnelLite.DataPlane;

/// <summary>Takes a connected socket away from the runtime so that a loop owns its descriptor alone.
/// <para>A socket that has done async I/O is registered, edge-triggered, in the runtime's own epoll instance. Left there,
/// every readiness event would also wake the runtime's epoll thread and queue work to the thread pool for a context that
/// has nothing to do, or, once its number is reused, for an unrelated socket: the very hops the loops exist to avoid. So the
/// descriptor is duplicated, removed from the runtime's epoll instances (found once, by reflection; without them the
/// runtime only wastes wake-ups and nothing breaks), and the socket is disposed,
/// which closes the original number only.</para></summary>
internal static class RuntimeSockets
{
    private static readonly Lazy<int[]> RuntimeEpolls = new(FindRuntimeEpolls);

    /// <summary>The socket's connection as a new non-blocking, close-on-exec descriptor that the caller owns; the socket is
    /// disposed. Throws <see cref="SocketException"/> when the descriptor cannot be duplicated (EMFILE).</summary>
    public static int Detach(Socket socket)
    {
        var handle = socket.SafeHandle;
        var added = false;
        int fd;
        try
        {
            handle.DangerousAddRef(ref added);
            var original = (int)handle.DangerousGetHandle();
            fd = LinuxNative.Fcntl(original, Interop.F_DUPFD_CLOEXEC, 0);
            if (fd < 0) throw new SocketException(Marshal.GetLastPInvokeError());
            foreach (var epoll in RuntimeEpolls.Value) Interop.EpollCtl(epoll, Interop.EPOLL_CTL_DEL, original, 0, 0);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
        socket.Dispose();
        var flags = LinuxNative.Fcntl(fd, Interop.F_GETFL, 0);
        if (flags >= 0 && (flags & LinuxNative.O_NONBLOCK) == 0) LinuxNative.Fcntl(fd, Interop.F_SETFL, flags | LinuxNative.O_NONBLOCK);
        return fd;
    }

    /// <summary>The inverse of <see cref="Detach"/>: a loop's descriptor handed to the runtime as a <see cref="Socket"/> that
    /// owns it. Null when the runtime cannot take it (it reads the socket's options and may fail for want of memory); the
    /// descriptor is then closed with a reset and <paramref name="error"/> says why.</summary>
    public static Socket? Adopt(int fd, out string? error)
    {
        try
        {
            error = null;
            return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        }
        catch (SocketException e)
        {
            Interop.CloseWithReset(fd);
            error = e.Message;
            return null;
        }
    }

    private static int[] FindRuntimeEpolls()
    {
        try
        {
            var engine = typeof(Socket).Assembly.GetType("System.Net.Sockets.SocketAsyncEngine");
            var engines = engine?.GetField("s_engines", BindingFlags.NonPublic | BindingFlags.Static)?.GetValue(null) as Array;
            var port = engine?.GetField("_port", BindingFlags.NonPublic | BindingFlags.Instance);
            if (engines is null || port is null) return [];
            var fds = new List<int>();
            foreach (var e in engines)
                if (port.GetValue(e) is IntPtr p && p != IntPtr.Zero) fds.Add((int)p);
            return fds.ToArray();
        }
        catch (Exception e) when (e is TypeLoadException or FieldAccessException or TargetInvocationException or InvalidCastException)
        {
            return [];
        }
    }
}
