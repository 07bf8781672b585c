using System.Management.Automation;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Stop-Tunnel: stops tunnels (the server frees their ports) or servers (listeners closed, clients disconnected),
/// gracefully. With -Drain a server drains for a rolling upgrade: its /ready answers 503 for the drain delay while it still
/// serves, then it stops accepting and lets live connections finish; this process's server jobs, or a server in another
/// process through its admin endpoint.</summary>
[Cmdlet(VerbsLifecycle.Stop, "Tunnel", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(TunnelJob), typeof(TunnelServerJob), typeof(ServerDrain))]
public sealed class StopTunnelCommand : TunnelSelectionCmdletBase
{
    private const string AllSet = "All";
    private const string EndpointSet = "AdminEndpoint";

    /// <summary>Tunnel or server jobs, e.g. from Get-Tunnel.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByInput, ValueFromPipeline = true)]
    public Job? InputObject { get; set; }

    /// <summary>Stops every tunnel and server of this process.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AllSet)]
    public SwitchParameter All { get; set; }

    /// <summary>Drains the servers instead of stopping them at once: /ready answers 503 for the drain delay while they still
    /// serve everyone, so that a balancer moves new users away; then they stop accepting and let live connections finish
    /// within the drain timeout. Tunnel jobs selected with it are stopped as usual (their stop lets connections finish too).
    /// Required with -AdminEndpoint.</summary>
    [Parameter(ParameterSetName = ByName)]
    [Parameter(ParameterSetName = ById)]
    [Parameter(ParameterSetName = ByInput)]
    [Parameter(ParameterSetName = AllSet)]
    [Parameter(Mandatory = true, ParameterSetName = EndpointSet)]
    public SwitchParameter Drain { get; set; }

    /// <summary>Seconds /ready answers 503 before the server stops accepting (0 to 3600). Default: the server's
    /// transport.drainDelay (10 s unless set).</summary>
    [Parameter]
    [ValidateRange(0, 3600)]
    public int DrainDelaySec { get; set; } = -1;

    /// <summary>Seconds live connections may go on once the server stopped accepting (0 to 3600); what is left then is
    /// reset. Default: the server's transport.drainTimeout (5 s unless set).</summary>
    [Parameter]
    [ValidateRange(0, 3600)]
    public int DrainTimeoutSec { get; set; } = -1;

    /// <summary>The admin endpoint of a server in another process, 'address:port' or a URL: it starts its drain and the
    /// command returns at once with it (a TunnelLite.ServerDrain). Needs the endpoint's credentials (-Credential).</summary>
    [Parameter(Mandatory = true, ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? AdminEndpoint { get; set; }

    /// <summary>The admin endpoint's user and password (the server's -AdminCredential, or webServer.user and webServer.password).</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>The SHA-256 fingerprint of the admin endpoint's certificate, for a self-signed one.</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? CertificateFingerprint { get; set; }

    /// <summary>Writes the stopped jobs to the pipeline; with -Drain, also each server's drain (a TunnelLite.ServerDrain).</summary>
    [Parameter(ParameterSetName = ByName)]
    [Parameter(ParameterSetName = ById)]
    [Parameter(ParameterSetName = ByInput)]
    [Parameter(ParameterSetName = AllSet)]
    public SwitchParameter PassThru { get; set; }

    private TimeSpan? Delay => DrainDelaySec < 0 ? null : TimeSpan.FromSeconds(DrainDelaySec);
    private TimeSpan? Timeout => DrainTimeoutSec < 0 ? null : TimeSpan.FromSeconds(DrainTimeoutSec);

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        if (ParameterSetName == EndpointSet)
        {
            DrainThrough(AdminEndpoint!);
            return;
        }
        if (!Drain && (DrainDelaySec >= 0 || DrainTimeoutSec >= 0))
            ThrowTerminatingError(TunnelErrors.InvalidArgument("DrainRequired", "-DrainDelaySec and -DrainTimeoutSec go with -Drain.", null));
        IEnumerable<TunnelJobBase> jobs = ParameterSetName switch
        {
            ByInput => new[] { AsTunnelJob(InputObject) }.Where(j => j is not null).Select(j => j!),
            AllSet => TunnelRegistry.All(),
            _ => SelectJobs(),
        };
        if (ParameterSetName == ByName && Name is null)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("SelectionRequired", "Name the tunnels to stop (-Name, -Id, or pipe them from Get-Tunnel), or use -All.", null));
        var chosen = jobs.ToList().Where(job => ShouldProcess($"{job.PSJobTypeName} '{job.Name}' ({job.Location})", Drain && job is TunnelServerJob ? "Drain" : "Stop")).ToList();
        if (Drain)
        {
            DrainAll(chosen);
            return;
        }
        foreach (var job in chosen)
        {
            WriteVerbose($"Stopping {job.PSJobTypeName} '{job.Name}' (Id {job.Id}).");
            job.StopJob();
            WriteVerbose($"{job.PSJobTypeName} '{job.Name}' is {job.JobStateInfo.State}.");
            if (PassThru) WriteObject(job);
        }
    }

    // The servers drain at once, side by side (each one's delay is for balancers, not for the others), and the command
    // returns when all have stopped; the tunnel jobs stop meanwhile.
    private void DrainAll(List<TunnelJobBase> jobs)
    {
        foreach (var job in jobs)
            WriteVerbose(job is TunnelServerJob
                ? $"Draining server '{job.Name}' (Id {job.Id}): /ready answers 503 for {(Delay is { } d ? $"{d.TotalSeconds} s" : "its drainDelay")}, then it stops accepting."
                : $"Stopping {job.PSJobTypeName} '{job.Name}' (Id {job.Id}).");
        var running = jobs.Select(job => (Job: job, Task: Task.Run(() => job is TunnelServerJob server ? server.Drain(Delay, Timeout) : Stop(job)))).ToList();
        Call.Run(ct => Task.WhenAll(running.Select(r => r.Task)).WaitAsync(ct));
        foreach (var (job, task) in running)
        {
            WriteVerbose($"{job.PSJobTypeName} '{job.Name}' is {job.JobStateInfo.State}.");
            if (!PassThru) continue;
            WriteObject(job);
            if (task.Result is { } drain) WriteObject(drain);
        }
    }

    private static ServerDrain? Stop(TunnelJobBase job)
    {
        job.StopJob();
        return null;
    }

    private void DrainThrough(string endpoint)
    {
        if (!ShouldProcess($"the server of admin endpoint {endpoint}", "Drain")) return;
        using var admin = AdminConnection.Open(this, endpoint, Credential, CertificateFingerprint);
        WriteVerbose($"Asking {admin.BaseAddress} to drain.");
        var drain = AdminConnection.Call(this, Call, admin, ct => admin.DrainAsync(Delay, Timeout, ct));
        WriteObject(drain with { Server = admin.BaseAddress.ToString() });
    }
}
