using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace TunnelLite.Tests.Support;

/// <summary>A local TCP service on 127.0.0.1 that sends every connection the same <see cref="Size"/> pseudo-random bytes at a
/// fixed rate, then a FIN: a download that takes a known time, so that a test can be sure it is still in flight when it
/// stops a tunnel end (a download at loopback speed is usually over before the stop begins).</summary>
public sealed class PacedService : IAsyncDisposable
{
    private const int Chunk = 32 * 1024;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _loop;
    private readonly byte[] _payload;
    private readonly TimeSpan _perChunk;

    /// <param name="size">Bytes each connection gets.</param>
    /// <param name="bytesPerSecond">The rate they are sent at (in chunks of 32 KiB).</param>
    public PacedService(int size, int bytesPerSecond)
    {
        _payload = new byte[size];
        new Random(size).NextBytes(_payload);
        Hash = Convert.ToHexString(SHA256.HashData(_payload));
        _perChunk = TimeSpan.FromSeconds((double)Chunk / bytesPerSecond);
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _loop = AcceptLoop();
    }

    public int Port { get; }

    /// <summary>Bytes each download has.</summary>
    public int Size => _payload.Length;

    /// <summary>SHA-256 (hex) of a whole download.</summary>
    public string Hash { get; }

    private async Task AcceptLoop()
    {
        try
        {
            while (true) _ = Serve(await _listener.AcceptAsync(_cts.Token));
        }
        catch (Exception) { }
    }

    private async Task Serve(Socket s)
    {
        try
        {
            // Paced against a clock, not by summing delays, so that a slow timer does not stretch the download.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (int off = 0, i = 1; off < _payload.Length; i++)
            {
                var n = Math.Min(Chunk, _payload.Length - off);
                off += await s.SendAsync(_payload.AsMemory(off, n), SocketFlags.None, _cts.Token);
                var due = _perChunk * i - clock.Elapsed;
                if (due > TimeSpan.Zero) await Task.Delay(due, _cts.Token);
            }
            s.Shutdown(SocketShutdown.Send);
            // Wait for the peer's end before closing, so that the last bytes are not lost to a reset.
            await s.ReceiveAsync(new byte[1], SocketFlags.None, _cts.Token);
        }
        catch (Exception) { }
        finally
        {
            s.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _listener.Dispose();
        await _loop;
    }
}
