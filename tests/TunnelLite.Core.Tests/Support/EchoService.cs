using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>A local TCP service on 127.0.0.1 that echoes every byte back and honours half-close: after the peer's FIN it
/// finishes echoing, then sends its own FIN.</summary>
public sealed class EchoService : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _loop;
    private int _accepted;

    public EchoService(IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(address, 0));
        _listener.Listen(512);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _loop = AcceptLoop();
    }

    public int Port { get; }
    public int Accepted => Volatile.Read(ref _accepted);

    private async Task AcceptLoop()
    {
        try
        {
            while (true)
            {
                var s = await _listener.AcceptAsync(_cts.Token);
                Interlocked.Increment(ref _accepted);
                _ = Echo(s);
            }
        }
        catch (Exception) { }
    }

    private async Task Echo(Socket s)
    {
        var buf = new byte[32 * 1024];
        try
        {
            while (true)
            {
                var n = await s.ReceiveAsync(buf, SocketFlags.None, _cts.Token);
                if (n == 0) break;
                await s.SendAsync(buf.AsMemory(0, n), SocketFlags.None, _cts.Token);
            }
            s.Shutdown(SocketShutdown.Send);
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
