using TunnelLite.Admin;
using TunnelLite.Client;
using TunnelLite.PowerShell.Internal;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>One tunnel in this pwsh process, as a job: users on the server's <see cref="RemotePort"/> reach <see cref="LocalEndpoint"/>.
/// Drops of the server are not errors: the job reconnects and says so in its streams. The job stays Running while its
/// client retries, whatever the reason (the job does run, and recovers by itself once the server takes it again);
/// <see cref="Status"/> says whether it is connected now, and <see cref="LastError"/> why it retries. With several servers
/// (New-Tunnel -Server a,b) the job carries the tunnel on each of them: Connected while any does.</summary>
public sealed class TunnelJob : TunnelJobBase
{
    private readonly SharedClient _shared;
    // Held from the start, one per server: once the job stops, the clients no longer list the tunnel (they may serve
    // others still), and the job's properties and statistics must not go blank then.
    private readonly IReadOnlyList<(TunnelClient Client, ClientTunnel Tunnel)> _tunnels;
    private int _closedByServers;

    internal TunnelJob(string name, string command, SharedClient shared) : base(command, name, "Tunnel")
    {
        _shared = shared;
        _tunnels = shared.Client.FindTunnels(name);
        shared.AddUser();
        shared.Logger.Attach(this);
        // A server closed this tunnel (a reload of its configuration took the port away): the job fails with why once
        // no server carries it any more.
        foreach (var (client, mine) in _tunnels)
        {
            client.TunnelClosed += (tunnel, why) =>
            {
                if (ReferenceEquals(tunnel, mine) && Interlocked.Increment(ref _closedByServers) == _tunnels.Count) MarkEnded(why);
            };
        }
    }

    private ClientTunnel? Tunnel => _tunnels.Count > 0 ? _tunnels[0].Tunnel : _shared.Client.Clients[0].FindTunnel(Name);

    /// <summary>The engine client that carries this tunnel on the first server (<see cref="Clients"/> has one per server).</summary>
    public TunnelClient Client => _shared.Client.Clients[0];

    /// <summary>The engine clients that carry this tunnel, one per server, in the order of <see cref="Servers"/>.</summary>
    public IReadOnlyList<TunnelClient> Clients => _shared.Client.Clients;

    /// <summary>The servers' control endpoints, "host:port" each.</summary>
    public string[] Servers => _shared.Client.Servers.Select(s => s.ToString()).ToArray();

    /// <summary>The server's control endpoint, "host:port"; with several servers, all of them, comma separated.</summary>
    public string Server => string.Join(",", Servers);

    /// <summary>How many servers carry the tunnel now (1 or 0 with one server).</summary>
    public int ServersConnected => IsFinished ? 0 : _shared.Client.ConnectedServers;

    /// <summary>The local service, "address:port".</summary>
    public string LocalEndpoint => Tunnel?.LocalEndpoint ?? "";

    /// <summary>The public port the server bound (also when 0 was asked); with several servers the same on each.</summary>
    public int RemotePort => _tunnels.Select(t => t.Tunnel.RemotePort).FirstOrDefault(p => p > 0);

    /// <summary>Where users connect: "serverHost:remotePort"; with several servers, one per server, comma separated.</summary>
    public string PublicEndpoint => string.Join(",", _shared.Client.Servers.Select(s => new Config.ServerEndpoint(s.Host, RemotePort).ToString()));

    /// <inheritdoc />
    public override string Location => $"{PublicEndpoint} -> {LocalEndpoint}";

    /// <inheritdoc />
    private protected override AdminServer? Admin => _shared.Client.Admin;

    /// <summary>Connected (with several servers: while any of them carries the tunnel), or Reconnecting while the client
    /// retries (a lost server, or one that now refuses it, such as a certificate that no longer has the pinned
    /// fingerprint); Stopped once this job has stopped.</summary>
    public ClientState Status => IsFinished ? ClientState.Stopped : _shared.Client.State;

    /// <summary>The client's latest trouble with its server (Code, Message, Time; shown as "Code: Message"), or null; with
    /// several servers, the latest of any. It stays after a successful reconnect: compare its Time, or look at <see cref="Status"/>.</summary>
    public ClientError? LastError => _shared.Client.LastError;

    /// <inheritdoc />
    /// <remarks>What Get-Job | Format-List shows: "Reconnecting: CertificateMismatch: ..." while the client retries; with
    /// several servers "Connected (1 of 2 servers; b:7000 Reconnecting: ...)".</remarks>
    public override string StatusMessage
    {
        get
        {
            var status = Status;
            if (status == ClientState.Stopped) return base.StatusMessage;
            if (Clients.Count > 1)
            {
                var down = Clients.Where(c => c.State != ClientState.Connected)
                    .Select(c => $"{new Config.ServerEndpoint(c.Options.ServerAddress, c.Options.ServerPort)} {c.State}{(c.LastError is { } e ? $": {e}" : "")}");
                return $"{status} ({ServersConnected} of {Clients.Count} servers{string.Concat(down.Select(d => "; " + d))})";
            }
            return status == ClientState.Reconnecting ? (LastError is { } err ? $"Reconnecting: {err}" : "Reconnecting") : status.ToString();
        }
    }

    internal void Start()
    {
        MarkRunning();
        _ = _shared.Client.Completion.ContinueWith(_ => MarkEnded(_shared.Client.Fault), TaskScheduler.Default);
    }

    /// <inheritdoc />
    /// <remarks>With several servers: the tunnel's sum over them first, then one object per server (its Server property).</remarks>
    protected override IEnumerable<TunnelStats> ReadStats(bool perTunnel)
    {
        var all = _tunnels.Count > 0 ? _tunnels : Tunnel is { } t ? new[] { (Client, t) } : Array.Empty<(TunnelClient, ClientTunnel)>();
        foreach (var s in _shared.Client.GetStatistics(all))
        {
            // A stopped tunnel of a client that still serves others reports the job's state, not the client's.
            yield return JobStateInfo.State == System.Management.Automation.JobState.Running ? s : s with { State = JobStateInfo.State.ToString() };
        }
    }

    /// <inheritdoc />
    /// <remarks>The server's address as the client reaches it (its control connection's host): users are expected there
    /// too. With several servers, one target per server.</remarks>
    internal override IEnumerable<ProbeTarget> ProbeTargets()
    {
        if (RemotePort <= 0) yield break;
        foreach (var s in _shared.Client.Servers) yield return new ProbeTarget(Name, s.Host, RemotePort);
    }

    /// <inheritdoc />
    protected override Task StopEngineAsync() => _shared.ReleaseAsync(Name);

    /// <inheritdoc />
    protected override void DisposeEngine()
    {
        // The shared client is stopped by the last ReleaseAsync; nothing else holds unmanaged state.
    }
}
