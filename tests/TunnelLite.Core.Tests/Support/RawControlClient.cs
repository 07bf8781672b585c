using TunnelLite.Protocol;

namespace TunnelLite.Tests.Support;

/// <summary>A client spoken by hand: it logs in and registers one tunnel, then does only what the test makes it do (for
/// example, never open a data connection, or never send another frame).</summary>
internal static class RawControlClient
{
    /// <summary>Logs in with <paramref name="token"/> and registers <paramref name="tunnel"/>; returns the open control
    /// connection and the public port the server bound.</summary>
    public static async Task<(FrameConnection Control, int RemotePort)> RegisterAsync(int controlPort, string token, string clientId, string tunnel)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var c = new FrameConnection(await TunnelFixture.ConnectAsync(controlPort));
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
