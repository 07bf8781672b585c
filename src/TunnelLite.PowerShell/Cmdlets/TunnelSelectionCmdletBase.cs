using System.Management.Automation;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Selection of tunnel and server jobs by -Name (wildcards), -Id or piped jobs, shared by Get-Tunnel, Get-TunnelStats and Stop-Tunnel.</summary>
public abstract class TunnelSelectionCmdletBase : PSCmdlet
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
    public string[]? Name { get; set; }

    /// <summary>Ids of tunnel or server jobs (the Id that Get-Job shows).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ById)]
    [ValidateNotNullOrEmpty]
    public int[]? Id { get; set; }

    /// <summary>Selects the jobs named by -Name or -Id (all when neither); reports names and ids that match nothing.</summary>
    protected IEnumerable<TunnelJobBase> SelectJobs()
    {
        var all = TunnelRegistry.All();
        if (Id is { Length: > 0 })
        {
            foreach (var id in Id)
            {
                var job = all.FirstOrDefault(j => j.Id == id);
                if (job is null)
                    WriteError(TunnelErrors.Create(new ItemNotFoundException($"No tunnel or server job has Id {id}. Get-Tunnel lists them."), "TunnelNotFound", id));
                else
                    yield return job;
            }
            yield break;
        }
        if (Name is not { Length: > 0 })
        {
            foreach (var j in all) yield return j;
            yield break;
        }
        var seen = new HashSet<TunnelJobBase>();
        foreach (var n in Name)
        {
            var pattern = new WildcardPattern(n, WildcardOptions.IgnoreCase);
            var any = false;
            foreach (var j in all.Where(j => pattern.IsMatch(j.Name)))
            {
                any = true;
                if (seen.Add(j)) yield return j;
            }
            if (!any && !WildcardPattern.ContainsWildcardCharacters(n))
                WriteError(TunnelErrors.Create(new ItemNotFoundException($"No tunnel or server job is named '{n}'. Get-Tunnel lists them."), "TunnelNotFound", n));
        }
    }

    /// <summary>A piped job, checked to be one of ours.</summary>
    protected TunnelJobBase? AsTunnelJob(Job? job)
    {
        if (job is TunnelJobBase t) return t;
        if (job is not null)
            WriteError(TunnelErrors.Create(new ArgumentException($"Job {job.Id} ({job.Name}) is a {job.PSJobTypeName} job, not a tunnel or server job."), "NotATunnelJob", job));
        return null;
    }
}
