using Microsoft.Extensions.Logging;

namespace TunnelLite.Admin;

/// <summary>The last few hundred log events of a server or client (information and above), for the dashboard and
/// /api/v1/events. Bounded: a flood of events only ever replaces older ones. What goes in was already written for the
/// log, with every name a peer chose escaped (PeerText), and never holds a secret.</summary>
public sealed class RecentEvents
{
    /// <summary>Events kept.</summary>
    public const int Capacity = 200;
    private readonly AdminEvent[] _ring = new AdminEvent[Capacity];
    private long _written;

    /// <summary>Adds an event, dropping the oldest when full.</summary>
    public void Add(LogLevel level, string message)
    {
        // Cap the text too: a log line is bounded by what it formats, but this is memory a peer can make us keep.
        if (message.Length > 500) message = message[..500] + "…";
        lock (_ring)
        {
            _ring[_written % Capacity] = new AdminEvent(DateTimeOffset.UtcNow, level.ToString(), message);
            _written++;
        }
    }

    /// <summary>Events written since start, including the ones dropped.</summary>
    public long Written { get { lock (_ring) return _written; } }

    /// <summary>The events kept, oldest first.</summary>
    public IReadOnlyList<AdminEvent> Snapshot()
    {
        lock (_ring)
        {
            var count = (int)Math.Min(_written, Capacity);
            var list = new List<AdminEvent>(count);
            for (var i = _written - count; i < _written; i++) list.Add(_ring[i % Capacity]);
            return list;
        }
    }

    /// <summary>A logger that writes to <paramref name="inner"/> and keeps Information and above here too.</summary>
    internal ILogger Capture(ILogger inner) => new CapturingLogger(inner, this);

    private sealed class CapturingLogger(ILogger inner, RecentEvents events) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        // Always enabled from Information up, so that the dashboard has events even when the host logs nothing.
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information || inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Information && logLevel != LogLevel.None) events.Add(logLevel, formatter(state, null));
            if (inner.IsEnabled(logLevel)) inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}

/// <summary>One event: when, how serious, what.</summary>
/// <param name="Time">When it happened (UTC).</param>
/// <param name="Level">Information, Warning, Error or Critical.</param>
/// <param name="Message">What happened, as logged.</param>
public sealed record AdminEvent(DateTimeOffset Time, string Level, string Message);
