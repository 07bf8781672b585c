using System.Buffers.Binary;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>A local TCP service on 127.0.0.1 shaped like a web server: each connection sends a request (a 4-byte big-endian
/// length, then any bytes) and half-closes; the service reads it all, answers with that many pseudo-random bytes, and
/// closes. Small in, large out, as downloads are; the echo service's traffic is the same both ways.</summary>
public sealed class SizedReplyService : LoopbackService
{
    public SizedReplyService() => Start();

    protected override async Task ServeAsync(Socket s)
    {
        var buf = new byte[32 * 1024];
        var read = 0;
        var length = -1;
        while (true)
        {
            var n = await s.ReceiveAsync(buf.AsMemory(Math.Min(read, 4)), SocketFlags.None, Stopping);
            if (n == 0) break;
            read += n;
            if (length < 0 && read >= 4) length = BinaryPrimitives.ReadInt32BigEndian(buf);
        }
        new Random(length).NextBytes(buf);
        for (var sent = 0; sent < length;)
            sent += await s.SendAsync(buf.AsMemory(0, Math.Min(buf.Length, length - sent)), SocketFlags.None, Stopping);
        s.Shutdown(SocketShutdown.Send);
    }

    /// <summary>Sends a request of <paramref name="requestBytes"/> (at least 4) asking for <paramref name="replyBytes"/>, and
    /// returns how many bytes came back.</summary>
    public static async Task<long> RequestAsync(Socket user, int requestBytes, int replyBytes)
    {
        var request = new byte[Math.Max(4, requestBytes)];
        BinaryPrimitives.WriteInt32BigEndian(request, replyBytes);
        for (var sent = 0; sent < request.Length;) sent += await user.SendAsync(request.AsMemory(sent), SocketFlags.None);
        user.Shutdown(SocketShutdown.Send);
        var buf = new byte[64 * 1024];
        long total = 0;
        int n;
        while ((n = await user.ReceiveAsync(buf, SocketFlags.None)) > 0) total += n;
        return total;
    }
}
