using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace TunnelLite.Tests.Support;

/// <summary>Collects engine log lines so that a failing test can show what the engine saw.</summary>
public sealed class TestLog : ILoggerFactory, ILogger
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<string> _errors = new();

    /// <summary>Every line logged at Error or above: the engine logs there only what it did not expect.</summary>
    public IReadOnlyList<string> Errors => _errors.ToArray();

    /// <summary>The last lines logged (up to 2,000), by every test that shares this log.</summary>
    public IReadOnlyList<string> Lines => _lines.ToArray();

    public string Tail(int n = 40) => string.Join("\n", _lines.TakeLast(n));

    public ILogger CreateLogger(string categoryName) => this;
    public void AddProvider(ILoggerProvider provider) { }
    public void Dispose() { }
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var line = $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel}: {formatter(state, exception)}";
        _lines.Enqueue(line);
        if (logLevel >= LogLevel.Error && _errors.Count < 100) _errors.Enqueue(exception is null ? line : $"{line} {exception}");
        while (_lines.Count > 2000) _lines.TryDequeue(out _);
    }
}
