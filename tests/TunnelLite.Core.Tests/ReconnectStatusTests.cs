using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>A client that retries says so: its State is Reconnecting and its LastError says why, whether the server is
/// gone or now refuses it; it never stops by itself.</summary>
public sealed class ReconnectStatusTests
{
    [Fact]
    public async Task A_client_pinned_to_a_certificate_the_server_replaced_keeps_retrying_and_says_CertificateMismatch()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        // No certificate file: the server makes a self-signed certificate at every start, so a restart changes it.
        var so = TunnelFixture.ServerOptions();
        so.Tls = new ServerTlsOptions { Enabled = true };
        var first = new TunnelServer(so);
        await first.StartAsync();
        var port = first.ControlEndpoint!.Port;
        var pinned = first.CertificateFingerprint!;
        var o = TunnelFixture.ClientOptions(first);
        o.Tls = new ClientTlsOptions { Enabled = true, ServerFingerprint = pinned };
        o.Tunnels.Add(new TunnelDefinition { Name = "pinned", LocalPort = echo.Port });
        var client = await f.StartClientAsync(o);
        Assert.Equal(ClientState.Connected, client.State);
        Assert.Null(client.LastError);

        await first.DisposeAsync();
        var again = TunnelFixture.ServerOptions();
        again.ControlPort = port;
        again.Tls = new ServerTlsOptions { Enabled = true };
        var second = await f.StartServerAsync(again);
        Assert.NotEqual(pinned, second.CertificateFingerprint);

        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.LastError?.Code == TunnelErrorCode.CertificateMismatch, TimeSpan.FromSeconds(15)),
            $"last error: {client.LastError}");
        Assert.Equal(ClientState.Reconnecting, client.State);
        Assert.Contains(second.CertificateFingerprint!, client.LastError!.Message);
        Assert.StartsWith("CertificateMismatch: ", client.LastError.ToString());
        Assert.Equal("Reconnecting", client.GetStatistics().Single().State);

        // It keeps trying, and keeps failing the same way: no give-up, no stop.
        var seen = client.LastError.Time;
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.LastError!.Time > seen, TimeSpan.FromSeconds(10)));
        Assert.Equal(TunnelErrorCode.CertificateMismatch, client.LastError!.Code);
        Assert.Equal(ClientState.Reconnecting, client.State);
        Assert.False(client.Completion.IsCompleted);
    }

    [Fact]
    public async Task A_lost_server_is_ServerUnreachable_until_the_client_is_back_and_the_error_stays_with_its_time()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var first = await f.StartServerAsync();
        var port = first.ControlEndpoint!.Port;
        var o = TunnelFixture.ClientOptions(first);
        o.Tunnels.Add(new TunnelDefinition { Name = "lost", LocalPort = echo.Port });
        var client = await f.StartClientAsync(o);

        await first.StopAsync();
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.State == ClientState.Reconnecting, TimeSpan.FromSeconds(10)));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.LastError is not null, TimeSpan.FromSeconds(5)));
        Assert.Equal(TunnelErrorCode.ServerUnreachable, client.LastError!.Code);

        var again = TunnelFixture.ServerOptions(tls: f.Tls);
        again.ControlPort = port;
        await f.StartServerAsync(again);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.State == ClientState.Connected, TimeSpan.FromSeconds(15)));
        Assert.Equal(TunnelErrorCode.ServerUnreachable, client.LastError!.Code);
        Assert.True(client.LastError.Time <= DateTimeOffset.UtcNow);
    }
}
