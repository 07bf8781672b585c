using System.Runtime.InteropServices;

namespace TunnelLite.Forwarding;

/// <summary>Keeps the process clear of its descriptor limit (RLIMIT_NOFILE; .NET raises the soft limit to the hard one at
/// start). Running out is worse than refusing: accept() then fails and leaves users hanging in the backlog, logins fail,
/// and the runtime itself may fail to start threads. So the data plane (user connections, their data connections, splice
/// pipes) stops at the limit minus a reserve that only the control port and logins may use, and within the data plane one
/// tunnel may never take more than the others leave free, so idle connections piled on one tunnel cannot starve the rest.
/// <para>The count is the process's real one (/proc/self/fd), read at most once a second while far from the limit and
/// every few milliseconds near it, plus the descriptors the engine opened since the last reading (closes are ignored until
/// the next reading, so the estimate errs high).</para></summary>
internal sealed class DescriptorBudget
{
    // Near the limit the count is read again after this long; far from it, after a second.
    private const long NearRefreshMs = 10;
    private const long FarRefreshMs = 1000;
    private const int ControlMargin = 32;     // kept even from the control port: the runtime needs a few descriptors too
    private const int PipeHeadroom = 256;     // pipes are an optimisation; below this much room, copy instead

    private readonly Func<long?> _countOpen;
    private readonly Func<long> _nowMs;
    private readonly object _refresh = new();
    private long _sampled;
    private long _sampledAtMs = long.MinValue / 2;
    private long _openedSince;

    /// <summary>The process's budget: Linux limits and counts; elsewhere unlimited.</summary>
    public static DescriptorBudget Process { get; } = new(ReadLimit(), CountOpenDescriptors);

    public DescriptorBudget(long limit, Func<long?> countOpen, Func<long>? nowMs = null)
    {
        Limit = limit;
        _countOpen = countOpen;
        _nowMs = nowMs ?? (() => Environment.TickCount64);
    }

    /// <summary>The descriptor limit; <see cref="long.MaxValue"/> when unknown or unlimited.</summary>
    public long Limit { get; }

    /// <summary>True when there is a limit to keep clear of.</summary>
    public bool IsBounded => Limit != long.MaxValue;

    /// <summary>Descriptors open now, as far as the budget knows (errs high).</summary>
    public long Estimate()
    {
        if (!IsBounded) return 0;
        var now = _nowMs();
        var est = Volatile.Read(ref _sampled) + Volatile.Read(ref _openedSince);
        var age = now - Volatile.Read(ref _sampledAtMs);
        if (age >= FarRefreshMs || (Limit - est < 2048 && age >= NearRefreshMs)) est = Refresh(now);
        return est;
    }

    /// <summary>Tells the budget that the engine opened <paramref name="count"/> descriptors.</summary>
    public void Opened(int count = 1)
    {
        if (IsBounded) Interlocked.Add(ref _openedSince, count);
    }

    /// <summary>Whether the control port may keep one more connection (it may use the reserve).</summary>
    public bool MayOpenControl() => !IsBounded || Estimate() + 1 <= Limit - ControlMargin;

    /// <summary>Whether a tunnel holding <paramref name="tunnelHeld"/> descriptors may open <paramref name="cost"/> more:
    /// the data plane stays below the limit minus <paramref name="reserve"/>, and, when the tunnel shares its server with
    /// others (<paramref name="shared"/>), what is left free afterwards is still at least what the tunnel holds (so one
    /// tunnel gets at most half of what the others leave). A tunnel alone on its server may use all of the data plane's
    /// room: there is nobody to starve, and an operator who raised maxConnectionsPerTunnel for it means it.</summary>
    public bool MayOpenForTunnel(long tunnelHeld, int cost, int reserve, bool shared = true)
    {
        if (!IsBounded) return true;
        var free = Limit - reserve - Estimate();
        return shared ? tunnelHeld + 2L * cost <= free : cost <= free;
    }

    /// <summary>Whether a splice pipe (two descriptors) may be made; else the pump copies.</summary>
    public bool MayOpenPipe(int reserve) => !IsBounded || Limit - reserve - Estimate() >= PipeHeadroom;

    private long Refresh(long now)
    {
        lock (_refresh)
        {
            if (now - _sampledAtMs < NearRefreshMs) return _sampled + Volatile.Read(ref _openedSince);
            // Opens that race with the count are kept in _openedSince and may be counted twice: the estimate errs high.
            var before = Volatile.Read(ref _openedSince);
            var counted = _countOpen();
            if (counted is null) return _sampled + before;
            Interlocked.Add(ref _openedSince, -before);
            Volatile.Write(ref _sampled, counted.Value);
            Volatile.Write(ref _sampledAtMs, now);
            return counted.Value + Volatile.Read(ref _openedSince);
        }
    }

    private static unsafe long ReadLimit()
    {
        if (!OperatingSystem.IsLinux()) return long.MaxValue;
        try
        {
            LinuxNative.RLimit r;
            if (LinuxNative.GetRLimit(LinuxNative.RLIMIT_NOFILE, &r) != 0) return long.MaxValue;
            return r.Current >= long.MaxValue ? long.MaxValue : (long)r.Current;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return long.MaxValue;
        }
    }

    /// <summary>Descriptors the process has open now (the entries of /proc/self/fd); null where that cannot be read
    /// (not Linux). Also process_open_fds of /metrics.</summary>
    internal static long? CountOpenDescriptors()
    {
        try
        {
            long n = 0;
            foreach (var _ in Directory.EnumerateFileSystemEntries("/proc/self/fd")) n++;
            return n;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
