using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>Many tunneled connections to a <see cref="HandOffService"/>, opened at once and then left idle; each can make one
/// small exchange (the user sends its number, the service echoes it), after which it is idle again. Dispose closes both ends.</summary>
public sealed class IdleConnections : IAsyncDisposable
{
    private const int MessageSize = 32;
    private readonly Socket[] _users;
    private readonly Socket[] _ends;

    private IdleConnections(int count)
    {
        _users = new Socket[count];
        _ends = new Socket[count];
    }

    /// <summary>Opens <paramref name="count"/> user connections to <paramref name="port"/>, and takes as many connections at
    /// <paramref name="service"/>; no byte has moved yet. The user sockets are also closed with <paramref name="f"/>.</summary>
    public static async Task<IdleConnections> OpenAsync(TunnelFixture f, int port, HandOffService service, int count)
    {
        // Owned before the first connect, so that a failed open still closes what it opened before the tunnel stops.
        var idle = f.Own(new IdleConnections(count));
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (i, _) => idle._users[i] = await TunnelFixture.ConnectAsync(port));
        for (var i = 0; i < count; i++) idle._ends[i] = await service.NextAsync();
        return idle;
    }

    /// <summary>One small exchange on every connection: each user sends a message naming it, the service echoes whatever it
    /// gets, and each user must get its own message back.</summary>
    public async Task ExchangeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (var i = 0; i < _users.Length; i++) await _users[i].SendAsync(Message(i), SocketFlags.None, cts.Token);
        var buf = new byte[MessageSize];
        foreach (var end in _ends)
        {
            await ReceiveExactlyAsync(end, buf, cts.Token);
            await end.SendAsync(buf, SocketFlags.None, cts.Token);
        }
        for (var i = 0; i < _users.Length; i++)
        {
            await ReceiveExactlyAsync(_users[i], buf, cts.Token);
            Assert.Equal(Message(i), buf);
        }
    }

    private static byte[] Message(int i)
    {
        var m = new byte[MessageSize];
        BitConverter.TryWriteBytes(m, i);
        return m;
    }

    private static async Task ReceiveExactlyAsync(Socket s, byte[] buf, CancellationToken token)
    {
        for (var got = 0; got < buf.Length;)
        {
            var n = await s.ReceiveAsync(buf.AsMemory(got), SocketFlags.None, token);
            Assert.True(n > 0, "a connection ended in the middle of its exchange");
            got += n;
        }
    }

    public ValueTask DisposeAsync()
    {
        foreach (var s in _users) s?.Dispose();
        foreach (var s in _ends) s?.Dispose();
        return ValueTask.CompletedTask;
    }
}
