using TunnelLite.Forwarding;

namespace TunnelLite.Tests;

/// <summary>The descriptor budget's arithmetic, with a counted process it controls (the live behaviour under a real
/// RLIMIT_NOFILE is tested in separate processes by the Pester attack tests).</summary>
// One class at a time, after the parallel tests: one test counts the process's open descriptors across 300 opens and
// closes, and the other classes' sockets opening and closing meanwhile moved that count by 35 in one clean-clone run.
[Collection(DataPathMeasurementCollection.Name)]
public sealed class DescriptorBudgetTests
{
    private sealed class Process
    {
        public long Open;
        public long Now;
        public int Counts;
        public int CostMs;
        // Readings the budget started in the background, run when the test says (Background: false runs them at once).
        public readonly Queue<Action> Pending = new();
        public bool Background;
        public DescriptorBudget Budget(long limit) => new(limit, () =>
        {
            Counts++;
            if (CostMs > 0) Thread.Sleep(CostMs);
            return Open;
        }, () => Now, work =>
        {
            if (Background) Pending.Enqueue(work);
            else work();
        });

        public void RunPending()
        {
            while (Pending.TryDequeue(out var work)) work();
        }
    }

    [Fact]
    public void The_data_plane_stops_at_the_limit_minus_the_reserve_and_one_tunnel_at_half_of_what_others_leave()
    {
        var p = new Process { Open = 200 };
        var b = p.Budget(4096);
        // Free for the data plane: 4096 - 512 - 200 = 3384. A tunnel beside others may grow while what stays free is at least what it holds.
        Assert.True(b.MayOpenForTunnel(tunnelHeld: 0, cost: 2, reserve: 512));
        p.Open = 200 + 1690;
        p.Now += 1000;
        Assert.True(b.MayOpenForTunnel(tunnelHeld: 1690, cost: 2, reserve: 512) == (1690 + 4 <= 3384 - 1690));
        Assert.False(b.MayOpenForTunnel(tunnelHeld: 1700, cost: 2, reserve: 512));
        // Alone on its server, a tunnel may use the data plane's whole room: nobody else is there to starve.
        Assert.True(b.MayOpenForTunnel(tunnelHeld: 1700, cost: 2, reserve: 512, shared: false));
        // Another tunnel holding nothing still has room.
        Assert.True(b.MayOpenForTunnel(tunnelHeld: 0, cost: 2, reserve: 512));
        // The control port may use the reserve, up to a small margin.
        p.Open = 4096 - 512 + 100;
        p.Now += 1000;
        Assert.False(b.MayOpenForTunnel(0, 2, 512));
        Assert.True(b.MayOpenControl());
        p.Open = 4096 - 10;
        p.Now += 1000;
        Assert.False(b.MayOpenControl());
        Assert.False(b.MayOpenPipe(512));
    }

    [Fact]
    public void Opens_since_the_last_count_are_added_and_the_count_is_read_often_only_near_the_limit()
    {
        var p = new Process { Open = 100, Background = true };
        var b = p.Budget(100_000);
        Assert.Equal(100, b.Estimate()); // the first reading is the caller's: there is nothing else to go on
        Assert.Equal(1, p.Counts);
        b.Opened(50);
        Assert.Equal(150, b.Estimate()); // far from the limit: no new reading within the second
        Assert.Empty(p.Pending);
        p.Now += 1000;
        p.Open = 120; // closes are seen at the next reading
        // Stale: a reading starts in the background, never on the caller's thread (an event loop), which gets what is known.
        Assert.Equal(150, b.Estimate());
        Assert.Equal(1, p.Counts);
        Assert.Single(p.Pending);
        Assert.Equal(150, b.Estimate());
        Assert.Single(p.Pending); // one reading at a time
        p.RunPending();
        Assert.Equal(2, p.Counts);
        Assert.Equal(120, b.Estimate());

        var near = new Process { Open = 3000, Background = true };
        var nb = near.Budget(4096);
        nb.Estimate();
        near.Now += 20;
        nb.Estimate();
        Assert.Single(near.Pending); // near the limit it is read again after a few milliseconds
        near.RunPending();
        Assert.Equal(2, near.Counts);
    }

    [Fact]
    public void Near_the_limit_readings_are_spaced_by_what_they_cost()
    {
        // A reading that takes 5 ms (18,000 descriptors take about 16) is not repeated within 8 times that.
        var p = new Process { Open = 3000, CostMs = 5, Background = true };
        var b = p.Budget(4096);
        b.Estimate();
        p.Now += 20;
        b.Estimate();
        Assert.Empty(p.Pending);
        p.Now += 10_000;
        b.Estimate();
        Assert.Single(p.Pending);
    }

    [Fact]
    public void The_count_of_open_descriptors_follows_descriptors_opened_and_closed()
    {
        if (!OperatingSystem.IsLinux()) return;
        // Files opened here show in the count, one for one, and leave it when closed (other threads of the test host
        // may open or close a few meanwhile: the difference is checked within a margin).
        var before = DescriptorBudget.CountOpenDescriptors()!.Value;
        var files = Enumerable.Range(0, 300).Select(_ => File.OpenRead("/dev/null")).ToList();
        var during = DescriptorBudget.CountOpenDescriptors()!.Value;
        files.ForEach(f => f.Dispose());
        var after = DescriptorBudget.CountOpenDescriptors()!.Value;
        Assert.InRange(during - before, 290, 310);
        Assert.InRange(during - after, 290, 310);
        var listed = Directory.EnumerateFileSystemEntries("/proc/self/fd").Count() - 1; // less the enumeration's own
        Assert.InRange(DescriptorBudget.CountOpenDescriptors()!.Value, listed - 10, listed + 10);
    }

    [Fact]
    public void A_refusal_is_checked_against_a_reading_taken_at_once_when_the_last_is_stale()
    {
        // Opens since the last reading make the estimate err high; a background reading that lags (a starved thread pool)
        // must not turn that into refused users.
        var p = new Process { Open = 100, Background = true };
        var b = p.Budget(4096);
        b.Estimate();
        b.Opened(5000); // all closed again meanwhile: the process still has 100 open
        p.Now += 20;
        Assert.True(b.MayOpenForTunnel(tunnelHeld: 0, cost: 2, reserve: 512));
        Assert.Equal(2, p.Counts); // read at once, not left to the background
        Assert.True(b.MayOpenControl());
        Assert.True(b.MayOpenPipe(512));
        Assert.Equal(2, p.Counts); // nothing more to read: the fresh reading allows them

        // A real shortage is still refused, and the reading is not repeated within its spacing.
        b.Opened(3990);
        p.Open = 4090;
        p.Now += 20;
        Assert.False(b.MayOpenForTunnel(0, 2, 512));
        Assert.Equal(3, p.Counts);
        Assert.False(b.MayOpenPipe(512));
        Assert.Equal(3, p.Counts);
    }

    [Fact]
    public void Without_a_limit_everything_is_allowed()
    {
        var b = new DescriptorBudget(long.MaxValue, () => null);
        Assert.False(b.IsBounded);
        Assert.True(b.MayOpenForTunnel(1_000_000, 2, 512));
        Assert.True(b.MayOpenControl());
        Assert.True(b.MayOpenPipe(512));
    }

    [Fact]
    public void The_process_budget_reads_the_real_limit_and_count_on_Linux()
    {
        if (!OperatingSystem.IsLinux()) return;
        var b = DescriptorBudget.Process;
        Assert.True(b.IsBounded);
        Assert.InRange(b.Estimate(), 3, b.Limit);
    }
}
