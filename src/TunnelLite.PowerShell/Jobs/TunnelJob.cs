using TunnelLite.Client;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>One tunnel in this pwsh process, as a job: users on the server's <see cref="RemotePort"/> reach <see cref="LocalEndpoint"/>.
/// Drops of the server are not errors: the job reconnects and says so in its streams.</summary>
public sealed class TunnelJob : TunnelJobBase
{
    private readonly SharedClient _shared;
    private readonly string _serverHost;

    internal TunnelJob(string name, string command, SharedClient shared) : base(command, name, "Tunnel")
    {
        _shared = shared;
        _serverHost = shared.Client.Options.ServerAddress.Contains(':') ? $"[{shared.Client.Options.ServerAddress}]" : shared.Client.Options.ServerAddress;
        shared.AddUser();
        shared.Logger.Attach(this);
    }

    private ClientTunnel? Tunnel => _shared.Client.FindTunnel(Name);

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

    internal void Start()
    {
        MarkRunning();
        _ = _shared.Client.Completion.ContinueWith(_ => MarkEnded(), TaskScheduler.Default);
    }

    /// <inheritdoc />
    protected override IEnumerable<TunnelStats> ReadStats(bool perTunnel)
    {
        var s = _shared.Client.GetStatistics().FirstOrDefault(x => x.Name == Name);
        if (s is null) yield break;
        // A stopped tunnel of a client that still serves others reports the job's state, not the client's.
        yield return JobStateInfo.State == System.Management.Automation.JobState.Running ? s : s with { State = JobStateInfo.State.ToString() };
    }

    /// <inheritdoc />
    protected override Task StopEngineAsync() => _shared.ReleaseAsync(Name);

    /// <inheritdoc />
    protected override void DisposeEngine()
    {
        // The shared client is stopped by the last ReleaseAsync; nothing else holds unmanaged state.
    }
}
