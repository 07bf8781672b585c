using System.Runtime.InteropServices;

namespace TunnelLite.Forwarding;

/// <summary>Keeps the process clear of its descriptor limit (RLIMIT_NOFILE; .NET raises the soft limit to the hard one at
/// start). Running out is worse than refusing: accept() then fails and leaves users hanging in the backlog, logins fail,
/// and the runtime itself may fail to start threads. So the data plane (user connections, their data connections, splice
/// pipes) stops at the limit minus a reserve that only the control port and logins may use, and within the data plane one
/// tunnel may never take more than the others leave free, so idle connections piled on one tunnel cannot starve the rest.
/// <para>The count is the process's real one (/proc/self/fd), read at most once a second while far from the limit and
/// every few milliseconds near it, plus the descriptors the engine opened since the last reading (closes are ignored until
/// the next reading, so the estimate errs high). A reading takes time in proportion to the descriptors open (about 1 ms per
/// 1,000), so after the first it is never taken by the caller, which may be an event loop accepting users: a stale estimate
/// starts one reading in the background and is used meanwhile, and near the limit readings are spaced by a multiple of
/// what the last one cost. Only a refusal is checked against a reading taken at once (see FreshEstimate).</para></summary>
internal sealed class DescriptorBudget
{
    // Near the limit the count is read again after this long; far from it, after a second.
    private const long NearRefreshMs = 10;
    private const long FarRefreshMs = 1000;
    private const int ControlMargin = 32;     // kept even from the control port: the runtime needs a few descriptors too
    private const int PipeHeadroom = 256;     // pipes are an optimisation; below this much room, copy instead
    private const int NearMargin = 2048;      // "near the limit": fewer descriptors than this left
    // Near the limit, a reading follows the last one after at least this many times what it cost: counting then takes at
    // most about an eighth of one core, however busy the process.
    private const int CostFactor = 8;
    private const long Never = long.MinValue / 2;

    private readonly Func<long?> _countOpen;
    private readonly Func<long> _nowMs;
    private readonly Action<Action> _refreshOn;
    private readonly object _refresh = new();
    private long _sampled;
    private long _sampledAtMs = Never;
    private long _openedSince;
    private long _lastCostMs;
    private int _refreshing; // 1 while a background reading is queued or running

    /// <summary>The process's budget: Linux limits and counts; elsewhere unlimited.</summary>
    public static DescriptorBudget Process { get; } = new(ReadLimit(), CountOpenDescriptors);

    /// <param name="limit">The descriptor limit, or <see cref="long.MaxValue"/> for none.</param>
    /// <param name="countOpen">Reads the descriptors open now; null when it cannot.</param>
    /// <param name="nowMs">The clock (Environment.TickCount64 by default).</param>
    /// <param name="refreshOn">Runs a reading in the background (the thread pool by default).</param>
    public DescriptorBudget(long limit, Func<long?> countOpen, Func<long>? nowMs = null, Action<Action>? refreshOn = null)
    {
        Limit = limit;
        _countOpen = countOpen;
        _nowMs = nowMs ?? (() => Environment.TickCount64);
        _refreshOn = refreshOn ?? (static work => ThreadPool.UnsafeQueueUserWorkItem(static w => w(), work, preferLocal: false));
    }

    /// <summary>The descriptor limit; <see cref="long.MaxValue"/> when unknown or unlimited.</summary>
    public long Limit { get; }

    /// <summary>True when there is a limit to keep clear of.</summary>
    public bool IsBounded => Limit != long.MaxValue;

    /// <summary>Descriptors open now, as far as the budget knows (errs high). Only the first call reads the count itself;
    /// later ones that find it stale start a reading in the background and answer from what is known.</summary>
    public long Estimate()
    {
        if (!IsBounded) return 0;
        var now = _nowMs();
        var sampledAt = Volatile.Read(ref _sampledAtMs);
        if (sampledAt == Never) return Refresh(now);
        var est = Known;
        var due = Limit - est < NearMargin ? NearSpacingMs : FarRefreshMs;
        if (now - sampledAt >= due && Interlocked.CompareExchange(ref _refreshing, 1, 0) == 0)
        {
            _refreshOn(() =>
            {
                try { Refresh(_nowMs()); }
                finally { Volatile.Write(ref _refreshing, 0); }
            });
            est = Known; // news, if the reading ran already
        }
        return est;
    }

    /// <summary>Tells the budget that the engine opened <paramref name="count"/> descriptors.</summary>
    public void Opened(int count = 1)
    {
        if (IsBounded) Interlocked.Add(ref _openedSince, count);
    }

