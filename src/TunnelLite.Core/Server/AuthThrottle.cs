using System.Collections.Concurrent;

namespace TunnelLite.Server;

/// <summary>Slows down token guessing where proofs are checked. Each check runs under its source's lock, so parallel
/// attempts from one source are counted one after another: after the second failure in a row the source must wait, and
/// attempts during the wait are refused before any proof is checked; the wait doubles with each failure up to the maximum.
/// Failures are kept per source (<see cref="SourcePrefix"/>: an IPv4 address or an IPv6 /64) and, inside it, per account
/// the hello named ("*" for none, or for a name that is no account: a client's host name); a success clears only the
/// named account's own failures, so a tenant that alternates
/// its own logins with guesses at another account gains nothing. A named account also has its own failures, from any
/// source, against guessing spread over many addresses. Tables are bounded: when full, entries whose wait has passed are
/// dropped, and if none has, a new source is not tracked (the handshake caps still bound what it can do).</summary>
internal sealed class AuthThrottle
{
    private const int MaxTracked = 10_000;
    private const int MaxAccountsPerSource = 8;
    private const string Unnamed = "*";
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;
    private readonly Func<long> _now;
    private readonly ConcurrentDictionary<SourcePrefix, Entry> _sources = new();
    private readonly ConcurrentDictionary<string, Entry> _accounts = new(StringComparer.Ordinal);
    private readonly object[] _stripes = Enumerable.Range(0, 64).Select(_ => new object()).ToArray();
    private long _throttled, _failed;

    public AuthThrottle(TimeSpan baseDelay, TimeSpan maxDelay, Func<long>? nowMs = null)
    {
        _baseDelay = baseDelay;
        _maxDelay = maxDelay;
        _now = nowMs ?? (() => Environment.TickCount64);
    }

    /// <summary>The outcome of an attempt.</summary>
    public enum Verdict
    {
        /// <summary>Refused without checking the proof: the source or the account must still wait.</summary>
        Throttled,
        /// <summary>The proof was checked and is wrong.</summary>
        Failed,
        /// <summary>The proof was checked and is right.</summary>
        Succeeded,
    }

    // Guarded by its source's stripe lock (source entries) or by itself (account entries).
    private sealed class Entry
    {
        public readonly Dictionary<string, int> Failures = new(StringComparer.Ordinal);
        public long LastFailureMs;
        public long BlockedUntilMs;
        public int Total => Failures.Values.Sum();
    }

    /// <summary>Sources tracked now (for tests and diagnostics).</summary>
    public int Count => _sources.Count;

    /// <summary>Accounts tracked now, with failures of their own (for tests and diagnostics).</summary>
    public int AccountCount => _accounts.Count;

    /// <summary>Attempts refused while throttled, since start.</summary>
    public long Throttled => Interlocked.Read(ref _throttled);

    /// <summary>Proofs checked and found wrong, since start.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Counts an attempt refused before its proof arrived (the source was already waiting at its hello).</summary>
    public void NoteThrottled() => Interlocked.Increment(ref _throttled);

    /// <summary>How long <paramref name="source"/> (or the named <paramref name="account"/>) must still wait; zero when it may try now.</summary>
    public TimeSpan RemainingWait(SourcePrefix source, string? account)
    {
        if (_baseDelay <= TimeSpan.Zero) return TimeSpan.Zero;
        var now = _now();
        var until = 0L;
        if (_sources.TryGetValue(source, out var s)) lock (Stripe(source)) until = s.BlockedUntilMs;
        if (account is not null && _accounts.TryGetValue(account, out var a)) lock (a) until = Math.Max(until, a.BlockedUntilMs);
        return until > now ? TimeSpan.FromMilliseconds(until - now) : TimeSpan.Zero;
    }

