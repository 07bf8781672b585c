using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace TunnelLite.Tests.Support;

/// <summary>Keeps every log line with its level and event id, for tests about what the engine logs and how.</summary>
public sealed class CapturingLog : ILogger
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    /// <summary>One logged line.</summary>
    public sealed record Entry(LogLevel Level, EventId EventId, string Message);

    public IReadOnlyList<Entry> Entries => _entries.ToArray();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue(new Entry(logLevel, eventId, formatter(state, exception)));
}
