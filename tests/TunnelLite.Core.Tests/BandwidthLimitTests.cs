using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Bandwidth limits in frp's units: parsed and bound from both files, and enforced with real bytes. A user and
/// the service send at once, each as fast as its socket takes it, and each end measures what arrives over 10 s after 2 s
/// of warm-up: within 10 % of the limit, both ways, whether the operator's account limit, the client's request to the
/// server, or the client itself enforces it; every byte checked by hash. On every pump, since each applies the limit on
/// a path of its own: the loops' Flow (splice and copy within Auto), the async SplicePump and BufferedPump, and the
/// StreamPump of TLS.
/// <para>Rates are measured after the parallel tests, one class at a time, as the other measurements are: a bucket holds
/// at most 100 ms of tokens, so a loop starved of CPU by a dozen parallel classes on 2 cores would lose some and read low.
/// Two pumps run at once (6 tunnels, about 85 MB/s through them in all), so that the run costs 25 s, not 50; four at once
/// starved the 2-core machine (8.4 MiB/s read for a limit of 10).</para></summary>
[Collection(DataPathMeasurementCollection.Name)]
public sealed class BandwidthLimitTests
{
    private const long MiB = 1 << 20;

    [Fact]
    public async Task Each_limit_holds_both_directions_within_10_percent_over_10_seconds_at_the_end_that_enforces_it_on_every_pump()
    {
        await Task.WhenAll(
            MeasurePumpAsync(ForwardingMode.Auto, tls: false, DataPlaneKind.EventLoops),
            MeasurePumpAsync(ForwardingMode.Copy, tls: false, DataPlaneKind.Async));
        await Task.WhenAll(
            MeasurePumpAsync(ForwardingMode.Auto, tls: false, DataPlaneKind.Async),
            MeasurePumpAsync(ForwardingMode.Splice, tls: true, DataPlaneKind.Auto));
    }

    /// <summary>Three limits at once, each on a tunnel of its own: the operator's 1MB for an account (the server enforces
    /// it), a client's 10MB that it asks the server to enforce (under its account's looser 40MB), and a client's 10MB that
    /// it enforces itself.</summary>
    private static async Task MeasurePumpAsync(ForwardingMode mode, bool tls, DataPlaneKind plane)
    {
        await using var f = new TunnelFixture(mode, tls, plane);
        var so = TunnelFixture.ServerOptions(tls: tls);
        so.Token = "";
        so.AllowPorts.Add(new PortRange(1024, 65535));
        so.Clients.Add(new ClientAccount { Name = "slow", Token = "slow-secret", BandwidthLimit = BandwidthLimit.Both(BandwidthLimit.ParseRate("1MB")) });
        // The account's limit is looser: the client's stricter one wins, wherever it is enforced.
        so.Clients.Add(new ClientAccount { Name = "c", Token = "c-secret", BandwidthLimit = BandwidthLimit.Both(40 * MiB) });
        var server = await f.StartServerAsync(so);
        var accountLimited = MeasureAsync(f, server, "slow-secret", new TunnelDefinition { Name = "account", LocalPort = 1 }, 1 * MiB);
        var serverEnforced = MeasureAsync(f, server, "c-secret",
            new TunnelDefinition { Name = "server", LocalPort = 1, BandwidthLimit = BandwidthLimit.Both(10 * MiB), BandwidthLimitMode = BandwidthLimitMode.Server }, 10 * MiB);
        var clientEnforced = MeasureAsync(f, server, "c-secret",
            new TunnelDefinition { Name = "client", LocalPort = 1, BandwidthLimit = BandwidthLimit.Both(10 * MiB), BandwidthLimitMode = BandwidthLimitMode.Client }, 10 * MiB);
        var clients = await Task.WhenAll(accountLimited, serverEnforced, clientEnforced);

        var onServer = server.GetTunnelStatistics().ToDictionary(t => t.Name);
        Assert.Equal((MiB, MiB), (onServer["account"].BandwidthLimitIn, onServer["account"].BandwidthLimitOut));
        Assert.Equal((10 * MiB, 10 * MiB), (onServer["server"].BandwidthLimitIn, onServer["server"].BandwidthLimitOut));
        Assert.Equal((40 * MiB, 40 * MiB), (onServer["client"].BandwidthLimitIn, onServer["client"].BandwidthLimitOut));
        var clientSide = clients[2].GetStatistics().Single();
        Assert.Equal((10 * MiB, 10 * MiB), (clientSide.BandwidthLimitIn, clientSide.BandwidthLimitOut));
        Assert.Equal(0, clients[1].GetStatistics().Single().BandwidthLimitIn);
        // Each enforcing end spent most of the transfer waiting for tokens, and says so.
        foreach (var throttled in new[] { onServer["account"].ThrottledTime, onServer["server"].ThrottledTime, clientSide.ThrottledTime })
            Assert.True(throttled > TimeSpan.FromSeconds(5), $"throttled {throttled}");
    }

