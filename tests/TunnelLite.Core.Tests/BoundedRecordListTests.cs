using TunnelLite.Logging;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>The retention of a job stream (BoundedRecordList): ordinary records cannot push kept (security) ones out, and
/// both sorts are bounded.</summary>
public class BoundedRecordListTests
{
    private sealed record Rec(string Text);

    private static List<string> Texts(IEnumerable<Rec> records) => records.Select(r => r.Text).ToList();

    [Fact]
    public void A_flood_of_ordinary_records_keeps_the_security_ones()
    {
        var list = new List<Rec>();
        var bounded = new BoundedRecordList<Rec>(list, maxRecords: 100, maxKept: 20);
        for (var i = 0; i < 10; i++) bounded.Add(new Rec($"auth failed {i}"), keep: true);
        for (var i = 0; i < 10_000; i++) bounded.Add(new Rec($"garbage {i}"), keep: false);

        Assert.Equal(110, list.Count);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"auth failed {i}"), Texts(list.Take(10)));
        Assert.Equal(Enumerable.Range(9_900, 100).Select(i => $"garbage {i}"), Texts(list.Skip(10)));
    }

    [Fact]
    public void Kept_records_have_their_own_bound()
    {
        var list = new List<Rec>();
        var bounded = new BoundedRecordList<Rec>(list, maxRecords: 5, maxKept: 3);
        bounded.Add(new Rec("o1"), keep: false);
        for (var i = 1; i <= 10; i++) bounded.Add(new Rec($"k{i}"), keep: true);
        bounded.Add(new Rec("o2"), keep: false);

        Assert.Equal(new[] { "o1", "k8", "k9", "k10", "o2" }, Texts(list));
        Assert.True(bounded.IsKept(list[1]));
        Assert.False(bounded.IsKept(list[0]));
    }

    [Fact]
    public void The_oldest_of_the_same_sort_goes_and_order_is_kept()
    {
        var list = new List<Rec>();
        var bounded = new BoundedRecordList<Rec>(list, maxRecords: 2, maxKept: 2);
        bounded.Add(new Rec("o1"), false);
        bounded.Add(new Rec("k1"), true);
        bounded.Add(new Rec("o2"), false);
        bounded.Add(new Rec("k2"), true);
        bounded.Add(new Rec("o3"), false);
        Assert.Equal(new[] { "k1", "o2", "k2", "o3" }, Texts(list));
        bounded.Add(new Rec("k3"), true);
        Assert.Equal(new[] { "o2", "k2", "o3", "k3" }, Texts(list));
    }

    [Fact]
    public void A_reader_that_drains_the_list_and_records_added_by_others_are_taken_into_account()
    {
        var list = new SynchronizedList<Rec>();
        var bounded = new BoundedRecordList<Rec>(list, maxRecords: 3, maxKept: 2);
        bounded.Add(new Rec("k1"), true);
        bounded.Add(new Rec("o1"), false);
        Assert.Equal(2, list.ReadAll().Count);

        // Added by someone else (the job itself): ordinary, and the oldest goes first.
        list.Add(new Rec("theirs"));
        bounded.Add(new Rec("o2"), false);
        bounded.Add(new Rec("k2"), true);
        bounded.Add(new Rec("o3"), false);
        bounded.Add(new Rec("o4"), false);
        Assert.Equal(new[] { "o2", "k2", "o3", "o4" }, Texts(list));

        list.RemoveAt(1);
        bounded.Add(new Rec("k3"), true);
        bounded.Add(new Rec("k4"), true);
        bounded.Add(new Rec("k5"), true);
        Assert.Equal(new[] { "o2", "o3", "o4", "k4", "k5" }, Texts(list));
    }

    [Fact]
    public void Matches_a_naive_model_whatever_the_order_and_what_others_do()
    {
        var random = new Random(1234);
        for (var run = 0; run < 200; run++)
        {
            var maxRecords = random.Next(1, 6);
            var maxKept = random.Next(1, 6);
            var list = new List<Rec>();
            var bounded = new BoundedRecordList<Rec>(list, maxRecords, maxKept);
            // The model: the same list, trimmed by scanning from the head every time.
            var model = new List<(Rec Record, bool Kept)>();
            for (var step = 0; step < 60; step++)
            {
                var rec = new Rec($"{run}/{step}");
                var op = random.Next(20);
                if (op == 0 && list.Count > 0)
                {
                    var at = random.Next(list.Count);
                    list.RemoveAt(at);
                    model.RemoveAt(at);
                }
                else if (op == 1)
                {
                    list.Clear();
                    model.Clear();
                }
                else if (op == 2)
                {
                    list.Add(rec);
                    model.Add((rec, false));
                }
                else
                {
                    var keep = random.Next(3) == 0;
                    bounded.Add(rec, keep);
                    while (model.Count(m => m.Kept == keep) >= (keep ? maxKept : maxRecords))
                        model.RemoveAt(model.FindIndex(m => m.Kept == keep));
                    model.Add((rec, keep));
                }
                Assert.Equal(Texts(model.Select(m => m.Record)), Texts(list));
            }
        }
    }

    [Fact]
    public async Task Concurrent_writers_and_a_draining_reader_stay_within_bounds_and_lose_no_security_record()
    {
        var list = new SynchronizedList<Rec>();
        var bounded = new BoundedRecordList<Rec>(list, maxRecords: 200, maxKept: 1000);
        var kept = Enumerable.Range(0, 500).Select(i => new Rec($"k{i}")).ToArray();
        var read = new List<Rec>();
        var maxSeen = 0;
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                maxSeen = Math.Max(maxSeen, list.Count);
                if (Random.Shared.Next(50) == 0) read.AddRange(list.ReadAll());
                Thread.Yield();
            }
        });
        Parallel.For(0, 5, t =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                bounded.Add(new Rec($"o{t}/{i}"), false);
                if (t == 0 && i % 40 == 0) bounded.Add(kept[i / 40], true);
            }
        });
        stop.Cancel();
        await reader;
        read.AddRange(list.ReadAll());

        // A writer may add outside the trimming lock, so the bound holds up to one record per concurrent writer.
        Assert.InRange(maxSeen, 0, 200 + 1000 + 5);
        var seen = read.Where(r => r.Text.StartsWith('k')).ToList();
        Assert.Equal(kept.Length, seen.Count);
        Assert.Equal(kept.Length, seen.Distinct().Count());
    }
}
