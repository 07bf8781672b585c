using System.Management.Automation;
using TunnelLite.Admin;
using TunnelLite.PowerShell.Internal;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>What tunnel and server jobs share: a long-running engine object in this process, its events in the job's
/// streams, and the job state machine (Running until stopped; Failed when the engine dies on its own).</summary>
public abstract class TunnelJobBase : Job2
{
    private readonly object _stateLock = new();
    private int _stopRequested;

    /// <summary>Creates the job.</summary>
    protected TunnelJobBase(string command, string name, string jobTypeName) : base(command, name)
    {
        PSJobTypeName = jobTypeName;
    }

    /// <summary>When the job started.</summary>
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>The URL of the admin endpoint that serves this job's engine object (its dashboard; /metrics, /healthz, /ready
    /// and /api/v1 below it), as -AdminEndpoint or webServer.port asked for it; empty when it has none.</summary>
    public string AdminUrl => Admin?.Url ?? "";

    /// <summary>SHA-256 fingerprint of the certificate the admin endpoint presents over HTTPS, for Get-TunnelClient
    /// -CertificateFingerprint; empty when it speaks plain HTTP or is off.</summary>
    public string AdminCertificateFingerprint => Admin?.CertificateFingerprint ?? "";

    /// <summary>The engine object's admin endpoint, once it runs with one.</summary>
    private protected abstract AdminServer? Admin { get; }

    /// <summary>Statistics of this job: one TunnelLite.TunnelStats for a tunnel, one for a server, with a JobId note property
    /// so that a dashboard can get back to the job.</summary>
    public IEnumerable<PSObject> GetStats(bool perTunnel = false)
    {
        foreach (var s in ReadStats(perTunnel))
        {
            var o = new PSObject(s);
            o.Properties.Add(new PSNoteProperty("JobId", Id));
            yield return o;
        }
    }

    /// <summary>The engine's snapshots for this job; with <paramref name="perTunnel"/>, a server adds one per tunnel it carries.</summary>
    protected abstract IEnumerable<TunnelStats> ReadStats(bool perTunnel);

    /// <summary>Where users reach this job's tunnels, for Test-Tunnel: a tunnel's public port on its server, or each tunnel
    /// that a server carries now.</summary>
    internal abstract IEnumerable<ProbeTarget> ProbeTargets();

    /// <inheritdoc />
    public override bool HasMoreData =>
        Output.Count > 0 || Error.Count > 0 || Warning.Count > 0 || Verbose.Count > 0 || Debug.Count > 0 || Information.Count > 0;

    /// <inheritdoc />
    public override string StatusMessage => JobStateInfo.Reason?.Message ?? "";

    /// <summary>Marks the job running; called once the engine object is up.</summary>
    internal void MarkRunning()
    {
        lock (_stateLock) SetJobState(JobState.Running);
        TunnelRegistry.Add(this);
    }

    /// <summary>The engine object ended: Failed with its error when it stopped on its own because of <paramref name="fault"/>
    /// (a data-plane loop died), Stopped when a stop was asked for, else Completed (the engine reconnects on its own, so
    /// it ends only when it is stopped, possibly through another job sharing it).</summary>
    /// <param name="fault">Why the engine stopped on its own, if it failed.</param>
    /// <param name="stopAsked">True when a stop was asked for elsewhere than through this job (a drain through the admin endpoint).</param>
    internal void MarkEnded(TunnelException? fault = null, bool stopAsked = false)
    {
        lock (_stateLock)
        {
            if (IsFinishedState(JobStateInfo.State)) return;
            if (fault is not null)
            {
                TryAdd(Error, TunnelErrors.From(fault, this));
                SetJobState(JobState.Failed); // the reason travels as the error record: Receive-Job shows it
                return;
            }
            SetJobState(Volatile.Read(ref _stopRequested) == 1 || stopAsked ? JobState.Stopped : JobState.Completed);
        }
    }

