using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>An echo service on 127.0.0.1 that says who it is: each connection first receives the one-byte
/// <see cref="Tag"/>, then every byte it sends comes back. It can go down (its port closed: connects are refused) and come
/// back up on the same port, as a service that crashes and restarts.</summary>
public sealed class TaggedEchoService : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task _loop = Task.CompletedTask;

    public TaggedEchoService(byte tag)
    {
        Tag = tag;
        var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        probe.Dispose();
        Up();
    }

    public byte Tag { get; }
    public int Port { get; }

    /// <summary>Listens (again) on <see cref="Port"/>.</summary>
    public void Up()
    {
        lock (_gate)
        {
            if (_listener is not null) return;
            var l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            l.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            l.Bind(new IPEndPoint(IPAddress.Loopback, Port));
            l.Listen(128);
            _listener = l;
            _loop = AcceptLoopAsync(l);
        }
    }

    /// <summary>Closes the port: connects are refused until <see cref="Up"/>.</summary>
    public async Task DownAsync()
    {
        Task loop;
        lock (_gate)
        {
            _listener?.Dispose();
            _listener = null;
            loop = _loop;
        }
        await loop;
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (true)
        {
            Socket s;
            try { s = await listener.AcceptAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = ServeAsync(s);
        }
    }

    private async Task ServeAsync(Socket s)
    {
        using (s)
        {
            try
            {
                await s.SendAsync(new[] { Tag }, SocketFlags.None, _stop.Token);
                var buf = new byte[32 * 1024];
                int n;
                while ((n = await s.ReceiveAsync(buf, SocketFlags.None, _stop.Token)) > 0)
                    await s.SendAsync(buf.AsMemory(0, n), SocketFlags.None, _stop.Token);
                s.Shutdown(SocketShutdown.Send);
            }
            catch (Exception)
            {
            }
        }
    }

    /// <summary>Through a connected user: reads the tag, then echoes <paramref name="size"/> seeded bytes and checks them by
    /// hash. Returns the tag of the service that answered.</summary>
    public static async Task<byte> ServedByAsync(Socket user, int size, int seed)
    {
        var tag = (await Transfer.ReceiveExactlyAsync(user, 1, TimeSpan.FromSeconds(10)))[0];
        var r = await Transfer.EchoRoundTripAsync(user, size, seed);
        Xunit.Assert.Equal(r.Sent, r.Received);
        return tag;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await DownAsync();
    }
}
