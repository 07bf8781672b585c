using System.Collections.Concurrent;
using System.Net;

namespace TunnelLite.Server;

/// <summary>Slows down token guessing: after a second failed authentication in a row, the source address may not try again
/// for a while, and the wait doubles with each further failure. A success clears the address. The table is bounded: when full, the
/// entries whose wait has passed are dropped, and if none has, the new address is not tracked (the handshake cap still
/// bounds what it can do).</summary>
internal sealed class AuthThrottle
{
    private const int MaxTracked = 10_000;
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;
    private readonly Func<long> _now;
    private readonly ConcurrentDictionary<IPAddress, Entry> _entries = new();

    public AuthThrottle(TimeSpan baseDelay, TimeSpan maxDelay, Func<long>? nowMs = null)
    {
        _baseDelay = baseDelay;
        _maxDelay = maxDelay;
        _now = nowMs ?? (() => Environment.TickCount64);
    }

    private sealed record Entry(int Failures, long BlockedUntilMs);

    /// <summary>Addresses tracked now (for tests and diagnostics).</summary>
    public int Count => _entries.Count;

    /// <summary>How long <paramref name="address"/> must still wait before it may authenticate; zero when it may now.</summary>
    public TimeSpan RemainingWait(IPAddress address)
    {
        if (_baseDelay <= TimeSpan.Zero || !_entries.TryGetValue(Normalize(address), out var e)) return TimeSpan.Zero;
        var left = e.BlockedUntilMs - _now();
        return left > 0 ? TimeSpan.FromMilliseconds(left) : TimeSpan.Zero;
    }

    /// <summary>Records a failure; returns the wait now imposed on the address.</summary>
    public TimeSpan Failed(IPAddress address)
    {
        if (_baseDelay <= TimeSpan.Zero) return TimeSpan.Zero;
        address = Normalize(address);
        if (_entries.Count >= MaxTracked && !_entries.ContainsKey(address)) Prune();
        if (_entries.Count >= MaxTracked && !_entries.ContainsKey(address)) return TimeSpan.Zero;
        var now = _now();
        var entry = _entries.AddOrUpdate(address,
            _ => new Entry(1, now + Delay(1)),
            (_, old) =>
            {
                // Failures long past are forgiven: an address that erred once a day does not climb to the maximum.
                var failures = now - old.BlockedUntilMs > _maxDelay.TotalMilliseconds ? 1 : Math.Min(old.Failures + 1, 30);
                return new Entry(failures, now + Delay(failures));
            });
        return TimeSpan.FromMilliseconds(Math.Max(0, entry.BlockedUntilMs - now));
    }

    /// <summary>The wait after the n-th failure in a row: none after the first (a mistyped token is fixed and retried at
    /// once), then the base delay, doubling up to the maximum.</summary>
    private long Delay(int failures) =>
        failures <= 1 ? 0 : (long)Math.Min(_baseDelay.TotalMilliseconds * Math.Pow(2, failures - 2), _maxDelay.TotalMilliseconds);

    /// <summary>Clears the address after a successful authentication.</summary>
    public void Succeeded(IPAddress address) => _entries.TryRemove(Normalize(address), out _);

    private void Prune()
    {
        var now = _now();
        foreach (var kv in _entries)
            if (kv.Value.BlockedUntilMs <= now) _entries.TryRemove(kv);
    }

    // An IPv4 client seen through a dual-stack socket is the same client as over IPv4.
    private static IPAddress Normalize(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;
}
