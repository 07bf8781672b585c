using System.Diagnostics;
using System.Text;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Protocol;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>A client pointed at a server that is not TunnelLite fails fast with ProtocolError, saying what it looks like,
/// and a silent one costs a few seconds, not the whole connect timeout.</summary>
public sealed class ForeignServerTests
{
    private static async Task<(TunnelException Error, TimeSpan Elapsed)> StartAgainstAsync(int port, TimeSpan? connectTimeout = null, bool tls = false)
    {
        var o = new TunnelClientOptions
        {
            ServerAddress = "127.0.0.1",
            ServerPort = port,
            Token = TunnelFixture.Token,
            ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(10),
            LoggerFactory = TunnelFixture.Log,
        };
        if (tls)
        {
            o.Tls.Enabled = true;
            o.Tls.ServerFingerprint = new string('0', 64);
        }
        o.Tunnels.Add(new TunnelDefinition { Name = "web", LocalPort = 9 });
        var client = new TunnelClient(o);
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAnyAsync<TunnelException>(() => client.StartAsync());
        clock.Stop();
        Assert.Equal(ClientState.Stopped, client.State);
        return (e, clock.Elapsed);
    }

    [Fact]
    public async Task An_ssh_server_is_named_by_its_banner_at_once()
    {
        await using var ssh = new ForeignService(ForeignService.Kind.Ssh);
        var (e, elapsed) = await StartAgainstAsync(ssh.Port);
        Assert.Equal(TunnelErrorCode.ProtocolError, e.Code);
        Assert.Contains($"looks like an SSH server ({ForeignService.SshBanner}), not a TunnelLite server", e.Message);
        Assert.DoesNotContain("Unknown frame type", e.Message);
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"took {elapsed}");
    }

    [Fact]
    public async Task An_http_server_that_answers_garbage_at_once_is_named_by_its_status_line()
    {
        await using var http = new ForeignService(ForeignService.Kind.HttpAtOnce);
        var (e, elapsed) = await StartAgainstAsync(http.Port);
        Assert.Equal(TunnelErrorCode.ProtocolError, e.Code);
        Assert.Contains("looks like an HTTP server (HTTP/1.1 400 Bad Request), not a TunnelLite server", e.Message);
        Assert.Contains("control port", e.Message);
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"took {elapsed}");
    }

    [Fact]
    public async Task An_http_server_that_waits_for_a_request_line_fails_within_the_short_wait()
    {
        // The hello holds a line end only by chance (a length byte of 10): then the server answers 400 at once, else it
        // waits for the rest of a request that never comes, which is the silence of a server that is not TunnelLite.
        await using var http = new ForeignService(ForeignService.Kind.HttpAfterRequestLine);
        var (e, elapsed) = await StartAgainstAsync(http.Port);
        Assert.Equal(TunnelErrorCode.ProtocolError, e.Code);
        Assert.True(e.Message.Contains("looks like an HTTP server (HTTP/1.0 400 Bad request syntax)", StringComparison.Ordinal)
                    || e.Message.Contains("did not answer the TunnelLite hello within 5 s: not a TunnelLite server?", StringComparison.Ordinal), e.Message);
        Assert.True(elapsed < TimeSpan.FromSeconds(6), $"took {elapsed}");
    }

    [Fact]
    public async Task A_tls_server_is_named_and_the_error_suggests_Tls()
    {
        await using var tls = new ForeignService(ForeignService.Kind.Tls);
        var (e, elapsed) = await StartAgainstAsync(tls.Port);
        Assert.Equal(TunnelErrorCode.ProtocolError, e.Code);
        Assert.Contains("answered with TLS, but this client does not use TLS", e.Message);
        Assert.Contains("use -Tls", e.Message);
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"took {elapsed}");
    }

    [Fact]
    public async Task A_silent_server_fails_with_ProtocolError_within_five_seconds_not_the_connect_timeout()
    {
        await using var silent = new ForeignService(ForeignService.Kind.Silent);
        var (e, elapsed) = await StartAgainstAsync(silent.Port, TimeSpan.FromSeconds(10));
        Assert.Equal(TunnelErrorCode.ProtocolError, e.Code);
        Assert.Contains("did not answer the TunnelLite hello within 5 s: not a TunnelLite server?", e.Message);
        Assert.True(elapsed < TimeSpan.FromSeconds(6), $"took {elapsed}");
        Assert.True(elapsed > TimeSpan.FromSeconds(4), $"took {elapsed}");
    }

    [Fact]
    public async Task A_silent_server_with_a_short_connect_timeout_is_a_ProtocolError_too()
    {
        await using var silent = new ForeignService(ForeignService.Kind.Silent);
        var (e, elapsed) = await StartAgainstAsync(silent.Port, TimeSpan.FromSeconds(1));
        Assert.Equal(TunnelErrorCode.ProtocolError, e.Code);
        Assert.Contains("not a TunnelLite server?", e.Message);
        Assert.True(elapsed < TimeSpan.FromSeconds(3), $"took {elapsed}");
    }

    [Fact]
    public async Task A_server_silent_to_the_TLS_handshake_fails_within_five_seconds()
    {
        await using var silent = new ForeignService(ForeignService.Kind.Silent);
        var (e, elapsed) = await StartAgainstAsync(silent.Port, TimeSpan.FromSeconds(10), tls: true);
        Assert.Equal(TunnelErrorCode.ProtocolError, e.Code);
        Assert.Contains("did not answer the TLS handshake within 5 s", e.Message);
        Assert.True(elapsed < TimeSpan.FromSeconds(6), $"took {elapsed}");
    }

    [Theory]
    [InlineData("220 mail.example.net ESMTP Postfix\r\n", "it answered \"220 mail.example.net ESMTP Postfix\"")]
    [InlineData("+OK Dovecot ready.\r\n", "it answered \"+OK Dovecot ready.\"")]
    [InlineData("HTTP/1.1 200 OK\r\n", "looks like an HTTP server (HTTP/1.1 200 OK)")]
    [InlineData("SSH-2.0-dropbear\r\n", "looks like an SSH server (SSH-2.0-dropbear)")]
    public void Text_answers_are_quoted_by_their_first_line(string answer, string expected)
    {
        var message = ForeignAnswer.Describe("h:1", Encoding.ASCII.GetBytes(answer), overTls: false);
        Assert.Contains(expected, message);
        Assert.Contains("control port", message);
    }

    [Fact]
    public void Binary_answers_are_shown_as_hex_and_peer_text_is_escaped()
    {
        var binary = ForeignAnswer.Describe("h:1", new byte[] { 0x00, 0x00, 0x00, 0x10, 0x63, 0xFF }, overTls: false);
        Assert.Contains("its answer (00 00 00 10 63 FF) is not a TunnelLite frame", binary);
        var sneaky = ForeignAnswer.Describe("h:1", Encoding.ASCII.GetBytes("SSH-2.0-x\u001B[2J\r\n"), overTls: false);
        Assert.Contains(@"SSH-2.0-x\x1B[2J", sneaky);
        Assert.DoesNotContain('\u001B', sneaky);
    }
}
