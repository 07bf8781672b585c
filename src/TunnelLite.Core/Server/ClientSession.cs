using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;

namespace TunnelLite.Server;

/// <summary>One authenticated client on the server: its control connection, heartbeats, tunnels and pool of idle data connections.</summary>
internal sealed class ClientSession : ControlChannel
{
    private readonly TunnelServer _server;
    private readonly Channel<FrameConnection> _idle = Channel.CreateUnbounded<FrameConnection>();
    private readonly ConcurrentDictionary<string, byte> _nonces = new();
    private readonly ConcurrentDictionary<string, PublicTunnel> _tunnels = new(StringComparer.Ordinal);
    private readonly int _maxOutstandingNonces;

    public ClientSession(TunnelServer server, FrameConnection control, string token, ClientAccount? account, string clientId, string? clientName, int poolCount, ILogger log)
        : base(control, server.Options.HeartbeatInterval, server.Options.HeartbeatTimeout, log)
    {
        _server = server;
        Token = token;
        Account = account;
        ClientId = clientId;
        ClientName = clientName;
        PoolCount = poolCount;
        Id = TokenProof.NewNonce();
        IdText = Convert.ToHexString(Id);
        RemoteEndpoint = control.Socket.RemoteEndPoint?.ToString() ?? "?";
        // A nonce is issued for each pooled connection and for each waiting user; more than that is a misbehaving client.
        _maxOutstandingNonces = poolCount + server.Options.MaxPendingUserConnections + 16;
    }

    public byte[] Id { get; }
    public string IdText { get; }
    public string Token { get; }
    /// <summary>The client's own account, or null when it proved the shared token.</summary>
    public ClientAccount? Account { get; }
    public string ClientId { get; }
    public string? ClientName { get; }
    public int PoolCount { get; }
    public string RemoteEndpoint { get; }
    public IEnumerable<PublicTunnel> Tunnels => _tunnels.Values;
    public int TunnelCount => _tunnels.Count;

    /// <summary>Starts the read and heartbeat loops and fills the pool.</summary>
    public void Start()
    {
        for (var i = 0; i < PoolCount; i++) RequestWorkConnection();
        StartLoops();
    }

    /// <summary>Asks the client for one more data connection (bounded by the outstanding nonces).</summary>
    public void RequestWorkConnection()
    {
        if (Closing.IsCancellationRequested || _nonces.Count >= _maxOutstandingNonces) return;
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
        if (Closing.IsCancellationRequested || !_idle.Writer.TryWrite(connection)) return false;
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

    protected override async ValueTask<bool> HandleAsync(Frame frame)
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
                await Connection.SendAsync(result, Closing).ConfigureAwait(false);
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
                Log.LogInformation("Client {Client} said goodbye: {Reason}", RemoteEndpoint, Truncate(bye.Reason ?? ""));
                return false;
            default:
                throw new ProtocolException($"Unexpected {frame.Type} frame on an open control connection.");
        }
    }

    private static string Truncate(string s) => s.Length <= 256 ? s : s[..256] + "...";

    protected override void OnSilence(double timeoutSeconds) =>
        Log.LogWarning("Client {Client} silent for more than {Timeout} s; dropping it and freeing its ports.", RemoteEndpoint, timeoutSeconds);

    protected override Task OnProtocolErrorAsync(ProtocolException error)
    {
        Log.LogWarning("Client {Client}: protocol error, closing its session: {Error}", RemoteEndpoint, error.Message);
        return Connection.TrySendErrorAsync(TunnelErrorCode.ProtocolError, error.Message, CancellationToken.None);
    }

    protected override void OnConnectionLost(Exception? error)
    {
        // Logged once in OnClosedAsync: a client going away is routine for a server.
    }

    protected override async Task OnClosedAsync()
    {
        _idle.Writer.TryComplete();
        while (_idle.Reader.TryRead(out var c)) c.Dispose();
        foreach (var name in _tunnels.Keys.ToArray())
            await _server.UnregisterTunnelAsync(this, name).ConfigureAwait(false);
        _server.RemoveSession(this);
        Log.LogInformation("Client {Client} disconnected; its ports are free.", RemoteEndpoint);
    }
}
