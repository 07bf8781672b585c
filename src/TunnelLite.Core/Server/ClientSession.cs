using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;

namespace TunnelLite.Server;

/// <summary>One authenticated client on the server: its control connection, heartbeats, tunnels and pool of idle data connections.</summary>
internal sealed class ClientSession
{
    private readonly TunnelServer _server;
    private readonly FrameConnection _control;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _closing = new();
    private readonly Channel<FrameConnection> _idle = Channel.CreateUnbounded<FrameConnection>();
    private readonly ConcurrentDictionary<string, byte> _nonces = new();
    private readonly ConcurrentDictionary<string, PublicTunnel> _tunnels = new(StringComparer.Ordinal);
    private readonly int _maxOutstandingNonces;
    private readonly Heartbeat _heartbeat;
    private Task _completion = Task.CompletedTask;

    public ClientSession(TunnelServer server, FrameConnection control, string token, string clientId, string? clientName, int poolCount, ILogger log)
    {
        _server = server;
        _control = control;
        Token = token;
        ClientId = clientId;
        ClientName = clientName;
        PoolCount = poolCount;
        _log = log;
        Id = TokenProof.NewNonce();
        IdText = Convert.ToHexString(Id);
        RemoteEndpoint = control.Socket.RemoteEndPoint?.ToString() ?? "?";
        // A nonce is issued for each pooled connection and for each waiting user; more than that is a misbehaving client.
        _heartbeat = new Heartbeat(server.Options.HeartbeatInterval, server.Options.HeartbeatTimeout);
        _maxOutstandingNonces = poolCount + server.Options.MaxPendingUserConnections + 16;
    }

    public byte[] Id { get; }
    public string IdText { get; }
    public string Token { get; }
    public string ClientId { get; }
    public string? ClientName { get; }
    public int PoolCount { get; }
    public string RemoteEndpoint { get; }
    public CancellationToken Closing => _closing.Token;
    public Task Completion => _completion;
    public IEnumerable<PublicTunnel> Tunnels => _tunnels.Values;
    public int TunnelCount => _tunnels.Count;

    /// <summary>Starts the read and heartbeat loops and fills the pool.</summary>
    public void Start()
    {
        for (var i = 0; i < PoolCount; i++) RequestWorkConnection();
        _completion = RunAsync();
    }

    /// <summary>Asks the client for one more data connection (bounded by the outstanding nonces).</summary>
    public void RequestWorkConnection()
    {
        if (_closing.IsCancellationRequested || _nonces.Count >= _maxOutstandingNonces) return;
        var nonce = TokenProof.NewNonce();
        _nonces[Convert.ToHexString(nonce)] = 0;
        _ = SendOrCloseAsync(new RequestWorkConnMessage { Nonce = nonce });
    }

    /// <summary>Checks a data connection's one-time nonce and proof; on success it joins the idle pool.</summary>
    public bool TryAcceptDataConnection(DataHelloMessage hello, FrameConnection connection)
    {
        if (!_nonces.TryRemove(Convert.ToHexString(hello.Nonce), out _)) return false;
        var expected = TokenProof.ForData(Token, Id, hello.Nonce);
        if (!TokenProof.Matches(expected, hello.Proof)) return false;
        if (_closing.IsCancellationRequested || !_idle.Writer.TryWrite(connection)) return false;
        return true;
    }

