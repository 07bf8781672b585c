using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The client checks the server before it does anything for it, and bounds what even a server with the token can
/// make it open.</summary>
public sealed class MutualAuthenticationTests
{
    private static TunnelClientOptions Options(int port, int pool = 4, int localPort = 9)
    {
        var o = new TunnelClientOptions
        {
            ServerAddress = "127.0.0.1",
            ServerPort = port,
            Token = TunnelFixture.Token,
            PoolCount = pool,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
            HeartbeatTimeout = TimeSpan.FromSeconds(30),
        };
        o.Tunnels.Add(new TunnelDefinition { Name = "web", LocalPort = localPort });
        return o;
    }

    [Fact]
    public async Task A_fake_server_without_the_token_fails_the_client_with_ServerAuthenticationFailed_and_gets_nothing()
    {
        await using var local = new EchoService();
        await using var fake = new FakeServer(token: null, askFor: 3000);
        var client = new TunnelClient(Options(fake.Port, localPort: local.Port));
        var e = await Assert.ThrowsAnyAsync<TunnelException>(() => client.StartAsync());
        // It asked for data connections out of turn, before its proof: the client did not answer that either.
        Assert.True(e.Code is TunnelErrorCode.ServerAuthenticationFailed or TunnelErrorCode.ProtocolError, e.ToString());
        await Task.Delay(500);
        Assert.Equal(0, fake.DataConnections);
        Assert.Equal(0, local.Accepted);
        Assert.Equal(ClientState.Stopped, client.State);
    }

    [Fact]
    public async Task A_fake_server_that_answers_in_turn_with_a_wrong_proof_fails_with_ServerAuthenticationFailed()
    {
        await using var local = new EchoService();
        await using var fake = new FakeServer(token: "not the token", askFor: 3000);
        var client = new TunnelClient(Options(fake.Port, localPort: local.Port));
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync());
        Assert.Equal(TunnelErrorCode.ServerAuthenticationFailed, e.Code);
        Assert.Contains("could not prove that it knows the token", e.Message);
        await Task.Delay(500);
        Assert.Equal(0, fake.DataConnections);
        Assert.Equal(0, local.Accepted);
    }

    [Fact]
    public async Task A_server_asking_for_3000_data_connections_gets_at_most_the_pool_plus_the_margin()
    {
        await using var local = new EchoService();
        await using var fake = new FakeServer(TunnelFixture.Token, askFor: 3000);
        await using var client = new TunnelClient(Options(fake.Port, localPort: local.Port));
        await client.StartAsync();
        var bound = 4 + TunnelClient.DataConnectionMargin;
        Assert.True(await TunnelFixture.WaitUntilAsync(() => fake.DataConnections >= bound, TimeSpan.FromSeconds(10)), $"only {fake.DataConnections} arrived");
        await Task.Delay(1000); // and no more come
        Assert.Equal(bound, fake.DataConnections);
        Assert.Equal(bound, client.DataConnectionsOpen);

        // Each connection the server pairs with a user leaves the bound, and the client opens one it still owes.
        Assert.Equal(10, await fake.StartWorkAsync("web", 10));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => fake.DataConnections == bound + 10 && local.Accepted == 10, TimeSpan.FromSeconds(10)),
            $"data {fake.DataConnections}, local {local.Accepted}");
        await Task.Delay(500);
        Assert.Equal(bound + 10, fake.DataConnections);
        Assert.Equal(0, client.DataRequestsDropped); // 3,000 owed is within what a client keeps owing
    }

    [Fact]
    public async Task Requests_beyond_what_a_client_keeps_owing_are_dropped_and_counted()
    {
        await using var local = new EchoService();
        await using var fake = new FakeServer(TunnelFixture.Token, askFor: TunnelClient.MaxOwedDataConnections + 5000);
        await using var client = new TunnelClient(Options(fake.Port, localPort: local.Port));
        await client.StartAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.DataRequestsDropped > 0, TimeSpan.FromSeconds(5)));
        Assert.True(client.DataRequestsDropped >= 5000);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => fake.DataConnections == 4 + TunnelClient.DataConnectionMargin, TimeSpan.FromSeconds(10)));
    }
}
