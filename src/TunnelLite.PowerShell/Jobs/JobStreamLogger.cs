using System.Management.Automation;
using Microsoft.Extensions.Logging;
using TunnelLite.Logging;
using TunnelLite.PowerShell.Internal;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>Routes the engine's log events into a job's streams, so that Receive-Job shows connects, reconnects and errors:
/// Information to the output as TunnelEvent objects, Warning to warnings, Error and Critical to errors, Debug and Trace to verbose.
/// Security events (<see cref="LogEvents.Security"/>: failed authentications, throttled logins) have a budget of their own in
/// each stream, so that a stranger flooding the server with garbage cannot push them out of a job nobody reads.</summary>
internal sealed class JobStreamLogger : ILogger, ILoggerFactory
{
    // Streams of a long-running job must not grow without bound while nobody calls Receive-Job.
    private const int MaxRecordsPerStream = 1000;
    // On top of the ordinary records: enough to see a guessing campaign, bounded too.
    private const int MaxSecurityRecordsPerStream = 1000;
    private readonly object _gate = new();
    private JobStreams[] _jobs = Array.Empty<JobStreams>();

    // Events logged before the first job exists (while the cmdlet connects); replayed into that job.
    private const int MaxEarlyEvents = 100;
    private const int MaxEarlySecurityEvents = 100;
    private readonly List<EarlyEvent> _early = new();
    private readonly BoundedRecordList<EarlyEvent> _earlyBounded;

    public JobStreamLogger()
    {
        _earlyBounded = new BoundedRecordList<EarlyEvent>(_early, MaxEarlyEvents, MaxEarlySecurityEvents);
    }

    private sealed record EarlyEvent(LogLevel Level, string Message, Exception? Error, bool Security);

    /// <summary>Adds a job whose streams receive the events (several tunnel jobs may share one client).
    /// The first job also gets what was logged before it existed.</summary>
    public void Attach(Job job)
    {
        lock (_gate)
        {
            var streams = new JobStreams(job);
            if (_jobs.Length == 0)
            {
                foreach (var e in _early) Write(streams, e.Level, e.Message, e.Error, e.Security);
                _early.Clear();
            }
            _jobs = _jobs.Append(streams).ToArray();
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var message = formatter(state, exception);
        var security = LogEvents.IsSecurity(eventId);
        var jobs = Volatile.Read(ref _jobs);
        if (jobs.Length == 0)
        {
            lock (_gate)
            {
                if (_jobs.Length == 0)
                {
                    _earlyBounded.Add(new EarlyEvent(logLevel, message, exception, security), security);
                    return;
                }
                jobs = _jobs;
            }
        }
        foreach (var job in jobs) Write(job, logLevel, message, exception, security);
    }

    private static void Write(JobStreams streams, LogLevel logLevel, string message, Exception? exception, bool security)
    {
        var job = streams.Job;
        var text = $"[{DateTime.Now:HH:mm:ss}] {job.Name}: {message}";
        try
        {
            switch (logLevel)
            {
                case LogLevel.Trace:
                case LogLevel.Debug:
                    streams.Verbose.Add(new VerboseRecord(text), security);
                    break;
                case LogLevel.Information:
                    // Output, not the information stream, so that Receive-Job shows events by default and scripts can filter them.
                    streams.Output.Add(new PSObject(new TunnelEvent(DateTimeOffset.Now, job.Name, message)), security);
                    break;
                case LogLevel.Warning:
                    streams.Warning.Add(new WarningRecord(text), security);
                    break;
                default:
                    streams.Error.Add(TunnelErrors.Create(exception ?? new InvalidOperationException(text), "TunnelEngineError", job.Name, text), security);
                    break;
            }
        }
        catch (Exception)
        {
            // A closed or disposed stream must never break the engine.
        }
    }

    /// <summary>A job with the bounds of the streams the engine writes to.</summary>
    private sealed class JobStreams(Job job)
    {
        public Job Job { get; } = job;
        public BoundedRecordList<PSObject> Output { get; } = new(job.Output, MaxRecordsPerStream, MaxSecurityRecordsPerStream);
        public BoundedRecordList<WarningRecord> Warning { get; } = new(job.Warning, MaxRecordsPerStream, MaxSecurityRecordsPerStream);
        public BoundedRecordList<ErrorRecord> Error { get; } = new(job.Error, MaxRecordsPerStream, MaxSecurityRecordsPerStream);
        public BoundedRecordList<VerboseRecord> Verbose { get; } = new(job.Verbose, MaxRecordsPerStream, MaxSecurityRecordsPerStream);
    }

    ILogger ILoggerFactory.CreateLogger(string categoryName) => this;

    void ILoggerFactory.AddProvider(ILoggerProvider provider) { }

    void IDisposable.Dispose() { }
}
