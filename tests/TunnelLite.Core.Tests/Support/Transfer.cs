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

    /// <summary>Reads exactly <paramref name="count"/> bytes; fails on an early end, and after <paramref name="timeout"/>.</summary>
    public static async Task<byte[]> ReceiveExactlyAsync(Socket s, int count, TimeSpan timeout)
    {
        var buf = new byte[count];
        using var cts = new CancellationTokenSource(timeout);
        for (var got = 0; got < count;)
        {
            var n = await s.ReceiveAsync(buf.AsMemory(got), SocketFlags.None, cts.Token);
            Assert.True(n > 0, $"the connection ended after {got} of {count} bytes");
            got += n;
        }
        return buf;
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

    /// <summary>Sends <paramref name="size"/> bytes of a stream seeded by <paramref name="seed"/>, made as it goes (a download
    /// of any size costs no memory), adding each chunk to <paramref name="sent"/> once the socket took it; with
    /// <paramref name="shutdown"/>, half-closes at the end. Returns the SHA-256 (hex) of what was sent.</summary>
    public static async Task<string> SendSeededAsync(Socket s, long size, int seed, Action<int>? sent = null, bool shutdown = true)
    {
        var random = new Random(seed);
        var buf = new byte[64 * 1024];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (var left = size; left > 0;)
        {
            var n = (int)Math.Min(buf.Length, left);
            random.NextBytes(buf.AsSpan(0, n));
            hash.AppendData(buf, 0, n);
            for (var off = 0; off < n;)
            {
                var k = await s.SendAsync(buf.AsMemory(off, n - off), SocketFlags.None);
                off += k;
                sent?.Invoke(k);
            }
            left -= n;
        }
        if (shutdown) s.Shutdown(SocketShutdown.Send);
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    /// <summary>Sends random bytes until a send fails, as a peer in the middle of a long transfer does; returns the bytes
    /// the socket took and how the send failed (or <see cref="SocketError.OperationAborted"/> when the socket was closed here).</summary>
    public static async Task<(long Sent, SocketError Error)> StreamUntilBrokenAsync(Socket s)
    {
        var buf = new byte[64 * 1024];
        Random.Shared.NextBytes(buf);
        long sent = 0;
        try
        {
            while (true) sent += await s.SendAsync(buf, SocketFlags.None);
        }
        catch (SocketException e)
        {
            return (sent, e.SocketErrorCode);
        }
        catch (ObjectDisposedException)
        {
            return (sent, SocketError.OperationAborted);
        }
    }
}
