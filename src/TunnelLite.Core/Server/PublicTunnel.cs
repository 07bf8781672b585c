using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TunnelLite.DataPlane;
using TunnelLite.Forwarding;
using TunnelLite.Logging;
using TunnelLite.Protocol;
using TunnelLite.Statistics;

namespace TunnelLite.Server;

/// <summary>One registered tunnel on the server: its public listener, and the pairing of each user connection
/// with a data connection of the owning client. A member of a load-balancing group has no listener of its own: its
/// <see cref="TunnelGroup"/> accepts on the shared port and hands each user to the member it picks.</summary>
internal sealed class PublicTunnel
{
    private readonly TunnelServer _server;
    private readonly Socket? _listener; // null for a group's member
    private readonly CancellationTokenSource _closed = new();
    private readonly ILogger _log;
    // Replaced as a whole when a reload changes the server's or the account's lists.
    private volatile TunnelSourcePolicy? _sources;
    private int _pendingUsers;
    private Task _acceptLoop = Task.CompletedTask;
    private LoopListener? _loopListener;

    /// <summary>A tunnel of <paramref name="session"/> on <paramref name="listener"/> (or, with <paramref name="group"/>, on
    /// the group's port, which the group accepts on), with what its client asked for: source
    /// lists (<paramref name="requestedSources"/>) and a bandwidth limit (<paramref name="requestedLimit"/>); the server sets
    /// the <see cref="Sources"/> and the shaper that result before it starts.</summary>
    public PublicTunnel(TunnelServer server, ClientSession session, string name, Socket? listener, SourceFilter requestedSources, Config.BandwidthLimit requestedLimit, ILogger log, TunnelGroup? group = null)
    {
        Group = group;
        RequestedSources = requestedSources;
        RequestedLimit = requestedLimit;
        _server = server;
        Session = session;
        Name = name;
        _listener = listener;
        _log = log;
        Port = group?.Port ?? ((IPEndPoint)listener!.LocalEndPoint!).Port;
        Counters = new TrafficCounters(server.Totals);
    }

    public string Name { get; }
    public int Port { get; }

    /// <summary>The load-balancing group the tunnel belongs to; null for a tunnel on a port of its own.</summary>
    public TunnelGroup? Group { get; }

    /// <summary>False while its client's health check says its service fails: no user is given to it (a tunnel of its
    /// own resets them at once, its port still bound; a group gives them to its other members).</summary>
    public bool Healthy
    {
        get => _healthy;
        set => _healthy = value;
    }
    private volatile bool _healthy = true;

    /// <summary>The source lists the client sent for this tunnel, kept so that a reload can combine them with new lists.</summary>
    public SourceFilter RequestedSources { get; }

    /// <summary>The bandwidth limit the client asked the server to enforce (none for none).</summary>
    public Config.BandwidthLimit RequestedLimit { get; }

    /// <summary>Who may connect (null: everyone): the server's, the account's and the client's lists together.</summary>
    public TunnelSourcePolicy? Sources
    {
        get => _sources;
        set => _sources = value;
    }
    public ClientSession Session { get; }
    public TrafficCounters Counters { get; }
    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;

    /// <summary>The PROXY protocol header the client writes to its service: when not None, each StartWork carries the
    /// user's source and the public destination.</summary>
    public ProxyProtocolVersion ProxyProtocol { get; init; }

