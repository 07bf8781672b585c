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

    /// <summary>Makes any close of <paramref name="s"/> but <see cref="Graceful"/> a reset, the kernel's own when the process
    /// dies included. A pump calls it on both sockets as a connection starts: a peer of a process that is killed mid-stream
    /// (a user, a load balancer, the TunnelLite at the other end) then sees a reset, as it would if the process had failed the
    /// connection itself, and never a FIN, which it could not tell from the clean end of a stream cut short.</summary>
    public static void ResetIfAbandoned(Socket s)
    {
        try { s.LingerState = new LingerOption(true, 0); } catch (Exception) { /* already closed: nothing to protect */ }
    }

    /// <summary>Closes a connection whose streams both ended cleanly: the FINs were sent, and the bytes still in the send
    /// buffer go out before the close completes (undoing <see cref="ResetIfAbandoned"/>).</summary>
    public static void Graceful(Socket s)
    {
        try { s.LingerState = new LingerOption(false, 0); } catch (Exception) { /* already closed */ }
        s.Dispose();
    }

    /// <summary>Ends a pumped connection: when a direction <paramref name="failed"/>, both sockets are reset (again, if the
    /// failing direction did already: that is harmless) and the reset is counted once; otherwise both close cleanly.</summary>
    public static void EndPumped(Socket user, Socket service, bool failed, Statistics.TrafficCounters counters)
    {
        if (failed)
        {
            Reset(user);
            Reset(service);
            counters.ConnectionReset();
            return;
        }
        Graceful(user);
        Graceful(service);
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
