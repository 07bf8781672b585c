using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>What every TCP service a test runs shares: a listener on a loopback address and port 0, an accept loop that
/// hands each connection to <see cref="ServeAsync"/> until the service is disposed, and a dispose that stops the loop,
/// cancels <see cref="Stopping"/> and closes the connections still open.</summary>
public abstract class LoopbackService : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Socket, byte> _open = new();
    private readonly ConcurrentDictionary<Socket, byte> _kept = new();
    private Task _loop = Task.CompletedTask;
    private int _accepted;

    protected LoopbackService(IPAddress? address = null, int backlog = 512)
    {
        address ??= IPAddress.Loopback;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(address, 0));
        _listener.Listen(backlog);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Cancelled when the service is disposed.</summary>
    protected CancellationToken Stopping => _stop.Token;

    /// <summary>Starts accepting: the last line of a derived constructor, once its own fields are set.</summary>
    protected void Start() => _loop = AcceptLoopAsync();

    /// <summary>Serves one connection. The connection is closed after it returns unless <see cref="Keep"/> was called; an
    /// exception ends only this connection.</summary>
    protected abstract Task ServeAsync(Socket connection);

    /// <summary>Keeps <paramref name="connection"/> open after <see cref="ServeAsync"/> returns (held, or handed on); it is
    /// closed at dispose.</summary>
    protected void Keep(Socket connection) => _kept.TryAdd(connection, 0);

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception) { return; }
            Interlocked.Increment(ref _accepted);
            _open[s] = 0;
            _ = ServeOneAsync(s);
        }
    }

    private async Task ServeOneAsync(Socket s)
    {
        try { await ServeAsync(s); }
        catch (Exception) { }
        finally
        {
            if (!_kept.ContainsKey(s))
            {
                _open.TryRemove(s, out _);
                s.Dispose();
            }
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var s in _open.Keys) s.Dispose();
        await _loop;
    }
}
