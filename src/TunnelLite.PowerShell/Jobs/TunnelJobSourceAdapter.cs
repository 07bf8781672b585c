using System.Management.Automation;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>Makes tunnel and server jobs known to PowerShell's job manager (as ThreadJob does), so that every job cmdlet works
/// on them, including <c>Receive-Job -Wait -AutoRemoveJob</c>, which a plain JobRepository.Add does not support.
/// The jobs themselves live in <see cref="TunnelRegistry"/>.</summary>
public sealed class TunnelJobSourceAdapter : JobSourceAdapter
{
    private const string JobKey = "Job";

    /// <summary>Creates the adapter (the job manager does, by type).</summary>
    public TunnelJobSourceAdapter() => Name = "TunnelLite";

    /// <summary>Hands a job that the cmdlet has already created to the job manager.</summary>
    internal static void Register(PSCmdlet cmdlet, TunnelJobBase job)
    {
        var definition = new JobDefinition(typeof(TunnelJobSourceAdapter), job.Command, job.Name);
        var parameters = new Dictionary<string, object> { [JobKey] = job };
        cmdlet.JobManager.NewJob(new JobInvocationInfo(definition, parameters));
    }

    /// <inheritdoc />
    public override Job2 NewJob(JobInvocationInfo specification)
    {
        var job = specification.Parameters[0].FirstOrDefault(p => p.Name == JobKey)?.Value as TunnelJobBase
            ?? throw new PSArgumentException("Tunnel jobs are created by New-Tunnel and Start-TunnelServer.");
        TunnelRegistry.Add(job);
        return job;
    }

    /// <inheritdoc />
    public override IList<Job2> GetJobs() => TunnelRegistry.All().Cast<Job2>().ToList();

    /// <inheritdoc />
    public override IList<Job2> GetJobsByName(string name, bool recurse)
    {
        var p = new WildcardPattern(name, WildcardOptions.IgnoreCase);
        return TunnelRegistry.All().Where(j => p.IsMatch(j.Name)).Cast<Job2>().ToList();
    }

    /// <inheritdoc />
    public override IList<Job2> GetJobsByCommand(string command, bool recurse)
    {
        var p = new WildcardPattern(command, WildcardOptions.IgnoreCase);
        return TunnelRegistry.All().Where(j => p.IsMatch(j.Command)).Cast<Job2>().ToList();
    }

    /// <inheritdoc />
    public override Job2? GetJobByInstanceId(Guid instanceId, bool recurse) => TunnelRegistry.All().FirstOrDefault(j => j.InstanceId == instanceId);

    /// <inheritdoc />
    public override Job2? GetJobBySessionId(int id, bool recurse) => TunnelRegistry.All().FirstOrDefault(j => j.Id == id);

    /// <inheritdoc />
    public override IList<Job2> GetJobsByState(JobState state, bool recurse) =>
        TunnelRegistry.All().Where(j => j.JobStateInfo.State == state).Cast<Job2>().ToList();

    /// <inheritdoc />
    public override IList<Job2> GetJobsByFilter(Dictionary<string, object> filter, bool recurse) => new List<Job2>();

    /// <inheritdoc />
    public override void RemoveJob(Job2 job)
    {
        if (job is TunnelJobBase t) TunnelRegistry.Remove(t);
    }
}
