using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace TunnelLite.Tests.Support;

/// <summary>How a download ended.</summary>
public enum DownloadEnd { Eof, Reset, Timeout }

/// <summary>Reads a socket to its end in the background, hashing what arrives; <see cref="Received"/> can be watched meanwhile,
/// so that a test can act while the download is in flight.</summary>
public sealed class Download
{
    private readonly Socket _socket;
    private long _received;

    private Download(Socket socket, TimeSpan timeout)
    {
        _socket = socket;
        Completion = Task.Run(() => ReadAsync(timeout));
    }

    /// <summary>Starts reading <paramref name="socket"/>; gives up (<see cref="DownloadEnd.Timeout"/>) after <paramref name="timeout"/>.</summary>
    public static Download Start(Socket socket, TimeSpan timeout) => new(socket, timeout);

    /// <summary>Bytes received so far.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Completes with how the download ended, the SHA-256 (hex) of what arrived, and when it ended.</summary>
    public Task<(DownloadEnd End, string Hash, long EndedAt)> Completion { get; }

    private async Task<(DownloadEnd, string, long)> ReadAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[64 * 1024];
        var end = DownloadEnd.Eof;
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(buf, SocketFlags.None, cts.Token);
                if (n == 0) break;
                hash.AppendData(buf, 0, n);
                Interlocked.Add(ref _received, n);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            end = DownloadEnd.Reset;
        }
        catch (OperationCanceledException)
        {
            end = DownloadEnd.Timeout;
        }
        return (end, Convert.ToHexString(hash.GetHashAndReset()), Stopwatch.GetTimestamp());
    }
}
