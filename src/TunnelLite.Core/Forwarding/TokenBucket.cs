using System.Diagnostics;

namespace TunnelLite.Forwarding;

/// <summary>One direction's bandwidth limit for all the connections of a tunnel: a token bucket that fills at the rate and
/// holds at most 100 ms of it, so that no burst exceeds 100 ms worth of bytes. A pump takes tokens before it reads (or
/// splices) and reads no more than it got; with none, it waits (a loop's timer, or an awaited delay: no spinning, no
/// thread) for <see cref="DelayMs"/>. Any thread. Its rate can change while connections use it (<see cref="SetRate"/>: a
/// reload of the server's configuration), so that a new limit applies to the bytes still to come.</summary>
internal sealed class TokenBucket
{
    /// <summary>The smallest grant worth a system call, unless the bucket holds less: a slow limit moves in small bursts, a
    /// fast one in at least this many bytes.</summary>
    public const int MinGrant = 16 * 1024;

    private readonly object _lock = new();
    // Set under the lock, by the constructor and SetRate.
    private double _capacity;
    private int _minGrant;
    private double _perTick; // tokens per Stopwatch tick
    private long _bytesPerSecond;
    private readonly Action<long, long>? _throttled;
    private double _tokens;
    private long _last;
    private long _refusedSince; // Stopwatch ticks of the first refusal since the last grant; 0 when none

    /// <summary>A full bucket for <paramref name="bytesPerSecond"/>; <paramref name="throttled"/> hears each interval
    /// (Stopwatch ticks, from and until) from a refusal to the next grant: the time takers waited for tokens.</summary>
    public TokenBucket(long bytesPerSecond, Action<long, long>? throttled = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerSecond, 1);
        _throttled = throttled;
        Rate(bytesPerSecond);
        _tokens = _capacity;
        _last = Stopwatch.GetTimestamp();
    }

    /// <summary>The rate.</summary>
    public long BytesPerSecond
    {
        get
        {
            lock (_lock) return _bytesPerSecond;
        }
    }

    /// <summary>Changes the rate from now on: the time since the last take fills at the old rate, and the bucket keeps at most
    /// 100 ms of the new one.</summary>
    public void SetRate(long bytesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerSecond, 1);
        lock (_lock)
        {
            Refill(Stopwatch.GetTimestamp());
            Rate(bytesPerSecond);
            _tokens = Math.Min(_tokens, _capacity);
        }
    }

    private void Rate(long bytesPerSecond)
    {
        _bytesPerSecond = bytesPerSecond;
        _capacity = Math.Max(1, bytesPerSecond / 10.0);
        _minGrant = (int)Math.Min(MinGrant, Math.Floor(_capacity));
        _perTick = bytesPerSecond / (double)Stopwatch.Frequency;
    }

    /// <summary>Up to <paramref name="wanted"/> bytes' worth of tokens, or 0 when fewer than a useful grant are there (then
    /// wait <see cref="DelayMs"/> and ask again).</summary>
    public int Take(int wanted)
    {
        if (wanted <= 0) return 0;
        var now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            Refill(now);
            if (_tokens >= Math.Min(wanted, _minGrant))
            {
                var grant = (int)Math.Min(wanted, Math.Floor(_tokens));
                _tokens -= grant;
                if (_refusedSince != 0)
                {
                    _throttled?.Invoke(_refusedSince, now);
                    _refusedSince = 0;
                }
                return grant;
            }
            if (_refusedSince == 0) _refusedSince = now;
            return 0;
        }
    }

    /// <summary>Gives back tokens taken but not used (a read that returned less than its grant).</summary>
    public void Return(int unused)
    {
        if (unused <= 0) return;
        lock (_lock) _tokens = Math.Min(_capacity, _tokens + unused);
    }

    /// <summary>Milliseconds until a useful grant is there (at least 1).</summary>
    public int DelayMs()
    {
        lock (_lock)
        {
            Refill(Stopwatch.GetTimestamp());
            var missing = _minGrant - _tokens;
            return missing <= 0 ? 1 : Math.Max(1, (int)Math.Ceiling(missing * 1000 / _bytesPerSecond));
        }
    }

    /// <summary>Waits (an awaited delay, no thread) until tokens are there, then takes up to <paramref name="wanted"/>.</summary>
    public async ValueTask<int> TakeAsync(int wanted, CancellationToken cancellationToken)
    {
        while (true)
        {
            var grant = Take(wanted);
            if (grant > 0) return grant;
            await Task.Delay(DelayMs(), cancellationToken).ConfigureAwait(false);
        }
    }

    private void Refill(long now)
    {
        if (now <= _last) return;
        _tokens = Math.Min(_capacity, _tokens + (now - _last) * _perTick);
        _last = now;
    }
}
