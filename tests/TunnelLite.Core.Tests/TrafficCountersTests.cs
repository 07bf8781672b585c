using TunnelLite.Forwarding;
using TunnelLite.Statistics;

namespace TunnelLite.Tests;

/// <summary>The counters count exactly however many threads count at once: event loop threads in stripes of their own
/// (more loops than stripes included, so that two loops share one), other threads in the shared stripe, and a parent
/// (the server's totals) sums its tunnels.</summary>
public sealed class TrafficCountersTests
{
    [Fact]
    public async Task Loops_and_other_threads_counting_at_once_sum_exactly_in_the_tunnel_and_its_parent()
    {
        var totals = new TrafficCounters();
        var a = new TrafficCounters(totals);
        var b = new TrafficCounters(totals);
        const int threads = 24; // more than the stripes (at most 9), so loops share some
        const int rounds = 20_000;
        using var go = new ManualResetEventSlim();
        var workers = Enumerable.Range(0, threads).Select(i => Task.Factory.StartNew(() =>
        {
            // Even threads count as loops with numbers 0, 2, ..., 22; odd ones as any other thread.
            if (i % 2 == 0) TrafficCounters.CountOnLoop(i);
            var mine = i % 3 == 0 ? a : b;
            go.Wait();
            for (var r = 0; r < rounds; r++)
            {
                mine.ConnectionOpened();
                mine.AddIn(3);
                mine.AddOut(5);
                mine.Forwarded(r % 2 == 0 ? ForwardingMode.Splice : ForwardingMode.Copy, fellBack: r % 10 == 0);
                if (r % 100 == 0) mine.ConnectionFailed("x");
                if (r % 50 == 0) mine.ConnectionRefused();
                mine.ConnectionClosed();
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        go.Set();
        await Task.WhenAll(workers);

        var onA = Enumerable.Range(0, threads).Count(i => i % 3 == 0);
        foreach (var (c, n) in new[] { (a, onA), (b, threads - onA), (totals, threads) })
        {
            Assert.Equal((long)n * rounds, c.TotalConnections);
            Assert.Equal(0, c.ActiveConnections);
            Assert.Equal(3L * n * rounds, c.BytesIn);
            Assert.Equal(5L * n * rounds, c.BytesOut);
            Assert.Equal((long)n * rounds / 2, c.SplicedConnections);
            Assert.Equal((long)n * rounds / 2, c.CopiedConnections);
            Assert.Equal((long)n * rounds / 10, c.SpliceFallbacks);
            Assert.Equal((long)n * rounds / 100, c.FailedConnections);
            Assert.Equal((long)n * rounds / 50, c.RefusedConnections);
        }
    }

    [Fact]
    public void A_connection_opened_on_one_thread_and_closed_on_another_leaves_none_active()
    {
        var c = new TrafficCounters();
        var opener = new Thread(() => { TrafficCounters.CountOnLoop(0); c.ConnectionOpened(); });
        opener.Start();
        opener.Join();
        Assert.Equal(1, c.ActiveConnections);
        var closer = new Thread(() => { TrafficCounters.CountOnLoop(1); c.ConnectionClosed(); });
        closer.Start();
        closer.Join();
        Assert.Equal(0, c.ActiveConnections);
        Assert.Equal(1, c.TotalConnections);
    }
}
