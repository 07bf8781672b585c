using System.Net.Sockets;

namespace TunnelLite.Forwarding;

/// <summary>Closing helpers shared by the pumps and the engine; none of them throws.</summary>
internal static class SocketClose
{
    /// <summary>Closes with an RST (linger 0), so that the peer sees a reset rather than a clean end.</summary>
    public static void Reset(Socket s)
    {
        try { s.LingerState = new LingerOption(true, 0); } catch (Exception) { /* already closed */ }
        s.Dispose();
    }

    /// <summary>Sends FIN: this side will send no more, the other direction goes on.</summary>
    public static void ShutdownSend(Socket s)
    {
        try { s.Shutdown(SocketShutdown.Send); } catch (Exception) { /* peer gone or already closed */ }
    }

    /// <summary>True when the peer has closed or reset the connection, without blocking or consuming data.</summary>
    public static bool PeerClosed(Socket s)
    {
        try { return s.Poll(0, SelectMode.SelectRead) && s.Available == 0; }
        catch (Exception) { return true; }
    }
}
