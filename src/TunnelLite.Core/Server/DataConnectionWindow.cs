namespace TunnelLite.Server;

/// <summary>Replay protection for one session's data connections, bounded and self-expiring by construction: a counter is
/// accepted once, and only if it is ahead of the highest seen or within <see cref="Size"/> behind it (the IPsec
/// anti-replay window, RFC 4303 3.4.3). Nothing is issued ahead, so nothing can pile up that a missing connection would
/// hold forever.</summary>
internal sealed class DataConnectionWindow
{
    /// <summary>How far behind the highest counter a late connection may still arrive (the client opens at most its pool
    /// plus a margin at once, far fewer).</summary>
    public const int Size = 1024;
    private readonly ulong[] _seen = new ulong[Size / 64];
    private readonly object _gate = new();
    private long _highest;

    /// <summary>Why a counter was refused, for the log; null when it was accepted.</summary>
    public string? TryAccept(long counter)
    {
        if (counter <= 0) return "its counter is not positive";
        lock (_gate)
        {
            if (counter > _highest)
            {
                // Slide: forget the bits that fall out of the window.
                var shift = counter - _highest;
                if (shift >= Size) Array.Clear(_seen);
                else for (var c = _highest + 1; c <= counter; c++) Clear(c);
                _highest = counter;
                Set(counter);
                return null;
            }
            if (_highest - counter >= Size) return $"its counter is more than {Size} behind the newest";
            if (IsSet(counter)) return "its counter was used before (a replay)";
            Set(counter);
            return null;
        }
    }

    private static (int Word, ulong Bit) Slot(long counter) => ((int)((counter / 64) % (Size / 64)), 1UL << (int)(counter % 64));
    private void Set(long c) { var (w, b) = Slot(c); _seen[w] |= b; }
    private void Clear(long c) { var (w, b) = Slot(c); _seen[w] &= ~b; }
    private bool IsSet(long c) { var (w, b) = Slot(c); return (_seen[w] & b) != 0; }
}
