using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Diagnostics;

/// <summary>Tests a tunnel as a user would meet it: one TCP connection to its public end, then a wait for the first byte, a
/// reset, a close or the deadline. Nothing is sent, so a service that waits for its client is not disturbed by a request
/// it does not understand.
/// <para>Why a silent, open connection counts as reachable: a TunnelLite server resets the user connection at once when its
/// client cannot reach the local service, so a connection that is still open after the timeout reached a service that
/// accepted it and waits for the user to speak (HTTP does).</para></summary>
public static class TunnelProbe
{
    /// <summary>Probes <paramref name="host"/>:<paramref name="port"/>. <paramref name="timeout"/> bounds the name
    /// resolution and the connect together, and, once connected, the wait for a byte or a reset: at most one connection is
    /// opened, and the probe ends within twice the timeout.</summary>
    /// <exception cref="ArgumentException">An empty host, a port outside 1-65535, or a timeout that is not positive.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<TunnelTestResult> RunAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(host)) throw new ArgumentException("A host name or address is required.", nameof(host));
        if (port is < 1 or > 65535) throw new ArgumentOutOfRangeException(nameof(port), port, $"Port {port} is not a port (1-65535).");
        if (timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be positive.");

        var probe = new Outcome(host, port, timeout, DateTimeOffset.UtcNow);
        using var connectDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        connectDeadline.CancelAfter(timeout);

        IPAddress[] addresses;
        try
        {
            // "[::1]" as well as "::1", as addresses are written beside a port.
            var bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
            addresses = IPAddress.TryParse(bare, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, connectDeadline.Token).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            return probe.End(TunnelTestReason.NameNotResolved, $"Cannot resolve '{host}': {e.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return probe.End(TunnelTestReason.NameNotResolved, $"'{host}' did not resolve within {Seconds(timeout)}.");
        }
        if (addresses.Length == 0) return probe.End(TunnelTestReason.NameNotResolved, $"'{host}' has no address.");

        var (socket, failure) = await ConnectAsync(probe, addresses, connectDeadline.Token, cancellationToken).ConfigureAwait(false);
        if (socket is null) return failure!;
        using (socket)
        {
            return await WaitForFirstByteAsync(probe, socket, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Tries the addresses in turn until one accepts, all within the connect deadline: a name such as localhost
    /// can resolve to ::1 first while the server listens on 127.0.0.1 only. Returns the connected socket, or the outcome.</summary>
    private static async Task<(Socket? Socket, TunnelTestResult? Failure)> ConnectAsync(Outcome probe, IPAddress[] addresses, CancellationToken deadline, CancellationToken cancellationToken)
    {
        TunnelTestResult? failure = null;
        foreach (var address in addresses)
        {
            probe.Address = address;
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            var clock = Stopwatch.StartNew();
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, probe.Port), deadline).ConfigureAwait(false);
                probe.ConnectTime = clock.Elapsed;
                return (socket, null);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                return (null, probe.End(TunnelTestReason.ConnectTimeout, $"No answer from {probe.Endpoint} within {Seconds(probe.Timeout)}: a firewall may drop the connection, or the host is down."));
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                // The server accepted and reset before the connect was seen to complete: the tunnel answered, its service did not.
                socket.Dispose();
                probe.ConnectTime = clock.Elapsed;
                return (null, probe.End(TunnelTestReason.Reset, ResetMessage(probe, clock.Elapsed)));
            }
            catch (SocketException e)
            {
                socket.Dispose();
                failure = e.SocketErrorCode == SocketError.ConnectionRefused
                    ? probe.End(TunnelTestReason.Refused, $"{probe.Endpoint} refused the connection: nothing listens there (no such tunnel, or its server is down).")
                    : probe.End(TunnelTestReason.NetworkError, $"Cannot connect to {probe.Endpoint}: {e.Message}");
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        return (null, failure);
    }

    /// <summary>Waits up to the timeout for the first byte, a reset or a close, without sending anything.</summary>
    private static async Task<TunnelTestResult> WaitForFirstByteAsync(Outcome probe, Socket socket, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(probe.Timeout);
        var clock = Stopwatch.StartNew();
        // One byte tells all there is to know; whatever else the service sent is left unread and dropped with the socket.
        var buffer = new byte[1];
        try
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token).ConfigureAwait(false);
            if (n == 0)
                return probe.End(TunnelTestReason.Closed, $"{probe.Endpoint} closed the connection {Milliseconds(clock.Elapsed)} after it opened, without sending a byte: something accepted it and hung up.");
            probe.FirstByteTime = clock.Elapsed;
            return probe.End(TunnelTestReason.Data, $"The service behind {probe.Endpoint} sent data first, {Milliseconds(clock.Elapsed)} after the connection opened.");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return probe.End(TunnelTestReason.TimedOutOpen, $"The connection to {probe.Endpoint} stayed open and silent for {Seconds(probe.Timeout)} without a reset: the service accepted it and waits for the user to speak first.");
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return probe.End(TunnelTestReason.Reset, ResetMessage(probe, clock.Elapsed));
        }
    }

    private static string ResetMessage(Outcome probe, TimeSpan after) =>
        $"{probe.Endpoint} reset the connection {Milliseconds(after)} after it opened, before any byte: the tunnel's client cannot reach its local service, or no client serves the tunnel now.";

    private static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###} s");

    private static string Milliseconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.#} ms");

    /// <summary>What a probe has learnt so far, and the record it ends with.</summary>
    private sealed class Outcome(string host, int port, TimeSpan timeout, DateTimeOffset started)
    {
        public int Port => port;
        public TimeSpan Timeout => timeout;
        public IPAddress? Address { get; set; }
        public TimeSpan? ConnectTime { get; set; }
        public TimeSpan? FirstByteTime { get; set; }

        /// <summary>"host:port", or "host (address):port" once the name resolved to an address other than itself.</summary>
        public string Endpoint
        {
            get
            {
                var shownHost = host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;
                return Address is null || shownHost.Trim('[', ']') == Address.ToString() ? $"{shownHost}:{port}" : $"{shownHost} ({Address}):{port}";
            }
        }

        public TunnelTestResult End(TunnelTestReason reason, string message) => new()
        {
            ComputerName = host,
            RemoteAddress = Address?.ToString(),
            RemotePort = port,
            Reason = reason,
            ConnectTime = ConnectTime,
            FirstByteTime = FirstByteTime,
            Timeout = timeout,
            Message = message,
            Timestamp = started,
        };
    }
}
