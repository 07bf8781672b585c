using TunnelLite.Client;
using TunnelLite.Protocol;
using TunnelLite.Server;

namespace TunnelLite.Tests.Support;

/// <summary>A client spoken by hand: it logs in and registers one tunnel, then does only what the test makes it do (for
/// example, never open a data connection, or never send another frame).</summary>
internal static class RawControlClient
{
    /// <summary>Logs in to <paramref name="server"/> with <paramref name="token"/> and registers <paramref name="tunnel"/>;
    /// returns the open control connection and the public port the server bound. Speaks TLS to a TLS fixture's server, as
    /// its real clients do, so that suites run unchanged over TLS.</summary>
    public static async Task<(FrameConnection Control, int RemotePort)> RegisterAsync(TunnelServer server, string token, string clientId, string tunnel)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var options = TunnelFixture.ClientOptions(server, token: token);
        var socket = await TunnelFixture.ConnectAsync(server.ControlEndpoint!.Port);
        var c = options.Tls.Enabled ? await ClientTls.Create(options).AuthenticateAsync(socket, cts.Token) : new FrameConnection(socket);
        try
        {
            await TestLogin.LoginAsync(c, token, clientId, 0, cancellationToken: cts.Token);
            await c.SendAsync(new RegisterMessage { RequestId = 1, Tunnels = { new TunnelRequest { Name = tunnel } } }, cts.Token);
            while (true)
            {
                // Requests for data connections may come first; this client ignores them.
                var frame = await c.ReadRequiredAsync(cts.Token);
                if (frame.Type == FrameType.RegisterResult)
                    return (c, MessageSerializer.Read<RegisterResultMessage>(frame).Results.Single().RemotePort);
            }
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }
}
