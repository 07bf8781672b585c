using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>A TCP proxy between a client and a server's control port that forwards the first connection (the control
/// connection) always, and later ones (data connections) only while <see cref="Blackhole"/> is off: otherwise it accepts
/// them and holds them without a byte, as a broken or hostile path would, until <see cref="ReleaseHeld"/>.</summary>
internal sealed class DataPathProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<Socket> _held = new();
    private readonly ConcurrentBag<Socket> _all = new();
    private readonly Task _loop;
    private int _accepted;

    public DataPathProxy(int targetPort)
    {
        _target = targetPort;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1024);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _loop = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>While true, new data connections are held, never forwarded.</summary>
    public volatile bool Blackhole;

    /// <summary>Data connections held so far.</summary>
    public int Held => _held.Count;

    /// <summary>Closes every held connection (the client sees the server end them).</summary>
    public void ReleaseHeld()
    {
        while (_held.TryDequeue(out var s)) s.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception) { return; }
            _all.Add(s);
            var first = Interlocked.Increment(ref _accepted) == 1;
            if (!first && Blackhole) _held.Enqueue(s);
            else _ = ForwardAsync(s);
        }
    }

    private async Task ForwardAsync(Socket s)
    {
        using var up = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await up.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            using var a = new NetworkStream(s, ownsSocket: true);
            using var b = new NetworkStream(up, ownsSocket: false);
            var one = a.CopyToAsync(b, _stop.Token).ContinueWith(_ => up.Shutdown(SocketShutdown.Send), TaskScheduler.Default);
            var two = b.CopyToAsync(a, _stop.Token).ContinueWith(_ => { try { s.Shutdown(SocketShutdown.Send); } catch (Exception) { } }, TaskScheduler.Default);
            await Task.WhenAll(one, two);
        }
        catch (Exception) { s.Dispose(); }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        ReleaseHeld();
        foreach (var s in _all) s.Dispose();
        await _loop;
    }
}
