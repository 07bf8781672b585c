using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace TunnelLite.Server;

/// <summary>Creates listening sockets for the control port and the public ports.</summary>
internal static class SocketListener
{
    public const int Backlog = 512;

    /// <summary>Accepts the next connection of <paramref name="listener"/>; null once <paramref name="stopping"/> is
    /// cancelled or the listener is closed. A failed accept (out of descriptors and similar) is logged as
    /// "<paramref name="what"/>: accept failed" and retried after 100 ms: the listener stays.</summary>
    public static async Task<Socket?> AcceptAsync(Socket listener, CancellationToken stopping, ILogger log, string what)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                return await listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception) when (stopping.IsCancellationRequested)
            {
                return null;
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
            catch (SocketException e)
            {
                log.LogWarning("{What}: accept failed: {Error}", what, e.Message);
                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
            }
        }
        return null;
    }

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
