using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>A TCP proxy between a client and a server's control port that forwards the first connection (the control
/// connection) always, and later ones (data connections) only while <see cref="Blackhole"/> is off: otherwise it accepts
/// them and holds them without a byte, as a broken or hostile path would, until <see cref="ReleaseHeld"/>.</summary>
internal sealed class DataPathProxy : LoopbackService
{
    private readonly int _target;
    private readonly ConcurrentQueue<Socket> _held = new();
    private int _served;

    public DataPathProxy(int targetPort) : base(backlog: 1024)
    {
        _target = targetPort;
        Start();
    }

    /// <summary>While true, new data connections are held, never forwarded.</summary>
    public volatile bool Blackhole;

    /// <summary>Data connections held so far.</summary>
    public int Held => _held.Count;

    /// <summary>Closes every held connection (the client sees the server end them).</summary>
    public void ReleaseHeld()
    {
        while (_held.TryDequeue(out var s)) s.Dispose();
    }

    protected override Task ServeAsync(Socket s)
    {
        // The first connection is the client's control connection: always forwarded.
        var first = Interlocked.Increment(ref _served) == 1;
        Keep(s);
        if (!first && Blackhole) _held.Enqueue(s);
        else _ = ForwardAsync(s);
        return Task.CompletedTask;
    }

    private async Task ForwardAsync(Socket s)
    {
        using var up = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await up.ConnectAsync(IPAddress.Loopback, _target, Stopping);
            using var a = new NetworkStream(s, ownsSocket: true);
            using var b = new NetworkStream(up, ownsSocket: false);
            var one = a.CopyToAsync(b, Stopping).ContinueWith(_ => up.Shutdown(SocketShutdown.Send), TaskScheduler.Default);
            var two = b.CopyToAsync(a, Stopping).ContinueWith(_ => { try { s.Shutdown(SocketShutdown.Send); } catch (Exception) { } }, TaskScheduler.Default);
            await Task.WhenAll(one, two);
        }
        catch (Exception) { s.Dispose(); }
    }

    public override async ValueTask DisposeAsync()
    {
        ReleaseHeld();
        await base.DisposeAsync();
    }
}
