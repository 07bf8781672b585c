using System.Management.Automation;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Internal;

/// <summary>Finds the tunnel and server jobs of this process by name (wildcards) or id, and checks piped jobs, reporting
/// what matches nothing as non-terminating errors: the selection of Get-Tunnel, Get-TunnelStats and Stop-Tunnel
/// (through <see cref="Cmdlets.TunnelSelectionCmdletBase"/>), and of Get-TunnelClient -Server.</summary>
internal static class JobSelection
{
    /// <summary>The jobs with these ids; an id no job has is a TunnelNotFound error.</summary>
    public static IEnumerable<TunnelJobBase> ById(Cmdlet cmdlet, IEnumerable<int> ids)
    {
        var all = TunnelRegistry.All();
        foreach (var id in ids)
        {
            var job = all.FirstOrDefault(j => j.Id == id);
            if (job is null)
                cmdlet.WriteError(TunnelErrors.Create(new ItemNotFoundException($"No tunnel or server job has Id {id}. Get-Tunnel lists them."), "TunnelNotFound", id));
            else
                yield return job;
        }
    }

    /// <summary>The jobs whose names match <paramref name="names"/> (wildcards allowed), each once; all jobs when none are
    /// given. A name without wildcards that matches nothing is a TunnelNotFound error.</summary>
    public static IEnumerable<TunnelJobBase> ByName(Cmdlet cmdlet, IReadOnlyList<string>? names)
    {
        var all = TunnelRegistry.All();
        if (names is not { Count: > 0 })
        {
            foreach (var j in all) yield return j;
            yield break;
        }
        var seen = new HashSet<TunnelJobBase>();
        foreach (var n in names)
        {
            var pattern = new WildcardPattern(n, WildcardOptions.IgnoreCase);
            var any = false;
            foreach (var j in all.Where(j => pattern.IsMatch(j.Name)))
            {
                any = true;
                if (seen.Add(j)) yield return j;
            }
            if (!any && !WildcardPattern.ContainsWildcardCharacters(n))
                cmdlet.WriteError(TunnelErrors.Create(new ItemNotFoundException($"No tunnel or server job is named '{n}'. Get-Tunnel lists them."), "TunnelNotFound", n));
        }
    }

    /// <summary>A piped job, checked to be one of ours; another kind of job is a NotATunnelJob error.</summary>
    public static TunnelJobBase? AsTunnelJob(Cmdlet cmdlet, Job? job)
    {
        if (job is TunnelJobBase t) return t;
        if (job is not null)
            cmdlet.WriteError(TunnelErrors.Create(new ArgumentException($"Job {job.Id} ({job.Name}) is a {job.PSJobTypeName} job, not a tunnel or server job."), "NotATunnelJob", job));
        return null;
    }
}
