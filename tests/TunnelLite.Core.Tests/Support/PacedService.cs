using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace TunnelLite.Tests.Support;

/// <summary>A local TCP service on 127.0.0.1 that sends every connection the same <see cref="Size"/> pseudo-random bytes at a
/// fixed rate, then a FIN: a download that takes a known time, so that a test can be sure it is still in flight when it
/// stops a tunnel end (a download at loopback speed is usually over before the stop begins).</summary>
public sealed class PacedService : LoopbackService
{
    private const int Chunk = 32 * 1024;
    private readonly byte[] _payload;
    private readonly TimeSpan _perChunk;

    /// <param name="size">Bytes each connection gets.</param>
    /// <param name="bytesPerSecond">The rate they are sent at (in chunks of 32 KiB).</param>
    public PacedService(int size, int bytesPerSecond) : base(backlog: 16)
    {
        _payload = new byte[size];
        new Random(size).NextBytes(_payload);
        Hash = Convert.ToHexString(SHA256.HashData(_payload));
        _perChunk = TimeSpan.FromSeconds((double)Chunk / bytesPerSecond);
        Start();
    }

    /// <summary>Bytes each download has.</summary>
    public int Size => _payload.Length;

    /// <summary>SHA-256 (hex) of a whole download.</summary>
    public string Hash { get; }

    protected override async Task ServeAsync(Socket s)
    {
        // Paced against a clock, not by summing delays, so that a slow timer does not stretch the download.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int off = 0, i = 1; off < _payload.Length; i++)
        {
            var n = Math.Min(Chunk, _payload.Length - off);
            off += await s.SendAsync(_payload.AsMemory(off, n), SocketFlags.None, Stopping);
            var due = _perChunk * i - clock.Elapsed;
            if (due > TimeSpan.Zero) await Task.Delay(due, Stopping);
        }
        s.Shutdown(SocketShutdown.Send);
        // Wait for the peer's end before closing, so that the last bytes are not lost to a reset.
        await s.ReceiveAsync(new byte[1], SocketFlags.None, Stopping);
    }
}
