namespace TunnelLite.Admin;

/// <summary>A bounded in-memory history to draw the dashboard's charts from: each live tunnel's last 15 minutes and the
/// process's totals over 24 hours, one point every 10 seconds. A point is 24 bytes, so 1,000 tunnels take about 2.2 MB
/// and the totals 0.2 MB; tunnels beyond <see cref="MaxTunnels"/> are not recorded, and a tunnel that is gone is dropped
/// at the next sample.</summary>
public sealed class StatsHistory
{
    /// <summary>Time between points.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);
    /// <summary>Points kept per tunnel: 15 minutes.</summary>
    public const int TunnelPoints = 90;
    /// <summary>Points kept for the totals: 24 hours.</summary>
    public const int TotalPoints = 8640;
    /// <summary>Tunnels recorded at most.</summary>
    public const int MaxTunnels = 1500;

    private readonly Dictionary<string, Ring> _tunnels = new(StringComparer.Ordinal);
    private readonly Ring _totals = new(TotalPoints);
    private readonly long _epoch = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Creates an empty history sampled every <paramref name="interval"/> (10 s unless a test says otherwise).</summary>
    public StatsHistory(TimeSpan? interval = null) => Interval = interval ?? DefaultInterval;

    /// <summary>Time between points.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Tunnels with a history now.</summary>
    public int TunnelCount { get { lock (_tunnels) return _tunnels.Count; } }

    /// <summary>Memory the points take, in bytes (the arrays; dictionary overhead aside).</summary>
    public long EstimatedBytes { get { lock (_tunnels) return (_tunnels.Count * (long)TunnelPoints + TotalPoints) * Point.Size; } }

    /// <summary>Adds one point for the totals and for each tunnel; tunnels not in <paramref name="tunnels"/> are dropped.</summary>
    public void Record(DateTimeOffset now, TunnelStats totals, IReadOnlyList<TunnelStats> tunnels)
    {
        var t = (int)(now.ToUnixTimeSeconds() - _epoch);
        lock (_tunnels)
        {
            _totals.Add(new Point(t, totals.BytesIn, totals.BytesOut, (int)Math.Min(int.MaxValue, totals.ActiveConnections)));
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var s in tunnels)
            {
                seen.Add(s.Name);
                if (!_tunnels.TryGetValue(s.Name, out var ring))
                {
                    if (_tunnels.Count >= MaxTunnels) continue;
                    _tunnels[s.Name] = ring = new Ring(TunnelPoints);
                }
                ring.Add(new Point(t, s.BytesIn, s.BytesOut, (int)Math.Min(int.MaxValue, s.ActiveConnections)));
            }
            foreach (var gone in _tunnels.Keys.Where(k => !seen.Contains(k)).ToList()) _tunnels.Remove(gone);
        }
    }

    /// <summary>The series of one tunnel (null when it has none) or, for a null name, of the totals over the last
    /// <paramref name="minutes"/>, thinned to at most <paramref name="maxPoints"/> points.</summary>
    public HistorySeries? Series(string? tunnel, int minutes = 15, int maxPoints = 360)
    {
        Point[] points;
        lock (_tunnels)
        {
            if (tunnel is null) points = _totals.ToArray();
            else if (_tunnels.TryGetValue(tunnel, out var ring)) points = ring.ToArray();
            else return null;
        }
        if (points.Length > 0)
        {
            var from = points[^1].Seconds - minutes * 60;
            points = points.Where(p => p.Seconds >= from).ToArray();
        }
        var step = Math.Max(1, (points.Length + maxPoints - 1) / Math.Max(1, maxPoints));
        var list = new List<HistoryPoint>(points.Length / step + 1);
        Point? previous = null;
        for (var i = points.Length % step == 0 ? step - 1 : points.Length % step - 1; i < points.Length; i += step)
        {
            var p = points[i];
            double rin = 0, rout = 0;
            if (previous is { } q && p.Seconds > q.Seconds)
            {
                rin = Math.Max(0, p.BytesIn - q.BytesIn) / (double)(p.Seconds - q.Seconds);
                rout = Math.Max(0, p.BytesOut - q.BytesOut) / (double)(p.Seconds - q.Seconds);
            }
            list.Add(new HistoryPoint(DateTimeOffset.FromUnixTimeSeconds(_epoch + p.Seconds), p.BytesIn, p.BytesOut, Math.Round(rin, 1), Math.Round(rout, 1), p.Active));
            previous = p;
        }
        return new HistorySeries(tunnel, Interval.TotalSeconds * step, list);
    }

    private readonly record struct Point(int Seconds, long BytesIn, long BytesOut, int Active)
    {
        public const int Size = 24;
    }

    private sealed class Ring(int capacity)
    {
        private readonly Point[] _points = new Point[capacity];
        private int _count, _next;

        public void Add(Point p)
        {
            _points[_next] = p;
            _next = (_next + 1) % _points.Length;
            if (_count < _points.Length) _count++;
        }

        public Point[] ToArray()
        {
            var a = new Point[_count];
            for (var i = 0; i < _count; i++) a[i] = _points[(_next - _count + i + _points.Length) % _points.Length];
            return a;
        }
    }
}

/// <summary>One point of a history: the counters then, and the rates since the point before.</summary>
public sealed record HistoryPoint(DateTimeOffset Time, long BytesIn, long BytesOut, double BytesInPerSec, double BytesOutPerSec, int ActiveConnections);

/// <summary>A tunnel's (or, with no name, the totals') points, <see cref="IntervalSeconds"/> apart.</summary>
public sealed record HistorySeries(string? Tunnel, double IntervalSeconds, IReadOnlyList<HistoryPoint> Points);
