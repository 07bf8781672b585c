using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>A TCP proxy between a client and a server's control port that forwards the first connection (the control
/// connection) always, and later ones (data connections) only while <see cref="Blackhole"/> is off: otherwise it accepts
/// them and holds them without a byte, as a broken or hostile path would, until <see cref="ReleaseHeld"/> (or
/// <see cref="ForwardHeld"/>). A forwarded data connection can be reset at either end (<see cref="ResetOldestForwarded"/>).</summary>
internal sealed class DataPathProxy : LoopbackService
{
    private readonly int _target;
    private readonly ConcurrentQueue<Socket> _held = new();
    private readonly ConcurrentQueue<(Socket Client, Socket Server)> _forwarded = new();
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

    /// <summary>Forwards the data connections held so far, with what they sent meanwhile: a path that was only slow.</summary>
    public void ForwardHeld()
    {
        while (_held.TryDequeue(out var s)) _ = ForwardAsync(s, dataConnection: true);
    }

    /// <summary>Resets one end of the oldest data connection forwarded and still open, as a path that dies would: the
    /// client's end (<paramref name="clientEnd"/>; the server's end then sees the proxy close), or the server's (the client's
    /// end then sees an orderly close, as when the server drops an idle connection). False when there is none.</summary>
    public bool ResetOldestForwarded(bool clientEnd)
    {
        while (_forwarded.TryDequeue(out var pair))
        {
            var end = clientEnd ? pair.Client : pair.Server;
            try
            {
                end.LingerState = new LingerOption(true, 0);
                end.Dispose();
                return true;
            }
            catch (ObjectDisposedException)
            {
                // closed already: try the next
            }
        }
        return false;
    }

    protected override Task ServeAsync(Socket s)
    {
        // The first connection is the client's control connection: always forwarded.
        var first = Interlocked.Increment(ref _served) == 1;
        Keep(s);
        if (!first && Blackhole) _held.Enqueue(s);
        else _ = ForwardAsync(s, dataConnection: !first);
        return Task.CompletedTask;
    }

    private async Task ForwardAsync(Socket s, bool dataConnection)
    {
        using var up = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await up.ConnectAsync(IPAddress.Loopback, _target, Stopping);
            if (dataConnection) _forwarded.Enqueue((s, up));
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
