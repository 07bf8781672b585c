using System.Collections;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Runtime.InteropServices;
using TunnelLite.PowerShell.Internal;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>The foreground form of a tunnel or server job (-Wait), for services: runs on the cmdlet's pipeline thread until
/// the job is stopped, writing each event to the host as one complete line as it happens; Ctrl+C (StopProcessing) and
/// SIGTERM stop the job gracefully (drain, free ports) and return, so that the process exits with 0. A job that ends without
/// being asked to is a terminating error, so that the process exits non-zero and a service manager restarts it. SIGHUP
/// has a server read its configuration file again (as Update-TunnelServer does); a reload that fails is logged, and the
/// server keeps running as it was.</summary>
/// <remarks>Events are taken from the job's streams as they fill, in the order they were added across the streams, so that the
/// job does not hold them and a warning stays between the events it happened between. Information events become host lines
/// (what Write-Host writes: the console, stdout when redirected, never cut at the terminal width as a table would be), warnings
/// warnings, verbose records verbose. Errors of the engine (one connection failed) are written to the host's error output
/// rather than as error records: a non-terminating error would make a graceful stop look failed (pwsh -Command exits 1 when
/// the last command wrote one) and would stop a script that runs with $ErrorActionPreference = 'Stop'.</remarks>
internal sealed class ForegroundJobRunner
{
    private enum Stream { Output, Warning, Error, Verbose }

