using System.Management.Automation;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Get-Tunnel: the tunnel and server jobs of this process.</summary>
[Cmdlet(VerbsCommon.Get, "Tunnel", DefaultParameterSetName = ByName)]
[OutputType(typeof(TunnelJob), typeof(TunnelServerJob))]
public sealed class GetTunnelCommand : TunnelSelectionCmdletBase
{
    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        foreach (var job in SelectJobs())
        {
            WriteVerbose($"{job.PSJobTypeName} '{job.Name}' (Id {job.Id}) is {job.JobStateInfo.State}: {job.Location}");
            WriteObject(job);
        }
    }
}