    /// <summary>Starts accepting: on a loop of the event-loop plane (TLS sessions excepted, whose bytes need a stream),
    /// else with the runtime's accept loop.</summary>
    public void Start()
    {
        if (_listener is null) return; // a group's member: the group accepts
        if (_server.Pump is EventLoopPump loops) // never under TLS: the pump is then the stream pump
        {
            try
            {
                _loopListener = loops.Listen(_listener, OnLoopAccepted, OnLoopAcceptFailed);
                return;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // No descriptor to spare, or the loops stopping with the server: the runtime's accept loop serves instead.
                _log.LogDebug("Tunnel {Tunnel}: accepting without the event loops: {Error}", PeerText.Escape(Name, 128), e.Message);
            }
        }
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Stops accepting and frees the port; connections already paired keep flowing until they end.</summary>
    public Task CloseAsync()
    {
        _closed.Cancel();
        if (_listener is null) return Task.CompletedTask;
        if (_loopListener is not null) return EventLoopPump.CloseListenerAsync(_loopListener);
        _listener.Dispose();
        return _acceptLoop;
    }

    private async Task AcceptLoopAsync()
    {
        while (await SocketListener.AcceptAsync(_listener!, _closed.Token, _log, $"Tunnel {PeerText.Escape(Name, 128)}").ConfigureAwait(false) is { } user)
        {
            _server.Descriptors.Opened();
            _ = HandleUserAsync(user);
        }
    }

    /// <summary>The checks every user passes before it counts as opened: the tunnel's source lists, its connection cap and
    /// the descriptor budget. False when the user must be reset at once (counted and, for sources and descriptors,
    /// reported). Runs on the accepting thread (a loop, or the accept loop), so the check and the count that follows cannot
    /// race.</summary>
    private bool Admit(EndPoint? remote)
    {
        // A service that fails its health checks gets no user; the port stays bound, so nobody else can take it.
        if (!_healthy)
        {
            Counters.ConnectionRefused();
            return false;
        }
        // First: a user the lists refuse takes nothing from the others, and is not a capacity problem.
        if (_sources?.Refusal(remote) is { } refusal)
        {
            Counters.SourceRefused();
            _server.Strangers.Report(StrangerEvent.SourceRefused, remote, refusal);
            return false;
        }
        if (Counters.ActiveConnections >= _server.Options.MaxConnectionsPerTunnel)
        {
            Counters.ConnectionRefused();
            return false;
        }
        // Each user connection holds two descriptors here (its own and its data connection's). Near the limit, or when
        // this tunnel already holds as much as is left free for the others (if there are others), the user is reset at
        // once: never a hang.
        if (!_server.Descriptors.MayOpenForTunnel(2 * Counters.ActiveConnections, 2, _server.Options.DescriptorReserve, shared: _server.TunnelCount > 1))
        {
            Counters.ConnectionRefused();
            _server.Refused.DescriptorRefused();
            _server.Strangers.Report(StrangerEvent.DescriptorRefusal, remote,
                $"tunnel {Name}: {_server.Descriptors.Estimate()} of {_server.Descriptors.Limit} descriptors open, {_server.Options.DescriptorReserve} kept for logins; this tunnel holds {2 * Counters.ActiveConnections}");
            return false;
        }
        Counters.ConnectionOpened();
        return true;
    }

    /// <summary>Loop thread: a user accepted on the event-loop plane. With an idle data connection at hand, the pair starts
    /// on a loop at once, its StartWork sent by the loop ahead of the user's bytes: no task, no thread-pool hop. Else the
    /// user waits for one on the control plane, as on the async plane.</summary>
    internal void OnLoopAccepted(int fd, IPEndPoint? remote)
    {
        _server.Descriptors.Opened();
        if (!Admit(remote))
        {
            DataPlane.Native.Interop.CloseWithReset(fd);
            return;
        }
        if (_closed.IsCancellationRequested || !Session.TryTakeIdleDataConnection(out var data, out var refill))
        {
            // The user waits on the control plane as a bare descriptor: a loop pairs it when a data connection comes. It
            // joins the waiting users here, in the order users arrive, so that the cap refuses the latest of them.
            if (!TryStartWaiting())
            {
                DataPlane.Native.Interop.CloseWithReset(fd);
                Counters.ConnectionClosed();
                return;
            }
            ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.Tunnel.ServeWaitingAsync(s.Fd, s.Remote), (Tunnel: this, Fd: fd, Remote: remote), preferLocal: false);
            return;
        }
        PairOnLoop(fd, data, refill, remote);
    }

    /// <summary>Event-loop plane: a user accepted on a loop (and admitted, and counted as waiting) that found no idle data
    /// connection waits for one, then goes back to a loop as a pair.</summary>
    private async Task ServeWaitingAsync(int fd, IPEndPoint? remote)
    {
        var paired = false;
        try
        {
            if (await WaitForDataConnectionAsync().ConfigureAwait(false) is not var (data, refill)) return;
            paired = true;
            PairOnLoop(fd, data, refill, remote);
        }
        catch (Exception e)
        {
            // Nothing a peer does may crash the server: log and drop this one connection.
            _log.LogWarning("Tunnel {Tunnel}: user connection failed: {Error}", Name, e.Message);
            Counters.RecordError(e.Message);
        }
        finally
        {
            if (!paired)
            {
                DataPlane.Native.Interop.CloseWithReset(fd);
                Counters.ConnectionClosed();
            }
        }
    }

    /// <summary>The user's descriptor and a data connection go to a loop as a pair, whose StartWork the loop sends ahead of
    /// the user's bytes; its end is counted by <see cref="LoopPairEnded"/>.</summary>
    private void PairOnLoop(int userFd, PooledDataConnection data, bool refill, EndPoint? remote)
    {
        int dataFd;
        try
        {
            dataFd = data.TakeDescriptor();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            DataPlane.Native.Interop.CloseWithReset(userFd);
            LoopPairEnded(SocketPair.BrokeBeforeStart, refill);
            return;
        }
        var destination = ProxyProtocol == ProxyProtocolVersion.None ? null : DataPlane.Native.Interop.LocalEndPoint(userFd);
        var startWork = MessageSerializer.ToFrame(StartWork(remote, destination, refill));
        ((EventLoopPump)_server.Pump).Pair(userFd, dataFd, startWork, Counters, _server.HardStop, end => LoopPairEnded(end, refill));
    }

