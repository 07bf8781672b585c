using Microsoft.Extensions.Logging;
using TunnelLite.Admin;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Statistics;

namespace TunnelLite.Client;

/// <summary>The same tunnels on several servers at once (active-active, <see cref="TunnelClientOptions.Servers"/>): one
/// <see cref="TunnelClient"/> per server, each with its own control connection, pool, heartbeats, reconnects and counters.
/// Users reach the service through any server; losing one loses only the connections that were on it. With one server it
/// is that server's client and nothing more.</summary>
public sealed class MultiServerClient : IAsyncDisposable
{
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IForwardingPump? _pump;
    // Several servers: what is said once for all of their clients (each names its server in its own messages).
    private readonly ILogger? _log;

    /// <summary>Creates one client per server; <see cref="StartAsync"/> connects them.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="TunnelException">CertificateLoadFailed: the trusted CA file cannot be read.</exception>
    public MultiServerClient(TunnelClientOptions options, string? clientName = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Servers = options.EffectiveServers.ToList();
        if (Servers.Count == 1)
        {
            Clients = new[] { new TunnelClient(options, clientName) };
        }
        else
        {
            var events = new RecentEvents();
            // One data plane for every server's client: the connections of all of them share its event loops.
            _pump = PumpSelector.For(options.ForwardingMode, options.Tls.Enabled, options.DataPlane, options.EventLoops);
            var clients = new List<TunnelClient>(Servers.Count);
            try
            {
                foreach (var server in Servers) clients.Add(new TunnelClient(options.ForServer(server), clientName, events, _pump));
            }
            catch
            {
                foreach (var c in clients) c.StopAsync(TimeSpan.Zero).GetAwaiter().GetResult();
                (_pump as IDisposable)?.Dispose();
                throw;
            }
            Clients = clients;
            Events = events;
            _log = events.Capture((options.LoggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger("TunnelLite.Client"));
        }
        // The shared loops go once every client has stopped (each reset what it left on them).
        _ = Task.WhenAll(Clients.Select(c => c.Completion)).ContinueWith(_ =>
        {
            (_pump as IDisposable)?.Dispose();
            if (_log is not null) _log.LogInformation("Client stopped.");
            _completion.TrySetResult();
        }, TaskScheduler.Default);
    }

    /// <summary>The settings in force, with every server.</summary>
    public TunnelClientOptions Options { get; }

    /// <summary>The servers, in the order given.</summary>
    public IReadOnlyList<ServerEndpoint> Servers { get; }

    /// <summary>One client per server, in the order of <see cref="Servers"/>.</summary>
    public IReadOnlyList<TunnelClient> Clients { get; }

    /// <summary>The recent events of every server's client.</summary>
    public RecentEvents Events { get; } = null!;

    private AdminServer? _admin;

    /// <summary>The admin endpoint, when <see cref="TunnelClientOptions.Admin"/> turned it on and the client started.</summary>
    public AdminServer? Admin => Clients.Count == 1 ? Clients[0].Admin : _admin;

    /// <summary>Connected while at least one server carries the tunnels; Reconnecting when none does and some retry;
    /// Stopped once every server's client has stopped.</summary>
    public ClientState State
    {
        get
        {
            var states = Clients.Select(c => c.State).ToList();
            if (states.Contains(ClientState.Connected)) return ClientState.Connected;
            if (states.Contains(ClientState.Reconnecting)) return ClientState.Reconnecting;
            if (states.Contains(ClientState.Connecting)) return ClientState.Connecting;
            return states.All(s => s == ClientState.Stopped) ? ClientState.Stopped : ClientState.NotStarted;
        }
    }

    /// <summary>How many servers carry the tunnels now.</summary>
    public int ConnectedServers => Clients.Count(c => c.State == ClientState.Connected);

    /// <summary>The latest trouble with any server, or null.</summary>
    public ClientError? LastError => Clients.Select(c => c.LastError).Where(e => e is not null).MaxBy(e => e!.Time);

    /// <summary>Why a server's client stopped on its own (its data plane failed), or null.</summary>
    public TunnelException? Fault => Clients.Select(c => c.Fault).FirstOrDefault(f => f is not null);

    /// <summary>Completes when every server's client has stopped.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Starts every server's client; returns once one of them has registered every tunnel. The others go on in
    /// the background: those that failed retry as after a lost connection. With one server, exactly
    /// <see cref="TunnelClient.StartAsync(CancellationToken)"/>.</summary>
    /// <exception cref="TunnelException">Every server failed: the first server's error (as <see cref="TunnelClient.StartAsync(CancellationToken)"/>
    /// throws it); then nothing keeps running.</exception>
    public async Task<IReadOnlyList<ClientTunnel>> StartAsync(CancellationToken cancellationToken = default)
    {
        if (Clients.Count == 1) return await Clients[0].StartAsync(cancellationToken).ConfigureAwait(false);
        if (Security.TokenStrength.WarningFor(Options) is { } weak) _log!.LogWarning("{Warning}", weak);
        if (Options.Admin.Enabled)
        {
            _admin = new AdminServer(Options.Admin, new MultiServerAdminView(this), null, _log!);
            try
            {
                await _admin.StartAsync().ConfigureAwait(false);
            }
            catch
            {
                // AdminPortInUse, say: nothing may keep running, as when every server fails.
                await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
                throw;
            }
        }
        var starts = Clients.Select(c => c.StartAsync(keepTrying: true, cancellationToken)).ToList();
        var pending = new List<Task<IReadOnlyList<ClientTunnel>>>(starts);
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending).ConfigureAwait(false);
            pending.Remove(done);
            if (done.IsCompletedSuccessfully) return done.Result;
        }
        // None confirmed: stop those that retry, and report the first server's reason (the others' are in their LastError).
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        await starts[0].ConfigureAwait(false);
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>Releases a tunnel on every server.</summary>
    public Task RemoveTunnelAsync(string name) => Task.WhenAll(Clients.Select(c => c.RemoveTunnelAsync(name)));

