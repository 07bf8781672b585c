using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Bench;

internal static class Net
{
    /// <summary>Fills <paramref name="buffer"/>; false at a clean end of stream before the first byte.</summary>
    public static async ValueTask<bool> ReadExactlyAsync(Socket s, Memory<byte> buffer, CancellationToken token = default)
    {
        var got = 0;
        while (got < buffer.Length)
        {
            var n = await s.ReceiveAsync(buffer[got..], SocketFlags.None, token);
            if (n == 0)
            {
                if (got == 0) return false;
                throw new IOException($"stream ended after {got} of {buffer.Length} bytes");
            }
            got += n;
        }
        return true;
    }

    public static async Task<Socket> ConnectAsync(int port, CancellationToken token = default)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), token);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }
}
