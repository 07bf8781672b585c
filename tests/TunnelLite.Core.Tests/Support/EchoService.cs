using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>A local TCP service on 127.0.0.1 that echoes every byte back and honours half-close: after the peer's FIN it
/// finishes echoing, then sends its own FIN.</summary>
public sealed class EchoService : LoopbackService
{
    public EchoService(IPAddress? address = null) : base(address) => Start();

    protected override async Task ServeAsync(Socket s)
    {
        var buf = new byte[32 * 1024];
        while (true)
        {
            var n = await s.ReceiveAsync(buf, SocketFlags.None, Stopping);
            if (n == 0) break;
            await s.SendAsync(buf.AsMemory(0, n), SocketFlags.None, Stopping);
        }
        s.Shutdown(SocketShutdown.Send);
    }
}
