using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TunnelLite.DataPlane;
using TunnelLite.Forwarding;
using TunnelLite.Logging;
using TunnelLite.Protocol;

namespace TunnelLite.Client;

/// <summary>One data connection of a client: opened at the server's request (or to refill the pool, when the server relies
/// on that), it idles in the server's pool until a user connection is paired with it, then connects the tunnel's local
/// service and pumps.</summary>
internal static class WorkConnection
{
    /// <summary>Starts one data connection, counted in <see cref="TunnelClient.Work"/> until it is over: on a loop of the
    /// event-loop plane without a task (<see cref="LoopDataConnection"/>), else as a task on the runtime's sockets.</summary>
    public static void Start(TunnelClient client, ControlSession session, ILogger log, CancellationToken cancellationToken)
    {
        if (!client.UsesTls && client.Pump is EventLoopPump loops)
        {
            client.Work.Begin();
            new LoopDataConnection(client, session, loops, log, cancellationToken).Open();
        }
        else client.Work.Track(RunAsync(client, session, log, cancellationToken));
    }

    private static async Task RunAsync(TunnelClient client, ControlSession session, ILogger log, CancellationToken cancellationToken)
    {
        FrameConnection? data = null;
        var handedOver = false;
        try
        {
            Frame? frame;
            // Until it is paired, a data connection belongs to its session: it ends when the session does.
            using var unpaired = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, session.Closing);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    data = await OpenAsync(client, session, unpaired.Token).ConfigureAwait(false);
                    // Idle in the pool: a zero-byte read waits without holding a buffer.
                    await data.Stream.ReadAsync(Memory<byte>.Empty, unpaired.Token).ConfigureAwait(false);
                    frame = await data.ReadAsync(unpaired.Token).ConfigureAwait(false);
                    break;
                }
                catch (Exception e) when (IsReset(e) && MayRetry(attempt, session, cancellationToken))
                {
                    // Reset before any answer: the server closed it while its first frame was still pending (it makes
                    // room that way when strangers flood its control port). It was never used: open another.
                    data?.Dispose();
                    data = null;
                    await Task.Delay(RetryDelay(attempt), cancellationToken).ConfigureAwait(false);
                }
            }
            handedOver = true;
            await ServeFirstFrameAsync(client, session, data, frame, log, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TunnelException or SocketException or IOException or OperationCanceledException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            if (!cancellationToken.IsCancellationRequested) log.LogDebug("Data connection ended: {Error}", e.Message);
        }
        catch (Exception e)
        {
            log.LogError(e, "Unexpected failure on a data connection.");
        }
        finally
        {
            if (!handedOver)
            {
                client.DataConnectionSettled(session);
                data?.Dispose();
            }
        }
    }

    private static bool MayRetry(int attempt, ControlSession session, CancellationToken cancellationToken) =>
        attempt < ConnectAttempts && !cancellationToken.IsCancellationRequested && !session.Closing.IsCancellationRequested;

    /// <summary>A pooled data connection's first frame (null: the server closed it idle): a StartWork is served, an error
    /// logged. Owns <paramref name="data"/> from here, and settles it against the bound unless a StartWork paired it. Never
    /// throws.</summary>
    private static async Task ServeFirstFrameAsync(TunnelClient client, ControlSession session, FrameConnection data, Frame? frame, ILogger log, CancellationToken cancellationToken)
    {
        FrameConnection? owned = data;
        var paired = false;
        try
        {
            if (frame is null) return; // the server closed an idle pooled connection
            if (frame.Value.Type == FrameType.Error)
            {
                var err = MessageSerializer.Read<ErrorMessage>(frame.Value);
                if (err.Code == TunnelErrorCode.QuotaExceeded)
                {
                    // The server pools enough: what this client still owes (requests for users who gave up) is void.
                    client.DataPoolFull(session);
                    log.LogDebug("The server's pool is full; dropping the data connections still owed.");
                }
                else log.LogWarning("The server refused a data connection: {Error}", PeerText.Escape(err.Message));
                return;
            }
            var start = MessageSerializer.Read<StartWorkMessage>(frame.Value);
            // Paired with a user: the bound on connecting and idle ones has room again, and the refill starts now.
            paired = true;
            client.DataConnectionPaired(session, start.Refill);
            var tunnel = client.FindTunnel(start.Tunnel);
            if (tunnel is null)
            {
                log.LogWarning("The server paired a connection for unknown tunnel {Tunnel}.", PeerText.Escape(start.Tunnel));
                return;
            }
            await ServeAsync(client, session, tunnel, data, Preamble(tunnel, start), log, cancellationToken).ConfigureAwait(false);
            owned = null; // the pump owned and closed the socket
        }
        catch (Exception e) when (e is TunnelException or SocketException or IOException or OperationCanceledException or ObjectDisposedException or ProtocolException or System.Text.Json.JsonException)
        {
            if (!cancellationToken.IsCancellationRequested) log.LogDebug("Data connection ended: {Error}", e.Message);
        }
        catch (Exception e)
        {
            log.LogError(e, "Unexpected failure on a data connection.");
        }
        finally
        {
            if (!paired) client.DataConnectionSettled(session);
            owned?.Dispose();
        }
    }

    /// <summary>Connects to the server (TLS when on) and sends the data hello with the session's next counter.</summary>
    private static async Task<FrameConnection> OpenAsync(TunnelClient client, ControlSession session, CancellationToken cancellationToken)
    {
        var socket = await ConnectWithRetryAsync(session.ServerEndpoint, cancellationToken).ConfigureAwait(false);
        FrameConnection data;
        using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            handshake.CancelAfter(client.Options.ConnectTimeout);
            data = await client.OpenConnectionAsync(socket, handshake.Token).ConfigureAwait(false);
        }
        try
        {
            await data.SendAsync(session.NextDataHello(), cancellationToken, withPreamble: true).ConfigureAwait(false);
            return data;
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    // The reset may come wrapped: in an IOException from a stream, and under TLS in an AuthenticationException around that.
    private static bool IsReset(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted }) return true;
        return false;
    }

    private static TimeSpan RetryDelay(int attempt) => TimeSpan.FromMilliseconds(50 * (1 << attempt) + Random.Shared.Next(50));

    // A connect can be reset when the server's accept queue overflows (a burst of users, or strangers flooding the control
    // port), and a connection can be reset before its first frame was read. Try again shortly, or the user waiting for this
    // connection would be dropped after the server's user connection timeout.
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
                await Task.Delay(RetryDelay(attempt), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>What the tunnel's service gets ahead of the user's bytes: its PROXY protocol header, if it asked for one.</summary>
    private static byte[]? Preamble(ClientTunnel tunnel, StartWorkMessage start) =>
        tunnel.Definition.ProxyProtocol == ProxyProtocolVersion.None ? null : ProxyProtocolHeader.For(tunnel.Definition.ProxyProtocol, start.Source, start.Destination);

    private static async Task ServeAsync(TunnelClient client, ControlSession session, ClientTunnel tunnel, FrameConnection data, byte[]? preamble, ILogger log, CancellationToken cancellationToken)
    {
        tunnel.Counters.ConnectionOpened();
        try
        {
            var timeout = client.Options.LocalConnectTimeout;
            string Describe(bool timedOut, string error) => DescribeFailure(tunnel, timeout, timedOut, error);
            void Report(string why) => ReportFailure(session, tunnel, log, why);

            if (!data.IsTls && client.Pump is EventLoopPump loops && LocalAddress(tunnel) is { } local)
            {
                // The event-loop plane connects from the loop: no runtime socket, no thread-pool hop until the pair ends.
                // A failure is counted there, before the user's end is reset; it is logged and reported from here.
                data.Stream.Dispose(); // does not own the socket; the loop takes the socket from here
                string? failure = null;
                var error = await loops.ConnectAndRunAsync(data.Socket, local, timeout, tunnel.Counters,
                    errno => failure = Describe(errno == DataPlane.Native.Interop.ETIMEDOUT, new SocketException(errno).Message), preamble, cancellationToken).ConfigureAwait(false);
                if (error != 0 && failure is not null && !cancellationToken.IsCancellationRequested) Report(failure);
                return;
            }
            Socket localSocket;
            try
            {
                localSocket = await ConnectLocalAsync(tunnel, timeout, preamble, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                var why = Describe(e is OperationCanceledException && !cancellationToken.IsCancellationRequested, e.Message);
                tunnel.Counters.ConnectionFailed(why);
                Report(why);
                SocketClose.Reset(data.Socket);
                return;
            }
            if (data.IsTls)
            {
                // TLS bytes must pass through their stream; the client chose the stream pump for TLS (PumpSelector).
                await StreamPump.Instance.RunAsync(data.Socket, data.Stream, localSocket, null, tunnel.Counters, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                data.Stream.Dispose(); // does not own the socket; the pump takes the socket from here
                await client.Pump.RunAsync(data.Socket, localSocket, tunnel.Counters, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            tunnel.Counters.ConnectionClosed();
        }
    }

    /// <summary>Why a user could not be served: the local service refused or did not accept in time.</summary>
    private static string DescribeFailure(ClientTunnel tunnel, TimeSpan timeout, bool timedOut, string error) => timedOut
        ? $"Local service {tunnel.LocalEndpoint} did not accept within {timeout.TotalSeconds:0.#} s."
        : $"Local service {tunnel.LocalEndpoint} is unreachable: {error}";

    /// <summary>Logs a failure counted by <see cref="DescribeFailure"/>'s caller and tells the server (its tunnel counts it too).</summary>
    private static void ReportFailure(ControlSession session, ClientTunnel tunnel, ILogger log, string why)
    {
        log.LogWarning("Tunnel {Tunnel}: {Error}", tunnel.Name, why);
        _ = session.ReportWorkFailedAsync(tunnel.Name, why);
    }

    /// <summary>A data connection on the event-loop plane (<see cref="EventLoopPump.OpenIdle"/>), from its connect to its
    /// end without a task: <see cref="Pair"/> runs on the loop when its StartWork comes, and <see cref="Completed"/> on the
    /// loop when the pair ends, so that a user costs the client no thread-pool hop. The rare rest (a retry after a delay, a
    /// frame the loop leaves to the control plane) continues on the thread pool.</summary>
    private sealed class LoopDataConnection(TunnelClient client, ControlSession session, EventLoopPump loops, ILogger log, CancellationToken cancellationToken)
    {
        private int _attempt = 1;
        private bool _settled; // no longer counted against the bound: paired, or settled by the control plane
        private ClientTunnel? _tunnel;
        private string? _failure;

        /// <summary>Opens (or opens again) the connection; the outcome comes to <see cref="Completed"/>.</summary>
        public void Open()
        {
            var hello = MessageSerializer.ToOpeningFrame(session.NextDataHello());
            // Until it is paired, a data connection belongs to its session: it ends when the session does.
            loops.OpenIdle(session.ServerEndpoint, hello, client.Options.ConnectTimeout, Pair, session.Closing, cancellationToken, cancellationToken, Completed);
        }

        /// <summary>Loop thread: the tunnel's local service for a StartWork, or null to leave it to the control plane (an
        /// unknown tunnel, a local service given by host name).</summary>
        private WorkTarget? Pair(StartWorkMessage start)
        {
            var tunnel = client.FindTunnel(start.Tunnel);
            if (tunnel is null || LocalAddress(tunnel) is not { } local) return null;
            _settled = true;
            _tunnel = tunnel;
            // The refill (a new data connection) starts here: its connect is non-blocking and goes on a loop too.
            client.DataConnectionPaired(session, start.Refill);
            tunnel.Counters.ConnectionOpened();
            var timeout = client.Options.LocalConnectTimeout;
            return new WorkTarget(local, timeout, tunnel.Counters,
                errno => _failure = DescribeFailure(tunnel, timeout, errno == DataPlane.Native.Interop.ETIMEDOUT, new SocketException(errno).Message),
                Preamble(tunnel, start));
        }

        /// <summary>The loop's thread (or the one that found the loops stopped): how the connection ended. Never throws.</summary>
        private void Completed(IdleOutcome outcome)
        {
            try
            {
                switch (outcome.End)
                {
                    case IdleEnd.Served:
                        // The pair ended (Error: 0, or a failed local connect's errno, counted already).
                        if (outcome.Error > 0 && _failure is not null && !cancellationToken.IsCancellationRequested) ReportFailure(session, _tunnel!, log, _failure);
                        _tunnel?.Counters.ConnectionClosed();
                        break;
                    case IdleEnd.ResetBeforeAnswer or IdleEnd.Unreachable when MayRetry(_attempt, session, cancellationToken):
                        _ = RetryAsync();
                        return;
                    case IdleEnd.Unreachable:
                        log.LogDebug("Data connection: the server at {Server} did not answer: {Error}", session.ServerEndpoint, new SocketException(outcome.Error).Message);
                        break;
                    case IdleEnd.Frame:
                        _ = ServeFrameAsync(new FrameConnection(outcome.Socket!), outcome.Frame);
                        return;
                    case IdleEnd.Broken:
                        log.LogDebug("Data connection ended inside its first frame.");
                        break;
                }
            }
            catch (Exception e)
            {
                log.LogError(e, "Unexpected failure on a data connection.");
            }
            Finish();
        }

        private async Task RetryAsync()
        {
            try
            {
                await Task.Delay(RetryDelay(_attempt++), cancellationToken).ConfigureAwait(false);
                Open();
            }
            catch (OperationCanceledException)
            {
                Finish();
            }
            catch (Exception e)
            {
                log.LogError(e, "Unexpected failure on a data connection.");
                Finish();
            }
        }

        private async Task ServeFrameAsync(FrameConnection data, Frame? frame)
        {
            await Task.Yield(); // off the loop: the control plane's frame handling may block
            await ServeFirstFrameAsync(client, session, data, frame, log, cancellationToken).ConfigureAwait(false);
            _settled = true; // ServeFirstFrameAsync settled it (or it was paired)
            Finish();
        }

        private void Finish()
        {
            if (!_settled) client.DataConnectionSettled(session);
            client.Work.End();
        }
    }

    /// <summary>The local service's address when it is an IP literal; null for a host name, which is resolved (off the
    /// loops) by the runtime's connect.</summary>
    private static IPEndPoint? LocalAddress(ClientTunnel tunnel) =>
        IPAddress.TryParse(tunnel.Definition.LocalAddress.Trim('[', ']'), out var ip) ? new IPEndPoint(ip, tunnel.Definition.LocalPort) : null;

    /// <summary>Connects the tunnel's local service within <paramref name="timeout"/> and sends it <paramref name="preamble"/>
    /// (a PROXY protocol header) at once, before any byte of the user's and even if the user never sends one.</summary>
    private static async Task<Socket> ConnectLocalAsync(ClientTunnel tunnel, TimeSpan timeout, byte[]? preamble, CancellationToken cancellationToken)
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
            // A few hundred bytes at most into an empty send buffer: this does not wait on the service.
            if (preamble is not null) await s.SendAsync(preamble, SocketFlags.None, cts.Token).ConfigureAwait(false);
            return s;
        }
        catch
        {
            s?.Dispose();
            throw;
        }
    }
}
