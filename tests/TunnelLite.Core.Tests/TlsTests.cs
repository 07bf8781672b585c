using System.Net;
using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>TLS on control and data connections: real handshakes on 127.0.0.1, bytes checked by SHA-256, and the
/// mismatches that must fail at once with their own error codes. Runs with the TLS end-to-end suite, apart from the
/// other suites, so that TLS work does not crowd their timeouts.</summary>
[Collection(EndToEndTlsCollection.Name)]
public class TlsTests
{
    private static readonly TimeSpan FailFast = TimeSpan.FromSeconds(5);

    private static TunnelServerOptions TlsServer(Action<ServerTlsOptions>? configure = null)
    {
        var o = TunnelFixture.ServerOptions();
        o.Tls.Enabled = true;
        configure?.Invoke(o.Tls);
        return o;
    }

    private static TunnelClientOptions TlsClient(TunnelServer server, EchoService echo, Action<ClientTlsOptions> configure)
    {
        var o = TunnelFixture.ClientOptions(server);
        o.Tls.Enabled = true;
        configure(o.Tls);
        o.Tunnels.Add(new TunnelDefinition { Name = "echo", LocalPort = echo.Port });
        return o;
    }

    /// <summary>Echoes <paramref name="connections"/> connections of 512 KiB each (in parallel) and checks every byte.</summary>
    private static async Task AssertEchoesAsync(TunnelClient client, TunnelServer server, int connections)
    {
        const int size = 512 * 1024;
        var port = client.Tunnels.Single().RemotePort;
        var results = await Task.WhenAll(Enumerable.Range(0, connections).Select(async i =>
        {
            using var user = await TunnelFixture.ConnectAsync(port);
            return await Transfer.EchoRoundTripAsync(user, size, seed: 500 + i);
        })).WaitAsync(TimeSpan.FromSeconds(60));
        foreach (var r in results)
        {
            Assert.Equal(size, r.ReceivedBytes);
            Assert.Equal(r.Sent, r.Received);
        }
        Assert.True(await TunnelFixture.WaitUntilAsync(() => client.Totals.ActiveConnections == 0 && server.Totals.ActiveConnections == 0, TimeSpan.FromSeconds(5)));
        Assert.Equal((long)connections * size, server.Totals.BytesIn);
        Assert.Equal((long)connections * size, client.Totals.BytesOut);
        Assert.Equal(0, server.Totals.FailedConnections);
    }

    [Fact]
    public async Task Self_signed_certificate_pinned_by_fingerprint_carries_bytes_intact_and_stats_show_copy_even_when_splice_was_asked()
    {
        await using var f = new TunnelFixture(ForwardingMode.Splice);
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TlsServer());
        Assert.NotNull(server.CertificateFingerprint);
        Assert.Matches("^[0-9A-F]{64}$", server.CertificateFingerprint);
        Assert.Contains(server.CertificateFingerprint!, TunnelFixture.Log.Tail());
        // The pin is accepted with colons and in lower case, as other tools print fingerprints.
        var pin = string.Join(":", server.CertificateFingerprint!.Chunk(2).Select(c => new string(c))).ToLowerInvariant();
        var client = await f.StartClientAsync(TlsClient(server, echo, t => t.ServerFingerprint = pin));

        await AssertEchoesAsync(client, server, connections: 6);

