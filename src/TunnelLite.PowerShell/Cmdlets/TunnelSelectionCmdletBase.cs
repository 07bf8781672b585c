using System.Management.Automation;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Selection of tunnel and server jobs by -Name (wildcards), -Id or piped jobs, shared by Get-Tunnel, Get-TunnelStats,
/// Stop-Tunnel and Test-Tunnel; and a token that Ctrl+C cancels, for the cmdlets that wait.</summary>
public abstract class TunnelSelectionCmdletBase : PSCmdlet, IDisposable
{
    /// <summary>Parameter set for selection by name (the default).</summary>
    protected const string ByName = "Name";
    /// <summary>Parameter set for selection by id.</summary>
    protected const string ById = "Id";
    /// <summary>Parameter set for piped jobs.</summary>
    protected const string ByInput = "InputObject";

    /// <summary>Names of tunnel or server jobs; wildcards allowed.</summary>
    [Parameter(Position = 0, ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(TunnelNameCompleter))]
    [ValidateNotNullOrEmpty]
    public virtual string[]? Name { get; set; }

    /// <summary>Ids of tunnel or server jobs (the Id that Get-Job shows).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ById)]
    [ValidateNotNullOrEmpty]
    public virtual int[]? Id { get; set; }

    /// <summary>Cancelled by Ctrl+C (StopProcessing), so that a cmdlet that waits (a probe, a sampling interval) ends at once.</summary>
    private protected EngineCall Call { get; } = new();

    /// <inheritdoc />
    protected override void StopProcessing() => Call.Cancel();

    /// <summary>Lets go of <see cref="Call"/>; PowerShell disposes a cmdlet when its pipeline ends, stopped or not.</summary>
    public void Dispose() => Call.Dispose();

    /// <summary>Selects the jobs named by -Name or -Id (all when neither); reports names and ids that match nothing.</summary>
    protected IEnumerable<TunnelJobBase> SelectJobs() =>
        Id is { Length: > 0 } ? JobSelection.ById(this, Id) : JobSelection.ByName(this, Name);

    /// <summary>A piped job, checked to be one of ours.</summary>
    protected TunnelJobBase? AsTunnelJob(Job? job) => JobSelection.AsTunnelJob(this, job);
}
