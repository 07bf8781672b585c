using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Diagnostics;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>TunnelProbe against real tunnels on 127.0.0.1: a service that speaks first, one that waits silently, one that is
/// down (the server resets the user at once), and public ends where nothing listens.</summary>
public sealed class TunnelProbeTests
{
    // Long enough that a loaded 2-core machine never mistakes a slow tunnel for a silent one; the silent case, which waits
    // for the whole timeout, uses a short one of its own.
    private static readonly TimeSpan Patient = TimeSpan.FromSeconds(10);

    private static async Task<TunnelClient> StartTunnelAsync(TunnelFixture f, int localPort)
    {
        var server = await f.StartServerAsync();
        var o = TunnelFixture.ClientOptions(server);
        o.Tunnels.Add(new TunnelDefinition { Name = "probed", LocalPort = localPort });
        return await f.StartClientAsync(o);
    }

    /// <summary>A port on 127.0.0.1 that refuses connections: bound, never listening, then closed.</summary>
    private static int RefusingPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    [Fact]
    public async Task A_service_that_speaks_first_is_reachable_with_its_first_byte_timed()
    {
        await using var f = new TunnelFixture();
        await using var ssh = new ForeignService(ForeignService.Kind.Ssh);
        var client = await StartTunnelAsync(f, ssh.Port);
        var port = client.Tunnels.Single().RemotePort;

        var r = await TunnelProbe.RunAsync("127.0.0.1", port, Patient);

        Assert.Equal(TunnelTestReason.Data, r.Reason);
        Assert.True(r.Reachable);
        Assert.Equal("127.0.0.1", r.ComputerName);
        Assert.Equal("127.0.0.1", r.RemoteAddress);
        Assert.Equal(port, r.RemotePort);
        Assert.NotNull(r.ConnectTime);
        Assert.NotNull(r.FirstByteTime);
        Assert.True(r.FirstByteTime < Patient, $"first byte after {r.FirstByteTime}");
        Assert.Null(r.Name);
        Assert.Contains("sent data first", r.Message);
        Assert.Equal(1, ssh.Accepted);
    }

    [Fact]
    public async Task A_silent_service_is_reachable_once_the_connection_stayed_open_for_the_timeout()
    {
        await using var f = new TunnelFixture();
        await using var silent = new ForeignService(ForeignService.Kind.Silent);
        var client = await StartTunnelAsync(f, silent.Port);
        var timeout = TimeSpan.FromSeconds(1);

        var clock = Stopwatch.StartNew();
        var r = await TunnelProbe.RunAsync("127.0.0.1", client.Tunnels.Single().RemotePort, timeout);
        clock.Stop();

        Assert.Equal(TunnelTestReason.TimedOutOpen, r.Reason);
        Assert.True(r.Reachable);
        Assert.NotNull(r.ConnectTime);
        Assert.Null(r.FirstByteTime);
        Assert.Equal(timeout, r.Timeout);
        // It waited for the whole timeout after connecting (a lower bound only: a busy machine may take longer).
        Assert.True(clock.Elapsed >= timeout - TimeSpan.FromMilliseconds(50), $"returned after {clock.Elapsed}");
        Assert.True(await TunnelFixture.WaitUntilAsync(() => silent.Accepted == 1, TimeSpan.FromSeconds(5)), "the service never saw the connection");
    }

    [Fact]
    public async Task A_local_service_that_is_down_is_a_reset_before_the_deadline()
    {
        await using var f = new TunnelFixture();
        var client = await StartTunnelAsync(f, RefusingPort());

        // With a deadline this long, anything but a reset that came at once would read as TimedOutOpen.
        var r = await TunnelProbe.RunAsync("127.0.0.1", client.Tunnels.Single().RemotePort, Patient);

        Assert.Equal(TunnelTestReason.Reset, r.Reason);
        Assert.False(r.Reachable);
        Assert.Null(r.FirstByteTime);
        Assert.Contains("cannot reach its local service", r.Message);
    }

    [Fact]
    public async Task A_public_port_where_nothing_listens_is_refused()
    {
        var port = RefusingPort();
        var r = await TunnelProbe.RunAsync("127.0.0.1", port, Patient);
        Assert.Equal(TunnelTestReason.Refused, r.Reason);
        Assert.False(r.Reachable);
        Assert.Null(r.ConnectTime);
        Assert.Equal(port, r.RemotePort);
        Assert.Contains("refused", r.Message);
    }

    [Fact]
    public async Task An_IPv6_literal_is_taken_with_or_without_brackets()
    {
        if (!Socket.OSSupportsIPv6) return;
        await using var ssh = new ForeignService(ForeignService.Kind.Ssh, IPAddress.IPv6Loopback);
        foreach (var host in new[] { "::1", "[::1]" })
        {
            var r = await TunnelProbe.RunAsync(host, ssh.Port, Patient);
            Assert.Equal(TunnelTestReason.Data, r.Reason);
            Assert.Equal("::1", r.RemoteAddress);
            Assert.Contains($"[::1]:{ssh.Port}", r.Message);
        }
    }

    [Fact]
    public async Task A_name_that_does_not_resolve_is_reported_not_thrown()
    {
        var r = await TunnelProbe.RunAsync("no-such-host.invalid", 80, TimeSpan.FromSeconds(3));
        Assert.Equal(TunnelTestReason.NameNotResolved, r.Reason);
        Assert.False(r.Reachable);
        Assert.Null(r.RemoteAddress);
        Assert.Null(r.ConnectTime);
    }

    [Fact]
    public async Task Cancelling_ends_a_probe_at_once_with_OperationCanceledException()
    {
        await using var silent = new ForeignService(ForeignService.Kind.Silent);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => TunnelProbe.RunAsync("127.0.0.1", silent.Port, TimeSpan.FromMinutes(5), cts.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), $"took {clock.Elapsed}");
    }

    [Theory]
    [InlineData("", 80, 1)]
    [InlineData("127.0.0.1", 0, 1)]
    [InlineData("127.0.0.1", 65536, 1)]
    [InlineData("127.0.0.1", 80, 0)]
    public async Task Refuses_what_cannot_be_probed(string host, int port, int timeoutSeconds)
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => TunnelProbe.RunAsync(host, port, TimeSpan.FromSeconds(timeoutSeconds)));
    }
}
