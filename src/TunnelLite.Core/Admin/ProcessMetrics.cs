using System.Diagnostics;
using TunnelLite.Forwarding;

namespace TunnelLite.Admin;

/// <summary>The readings behind the standard <c>process_*</c> metrics, named as client_golang's process collector names
/// them so that existing dashboards and alerts (for example on process_open_fds / process_max_fds) work unchanged.
/// A reading that this platform cannot give is null, and its metric is left out rather than written as 0.</summary>
/// <param name="CpuSeconds">User and system CPU time the process has used (process_cpu_seconds_total).</param>
/// <param name="StartTimeSeconds">When the process started, in seconds since the Unix epoch (process_start_time_seconds).</param>
/// <param name="ResidentMemoryBytes">Resident set size (process_resident_memory_bytes).</param>
/// <param name="VirtualMemoryBytes">Virtual memory size (process_virtual_memory_bytes).</param>
/// <param name="OpenFds">Descriptors open now (process_open_fds); Linux only.</param>
/// <param name="MaxFds">The descriptor limit, RLIMIT_NOFILE (process_max_fds); null where there is none.</param>
internal sealed record ProcessMetrics(
    double? CpuSeconds,
    double? StartTimeSeconds,
    long? ResidentMemoryBytes,
    long? VirtualMemoryBytes,
    long? OpenFds,
    long? MaxFds)
{
    /// <summary>Reads this process now. On Linux .NET's Process takes CPU time, memory and start time from
    /// /proc/self/stat, the same source client_golang uses; the descriptor figures come from what the descriptor
    /// budget already reads (/proc/self/fd and getrlimit), so that /metrics and the budget never disagree on how.</summary>
    public static ProcessMetrics Read()
    {
        double? cpu = null, start = null;
        long? resident = null, virtualBytes = null;
        try
        {
            using var self = Process.GetCurrentProcess();
            cpu = self.TotalProcessorTime.TotalSeconds;
            start = (self.StartTime.ToUniversalTime() - DateTime.UnixEpoch).TotalSeconds;
            resident = self.WorkingSet64;
            virtualBytes = self.VirtualMemorySize64;
        }
        catch (Exception e) when (e is PlatformNotSupportedException or NotSupportedException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Some platforms give only part of it: keep what was read before the failure.
        }
        var budget = DescriptorBudget.Process;
        return new ProcessMetrics(cpu, start, resident, virtualBytes, DescriptorBudget.CountOpenDescriptors(),
            budget.IsBounded ? budget.Limit : null);
    }
}
