using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Server;

/// <summary>Creates listening sockets for the control port and the public ports.</summary>
internal static class SocketListener
{
    public const int Backlog = 512;

    /// <summary>Parses a bind address ("0.0.0.0", "::", "127.0.0.1", "localhost").</summary>
    public static IPAddress ParseBindAddress(string text)
    {
        if (string.Equals(text, "localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        if (string.IsNullOrWhiteSpace(text) || text == "*") return IPAddress.Any;
        if (IPAddress.TryParse(text.Trim('[', ']'), out var ip)) return ip;
        throw new ArgumentException($"'{text}' is not an IP address to bind to; use 0.0.0.0, ::, 127.0.0.1 or another local address.");
    }

    /// <summary>Binds and listens; a taken port surfaces as <see cref="SocketError.AddressAlreadyInUse"/>.</summary>
    public static Socket Listen(IPAddress address, int port)
    {
        var s = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // "::" also takes IPv4 so that one bind serves both families.
            if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.Equals(IPAddress.IPv6Any)) s.DualMode = true;
            s.NoDelay = true;
            s.Bind(new IPEndPoint(address, port));
            s.Listen(Backlog);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }
}
