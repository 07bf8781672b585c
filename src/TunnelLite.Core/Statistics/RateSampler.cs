namespace TunnelLite.Statistics;

/// <summary>Samples counters once a second so that their rates cover a recent window even when nobody reads them.</summary>
internal static class RateSampler
{
    /// <summary>Runs until cancelled, sampling whatever <paramref name="counters"/> yields at each tick.</summary>
    public static async Task RunAsync(Func<IEnumerable<TrafficCounters>> counters, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var now = DateTimeOffset.UtcNow;
                foreach (var c in counters()) c.Sample(now);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
