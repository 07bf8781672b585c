using System.Net.Sockets;
using TunnelLite.Forwarding;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

// Saturates the machine: run alone, so that the short heartbeat timeouts of other tests do not trip meanwhile.
[CollectionDefinition(nameof(ConcurrencyTests), DisableParallelization = true)]
public sealed class ConcurrencyTestsCollection
{
}

/// <summary>Many users at once on one tunnel: every connection is open at the same time, and every byte is checked by SHA-256.
/// Run per pump, each run alone.</summary>
public abstract class ConcurrencyTests : DataPathSuite
{
    private const int Connections = 1000;
    private const int BytesEachWay = 64 * 1024;

    [Fact]
    public async Task Thousand_concurrent_connections_through_one_tunnel_all_arrive_intact()
    {
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var serverOptions = ServerOptions();
        // A burst of 1000 users outruns any pool: they wait for data connections, which must not time out meanwhile.
        serverOptions.UserConnectionTimeout = TimeSpan.FromSeconds(30);
        serverOptions.MaxPendingUserConnections = 2 * Connections;
        var server = await f.StartServerAsync(serverOptions);
        var clientOptions = TunnelFixture.ClientOptions(server);
        clientOptions.PoolCount = 50;
        clientOptions.LocalConnectTimeout = TimeSpan.FromSeconds(30);
        clientOptions.Tunnels.Add(new() { Name = "many", LocalPort = echo.Port });
        var client = await f.StartClientAsync(clientOptions);
        var port = client.Tunnels.Single().RemotePort;

        var users = new Socket[Connections];
        try
        {
            // Open them all first, and hold them open: the tunnel must carry all at the same time.
            await Parallel.ForEachAsync(Enumerable.Range(0, Connections), new ParallelOptions { MaxDegreeOfParallelism = 64 },
                async (i, _) => users[i] = await TunnelFixture.ConnectAsync(port)).WaitAsync(TimeSpan.FromMinutes(1));
            Assert.True(await TunnelFixture.WaitUntilAsync(() => client.GetStatistics().Single().ActiveConnections == Connections, TimeSpan.FromSeconds(60)),
                $"only {client.GetStatistics().Single().ActiveConnections} of {Connections} connections reached the local service at once; " +
                $"server failures {server.GetStatistics().FailedConnections}\n{TunnelFixture.Log.Tail()}");

            var results = await Task.WhenAll(users.Select((u, i) => Transfer.EchoRoundTripAsync(u, BytesEachWay, seed: 5000 + i)))
                .WaitAsync(TimeSpan.FromMinutes(2));
            for (var i = 0; i < Connections; i++)
            {
                Assert.Equal(BytesEachWay, results[i].ReceivedBytes);
                Assert.Equal(results[i].Sent, results[i].Received);
            }
        }
        finally
        {
            foreach (var u in users) u?.Dispose();
        }

        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetStatistics().ActiveConnections == 0 && client.GetStatistics().Single().ActiveConnections == 0,
            TimeSpan.FromSeconds(30)), "connections stayed open after their users closed");
        var serverStats = server.GetStatistics();
        var clientStats = client.GetStatistics().Single();
        Assert.Equal(0, serverStats.FailedConnections);
        Assert.Equal(0, clientStats.FailedConnections);
        Assert.Equal(Connections, serverStats.TotalConnections);
        Assert.Equal(Connections, clientStats.TotalConnections);
        Assert.Equal((long)Connections * BytesEachWay, clientStats.BytesIn);
        Assert.Equal((long)Connections * BytesEachWay, clientStats.BytesOut);
        Assert.Equal(Connections, echo.Accepted);
    }
}

[Collection(nameof(ConcurrencyTests))]
public sealed class ConcurrencyCopyTests : ConcurrencyTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
}

[Collection(nameof(ConcurrencyTests))]
public sealed class ConcurrencySpliceTests : ConcurrencyTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
}

[Collection(nameof(ConcurrencyTests))]
public sealed class ConcurrencyAutoTests : ConcurrencyTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

[Collection(nameof(ConcurrencyTests))]
public sealed class ConcurrencyAsyncCopyTests : ConcurrencyTests
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

[Collection(nameof(ConcurrencyTests))]
public sealed class ConcurrencyAsyncSpliceTests : ConcurrencyTests
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}

[Collection(nameof(ConcurrencyTests))]
public sealed class ConcurrencyAsyncAutoTests : ConcurrencyTests
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}