    [Fact]
    public async Task A_tunnel_without_a_limit_is_never_throttled()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var (server, client) = await f.StartEchoTunnelAsync(echo);
        using (var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort))
        {
            var r = await Transfer.EchoRoundTripAsync(user, 16 << 20, seed: 5);
            Assert.Equal(r.Sent, r.Received);
        }
        var stats = server.GetTunnelStatistics().Single();
        Assert.Equal((0L, 0L, TimeSpan.Zero), (stats.BandwidthLimitIn, stats.BandwidthLimitOut, stats.ThrottledTime));
    }

    /// <summary>Starts a client for <paramref name="definition"/> (its local port replaced by a service of the test's),
    /// sends 12 s worth of <paramref name="limit"/> each way at once, and checks both rates over seconds 1 to 11 and
    /// both hashes.</summary>
    private static async Task<TunnelClient> MeasureAsync(TunnelFixture f, TunnelServer server, string token, TunnelDefinition definition, long limit)
    {
        await using var service = new HandOffService();
        var co = TunnelFixture.ClientOptions(server, token: token);
        co.Tunnels.Add(definition with { LocalPort = service.Port });
        var client = await f.StartClientAsync(co);

        // 13.5 s worth: the measure ends at 12 s, with room for the start's burst and backlog.
        var size = 27 * limit / 2;
        using var user = await TunnelFixture.ConnectAsync(client.Tunnels.Single().RemotePort);
        using var accepted = await service.NextAsync(TimeSpan.FromSeconds(10));
        var upSent = Transfer.SendSeededAsync(user, size, seed: 21);
        var downSent = Transfer.SendSeededAsync(accepted, size, seed: 22);
        var upReceived = ReceiveTimedAsync(accepted);
        var downReceived = ReceiveTimedAsync(user);
        var (upHash, upRate) = await upReceived;
        var (downHash, downRate) = await downReceived;
        Assert.Equal(await upSent, upHash);
        Assert.Equal(await downSent, downHash);
        Assert.True(Math.Abs(upRate - limit) <= limit / 10, $"toward the service: {upRate / MiB:0.000} MiB/s for a limit of {limit / (double)MiB} MiB/s");
        Assert.True(Math.Abs(downRate - limit) <= limit / 10, $"toward the user: {downRate / MiB:0.000} MiB/s for a limit of {limit / (double)MiB} MiB/s");
        return client;
    }

    /// <summary>Reads to the end, hashing; the rate is the bytes that arrived between 2 s and 12 s after the first byte. The
    /// warm-up is 2 s, not 1: what the limiter let through while this reader was not yet reading (on a loaded machine, up to
    /// a few MB in the socket buffers after the limiter) arrives at once when it starts, and takes a moment to drain at a
    /// reader that is faster than the limit; counted in the window, it read 11 MiB/s for 10 (the whole transfer done in 10.8 s).</summary>
    private static async Task<(string Hash, double BytesPerSecond)> ReceiveTimedAsync(Socket s)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var buf = new byte[64 * 1024];
        Stopwatch? clock = null;
        long total = 0, atStart = -1, atEnd = -1;
        for (int n; (n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0;)
        {
            clock ??= Stopwatch.StartNew();
            // What had arrived before each mark: the totals at the last receive before it.
            var elapsed = clock.Elapsed;
            if (atStart < 0 && elapsed >= TimeSpan.FromSeconds(2)) atStart = total;
            if (atEnd < 0 && elapsed >= TimeSpan.FromSeconds(12)) atEnd = total;
            hash.AppendData(buf, 0, n);
            total += n;
        }
        Assert.True(atEnd > 0, $"the transfer ended before 12 s: {total} bytes in {clock?.Elapsed}");
        return (Convert.ToHexString(hash.GetHashAndReset()), (atEnd - atStart) / 10.0);
    }
}
