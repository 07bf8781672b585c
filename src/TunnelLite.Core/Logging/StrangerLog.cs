using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using TunnelLite.Server;

namespace TunnelLite.Logging;

/// <summary>Logs the warnings strangers cause without letting them flood the log: per kind of event, the first few in a window
/// are logged one by one, the rest only counted per source, and when the window ends one line sums them up, naming the
/// source that caused the most ("10000 connections closed for garbage in the last 10 s: 9000 from 203.0.113.7 and 1000 from
/// 63 other addresses; the first 5 were logged one by one"). Anyone can connect to the control port as often as they like; without this, every connection
/// would be a line, and a sink that keeps a bounded number of lines would lose the ones that matter.
/// A window ends on the next <see cref="Report"/> after it, or on <see cref="Flush"/>, which the server calls from a timer so
/// that a summary is not held back by a quiet kind. Failed authentications and throttled logins carry
/// <see cref="LogEvents.Security"/>, the rest <see cref="LogEvents.Stranger"/>. Thread-safe; memory is bounded by the number
/// of kinds times the sources tracked per kind, whatever the peers do; a suppressed event allocates nothing.</summary>
internal sealed class StrangerLog
{
    /// <summary>Events per kind and window that are logged one by one.</summary>
    public const int DefaultBurst = 5;

    /// <summary>Sources counted apart per kind and window; more are lumped together as "other addresses".</summary>
    public const int DefaultMaxSources = 64;

    /// <summary>The window over which events are counted and summed up.</summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(10);

    private static readonly string[] Single =
    [
        "Closed {Remote} for not speaking the TunnelLite protocol",
        "Closed {Remote} for not completing its handshake in time",
        "Closed {Remote} before its handshake to make room for others",
        "Refused a login from {Remote} while it is throttled after failed authentications",
        "Authentication from {Remote} failed",
        "Refused a data connection from {Remote}",
        "Reset a connection from {Remote} at the descriptor budget",
        "Refused a session from {Remote} at the session limit",
        "Refused an admin request from {Remote}",
        "Admin login from {Remote} failed",
        "Reset a user from {Remote} by the source lists",
    ];

    private static readonly string[] Plural =
    [
        "connections closed for garbage",
        "connections closed for no handshake in time",
        "connections closed before their handshake to make room for others",
        "logins refused while throttled",
        "failed authentications",
        "data connections refused",
        "connections reset at the descriptor budget",
        "sessions refused at the session limit",
        "admin requests refused",
        "failed admin logins",
        "users reset by the source lists",
    ];

    // Message templates per kind, built once: a structured sink sees one template per kind and shape.
    private static readonly string[] SingleWithDetail = Single.Select(s => s + ": {Detail}").ToArray();
    private static readonly string[] SingleWithoutDetail = Single.Select(s => s + ".").ToArray();
    private static readonly string[] SummaryOneSource = Plural.Select(p =>
        "{Count} " + p + " in the last {Seconds} s, all from {Source}; the first {Shown} were logged one by one.").ToArray();
    private static readonly string[] SummaryExact = Plural.Select(p =>
        "{Count} " + p + " in the last {Seconds} s: {TopCount} from {Source} and {RestCount} from {Others}; the first {Shown} were logged one by one.").ToArray();
    private static readonly string[] SummaryOverflowed = Plural.Select(p =>
        "{Count} " + p + " in the last {Seconds} s: at least {TopCount} from {Source} and the rest from at least {Others}; the first {Shown} were logged one by one.").ToArray();

    private readonly ILogger _log;
    private readonly Func<long> _now;
    private readonly long _windowMs;
    private readonly int _burst;
    private readonly Window[] _windows;

