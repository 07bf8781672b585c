using System.Net.Sockets;
using System.Threading.Channels;

namespace TunnelLite.Tests.Support;

/// <summary>A local TCP service on 127.0.0.1 that does nothing by itself: it hands each connection it accepts to the test,
/// which plays the service's part directly (reads, writes, half-closes, resets) and so sees exactly how the connection ends.
/// The connections stay open until the test closes them or the service is disposed.</summary>
public sealed class HandOffService : LoopbackService
{
    private readonly Channel<Socket> _accepted = Channel.CreateUnbounded<Socket>();

    public HandOffService() : base(backlog: 1024) => Start();

    protected override Task ServeAsync(Socket s)
    {
        Keep(s);
        // The test's own writes must not wait on Nagle: only the tunnel's sockets are under test.
        s.NoDelay = true;
        _accepted.Writer.TryWrite(s);
        return Task.CompletedTask;
    }

    /// <summary>The next connection accepted (in the order accepted); throws <see cref="TimeoutException"/> when none comes
    /// within <paramref name="timeout"/> (10 s by default).</summary>
    public async Task<Socket> NextAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        using var cts = new CancellationTokenSource(limit);
        try
        {
            return await _accepted.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The local service accepted no connection within {limit.TotalSeconds:0.#} s.");
        }
    }
}
