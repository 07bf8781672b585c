namespace TunnelLite.PowerShell.Jobs;

/// <summary>The tunnel and server jobs of this process. Engine state is per process, so every runspace sees the same list.</summary>
internal static class TunnelRegistry
{
    private static readonly object Gate = new();
    private static readonly List<TunnelJobBase> Jobs = new();

    public static void Add(TunnelJobBase job)
    {
        lock (Gate)
            if (!Jobs.Contains(job)) Jobs.Add(job);
    }

    public static void Remove(TunnelJobBase job)
    {
        lock (Gate) Jobs.Remove(job);
    }

    /// <summary>A copy, ordered by job id.</summary>
    public static IReadOnlyList<TunnelJobBase> All()
    {
        lock (Gate) return Jobs.OrderBy(j => j.Id).ToList();
    }
}
