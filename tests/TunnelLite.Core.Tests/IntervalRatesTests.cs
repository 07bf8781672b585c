using TunnelLite.Statistics;

namespace TunnelLite.Tests;

/// <summary>The rates of sampled statistics: from a tunnel's second sample on, the exact bytes moved since its previous
/// sample over the time between them.</summary>
public sealed class IntervalRatesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    private static TunnelStats Sample(double seconds, long bytesIn, long bytesOut, double engineRate = 7) => new()
    {
        Name = "web",
        Role = TunnelRole.Client,
        State = "Connected",
        BytesIn = bytesIn,
        BytesOut = bytesOut,
        BytesInPerSec = engineRate,
        BytesOutPerSec = engineRate,
        Timestamp = T0.AddSeconds(seconds),
    };

    [Fact]
    public void The_first_sample_keeps_the_engine_rates_and_later_ones_get_the_delta_over_the_interval()
    {
        var rates = new IntervalRates();
        var first = Sample(0, 100, 1_000);
        Assert.Same(first, rates.Apply("web", first));

        var second = rates.Apply("web", Sample(2, 300, 5_000));
        Assert.Equal(100, second.BytesInPerSec);
        Assert.Equal(2_000, second.BytesOutPerSec);

        var third = rates.Apply("web", Sample(2.5, 300, 5_001));
        Assert.Equal(0, third.BytesInPerSec);
        Assert.Equal(2, third.BytesOutPerSec);
    }

    [Fact]
    public void Keys_are_kept_apart()
    {
        var rates = new IntervalRates();
        rates.Apply("a", Sample(0, 0, 0));
        rates.Apply("b", Sample(0, 0, 1_000_000));
        Assert.Equal(10, rates.Apply("a", Sample(1, 10, 10)).BytesOutPerSec);
        Assert.Equal(0, rates.Apply("b", Sample(1, 0, 1_000_000)).BytesOutPerSec);
    }

    [Fact]
    public void Counters_that_went_back_or_a_timestamp_that_did_not_advance_keep_the_engine_rates()
    {
        var rates = new IntervalRates();
        rates.Apply("web", Sample(0, 500, 500));
        var restarted = rates.Apply("web", Sample(1, 10, 10));
        Assert.Equal(7, restarted.BytesInPerSec);
        var sameTime = rates.Apply("web", Sample(1, 20, 20));
        Assert.Equal(7, sameTime.BytesOutPerSec);
        // And the next interval is measured from the sample that was kept.
        Assert.Equal(80, rates.Apply("web", Sample(2, 100, 100)).BytesOutPerSec);
    }
}