    /// <summary>Whether the control port may keep one more connection (it may use the reserve).</summary>
    public bool MayOpenControl() => HasRoom(kept: ControlMargin, needed: 1);

    /// <summary>Whether a tunnel holding <paramref name="tunnelHeld"/> descriptors may open <paramref name="cost"/> more:
    /// the data plane stays below the limit minus <paramref name="reserve"/>, and, when the tunnel shares its server with
    /// others (<paramref name="shared"/>), what is left free afterwards is still at least what the tunnel holds (so one
    /// tunnel gets at most half of what the others leave). A tunnel alone on its server may use all of the data plane's
    /// room: there is nobody to starve, and an operator who raised maxConnectionsPerTunnel for it means it.</summary>
    public bool MayOpenForTunnel(long tunnelHeld, int cost, int reserve, bool shared = true) =>
        HasRoom(kept: reserve, needed: shared ? tunnelHeld + 2L * cost : cost);

    /// <summary>Whether a splice pipe (two descriptors) may be made; else the pump copies.</summary>
    public bool MayOpenPipe(int reserve) => HasRoom(kept: reserve, needed: PipeHeadroom);

    /// <summary>Whether <paramref name="needed"/> descriptors are free with <paramref name="kept"/> kept back from the limit,
    /// by the estimate, or else by a fresh reading (<see cref="FreshEstimate"/>).</summary>
    private bool HasRoom(long kept, long needed) =>
        !IsBounded || Limit - kept - Estimate() >= needed || Limit - kept - FreshEstimate() >= needed;

    // What is known without a reading: the last one plus the opens told since.
    private long Known => Volatile.Read(ref _sampled) + Volatile.Read(ref _openedSince);

    // How soon, near the limit, a reading may follow the last one: a few milliseconds, or 8x what the last one cost.
    private long NearSpacingMs => Math.Max(NearRefreshMs, CostFactor * Volatile.Read(ref _lastCostMs));

    /// <summary>Before a refusal: the estimate errs high by every descriptor opened since the last reading, and a reading in
    /// the background can lag (a busy thread pool), so a "no" is checked against a reading taken now, unless one was taken
    /// within the spacing near the limit (at most an eighth of the time goes to counting however often users are
    /// refused).</summary>
    private long FreshEstimate()
    {
        var now = _nowMs();
        return now - Volatile.Read(ref _sampledAtMs) >= NearSpacingMs ? Refresh(now) : Known;
    }

    private long Refresh(long now)
    {
        lock (_refresh)
        {
            if (now - _sampledAtMs < NearRefreshMs) return _sampled + Volatile.Read(ref _openedSince);
            // Opens that race with the count are kept in _openedSince and may be counted twice: the estimate errs high.
            var before = Volatile.Read(ref _openedSince);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var counted = _countOpen();
            Volatile.Write(ref _lastCostMs, (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
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

    /// <summary>Descriptors the process has open now (the entries of /proc/self/fd, less the one this count opens); null
    /// where that cannot be read (not Linux). Read with getdents64 into a stack buffer: about ten times faster than the
    /// runtime's directory enumeration, which makes a string of each entry. Also process_open_fds of /metrics.</summary>
    internal static unsafe long? CountOpenDescriptors()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            var dir = LinuxNative.Open("/proc/self/fd", LinuxNative.O_RDONLY | LinuxNative.O_CLOEXEC);
            if (dir < 0) return null;
            try
            {
                const int size = 16 * 1024;
                var buffer = stackalloc byte[size];
                long entries = 0;
                while (true)
                {
                    var n = LinuxNative.GetDents64(dir, buffer, size);
                    if (n < 0)
                    {
                        if (Marshal.GetLastPInvokeError() == LinuxNative.EINTR) continue;
                        return null;
                    }
                    if (n == 0) break;
                    // struct linux_dirent64: d_reclen (16 bits) at offset 16, d_name at 19; "." and ".." are no descriptors.
                    for (nint at = 0; at < n; at += *(ushort*)(buffer + at + 16))
                        if (buffer[at + 19] != (byte)'.') entries++;
                }
                return entries - 1; // this count's own descriptor
            }
            finally
            {
                LinuxNative.Close(dir);
            }
        }
        catch (EntryPointNotFoundException)
        {
            // A libc older than getdents64's wrapper (glibc 2.30): the runtime's enumeration, slower but the same count.
            try
            {
                long n = 0;
                foreach (var _ in Directory.EnumerateFileSystemEntries("/proc/self/fd")) n++;
                return n - 1;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
        catch (DllNotFoundException)
        {
            return null;
        }
    }
}
