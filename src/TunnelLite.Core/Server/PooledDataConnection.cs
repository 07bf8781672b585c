using System.Net.Sockets;
using System.Runtime.InteropServices;
using TunnelLite.DataPlane;
using TunnelLite.DataPlane.Native;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;

namespace TunnelLite.Server;

/// <summary>An idle data connection in a session's pool. One the runtime accepted (the async plane, TLS) is a
/// <see cref="FrameConnection"/>; one whose hello an event loop read is a bare descriptor, so that pairing it on a loop
/// does not make a runtime socket only to take it apart again (about ten system calls: the runtime reads a new socket's
/// type, addresses and flags, and the loop then duplicates the descriptor and takes it out of the runtime's epoll). It
/// becomes a runtime connection only if the control plane needs one.</summary>
internal sealed unsafe class PooledDataConnection : IDisposable
{
    private FrameConnection? _connection;
    private int _fd = -1;

    /// <summary>A connection the runtime holds.</summary>
    public PooledDataConnection(FrameConnection connection) => _connection = connection;

    /// <summary>A connected, non-blocking descriptor, owned from now on.</summary>
    public PooledDataConnection(int fd) => _fd = fd;

    /// <summary>Its bytes pass through TLS: only the stream pump can forward it.</summary>
    public bool IsTls => _connection?.IsTls == true;

    /// <summary>The peer closed it while it idled, or it broke: it cannot carry a user. One system call.</summary>
    public bool PeerClosed()
    {
        if (_connection is { } c) return SocketClose.PeerClosed(c.Socket);
        if (_fd < 0) return true;
        byte b;
        var n = Interop.Recv(_fd, &b, 1, Interop.MSG_PEEK | Interop.MSG_DONTWAIT);
        return n == 0 || (n < 0 && Marshal.GetLastPInvokeError() is not (LinuxNative.EAGAIN or LinuxNative.EINTR));
    }

    /// <summary>For a pair on a loop: the descriptor, which the caller owns from now on (taken from the runtime if it holds
    /// it). Throws <see cref="SocketException"/> when the runtime's descriptor cannot be duplicated; the connection is then
    /// reset.</summary>
    public int TakeDescriptor()
    {
        if (_connection is { } c)
        {
            _connection = null;
            c.Stream.Dispose(); // the stream does not own the socket
            try
            {
                return RuntimeSockets.Detach(c.Socket);
            }
            catch
            {
                SocketClose.Reset(c.Socket);
                throw;
            }
        }
        var fd = _fd;
        _fd = -1;
        return fd;
    }

    /// <summary>For the control plane: a runtime connection, which the caller owns from now on. Null when the runtime cannot
    /// take the descriptor (it is then closed with a reset, and <paramref name="error"/> says why).</summary>
    public FrameConnection? TakeConnection(out string? error)
    {
        error = null;
        if (_connection is { } c)
        {
            _connection = null;
            return c;
        }
        var fd = _fd;
        _fd = -1;
        return RuntimeSockets.Adopt(fd, out error) is { } socket ? new FrameConnection(socket) : null;
    }

    public void Dispose()
    {
        _connection?.Dispose();
        _connection = null;
        if (_fd >= 0) LinuxNative.Close(_fd);
        _fd = -1;
    }
}
