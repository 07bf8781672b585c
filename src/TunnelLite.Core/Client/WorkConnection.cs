using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;

namespace TunnelLite.Client;

/// <summary>One data connection of a client: opened at the server's request, it idles in the server's pool until a user
/// connection is paired with it, then connects the tunnel's local service and pumps.</summary>
internal static class WorkConnection
{
    public static async Task RunAsync(TunnelClient client, ControlSession session, byte[] nonce, ILogger log, CancellationToken cancellationToken)
    {
        FrameConnection? data = null;
        try
        {
            var socket = await ConnectWithRetryAsync(session.ServerEndpoint, cancellationToken).ConfigureAwait(false);
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                handshake.CancelAfter(client.Options.ConnectTimeout);
                data = await client.OpenConnectionAsync(socket, handshake.Token).ConfigureAwait(false);
            }
            await data.SendAsync(new DataHelloMessage
            {
                Version = ProtocolConstants.Version,
                SessionId = session.SessionId,
                Nonce = nonce,
                Proof = TokenProof.ForData(client.Options.Token, session.SessionId, nonce),
            }, cancellationToken, withPreamble: true).ConfigureAwait(false);

            // Idle in the pool: a zero-byte read waits without holding a buffer.
            await data.Stream.ReadAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            var frame = await data.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (frame is null) return; // the server closed an idle pooled connection
            if (frame.Value.Type == FrameType.Error)
            {
                var err = MessageSerializer.Read<ErrorMessage>(frame.Value);
                log.LogWarning("The server refused a data connection: {Error}", err.Message);
                return;
            }
            var start = MessageSerializer.Read<StartWorkMessage>(frame.Value);
            var tunnel = client.FindTunnel(start.Tunnel);
            if (tunnel is null)
            {
                log.LogWarning("The server paired a connection for unknown tunnel {Tunnel}.", start.Tunnel);
                return;
            }
            await ServeAsync(client, session, tunnel, data, log, cancellationToken).ConfigureAwait(false);
            data = null; // the pump owns and closed the socket
        }
        catch (Exception e) when (e is TunnelException or SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            if (!cancellationToken.IsCancellationRequested) log.LogDebug("Data connection ended: {Error}", e.Message);
        }
        catch (Exception e)
        {
            log.LogError(e, "Unexpected failure on a data connection.");
        }
        finally
        {
            data?.Dispose();
        }
    }

    // A burst of user connections makes the server ask for as many data connections at once, more than its cap on unfinished
    // handshakes (MaxPendingHandshakes), so it resets some of them at once. Nothing was sent yet, so the nonce is still good:
    // try again shortly, or the user waiting for this connection would be dropped after the server's user connection timeout.
    private const int ConnectAttempts = 5;

    private static async Task<Socket> ConnectWithRetryAsync(IPEndPoint server, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ControlSession.ConnectAsync(server.Address.ToString(), server.Port, cancellationToken).ConfigureAwait(false);
            }
            catch (TunnelException) when (attempt < ConnectAttempts && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 * (1 << attempt) + Random.Shared.Next(50)), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static async Task ServeAsync(TunnelClient client, ControlSession session, ClientTunnel tunnel, FrameConnection data, ILogger log, CancellationToken cancellationToken)
    {
        tunnel.Counters.ConnectionOpened();
        try
        {
            Socket local;
            try
            {
                local = await ConnectLocalAsync(tunnel, client.Options.LocalConnectTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                var why = e is OperationCanceledException && !cancellationToken.IsCancellationRequested
                    ? $"Local service {tunnel.LocalEndpoint} did not accept within {client.Options.LocalConnectTimeout.TotalSeconds:0.#} s."
                    : $"Local service {tunnel.LocalEndpoint} is unreachable: {e.Message}";
                tunnel.Counters.ConnectionFailed(why);
                log.LogWarning("Tunnel {Tunnel}: {Error}", tunnel.Name, why);
                _ = session.ReportWorkFailedAsync(tunnel.Name, why);
                SocketClose.Reset(data.Socket);
                return;
            }
            if (data.IsTls)
            {
                // TLS bytes must pass through their stream; the client chose the stream pump for TLS (PumpSelector).
                await StreamPump.Instance.RunAsync(data.Socket, data.Stream, local, null, tunnel.Counters, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                data.Stream.Dispose(); // does not own the socket; the pump takes the socket from here
                await client.Pump.RunAsync(data.Socket, local, tunnel.Counters, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            tunnel.Counters.ConnectionClosed();
        }
    }

    private static async Task<Socket> ConnectLocalAsync(ClientTunnel tunnel, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var def = tunnel.Definition;
        Socket? s = null;
        try
        {
            if (IPAddress.TryParse(def.LocalAddress.Trim('[', ']'), out var ip))
            {
                s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await s.ConnectAsync(new IPEndPoint(ip, def.LocalPort), cts.Token).ConfigureAwait(false);
            }
            else
            {
                s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await s.ConnectAsync(def.LocalAddress, def.LocalPort, cts.Token).ConfigureAwait(false);
            }
            return s;
        }
        catch
        {
            s?.Dispose();
            throw;
        }
    }
}
