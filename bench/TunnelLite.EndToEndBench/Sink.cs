using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Bench;

/// <summary>The service behind the tunnel, on 127.0.0.1. A connection's first byte says what it wants:
/// 'D' + 8-byte length: that many bytes are sent, then FIN (bulk download);
/// 'R': request/reply until EOF, each <see cref="RequestSize"/>-byte request answered with <see cref="ReplySize"/> bytes
/// (a key-value GET); 'C': one request/reply, then the sink closes (a short-lived connection); 'E': echo until EOF, each
/// <see cref="RequestSize"/>-byte request sent back as it came, so that a client can check every reply byte for byte (the
/// replies of 'R' are the same for every connection and would not show one connection's bytes reaching another).</summary>
public sealed class Sink : IAsyncDisposable
{
    public const int RequestSize = 32;
    public const int ReplySize = 128;
    private static readonly byte[] Payload = MakePayload(256 * 1024);
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public Sink()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(4096);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _loop = AcceptLoopAsync();
    }

    public int Port { get; }

    private static byte[] MakePayload(int size)
    {
        var b = new byte[size];
        new Random(20261126).NextBytes(b);
        return b;
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var s = await _listener.AcceptAsync(_stop.Token);
                s.NoDelay = true;
                _ = ServeAsync(s);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested) { }
    }

    private static async Task ServeAsync(Socket s)
    {
        var buf = new byte[Math.Max(RequestSize, 16)];
        try
        {
            if (!await Net.ReadExactlyAsync(s, buf.AsMemory(0, 1))) return;
            switch ((char)buf[0])
            {
                case 'D':
                    if (!await Net.ReadExactlyAsync(s, buf.AsMemory(0, 8))) return;
                    var left = BitConverter.ToInt64(buf, 0);
                    while (left > 0)
                    {
                        var n = (int)Math.Min(left, Payload.Length);
                        await s.SendAsync(Payload.AsMemory(0, n), SocketFlags.None);
                        left -= n;
                    }
                    s.Shutdown(SocketShutdown.Send);
                    while (await s.ReceiveAsync(buf, SocketFlags.None) > 0) { }
                    break;
                case 'R':
                    while (await Net.ReadExactlyAsync(s, buf.AsMemory(0, RequestSize)))
                        await s.SendAsync(Payload.AsMemory(0, ReplySize), SocketFlags.None);
                    break;
                case 'E':
                    while (await Net.ReadExactlyAsync(s, buf.AsMemory(0, RequestSize)))
                        await s.SendAsync(buf.AsMemory(0, RequestSize), SocketFlags.None);
                    break;
                case 'C':
                    if (await Net.ReadExactlyAsync(s, buf.AsMemory(0, RequestSize)))
                        await s.SendAsync(Payload.AsMemory(0, ReplySize), SocketFlags.None);
                    break;
            }
        }
        catch (SocketException) { }
        finally
        {
            s.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        await _loop;
    }
}