    /// <summary>The StartWork for a user from <paramref name="remote"/>; the addresses for a PROXY protocol header only
    /// when the tunnel asked for them.</summary>
    private StartWorkMessage StartWork(EndPoint? remote, EndPoint? destination, bool refill) => new()
    {
        Tunnel = Name,
        UserEndpoint = remote?.ToString(),
        Refill = refill,
        Source = ProxyProtocol == ProxyProtocolVersion.None ? null : AddressAndPort.From(remote as IPEndPoint),
        Destination = ProxyProtocol == ProxyProtocolVersion.None ? null : AddressAndPort.From(destination as IPEndPoint),
    };

    // On the loop as the pair ends (or on the thread that found the loops stopped): counters only, no hop; the rare
    // replacement of a data connection that broke unused asks the client from the thread pool.
    private void LoopPairEnded(int end, bool refillAsked)
    {
        if (end == SocketPair.BrokeBeforeStart)
        {
            Counters.ConnectionFailed("The data connection broke before it started.");
            if (refillAsked) ThreadPool.UnsafeQueueUserWorkItem(static s => s.DataConnectionBroke(true), Session, preferLocal: false);
        }
        Counters.ConnectionClosed();
    }

    private void OnLoopAcceptFailed(int errno) =>
        _log.LogWarning("Tunnel {Tunnel}: accept failed: {Error}", PeerText.Escape(Name, 128), new SocketException(errno).Message);

    internal async Task HandleUserAsync(Socket user)
    {
        if (!Admit(user.RemoteEndPoint))
        {
            SocketClose.Reset(user);
            return;
        }
        await ServeAdmittedAsync(user).ConfigureAwait(false);
    }

    /// <summary>Counts a user among those waiting for a data connection; false, with the failure counted, when too many
    /// wait already (the caller resets it).</summary>
    private bool TryStartWaiting()
    {
        if (Interlocked.Increment(ref _pendingUsers) <= _server.Options.MaxPendingUserConnections) return true;
        Interlocked.Decrement(ref _pendingUsers);
        Counters.ConnectionFailed($"Too many user connections waiting for the client (limit {_server.Options.MaxPendingUserConnections}).");
        return false;
    }

    /// <summary>Waits, within the user connection timeout, for a data connection for a user that passed
    /// <see cref="Admit"/> and <see cref="TryStartWaiting"/>, which this ends. Null when none came: the failure is counted,
    /// and the caller resets the user.</summary>
    private async Task<(PooledDataConnection Data, bool Refill)?> WaitForDataConnectionAsync()
    {
        try
        {
            // The session keeps the pool at its size: by a request per user, or by the client's own refill.
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token, Session.Closing, _server.HardStop);
            wait.CancelAfter(_server.Options.UserConnectionTimeout);
            return await Session.TakeDataConnectionAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Counters.ConnectionFailed(Session.Closing.IsCancellationRequested || _closed.IsCancellationRequested
                ? "The client disconnected before a data connection was ready."
                : $"No data connection from the client within {_server.Options.UserConnectionTimeout.TotalSeconds:0.#} s.");
            return null;
        }
        finally
        {
            Interlocked.Decrement(ref _pendingUsers);
        }
    }

    /// <summary>Async plane (and TLS): a user that passed <see cref="Admit"/> (and counts as opened) waits for a data
    /// connection and is pumped.</summary>
    private async Task ServeAdmittedAsync(Socket user)
    {
        user.NoDelay = true;
        try
        {
            if (!TryStartWaiting() || await WaitForDataConnectionAsync().ConfigureAwait(false) is not var (pooled, refill))
            {
                SocketClose.Reset(user);
                return;
            }
            if (pooled.TakeConnection(out var error) is not { } data)
            {
                Counters.ConnectionFailed($"The data connection could not be taken over: {error}");
                Session.DataConnectionBroke(refill);
                SocketClose.Reset(user);
                return;
            }
            try
            {
                await data.SendAsync(StartWork(user.RemoteEndPoint, ProxyProtocol == ProxyProtocolVersion.None ? null : user.LocalEndPoint, refill), _server.HardStop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                Counters.ConnectionFailed($"The data connection broke before it started: {e.Message}");
                data.Dispose();
                Session.DataConnectionBroke(refill);
                SocketClose.Reset(user);
                return;
            }
            if (data.IsTls)
            {
                // TLS bytes must pass through their stream; the server chose the stream pump for TLS (PumpSelector).
                await StreamPump.Instance.RunAsync(user, null, data.Socket, data.Stream, Counters, _server.HardStop).ConfigureAwait(false);
            }
            else
            {
                data.Stream.Dispose(); // the stream does not own the socket; the pump takes the socket from here
                await _server.Pump.RunAsync(user, data.Socket, Counters, _server.HardStop).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            // Nothing a peer does may crash the server: log and drop this one connection.
            _log.LogWarning("Tunnel {Tunnel}: user connection failed: {Error}", Name, e.Message);
            Counters.RecordError(e.Message);
            SocketClose.Reset(user);
        }
        finally
        {
            Counters.ConnectionClosed();
        }
    }
}
