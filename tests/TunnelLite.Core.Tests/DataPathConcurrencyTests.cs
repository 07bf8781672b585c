using System.Net.Sockets;
using TunnelLite.Forwarding;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Many connections through one tunnel at once, and none sees another's bytes: every payload is checked by SHA-256,
/// also while connections around it are reset with bytes in flight.</summary>
public abstract class DataPathConcurrencyTests : DataPathTests
{
    private const int KiB = 1024;

    protected DataPathConcurrencyTests(ForwardingMode mode, bool tls, DataPlaneKind plane = DataPlaneKind.Auto) : base(mode, tls, plane)
    {
    }

    // Would fail if connections were paired with the wrong data connection or local connection, if a buffer or pipe were
    // shared by two connections at once, if the tunnel could not hold 200 connections open at the same time, or if a byte
    // or a connection were counted wrong.
    [Fact]
    public async Task Two_hundred_concurrent_connections_each_carry_their_own_bytes_both_ways()
    {
        const int connections = 200;
        const int size = 64 * KiB;
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var (server, client, port) = await StartTunnelAsync(f, echo.Port,
            // A burst of users outruns the pool: they wait for data connections (over TLS, a handshake each).
            s => s.UserConnectionTimeout = TimeSpan.FromSeconds(30),
            c =>
            {
                c.PoolCount = 16;
                // The local connects of the burst complete on a thread pool this same process keeps busy (over TLS, with
                // handshakes): a connect done in the kernel can wait past the fixture's 2 s for its continuation.
                c.LocalConnectTimeout = TimeSpan.FromSeconds(30);
            });

        var users = new Socket[connections];
        try
        {
            // Open them all first and hold them: the tunnel must carry all of them at the same time.
            await Parallel.ForEachAsync(Enumerable.Range(0, connections), new ParallelOptions { MaxDegreeOfParallelism = 32 },
                async (i, _) => users[i] = await TunnelFixture.ConnectAsync(port)).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(await TunnelFixture.WaitUntilAsync(() => client.Totals.ActiveConnections == connections, TimeSpan.FromSeconds(30)),
                $"only {client.Totals.ActiveConnections} of {connections} connections reached the local service at once\n{TunnelFixture.Log.Tail()}");

            (string Sent, string Received, long ReceivedBytes)[] results;
            try
            {
                results = await Task.WhenAll(users.Select((u, i) => Transfer.EchoRoundTripAsync(u, size, seed: 2000 + i))).WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (SocketException e)
            {
                throw new Exception($"transfer failed: {e.Message}; server failed={server.Totals.FailedConnections} last={server.Totals.LastError}; " +
                    $"client failed={client.Totals.FailedConnections} last={client.Totals.LastError}\n{TunnelFixture.Log.Tail()}", e);
            }
            foreach (var r in results)
            {
                Assert.Equal(size, r.ReceivedBytes);
                Assert.Equal(r.Sent, r.Received);
            }
        }
        finally
        {
            foreach (var u in users) u?.Dispose();
        }

        await AssertSettledAsync(server, client);
        foreach (var totals in new[] { server.Totals, client.Totals })
        {
            Assert.Equal(connections, totals.TotalConnections);
            Assert.Equal(0, totals.FailedConnections);
            Assert.Equal((long)connections * size, totals.BytesIn);
            Assert.Equal((long)connections * size, totals.BytesOut);
        }
        Assert.Equal(connections, echo.Accepted);
    }

    // A reset in the middle of a stream leaves bytes in a pump's buffer or splice pipe. Would fail if that buffer or pipe
    // went back to a pool and was handed, bytes and all, to another connection (its stream then starts with, or carries,
    // stale bytes), or if a buffer went back while a send still used it. The fresh transfers run beside the resets, so that
    // they take what the resets give back.
    [Fact]
    public async Task Connections_reset_mid_stream_leave_nothing_behind_for_the_next_ones()
    {
        const int rounds = 12;
        const int resetsPerRound = 3;
        const int freshPerRound = 3;
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var (server, client, port) = await StartTunnelAsync(f, echo.Port, client: c => c.PoolCount = 8);
        var random = new Random(8);

        for (var round = 0; round < rounds; round++)
        {
            var resets = Enumerable.Range(0, resetsPerRound).Select(_ => ResetMidStreamAsync(port, random.Next(64 * KiB, 1024 * KiB)));
            var fresh = Enumerable.Range(0, freshPerRound).Select(async i =>
            {
                using var user = await TunnelFixture.ConnectAsync(port);
                var size = 256 * KiB + 4099 * (round * freshPerRound + i);
                var r = await Transfer.EchoRoundTripAsync(user, size, seed: 3000 + round * freshPerRound + i);
                return (Size: size, r.Sent, r.Received, r.ReceivedBytes);
            }).ToList();
            await Task.WhenAll(resets).WaitAsync(Prompt);
            foreach (var r in await Task.WhenAll(fresh).WaitAsync(Prompt))
            {
                Assert.Equal(r.Size, r.ReceivedBytes);
                Assert.Equal(r.Sent, r.Received);
            }
        }
        await AssertSettledAsync(server, client);
    }

    /// <summary>Streams into the echo service and reads <paramref name="cut"/> bytes of the echo, then resets while bytes
    /// are in flight both ways.</summary>
    private static async Task ResetMidStreamAsync(int port, int cut)
    {
        var user = await TunnelFixture.ConnectAsync(port);
        var sending = Transfer.StreamUntilBrokenAsync(user);
        var buf = new byte[64 * KiB];
        for (var read = 0; read < cut;)
        {
            var n = await user.ReceiveAsync(buf, SocketFlags.None);
            Assert.NotEqual(0, n);
            read += n;
        }
        user.LingerState = new LingerOption(true, 0);
        user.Dispose();
        await sending;
    }
}

public sealed class DataPathConcurrencyCopyTests() : DataPathConcurrencyTests(ForwardingMode.Copy, tls: false);

public sealed class DataPathConcurrencySpliceTests() : DataPathConcurrencyTests(ForwardingMode.Splice, tls: false);

public sealed class DataPathConcurrencyAutoTests() : DataPathConcurrencyTests(ForwardingMode.Auto, tls: false);

public sealed class DataPathConcurrencyAsyncCopyTests() : DataPathConcurrencyTests(ForwardingMode.Copy, tls: false, DataPlaneKind.Async);

public sealed class DataPathConcurrencyAsyncSpliceTests() : DataPathConcurrencyTests(ForwardingMode.Splice, tls: false, DataPlaneKind.Async);

public sealed class DataPathConcurrencyAsyncAutoTests() : DataPathConcurrencyTests(ForwardingMode.Auto, tls: false, DataPlaneKind.Async);

/// <summary>Through the stream pump that TLS uses (whatever the mode asked); with the other TLS suites, one class at a time.</summary>
[Collection(EndToEndTlsCollection.Name)]
public sealed class DataPathConcurrencyTlsTests() : DataPathConcurrencyTests(ForwardingMode.Splice, tls: true);
