using System.Management.Automation;
using Microsoft.Extensions.Logging;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>Routes the engine's log events into a job's streams, so that Receive-Job shows connects, reconnects and errors:
/// Information to the output as TunnelEvent objects, Warning to warnings, Error and Critical to errors, Debug and Trace to verbose.</summary>
internal sealed class JobStreamLogger : ILogger, ILoggerFactory
{
    // Streams of a long-running job must not grow without bound while nobody calls Receive-Job.
    private const int MaxRecordsPerStream = 1000;
    private readonly object _gate = new();
    private Job[] _jobs = Array.Empty<Job>();

    // Events logged before the first job exists (while the cmdlet connects); replayed into that job.
    private const int MaxEarlyEvents = 100;
    private readonly Queue<(LogLevel Level, string Message, Exception? Error)> _early = new();

    /// <summary>Adds a job whose streams receive the events (several tunnel jobs may share one client).
    /// The first job also gets what was logged before it existed.</summary>
    public void Attach(Job job)
    {
        lock (_gate)
        {
            if (_jobs.Length == 0)
                while (_early.Count > 0)
                {
                    var (level, message, error) = _early.Dequeue();
                    Write(job, level, message, error);
                }
            _jobs = _jobs.Append(job).ToArray();
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var message = formatter(state, exception);
        var jobs = Volatile.Read(ref _jobs);
        if (jobs.Length == 0)
        {
            lock (_gate)
            {
                if (_jobs.Length == 0)
                {
                    if (_early.Count >= MaxEarlyEvents) _early.Dequeue();
                    _early.Enqueue((logLevel, message, exception));
                    return;
                }
                jobs = _jobs;
            }
        }
        foreach (var job in jobs) Write(job, logLevel, message, exception);
    }

    private static void Write(Job _job, LogLevel logLevel, string message, Exception? exception)
    {
        var text = $"[{DateTime.Now:HH:mm:ss}] {_job.Name}: {message}";
        try
        {
            switch (logLevel)
            {
                case LogLevel.Trace:
                case LogLevel.Debug:
                    Add(_job.Verbose, new VerboseRecord(text));
                    break;
                case LogLevel.Information:
                    // Output, not the information stream, so that Receive-Job shows events by default and scripts can filter them.
                    Add(_job.Output, new PSObject(new TunnelEvent(DateTimeOffset.Now, _job.Name, message)));
                    break;
                case LogLevel.Warning:
                    Add(_job.Warning, new WarningRecord(text));
                    break;
                default:
                    Add(_job.Error, new ErrorRecord(exception ?? new InvalidOperationException(text), "TunnelEngineError", ErrorCategory.NotSpecified, _job.Name)
                    {
                        ErrorDetails = new ErrorDetails(text),
                    });
                    break;
            }
        }
        catch (Exception)
        {
            // A closed or disposed stream must never break the engine.
        }
    }

    private static void Add<T>(PSDataCollection<T> stream, T record)
    {
        while (stream.Count >= MaxRecordsPerStream) stream.RemoveAt(0);
        stream.Add(record);
    }

    ILogger ILoggerFactory.CreateLogger(string categoryName) => this;

    void ILoggerFactory.AddProvider(ILoggerProvider provider) { }

    void IDisposable.Dispose() { }
}