    /// <summary>Takes an idle data connection, skipping ones the client has closed meanwhile.</summary>
    public async Task<FrameConnection> TakeDataConnectionAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var c = await _idle.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (!SocketClose.PeerClosed(c.Socket)) return c;
            c.Dispose();
            RequestWorkConnection();
        }
    }

    /// <summary>Adds a registered tunnel.</summary>
    public bool AddTunnel(PublicTunnel tunnel) => _tunnels.TryAdd(tunnel.Name, tunnel);

    /// <summary>Removes a tunnel by name.</summary>
    public PublicTunnel? RemoveTunnel(string name) => _tunnels.TryRemove(name, out var t) ? t : null;

    /// <summary>Closes the session: says goodbye when it can, frees its ports, closes idle data connections.</summary>
    public async Task CloseAsync(string reason)
    {
        if (!_closing.IsCancellationRequested)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await _control.SendAsync(new GoodbyeMessage { Reason = reason }, cts.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Best effort: the client may be gone.
            }
        }
        Abort();
        await _completion.ConfigureAwait(false);
    }

    private void Abort()
    {
        try { _closing.Cancel(); } catch (ObjectDisposedException) { }
        _control.Dispose();
    }

    private async Task RunAsync()
    {
        var heartbeat = HeartbeatLoopAsync();
        try
        {
            while (!_closing.IsCancellationRequested)
            {
                var frame = await _control.ReadAsync(_closing.Token).ConfigureAwait(false);
                if (frame is null) break;
                _heartbeat.Seen();
                if (!await HandleAsync(frame.Value).ConfigureAwait(false)) break;
            }
        }
        catch (ProtocolException e)
        {
            _log.LogWarning("Client {Client}: protocol error, closing its session: {Error}", RemoteEndpoint, e.Message);
            await _control.TrySendErrorAsync(TunnelErrorCode.ProtocolError, e.Message, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Connection gone or session closed.
        }
        finally
        {
            Abort();
            await heartbeat.ConfigureAwait(false);
            await TeardownAsync().ConfigureAwait(false);
        }
    }

    private async Task<bool> HandleAsync(Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Heartbeat:
                return true;
            case FrameType.Register:
                var reg = MessageSerializer.Read<RegisterMessage>(frame);
                var result = new RegisterResultMessage { RequestId = reg.RequestId };
                foreach (var t in reg.Tunnels.Take(64))
                    result.Results.Add(_server.RegisterTunnel(this, t));
                await _control.SendAsync(result, _closing.Token).ConfigureAwait(false);
                return true;
            case FrameType.Unregister:
                var un = MessageSerializer.Read<UnregisterMessage>(frame);
                await _server.UnregisterTunnelAsync(this, un.Name).ConfigureAwait(false);
                return true;
            case FrameType.WorkFailed:
                var wf = MessageSerializer.Read<WorkFailedMessage>(frame);
                if (_tunnels.TryGetValue(wf.Tunnel, out var tunnel))
                    tunnel.Counters.ConnectionFailed($"The client could not reach its local service: {Truncate(wf.Message)}");
                return true;
            case FrameType.Goodbye:
                var bye = MessageSerializer.Read<GoodbyeMessage>(frame);
                _log.LogInformation("Client {Client} said goodbye: {Reason}", RemoteEndpoint, Truncate(bye.Reason ?? ""));
                return false;
            default:
                throw new ProtocolException($"Unexpected {frame.Type} frame on an open control connection.");
        }
    }

    private static string Truncate(string s) => s.Length <= 256 ? s : s[..256] + "...";

    private async Task HeartbeatLoopAsync()
    {
        if (await _heartbeat.RunAsync(_control, _closing.Token).ConfigureAwait(false))
            _log.LogWarning("Client {Client} silent for more than {Timeout} s; dropping it and freeing its ports.", RemoteEndpoint, _heartbeat.TimeoutSeconds);
        Abort();
    }

    private async Task SendOrCloseAsync<T>(T message) where T : class
    {
        try
        {
            await _control.SendAsync(message, _closing.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            Abort();
        }
    }

    private async Task TeardownAsync()
    {
        _idle.Writer.TryComplete();
        while (_idle.Reader.TryRead(out var c)) c.Dispose();
        foreach (var name in _tunnels.Keys.ToArray())
            await _server.UnregisterTunnelAsync(this, name).ConfigureAwait(false);
        _server.RemoveSession(this);
        _log.LogInformation("Client {Client} disconnected; its ports are free.", RemoteEndpoint);
    }
}