    /// <summary>Checks a proof with <paramref name="verify"/> unless the source or account must wait, and records the
    /// outcome; returns it with the wait now imposed (for Throttled and Failed).</summary>
    /// <param name="source">Where the attempt comes from.</param>
    /// <param name="account">The account the hello named, if it names one the server knows; null otherwise.</param>
    /// <param name="verify">Checks the proof; runs under the source's lock, so keep it to the HMAC comparisons.</param>
    public (Verdict Verdict, TimeSpan Wait) Attempt(SourcePrefix source, string? account, Func<bool> verify)
    {
        if (_baseDelay <= TimeSpan.Zero)
        {
            // No throttle, but the failures still count: LoginsFailed means the same with the throttle off.
            if (verify()) return (Verdict.Succeeded, TimeSpan.Zero);
            Interlocked.Increment(ref _failed);
            return (Verdict.Failed, TimeSpan.Zero);
        }
        lock (Stripe(source))
        {
            var wait = RemainingWait(source, account);
            if (wait > TimeSpan.Zero)
            {
                Interlocked.Increment(ref _throttled);
                return (Verdict.Throttled, wait);
            }
            if (verify())
            {
                Succeeded(source, account);
                return (Verdict.Succeeded, TimeSpan.Zero);
            }
            Interlocked.Increment(ref _failed);
            return (Verdict.Failed, RecordFailure(source, account));
        }
    }

    private TimeSpan RecordFailure(SourcePrefix source, string? account)
    {
        var now = _now();
        var until = 0L;
        if (Track(_sources, source) is { } s)
            until = Fail(s, account ?? Unnamed, now);
        if (account is not null && Track(_accounts, account) is { } a)
            lock (a) until = Math.Max(until, Fail(a, account, now));
        return TimeSpan.FromMilliseconds(Math.Max(0, until - now));
    }

    private long Fail(Entry e, string key, long now)
    {
        // Failures long past are forgiven: an address that erred once a day does not climb to the maximum.
        if (now - e.LastFailureMs > _maxDelay.TotalMilliseconds + Math.Max(0, e.BlockedUntilMs - e.LastFailureMs)) e.Failures.Clear();
        if (!e.Failures.ContainsKey(key) && e.Failures.Count >= MaxAccountsPerSource) key = Unnamed;
        e.Failures[key] = Math.Min(e.Failures.GetValueOrDefault(key) + 1, 30);
        e.LastFailureMs = now;
        e.BlockedUntilMs = now + Delay(e.Total);
        return e.BlockedUntilMs;
    }

    private void Succeeded(SourcePrefix source, string? account)
    {
        // Only what the hello named is cleared: an unnamed success (the shared token, or an account that did not say so)
        // clears nothing, or a tenant could wipe the record of its unnamed guesses with its own logins.
        if (account is null) return;
        if (_sources.TryGetValue(source, out var s))
        {
            s.Failures.Remove(account);
            if (s.Failures.Count == 0) _sources.TryRemove(new KeyValuePair<SourcePrefix, Entry>(source, s));
            else s.BlockedUntilMs = Math.Min(s.BlockedUntilMs, s.LastFailureMs + Delay(s.Total));
        }
        _accounts.TryRemove(account, out _);
    }

    /// <summary>The wait after the n-th failure in a row: none after the first (a mistyped token is fixed and retried at
    /// once), then the base delay, doubling up to the maximum.</summary>
    private long Delay(int failures) =>
        failures <= 1 ? 0 : (long)Math.Min(_baseDelay.TotalMilliseconds * Math.Pow(2, failures - 2), _maxDelay.TotalMilliseconds);

    private Entry? Track<TKey>(ConcurrentDictionary<TKey, Entry> table, TKey key) where TKey : notnull
    {
        if (table.TryGetValue(key, out var e)) return e;
        if (table.Count >= MaxTracked) Prune(table);
        if (table.Count >= MaxTracked) return null;
        return table.GetOrAdd(key, _ => new Entry());
    }

    private void Prune<TKey>(ConcurrentDictionary<TKey, Entry> table) where TKey : notnull
    {
        var now = _now();
        foreach (var kv in table)
            if (kv.Value.BlockedUntilMs <= now) table.TryRemove(kv);
    }

    private object Stripe(SourcePrefix source) => _stripes[(int)((uint)source.GetHashCode() % (uint)_stripes.Length)];
}
