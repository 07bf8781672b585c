using TunnelLite.Server;

namespace TunnelLite.Tests;

/// <summary>The replay window of a session's data-connection counters: bounded, self-expiring, each counter once.</summary>
public sealed class DataConnectionWindowTests
{
    [Fact]
    public void Each_counter_is_good_once_in_any_order_within_the_window()
    {
        var w = new DataConnectionWindow();
        Assert.Null(w.TryAccept(1));
        Assert.Null(w.TryAccept(3));
        Assert.Null(w.TryAccept(2)); // late but within the window
        Assert.Contains("replay", w.TryAccept(2));
        Assert.Contains("replay", w.TryAccept(3));
        Assert.NotNull(w.TryAccept(0));
        Assert.NotNull(w.TryAccept(-5));
    }

    [Fact]
    public void Counters_further_behind_than_the_window_are_refused_and_bits_are_cleared_as_it_slides()
    {
        var w = new DataConnectionWindow();
        Assert.Null(w.TryAccept(5));
        Assert.Null(w.TryAccept(5 + DataConnectionWindow.Size));
        Assert.Contains("behind", w.TryAccept(5));
        // Slots reused by the slide hold no stale bits: every counter in the new window is still good once.
        for (long c = 6; c < 5 + DataConnectionWindow.Size; c++) Assert.Null(w.TryAccept(c));
        for (long c = 6; c < 5 + DataConnectionWindow.Size; c++) Assert.NotNull(w.TryAccept(c));
        // A jump far ahead forgets everything behind.
        Assert.Null(w.TryAccept(1_000_000));
        Assert.Null(w.TryAccept(1_000_000 - DataConnectionWindow.Size + 1));
        Assert.Contains("behind", w.TryAccept(1_000_000 - DataConnectionWindow.Size));
    }

    [Fact]
    public void Concurrent_accepts_take_each_counter_exactly_once()
    {
        var w = new DataConnectionWindow();
        var accepted = 0;
        Parallel.For(0, 8, _ =>
        {
            for (long c = 1; c <= 500; c++)
                if (w.TryAccept(c) is null) Interlocked.Increment(ref accepted);
        });
        Assert.Equal(500, accepted);
    }
}
