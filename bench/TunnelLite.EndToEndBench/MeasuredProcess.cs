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
}
