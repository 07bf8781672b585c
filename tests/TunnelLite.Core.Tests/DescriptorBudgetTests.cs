using TunnelLite.Forwarding;

namespace TunnelLite.Tests;

/// <summary>The descriptor budget's arithmetic, with a counted process it controls (the live behaviour under a real
/// RLIMIT_NOFILE is tested in separate processes by the Pester attack tests).</summary>
public sealed class DescriptorBudgetTests
{
    private sealed class Process
    {
        public long Open;
        public long Now;
        public int Counts;
        public DescriptorBudget Budget(long limit) => new(limit, () => { Counts++; return Open; }, () => Now);
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
        var p = new Process { Open = 100 };
        var b = p.Budget(100_000);
        Assert.Equal(100, b.Estimate());
        var counts = p.Counts;
        b.Opened(50);
        Assert.Equal(150, b.Estimate()); // far from the limit: no new reading within the second
        Assert.Equal(counts, p.Counts);
        p.Now += 1000;
        p.Open = 120; // closes are seen at the next reading
        Assert.Equal(120, b.Estimate());

        var near = new Process { Open = 3000 };
        var nb = near.Budget(4096);
        nb.Estimate();
        var before = near.Counts;
        near.Now += 20;
        nb.Estimate();
        Assert.Equal(before + 1, near.Counts); // near the limit it is read again after a few milliseconds
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
