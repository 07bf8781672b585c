using TunnelLite.Admin;
using TunnelLite.Client;
using TunnelLite.PowerShell.Internal;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>One tunnel in this pwsh process, as a job: users on the server's <see cref="RemotePort"/> reach <see cref="LocalEndpoint"/>.
/// Drops of the server are not errors: the job reconnects and says so in its streams. The job stays Running while its
/// client retries, whatever the reason (the job does run, and recovers by itself once the server takes it again);
/// <see cref="Status"/> says whether it is connected now, and <see cref="LastError"/> why it retries.</summary>
public sealed class TunnelJob : TunnelJobBase
{
    private readonly SharedClient _shared;
    private readonly string _serverHost;
    // Held from the start: once the job stops, the client no longer lists the tunnel (it may serve others still), and the
    // job's properties and statistics must not go blank then.
    private readonly ClientTunnel? _tunnel;

    internal TunnelJob(string name, string command, SharedClient shared) : base(command, name, "Tunnel")
    {
        _shared = shared;
        _serverHost = shared.Client.Options.ServerAddress.Contains(':') ? $"[{shared.Client.Options.ServerAddress}]" : shared.Client.Options.ServerAddress;
        _tunnel = shared.Client.FindTunnel(name);
        shared.AddUser();
        shared.Logger.Attach(this);
        // The server closed this tunnel (a reload of its configuration took the port away): the job fails with why.
        shared.Client.TunnelClosed += (tunnel, why) =>
        {
            if (ReferenceEquals(tunnel, _tunnel)) MarkEnded(why);
        };
    }

    private ClientTunnel? Tunnel => _tunnel ?? _shared.Client.FindTunnel(Name);

    /// <summary>The engine client that carries this tunnel.</summary>
    public TunnelClient Client => _shared.Client;

    /// <summary>The server's control endpoint, "host:port".</summary>
    public string Server => $"{_serverHost}:{_shared.Client.Options.ServerPort}";

    /// <summary>The local service, "address:port".</summary>
    public string LocalEndpoint => Tunnel?.LocalEndpoint ?? "";

    /// <summary>The public port the server bound (also when 0 was asked).</summary>
    public int RemotePort => Tunnel?.RemotePort ?? 0;

    /// <summary>Where users connect: "serverHost:remotePort".</summary>
    public string PublicEndpoint => $"{_serverHost}:{RemotePort}";

    /// <inheritdoc />
    public override string Location => $"{PublicEndpoint} -> {LocalEndpoint}";

    /// <inheritdoc />
    private protected override AdminServer? Admin => _shared.Client.Admin;

    /// <summary>Connected, or Reconnecting while the client retries (a lost server, or one that now refuses it, such as a
    /// certificate that no longer has the pinned fingerprint); Stopped once this job has stopped.</summary>
    public ClientState Status => IsFinished ? ClientState.Stopped : _shared.Client.State;

    /// <summary>The client's latest trouble with its server (Code, Message, Time; shown as "Code: Message"), or null. It
    /// stays after a successful reconnect: compare its Time, or look at <see cref="Status"/>.</summary>
    public ClientError? LastError => _shared.Client.LastError;

    /// <inheritdoc />
    /// <remarks>What Get-Job | Format-List shows: "Reconnecting: CertificateMismatch: ..." while the client retries.</remarks>
    public override string StatusMessage => Status switch
    {
        ClientState.Reconnecting => LastError is { } e ? $"Reconnecting: {e}" : "Reconnecting",
        ClientState.Stopped => base.StatusMessage,
        var s => s.ToString(),
    };

    internal void Start()
    {
        MarkRunning();
        _ = _shared.Client.Completion.ContinueWith(_ => MarkEnded(_shared.Client.Fault), TaskScheduler.Default);
    }

    /// <inheritdoc />
    protected override IEnumerable<TunnelStats> ReadStats(bool perTunnel)
    {
        if (Tunnel is not { } tunnel) yield break;
        var s = _shared.Client.GetStatistics(tunnel);
        // A stopped tunnel of a client that still serves others reports the job's state, not the client's.
        yield return JobStateInfo.State == System.Management.Automation.JobState.Running ? s : s with { State = JobStateInfo.State.ToString() };
    }

    /// <inheritdoc />
    /// <remarks>The server's address as the client reaches it (its control connection's host): users are expected there too.</remarks>
    internal override IEnumerable<ProbeTarget> ProbeTargets()
    {
        if (RemotePort > 0) yield return new ProbeTarget(Name, _shared.Client.Options.ServerAddress, RemotePort);
    }

    /// <inheritdoc />
    protected override Task StopEngineAsync() => _shared.ReleaseAsync(Name);

    /// <inheritdoc />
    protected override void DisposeEngine()
    {
        // The shared client is stopped by the last ReleaseAsync; nothing else holds unmanaged state.
    }
}
