using System.Management.Automation;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Stop-Tunnel: stops tunnels (the server frees their ports) or servers (listeners closed, clients disconnected), gracefully.</summary>
[Cmdlet(VerbsLifecycle.Stop, "Tunnel", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(TunnelJob), typeof(TunnelServerJob))]
public sealed class StopTunnelCommand : TunnelSelectionCmdletBase
{
    private const string AllSet = "All";

    /// <summary>Tunnel or server jobs, e.g. from Get-Tunnel.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByInput, ValueFromPipeline = true)]
    public Job? InputObject { get; set; }

    /// <summary>Stops every tunnel and server of this process.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AllSet)]
    public SwitchParameter All { get; set; }

    /// <summary>Writes the stopped jobs to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        IEnumerable<TunnelJobBase> jobs = ParameterSetName switch
        {
            ByInput => new[] { AsTunnelJob(InputObject) }.Where(j => j is not null).Select(j => j!),
            AllSet => TunnelRegistry.All(),
            _ => SelectJobs(),
        };
        if (ParameterSetName == ByName && Name is null)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("SelectionRequired", "Name the tunnels to stop (-Name, -Id, or pipe them from Get-Tunnel), or use -All.", null));
        foreach (var job in jobs.ToList())
        {
            if (!ShouldProcess($"{job.PSJobTypeName} '{job.Name}' ({job.Location})", "Stop")) continue;
            WriteVerbose($"Stopping {job.PSJobTypeName} '{job.Name}' (Id {job.Id}).");
            job.StopJob();
            WriteVerbose($"{job.PSJobTypeName} '{job.Name}' is {job.JobStateInfo.State}.");
            if (PassThru) WriteObject(job);
        }
    }
}
