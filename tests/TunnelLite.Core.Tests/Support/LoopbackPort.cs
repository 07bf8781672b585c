using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>A port free on 127.0.0.1 now, for a program or config file that must be told its port before it binds (the
/// kernel picks it; another process could take it before the caller binds, which on loopback in a test is rare enough).</summary>
public static class LoopbackPort
{
    public static int Free()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