    /// <summary>Stops the engine object gracefully.</summary>
    protected abstract Task StopEngineAsync();

    /// <summary>Disposes the engine object.</summary>
    protected abstract void DisposeEngine();

    /// <inheritdoc />
    public override void StopJob() => StopJob(false, "Stop-Job");

    /// <inheritdoc />
    public override void StopJob(bool force, string reason) => StopJob(reason, StopEngineAsync);

    /// <summary>A stop that came second, while another one runs (a drain, say): the engine may end sooner (a server stops
    /// at once); the caller then waits for the first stop to finish.</summary>
    private protected virtual void OnSecondStop()
    {
    }

    /// <summary>Stops the job with <paramref name="stop"/> (the engine's graceful stop, or a server's drain), once: the job is
    /// Stopping meanwhile and Stopped after.</summary>
    private protected void StopJob(string reason, Func<Task> stop)
    {
        if (Interlocked.Exchange(ref _stopRequested, 1) == 1)
        {
            // A second stop waits for the first to finish.
            OnSecondStop();
            Finished.WaitOne(TimeSpan.FromSeconds(30));
            return;
        }
        lock (_stateLock)
        {
            if (IsFinishedState(JobStateInfo.State)) return;
            SetJobState(JobState.Stopping);
        }
        TryAdd(Output, new PSObject(new TunnelEvent(DateTimeOffset.Now, Name, $"stopping ({reason})")));
        try
        {
            stop().GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            TryAdd(Error, TunnelErrors.Create(e, "StopFailed", this));
        }
        lock (_stateLock)
        {
            if (!IsFinishedState(JobStateInfo.State)) SetJobState(JobState.Stopped);
        }
    }

    /// <inheritdoc />
    public override void StopJobAsync() => Task.Run(() => { StopJob(); OnStopJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null)); });

    /// <inheritdoc />
    public override void StopJobAsync(bool force, string reason) => Task.Run(() => { StopJob(force, reason); OnStopJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null)); });

    /// <inheritdoc />
    public override void StartJob() => throw new PSNotSupportedException("A tunnel job starts when it is created; use New-Tunnel or Start-TunnelServer.");
    /// <inheritdoc />
    public override void StartJobAsync() => StartJob();
    /// <inheritdoc />
    public override void SuspendJob() => throw new PSNotSupportedException("Tunnel jobs cannot be suspended; stop them with Stop-Tunnel.");
    /// <inheritdoc />
    public override void SuspendJobAsync() => SuspendJob();
    /// <inheritdoc />
    public override void SuspendJob(bool force, string reason) => SuspendJob();
    /// <inheritdoc />
    public override void SuspendJobAsync(bool force, string reason) => SuspendJob();
    /// <inheritdoc />
    public override void ResumeJob() => throw new PSNotSupportedException("Tunnel jobs cannot be suspended or resumed.");
    /// <inheritdoc />
    public override void ResumeJobAsync() => ResumeJob();
    /// <inheritdoc />
    public override void UnblockJob() => throw new PSNotSupportedException("Tunnel jobs never block.");
    /// <inheritdoc />
    public override void UnblockJobAsync() => UnblockJob();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // Remove-Job -Force on a running job: stop it first, then let go of the engine.
            if (!IsFinishedState(JobStateInfo.State)) StopJob(true, "Remove-Job");
            TunnelRegistry.Remove(this);
            DisposeEngine();
        }
        base.Dispose(disposing);
    }

    /// <summary>Adds to a stream unless it is already closed (the job finished meanwhile).</summary>
    private static void TryAdd<T>(PSDataCollection<T> stream, T record)
    {
        try { stream.Add(record); } catch (InvalidOperationException) { }
    }

    private static bool IsFinishedState(JobState s) => s is JobState.Completed or JobState.Failed or JobState.Stopped;

    /// <summary>True once the job has stopped, completed or failed.</summary>
    private protected bool IsFinished => IsFinishedState(JobStateInfo.State);
}