        foreach (var s in new[] { client.GetStatistics().Single(), server.GetTunnelStatistics().Single(), server.GetStatistics() })
        {
            Assert.Equal(ForwardingMode.Copy, s.ForwardingMode);
            Assert.Equal(0, s.SplicedConnections);
        }
        Assert.Equal(6, client.GetStatistics().Single().CopiedConnections);
    }

    [Fact]
    public async Task Certificate_from_PEM_files_is_trusted_through_a_CA_file()
    {
        using var certs = new TestCertificates();
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TlsServer(t => { t.CertificateFile = certs.CertFile; t.KeyFile = certs.KeyFile; }));
        Assert.Equal(certs.LeafFingerprint, server.CertificateFingerprint);
        // The client connects to 127.0.0.1 and checks the certificate for "localhost" (transport.tls.serverName).
        var client = await f.StartClientAsync(TlsClient(server, echo, t => { t.TrustedCaFile = certs.CaFile; t.ServerName = "localhost"; }));
        await AssertEchoesAsync(client, server, connections: 3);
    }

    [Fact]
    public async Task Certificate_from_a_PFX_file_is_trusted_through_a_CA_file_by_IP_address()
    {
        using var certs = new TestCertificates();
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TlsServer(t => { t.PfxFile = certs.PfxFile; t.PfxPassword = TestCertificates.PfxPassword; }));
        Assert.Equal(certs.LeafFingerprint, server.CertificateFingerprint);
        var client = await f.StartClientAsync(TlsClient(server, echo, t => t.TrustedCaFile = certs.CaFile));
        await AssertEchoesAsync(client, server, connections: 2);
    }

    [Fact]
    public async Task Tls_client_against_a_plain_server_fails_fast_with_TlsMismatch()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync();
        var client = new TunnelClient(TlsClient(server, echo, t => t.ServerFingerprint = new string('A', 64)));
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync().WaitAsync(FailFast));
        Assert.Equal(TunnelErrorCode.TlsMismatch, e.Code);
        Assert.Contains("does not speak TLS", e.Message);
        Assert.Contains("remove -Tls", e.Message);
        Assert.Equal(0, server.ClientCount);
    }

    [Fact]
    public async Task Plain_client_against_a_tls_server_fails_fast_with_TlsMismatch()
    {
        await using var f = new TunnelFixture();
        var server = await f.StartServerAsync(TlsServer());
        var client = new TunnelClient(TunnelFixture.ClientOptions(server));
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync().WaitAsync(FailFast));
        Assert.Equal(TunnelErrorCode.TlsMismatch, e.Code);
        Assert.Contains("requires TLS", e.Message);
        Assert.Contains("-Tls", e.Message);
        Assert.Equal(0, server.ClientCount);
    }

    [Fact]
    public async Task Wrong_pin_fails_with_CertificateMismatch_naming_both_fingerprints()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TlsServer());
        var wrong = new string('0', 64);
        var client = new TunnelClient(TlsClient(server, echo, t => t.ServerFingerprint = wrong));
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync().WaitAsync(FailFast));
        Assert.Equal(TunnelErrorCode.CertificateMismatch, e.Code);
        Assert.Contains(wrong, e.Message);
        Assert.Contains(server.CertificateFingerprint!, e.Message);
        Assert.Equal(0, server.ClientCount);
    }

    [Fact]
    public async Task Self_signed_certificate_without_a_pin_is_untrusted_and_the_error_says_to_pin_it()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TlsServer());
        var client = new TunnelClient(TlsClient(server, echo, _ => { }));
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync().WaitAsync(FailFast));
        Assert.Equal(TunnelErrorCode.CertificateUntrusted, e.Code);
        Assert.Contains("-CertificateFingerprint " + server.CertificateFingerprint, e.Message);
    }

    [Fact]
    public async Task Certificate_signed_by_another_CA_is_untrusted()
    {
        using var served = new TestCertificates();
        using var other = new TestCertificates();
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TlsServer(t => { t.CertificateFile = served.CertFile; t.KeyFile = served.KeyFile; }));
        var client = new TunnelClient(TlsClient(server, echo, t => { t.TrustedCaFile = other.CaFile; t.ServerName = "localhost"; }));
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync().WaitAsync(FailFast));
        Assert.Equal(TunnelErrorCode.CertificateUntrusted, e.Code);
        Assert.Contains(other.CaFile, e.Message);
    }

    [Fact]
    public async Task Certificate_for_another_host_name_is_untrusted_through_the_CA()
    {
        using var certs = new TestCertificates();
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TlsServer(t => { t.CertificateFile = certs.CertFile; t.KeyFile = certs.KeyFile; }));
        var client = new TunnelClient(TlsClient(server, echo, t => { t.TrustedCaFile = certs.CaFile; t.ServerName = "tunnel.example.org"; }));
        var e = await Assert.ThrowsAsync<TunnelException>(() => client.StartAsync().WaitAsync(FailFast));
        Assert.Equal(TunnelErrorCode.CertificateUntrusted, e.Code);
        Assert.Contains("tunnel.example.org", e.Message);
    }

    [Fact]
    public async Task Unusable_certificate_files_fail_the_start_with_CertificateLoadFailed()
    {
        using var certs = new TestCertificates();
        var missing = Path.Combine(certs.Directory, "missing.pem");
        var cases = new (Action<ServerTlsOptions> Configure, string Named)[]
        {
            (t => t.CertificateFile = missing, missing),
            (t => { t.CertificateFile = certs.CertFile; t.KeyFile = certs.CaFile; }, certs.CertFile), // a certificate is not a key
            (t => { t.PfxFile = certs.PfxFile; t.PfxPassword = "wrong"; }, certs.PfxFile),
        };
        foreach (var (configure, named) in cases)
        {
            var server = new TunnelServer(TlsServer(configure));
            var e = await Assert.ThrowsAsync<TunnelException>(() => server.StartAsync());
            Assert.Equal(TunnelErrorCode.CertificateLoadFailed, e.Code);
            Assert.Contains(named, e.Message);
            Assert.Equal("Stopped", server.State);
        }
    }

    [Fact]
    public async Task Unreadable_CA_file_fails_the_client_with_CertificateLoadFailed()
    {
        using var certs = new TestCertificates();
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TlsServer());
        var notPem = Path.Combine(certs.Directory, "empty.pem");
        File.WriteAllText(notPem, "not a certificate\n");
        var e = Assert.Throws<TunnelException>(() => new TunnelClient(TlsClient(server, echo, t => t.TrustedCaFile = notPem)));
        Assert.Equal(TunnelErrorCode.CertificateLoadFailed, e.Code);
        Assert.Contains(notPem, e.Message);
    }

    [Fact]
    public async Task Tls_server_stays_up_after_a_plain_client_and_a_silent_connection()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var server = await f.StartServerAsync(TlsServer());
        // A peer that connects and says nothing is dropped at the handshake timeout and does not block others.
        using var silent = await TunnelFixture.ConnectAsync(server.ControlEndpoint!.Port);
        await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(TunnelFixture.ClientOptions(server)).StartAsync().WaitAsync(FailFast));
        var client = await f.StartClientAsync(TlsClient(server, echo, t => t.ServerFingerprint = server.CertificateFingerprint));
        await AssertEchoesAsync(client, server, connections: 1);
        var (_, _) = await Transfer.DrainAsync(silent, TimeSpan.FromSeconds(5));
    }
}
