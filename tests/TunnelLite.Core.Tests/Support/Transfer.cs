using System.Net.Sockets;
using System.Security.Cryptography;

namespace TunnelLite.Tests.Support;

/// <summary>Moves random bytes through a socket and checks what comes back by SHA-256.</summary>
public static class Transfer
{
    /// <summary>Sends <paramref name="size"/> random bytes, half-closes, reads everything back until EOF; returns the hashes sent and received.</summary>
    public static async Task<(string Sent, string Received, long ReceivedBytes)> EchoRoundTripAsync(Socket s, int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        var sendTask = Task.Run(async () =>
        {
            var off = 0;
            while (off < data.Length)
            {
                var chunk = Math.Min(64 * 1024, data.Length - off);
                off += await s.SendAsync(data.AsMemory(off, chunk), SocketFlags.None);
            }
            s.Shutdown(SocketShutdown.Send);
        });
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[64 * 1024];
        long total = 0;
        while (true)
        {
            var n = await s.ReceiveAsync(buf, SocketFlags.None);
            if (n == 0) break;
            hash.AppendData(buf, 0, n);
            total += n;
        }
        await sendTask;
        return (Convert.ToHexString(SHA256.HashData(data)), Convert.ToHexString(hash.GetHashAndReset()), total);
    }

    /// <summary>Reads until EOF or a reset; returns the bytes read and whether the end was a reset.</summary>
    public static async Task<(int Bytes, bool Reset)> DrainAsync(Socket s, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buf = new byte[4096];
        var total = 0;
        try
        {
            while (true)
            {
                var n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
                if (n == 0) return (total, false);
                total += n;
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return (total, true);
        }
    }
}
