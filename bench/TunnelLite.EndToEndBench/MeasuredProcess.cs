using System.Globalization;

namespace TunnelLite.Bench;

/// <summary>A process on the path of a case (a TunnelLite end, a HAProxy hop) whose CPU time and memory the bench reads.</summary>
internal interface IMeasuredProcess
{
    int Pid { get; }

    /// <summary>User plus system CPU seconds used so far.</summary>
    double CpuSeconds() => ProcStat.CpuSeconds(Pid);

    /// <summary>Resident set size in bytes.</summary>
    long RssBytes() => ProcStat.RssBytes(Pid);

    /// <summary>Before a memory sample: a process with a garbage collector collects (fully, giving memory back), so that
    /// garbage not yet collected is not taken for memory the connections hold. Nothing for the others.</summary>
    Task SettleAsync() => Task.CompletedTask;
}

/// <summary>CPU time and RSS of a process, from /proc.</summary>
internal static class ProcStat
{
    private const double ClockTicksPerSecond = 100; // USER_HZ, 100 on every Linux ABI .NET runs on

    /// <summary>User plus system CPU seconds (/proc/PID/stat, fields 14 and 15).</summary>
    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)) / ClockTicksPerSecond;
    }

    /// <summary>Resident set size in bytes (/proc/PID/status, VmRSS).</summary>
    public static long RssBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException("no VmRSS");
    }

    /// <summary>Descriptors the process has open now: the entries of /proc/PID/fd.</summary>
    public static int OpenDescriptors(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    /// <summary>The soft RLIMIT_NOFILE of a process (/proc/PID/limits, "Max open files"); long.MaxValue when unlimited.</summary>
    public static long DescriptorLimit(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/limits"))
            if (line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                var soft = line["Max open files".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                return soft == "unlimited" ? long.MaxValue : long.Parse(soft, CultureInfo.InvariantCulture);
            }
        throw new InvalidOperationException("no Max open files");
    }

    /// <summary><paramref name="pid"/> and every process below it (children, their children...), from the parent field of
    /// /proc/*/stat; processes that end meanwhile are skipped.</summary>
    public static List<int> Tree(int pid)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var p)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                // Field 4, after the name in parentheses (which may hold spaces and parentheses itself).
                parents[p] = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
            }
            catch (IOException) { }
        }
        var tree = new List<int> { pid };
        for (var i = 0; i < tree.Count; i++)
            tree.AddRange(parents.Where(kv => kv.Value == tree[i]).Select(kv => kv.Key));
        return tree;
    }

    /// <summary>Sums <paramref name="read"/> over <paramref name="pids"/>, skipping processes that ended in between.</summary>
    public static T Sum<T>(IEnumerable<int> pids, Func<int, T> read) where T : System.Numerics.INumber<T>
    {
        var total = T.Zero;
        foreach (var p in pids)
        {
            try { total += read(p); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return total;
    }
}