    /// <summary>Creates the log for <paramref name="log"/>.</summary>
    /// <param name="log">Where the lines go.</param>
    /// <param name="nowMs">A monotonic clock in milliseconds (tests pass their own); Environment.TickCount64 by default.</param>
    /// <param name="window">How long events are counted before they are summed up; <see cref="DefaultWindow"/> by default.</param>
    /// <param name="burst">Events per kind and window logged one by one.</param>
    /// <param name="maxSources">Sources counted apart per kind and window.</param>
    /// <exception cref="ArgumentOutOfRangeException">The window is not positive, the burst below 1 or the sources below 1.</exception>
    public StrangerLog(ILogger log, Func<long>? nowMs = null, TimeSpan? window = null, int burst = DefaultBurst, int maxSources = DefaultMaxSources)
    {
        ArgumentNullException.ThrowIfNull(log);
        var length = window ?? DefaultWindow;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(length, TimeSpan.Zero, nameof(window));
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSources, 1);
        _log = log;
        _now = nowMs ?? (() => Environment.TickCount64);
        _windowMs = Math.Max(1, (long)length.TotalMilliseconds);
        _burst = burst;
        _windows = new Window[Single.Length];
        for (var i = 0; i < _windows.Length; i++) _windows[i] = new Window(maxSources);
    }

    /// <summary>Reports one event of <paramref name="kind"/> from <paramref name="remote"/>: logged at once if it is among the
    /// first of its kind in the window, else counted for the summary.</summary>
    /// <param name="kind">What happened.</param>
    /// <param name="remote">Who did it (the remote endpoint of the connection); events are counted per IPv4 address or IPv6 /64.</param>
    /// <param name="detail">What to add to a line logged one by one, such as the protocol error; it may hold text the peer
    /// sent, and is escaped here with <see cref="PeerText"/>, so pass it raw.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a <see cref="StrangerEvent"/>.</exception>
    public void Report(StrangerEvent kind, EndPoint? remote, string? detail = null)
    {
        var index = (int)kind;
        if ((uint)index >= (uint)_windows.Length) throw new ArgumentOutOfRangeException(nameof(kind));
        var window = _windows[index];
        var source = SourcePrefix.Of(remote);
        var now = _now();
        Summary? ended;
        bool single;
        lock (window)
        {
            ended = window.End(now, _burst, force: false);
            single = window.Count(source, now, _windowMs) <= _burst;
        }
        if (ended is { } summary) Write(kind, summary);
        if (single)
        {
            var eventId = EventIdOf(kind);
            if (detail is null) _log.LogWarning(eventId, SingleWithoutDetail[index], EndpointText(remote));
            else _log.LogWarning(eventId, SingleWithDetail[index], EndpointText(remote), PeerText.Escape(detail));
        }
        FlushAt(now, force: false);
    }

    /// <summary>Sums up every kind whose window has ended; with <paramref name="force"/>, every kind with events not yet
    /// summed up, window ended or not (for a server that stops). Call it about once a second.</summary>
    public void Flush(bool force = false) => FlushAt(_now(), force);

    /// <summary>Sources counted apart for <paramref name="kind"/> in its current window (for tests and diagnostics).</summary>
    internal int TrackedSources(StrangerEvent kind)
    {
        var window = _windows[(int)kind];
        lock (window) return window.Tally.Tracked;
    }

    private void FlushAt(long now, bool force)
    {
        for (var i = 0; i < _windows.Length; i++)
        {
            var window = _windows[i];
            if (!force && now < Volatile.Read(ref window.DueMs)) continue;
            Summary? ended;
            lock (window) ended = window.End(now, _burst, force);
            if (ended is { } summary) Write((StrangerEvent)i, summary);
        }
    }

    // Arguments go in the order their placeholders appear in the template: that is how they are matched.
    private void Write(StrangerEvent kind, Summary s)
    {
        var index = (int)kind;
        var eventId = EventIdOf(kind);
        var seconds = Math.Max(1, (s.ElapsedMs + 500) / 1000);
        if (s.Overflowed)
            _log.LogWarning(eventId, SummaryOverflowed[index], s.Count, seconds, s.TopCount, s.Top.ToString(), OtherAddresses(s.Tracked), s.Shown);
        else if (s.Tracked <= 1)
            _log.LogWarning(eventId, SummaryOneSource[index], s.Count, seconds, s.Top.ToString(), s.Shown);
        else
            _log.LogWarning(eventId, SummaryExact[index], s.Count, seconds, s.TopCount, s.Top.ToString(), s.Count - s.TopCount, OtherAddresses(s.Tracked - 1), s.Shown);
    }

    private static string OtherAddresses(int n) =>
        n == 1 ? "1 other address" : n.ToString(CultureInfo.InvariantCulture) + " other addresses";

    private static string EndpointText(EndPoint? remote) => remote?.ToString() ?? "an unknown address";

    private static EventId EventIdOf(StrangerEvent kind) =>
        kind is StrangerEvent.AuthenticationFailed or StrangerEvent.Throttled or StrangerEvent.AdminLoginFailed ? LogEvents.Security : LogEvents.Stranger;

    /// <summary>What a window that ended had to say: <see cref="Count"/> events, of which the first <see cref="Shown"/> were
    /// logged one by one; at least <see cref="TopCount"/> from <see cref="Top"/>; <see cref="Tracked"/> sources counted apart.</summary>
    private readonly record struct Summary(long Count, int Shown, long ElapsedMs, SourcePrefix Top, long TopCount, int Tracked, bool Overflowed);

    /// <summary>One kind's current window; guarded by locking the instance.</summary>
    private sealed class Window(int maxSources)
    {
        public readonly SourceTally Tally = new(maxSources);
        // When the window ends; long.MaxValue while no window is open. Read without the lock to skip quiet kinds cheaply.
        public long DueMs = long.MaxValue;
        private long _startMs;
        private long _events;

        /// <summary>Counts an event, opening a window if none is; returns its number in the window (1 for the first).</summary>
        public long Count(SourcePrefix source, long now, long windowMs)
        {
            if (_events == 0)
            {
                _startMs = now;
                Volatile.Write(ref DueMs, now + windowMs);
            }
            Tally.Add(source);
            return ++_events;
        }

        /// <summary>Closes the window if it is due (or open, with <paramref name="force"/>) and returns its summary when some of
        /// its events were not logged one by one.</summary>
        public Summary? End(long now, int burst, bool force)
        {
            if (_events == 0 || (!force && now < DueMs)) return null;
            Summary? summary = null;
            if (_events > burst)
            {
                var (top, topCount) = Tally.Top();
                summary = new Summary(_events, burst, now - _startMs, top, topCount, Tally.Tracked, Tally.Overflowed);
            }
            _events = 0;
            Tally.Clear();
            Volatile.Write(ref DueMs, long.MaxValue);
            return summary;
        }
    }
}