    /// <summary>Finds a tunnel on each server: one entry per server whose client has it, in server order.</summary>
    public IReadOnlyList<(TunnelClient Client, ClientTunnel Tunnel)> FindTunnels(string name) =>
        Clients.Select(c => (Client: c, Tunnel: c.FindTunnel(name))).Where(x => x.Tunnel is not null).Select(x => (x.Client, x.Tunnel!)).ToList();

    /// <summary>Statistics of one tunnel held by <paramref name="perServer"/> (as <see cref="FindTunnels"/> gave them): with
    /// one server its snapshot; with several, their sum first (State Connected while any server carries it, Server naming
    /// them all), then one per server with its <see cref="TunnelStats.Server"/>.</summary>
    public IReadOnlyList<TunnelStats> GetStatistics(IReadOnlyList<(TunnelClient Client, ClientTunnel Tunnel)> perServer)
    {
        ArgumentNullException.ThrowIfNull(perServer);
        if (perServer.Count == 0) return Array.Empty<TunnelStats>();
        if (Clients.Count == 1) return new[] { perServer[0].Client.GetStatistics(perServer[0].Tunnel) };
        var each = perServer.Select(x => x.Client.GetStatistics(x.Tunnel) with { Server = x.Client.Server }).ToList();
        return each.Prepend(Sum(each)).ToList();
    }

    /// <summary>The whole client: the sum of every server's client.</summary>
    public TunnelStats GetSummary()
    {
        if (Clients.Count == 1) return Clients[0].GetSummary();
        return Sum(Clients.Select(c => c.GetSummary()).ToList()) with { Name = $"client:{string.Join(",", Servers)}", Tunnels = Clients[0].Tunnels.Count };
    }

    /// <summary>Stops every server's client (see <see cref="TunnelClient.StopAsync"/>).</summary>
    public async Task StopAsync(TimeSpan? drainTimeout = null)
    {
        await Task.WhenAll(Clients.Select(c => c.StopAsync(drainTimeout))).ConfigureAwait(false);
        if (_admin is not null) await _admin.StopAsync().ConfigureAwait(false);
        await Completion.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);

    /// <summary>Snapshots of the same tunnel (or client) on each server as one: counts and rates add up
    /// (<see cref="TunnelStats.PlusCounts"/>), the newest error wins, the longest uptime counts.</summary>
    private TunnelStats Sum(IReadOnlyList<TunnelStats> each)
    {
        var newest = each.Where(s => s.LastErrorTime is not null).MaxBy(s => s.LastErrorTime);
        return each.Aggregate((a, b) => a.PlusCounts(b)) with
        {
            State = State.ToString(),
            Server = string.Join(",", Servers),
            ServersConnected = Clients.Count(c => c.State == ClientState.Connected),
            Uptime = each.Max(s => s.Uptime),
            LastError = newest?.LastError,
            LastErrorTime = newest?.LastErrorTime,
        };
    }
}