    // The loop wakes on new records, on Ctrl+C or SIGTERM and at the end of the stop; the period only lets it notice a job
    // that ended on its own or was stopped from elsewhere (Stop-Tunnel in another runspace), which signals none of these.
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);

    private readonly PSCmdlet _cmdlet;
    private readonly IReadOnlyList<TunnelJobBase> _jobs;
    private readonly TunnelJobBase _shown;
    private readonly CancellationToken _ctrlC;
    private readonly ConcurrentQueue<Stream> _added = new();
    private readonly AutoResetEvent _dataReady = new(false);
    private readonly ManualResetEvent _sigterm = new(false);
    // Manual: WaitAny would take an automatic one's signal before the loop could see which it was.
    private readonly ManualResetEvent _sighup = new(false);
    private bool _pipelineStopped;

    /// <param name="cmdlet">The cmdlet whose pipeline thread runs the loop and whose streams get the events.</param>
    /// <param name="jobs">The jobs of one engine object (one server, or the tunnels of one client). Their streams all get the same
    /// events, so those of the first are shown and the others are only emptied.</param>
    /// <param name="ctrlC">Cancelled by the cmdlet's StopProcessing (Ctrl+C).</param>
    public ForegroundJobRunner(PSCmdlet cmdlet, IReadOnlyList<TunnelJobBase> jobs, CancellationToken ctrlC)
    {
        if (jobs.Count == 0) throw new ArgumentException("No job to run.", nameof(jobs));
        _cmdlet = cmdlet;
        _jobs = jobs;
        _shown = jobs[0];
        _ctrlC = ctrlC;
    }

    /// <summary>Runs until the jobs have ended; then removes them from the job table (with -Wait the cmdlet owns them and writes
    /// no object, so nothing else could). Throws a terminating error (EndedUnexpectedly) when they ended without a stop.</summary>
    public void Run()
    {
        string? stopReason = null;
        Task? stopping = null;
        Subscribe(true);
        try
        {
            using var sigterm = RegisterSigterm();
            using var sighup = RegisterSighup();
            // What the job got before we subscribed (the logger replays the events of the start into the first job).
            foreach (var s in new[] { Stream.Warning, Stream.Error, Stream.Output, Stream.Verbose })
                while (TakeAndWrite(s)) { }
            var handles = new[] { _dataReady, _sigterm, _ctrlC.WaitHandle, _sighup };
            while (true)
            {
                WaitHandle.WaitAny(handles, Poll);
                WriteAdded();
                if (stopping is null && _sighup.WaitOne(0))
                {
                    _sighup.Reset();
                    ReloadServers();
                }
                if (stopping is null)
                {
                    stopReason = _ctrlC.IsCancellationRequested ? "Ctrl+C" : _sigterm.WaitOne(0) ? "SIGTERM" : null;
                    // StopJob drains for seconds: on another thread, so that this one keeps writing what the stop logs.
                    if (stopReason is not null) stopping = Task.Run(() => StopAll(stopReason));
                }
                if (_jobs.All(j => j.Finished.WaitOne(0)) && (stopping is null || stopping.IsCompleted)) break;
                if (stopping is not null) handles = new[] { _dataReady, ((IAsyncResult)stopping).AsyncWaitHandle };
            }
            stopping?.GetAwaiter().GetResult();
            WriteAdded();
        }
        finally
        {
            Subscribe(false);
            if (stopping is not null)
            {
                try { stopping.Wait(); } catch (Exception) { /* StopJob reports its own failures in the job's streams */ }
            }
            else if (!_jobs.All(j => j.Finished.WaitOne(0)))
            {
                // Leaving early (a write failed, say under -WarningAction Stop): never leave a server running unwatched.
                StopAll("the cmdlet ended");
            }
            foreach (var j in _jobs)
            {
                TunnelRegistry.Remove(j);
                j.Dispose();
            }
        }
        // Stopped by us, or by Stop-Tunnel from elsewhere in this process: both are stops that someone asked for.
        if (stopReason is not null || _jobs.All(j => j.JobStateInfo.State == JobState.Stopped)) return;
        var state = _shown.JobStateInfo;
        ThrowTerminating(TunnelErrors.EndedUnexpectedly(_shown.PSJobTypeName, _shown.Name, state.State.ToString(), state.Reason));
    }

    private void StopAll(string reason)
    {
        foreach (var j in _jobs) j.StopJob(false, reason);
    }

    /// <summary>SIGTERM (what service managers send to stop a service) stops the job like Ctrl+C does, instead of ending the
    /// process at once; null where the platform has no such signal.</summary>
    private IDisposable? RegisterSigterm()
    {
        try
        {
            return PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                _sigterm.Set();
            });
        }
        catch (Exception e) when (e is PlatformNotSupportedException or IOException)
        {
            return null;
        }
    }

    /// <summary>SIGHUP (what `systemctl reload` and `kill -HUP` send) reloads the configuration of a server, instead of
    /// ending the process; null on Windows, where the signal stands for the console closing, and where there is no such signal.</summary>
    private IDisposable? RegisterSighup()
    {
        if (OperatingSystem.IsWindows() || !_jobs.OfType<TunnelServerJob>().Any()) return null;
        try
        {
            return PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                _sighup.Set();
            });
        }
        catch (Exception e) when (e is PlatformNotSupportedException or IOException)
        {
            return null;
        }
    }

    /// <summary>Reloads each server job on the thread pool; the engine logs the outcome (what changed, or why it was refused)
    /// as an event of the job, which this loop writes like any other.</summary>
    private void ReloadServers()
    {
        foreach (var server in _jobs.OfType<TunnelServerJob>())
            _ = Task.Run(async () =>
            {
                try
                {
                    await server.ReloadAsync(null).ConfigureAwait(false);
                }
                catch (Exception e) when (e is TunnelException or Config.TunnelConfigException or InvalidOperationException)
                {
                    // Logged by the engine; the server runs on as it was.
                }
            });
    }

    /// <summary>Marks, in order, each record added to a stream of the shown job. The other jobs of a shared client get copies
    /// of the same events, which are not shown; their streams are bounded, and they go with the jobs at the end.</summary>
    private void Subscribe(bool on)
    {
        Hook(_shown.Output, Stream.Output, on);
        Hook(_shown.Warning, Stream.Warning, on);
        Hook(_shown.Error, Stream.Error, on);
        Hook(_shown.Verbose, Stream.Verbose, on);
    }

    private void Hook<T>(PSDataCollection<T> collection, Stream stream, bool on)
    {
        if (on)
        {
            EventHandler<DataAddedEventArgs> handler = (_, _) =>
            {
                _added.Enqueue(stream);
                _dataReady.Set();
            };
            _handlers[stream] = handler;
            collection.DataAdded += handler;
        }
        else if (_handlers.Remove(stream, out var handler))
        {
            collection.DataAdded -= handler;
        }
    }

    private readonly Dictionary<Stream, EventHandler<DataAddedEventArgs>> _handlers = new();

    /// <summary>Writes what was added since the last call, in the order it was added. A mark may find its stream empty (the
    /// record was already taken with an earlier batch, or the job's bound dropped it): then there is nothing to write.</summary>
    private void WriteAdded()
    {
        while (_added.TryDequeue(out var s)) TakeAndWrite(s);
    }

    private bool TakeAndWrite(Stream s) => s switch
    {
        Stream.Output => Take(_shown.Output, WriteEvent),
        Stream.Warning => Take(_shown.Warning, w => WriteWarning(w.Message)),
        Stream.Error => Take(_shown.Error, e => WriteErrorLine(e.ErrorDetails?.Message ?? e.Exception?.Message ?? e.ToString())),
        _ => Take(_shown.Verbose, v => WriteVerbose(v.Message)),
    };

    /// <summary>Removes the oldest record of <paramref name="collection"/> and writes it; false when it was empty.</summary>
    private static bool Take<T>(PSDataCollection<T> collection, Action<T> write)
    {
        T item;
        try
        {
            // The job's bound trims under the same lock (BoundedRecordList), so the head cannot go between the check and the removal.
            lock (((ICollection)collection).SyncRoot)
            {
                if (collection.Count == 0) return false;
                item = collection[0];
                collection.RemoveAt(0);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException or ArgumentOutOfRangeException)
        {
            return false;
        }
        write(item);
        return true;
    }

    private void WriteEvent(PSObject record)
    {
        var text = record.BaseObject is TunnelEvent e ? $"[{e.Time:HH:mm:ss}] {e.Source}: {e.Message}" : record.ToString();
        // Write-Host's way: the console (stdout when redirected, where a service manager's journal reads), capturable as 6>.
        Write(() => _cmdlet.WriteInformation(new HostInformationMessage { Message = text }, new[] { "PSHOST", "TunnelLite" }),
            ui => ui.WriteLine(text));
    }

    private void WriteWarning(string text) => Write(() => _cmdlet.WriteWarning(text), ui => ui.WriteWarningLine(text));

    private void WriteVerbose(string text) => Write(() => _cmdlet.WriteVerbose(text), null);

    private void WriteErrorLine(string text) => Write(() => _cmdlet.Host.UI.WriteErrorLine($"ERROR: {text}"), ui => ui.WriteErrorLine($"ERROR: {text}"));

    /// <summary>Writes through the cmdlet while its pipeline runs; after Ctrl+C the pipeline refuses writes, and the rest (the
    /// stop's own events) goes straight to the host. Verbose records have no such fallback: their preference is the pipeline's.</summary>
    private void Write(Action throughPipeline, Action<System.Management.Automation.Host.PSHostUserInterface>? toHost)
    {
        if (!_pipelineStopped)
        {
            try
            {
                throughPipeline();
                return;
            }
            catch (PipelineStoppedException)
            {
                _pipelineStopped = true;
            }
        }
        if (toHost is not null && _cmdlet.Host?.UI is { } ui)
        {
            try { toHost(ui); } catch (Exception) { /* a host that cannot write must not keep the service from stopping */ }
        }
    }

    private void ThrowTerminating(ErrorRecord error)
    {
        if (_pipelineStopped) throw new PipelineStoppedException();
        _cmdlet.ThrowTerminatingError(error);
    }
}
