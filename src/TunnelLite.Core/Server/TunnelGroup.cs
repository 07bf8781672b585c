using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using TunnelLite.DataPlane;
using TunnelLite.Forwarding;
using TunnelLite.Logging;

namespace TunnelLite.Server;

/// <summary>A load-balancing group (frp's <c>loadBalancer.group</c>): one public port, accepted on here, shared by the
/// tunnels of several clients that proved the group's key. Each user goes to one healthy member, picked by the group's
/// <see cref="Strategy"/>, and is then served by that member exactly as a tunnel of its own serves it (its admission,
/// counters and its session's pool of data connections). With no healthy member the user is reset at once; the port stays
/// bound while any member is registered.</summary>
internal sealed class TunnelGroup
{
    private readonly TunnelServer _server;
    private readonly Socket _listener;
    private readonly byte[] _keyHash;
    private readonly CancellationTokenSource _closed = new();
    private readonly ILogger _log;
    private Task _acceptLoop = Task.CompletedTask;
    private LoopListener? _loopListener;
    // Copy-on-write under the server's registry lock; read without a lock on the accepting thread.
    private volatile PublicTunnel[] _members = Array.Empty<PublicTunnel>();
    private int _next;
    private long _unavailable;

    public TunnelGroup(TunnelServer server, string name, byte[] keyHash, string strategy, Socket listener, ILogger log)
    {
        _server = server;
        Name = name;
        _keyHash = keyHash;
        Strategy = strategy;
        _listener = listener;
        _log = log;
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    /// <summary>The strategies a group knows: "roundRobin" (each healthy member in turn) and "leastConn" (the healthy member
    /// with the fewest active connections; frp has no such strategy: a TunnelLite extension).</summary>
    public static readonly IReadOnlyList<string> Strategies = ["roundRobin", "leastConn"];

    public string Name { get; }
    public int Port { get; }
    public string Strategy { get; }

    /// <summary>The members registered now.</summary>
    public IReadOnlyList<PublicTunnel> Members => _members;

    /// <summary>Users reset because no member was healthy, since the group was made.</summary>
    public long UnavailableRefusals => Interlocked.Read(ref _unavailable);

    /// <summary>True when <paramref name="keyHash"/> is the group key's hash (constant time).</summary>
    public bool KeyMatches(byte[] keyHash) => CryptographicOperations.FixedTimeEquals(_keyHash, keyHash);

    /// <summary>Under the registry lock: adds or removes a member.</summary>
    public void Add(PublicTunnel member) => _members = [.. _members, member];

    /// <summary>Under the registry lock: removes a member; true when none is left (the caller then frees the port).</summary>
    public bool Remove(PublicTunnel member)
    {
        _members = _members.Where(m => !ReferenceEquals(m, member)).ToArray();
        return _members.Length == 0;
    }

    /// <summary>The healthy member the next user goes to, or null when none is healthy.</summary>
    internal PublicTunnel? Pick()
    {
        var members = _members;
        var n = members.Length;
        if (n == 0) return null;
        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)n);
        if (Strategy == "leastConn")
        {
            // Ties go round, from a start that moves, so that idle members share the users too.
            PublicTunnel? best = null;
            for (var i = 0; i < n; i++)
            {
                var m = members[(start + i) % n];
                if (m.Healthy && (best is null || m.Counters.ActiveConnections < best.Counters.ActiveConnections)) best = m;
            }
            return best;
        }
        for (var i = 0; i < n; i++)
        {
            var m = members[(start + i) % n];
            if (m.Healthy) return m;
        }
        return null;
    }

    /// <summary>Starts accepting, as a tunnel of its own does (<see cref="PublicTunnel.Start"/>).</summary>
    public void Start()
    {
        if (_server.Pump is EventLoopPump loops)
        {
            try
            {
                _loopListener = loops.Listen(_listener, OnLoopAccepted,
                    errno => _log.LogWarning("Group {Group}: accept failed: {Error}", PeerText.Escape(Name, 128), new SocketException(errno).Message));
                return;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                _log.LogDebug("Group {Group}: accepting without the event loops: {Error}", PeerText.Escape(Name, 128), e.Message);
            }
        }
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Stops accepting and frees the port.</summary>
    public Task CloseAsync()
    {
        _closed.Cancel();
        if (_loopListener is not null) return EventLoopPump.CloseListenerAsync(_loopListener);
        _listener.Dispose();
        return _acceptLoop;
    }

    // Loop thread: the member picked takes the user as if accepted on its own port (it counts the descriptor).
    private void OnLoopAccepted(int fd, IPEndPoint? remote)
    {
        if (Pick() is { } member)
        {
            member.OnLoopAccepted(fd, remote);
            return;
        }
        _server.Descriptors.Opened();
        Unavailable();
        DataPlane.Native.Interop.CloseWithReset(fd);
    }

    private async Task AcceptLoopAsync()
    {
        while (await SocketListener.AcceptAsync(_listener, _closed.Token, _log, $"Group {PeerText.Escape(Name, 128)}").ConfigureAwait(false) is { } user)
        {
            _server.Descriptors.Opened();
            if (Pick() is { } member)
            {
                _ = member.HandleUserAsync(user);
                continue;
            }
            Unavailable();
            SocketClose.Reset(user);
        }
    }

    private void Unavailable()
    {
        Interlocked.Increment(ref _unavailable);
        _server.Totals.ConnectionRefused();
    }
}
