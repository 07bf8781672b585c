using System.Management.Automation;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Get-TunnelStats: one TunnelLite.TunnelStats per tunnel and per server.</summary>
[Cmdlet(VerbsCommon.Get, "TunnelStats", DefaultParameterSetName = ByName)]
[OutputType(typeof(TunnelStats))]
public sealed class GetTunnelStatsCommand : TunnelSelectionCmdletBase
{
    /// <summary>Tunnel or server jobs, e.g. from Get-Tunnel or New-Tunnel.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByInput, ValueFromPipeline = true)]
    public Job? InputObject { get; set; }

    /// <summary>For a server, also one object per tunnel it carries (Role Server, with the ClientName that registered it).</summary>
    [Parameter]
    public SwitchParameter PerTunnel { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var jobs = ParameterSetName == ByInput ? new[] { AsTunnelJob(InputObject) }.Where(j => j is not null).Select(j => j!) : SelectJobs();
        foreach (var job in jobs)
        {
            WriteVerbose($"Reading statistics of {job.PSJobTypeName} '{job.Name}' (Id {job.Id}).");
            foreach (var s in job.GetStats(PerTunnel.IsPresent)) WriteObject(s);
        }
    }
}
