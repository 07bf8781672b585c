using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using TunnelLite.Statistics;

namespace TunnelLite.PowerShell.Internal;

/// <summary>The sampling loop of Get-TunnelStats (-SampleInterval, -MaxSamples, -Continuous), as Get-Counter samples: one
/// sample at once, then one every interval, each written as it is taken. Where a sample comes from is the caller's
/// function (the jobs of this process, or another process's statistics), so that every source shares this one loop.
/// <para>From the second sample of a tunnel on, its rates are the bytes it moved since its previous sample divided by the
/// time between the two (<see cref="IntervalRates"/>), so that they mean "during this interval" whatever the interval.</para></summary>
internal sealed class StatsSampler
{
    private readonly Func<CancellationToken, IReadOnlyList<PSObject>> _source;
    private readonly TimeSpan _interval;
    private readonly long? _maxSamples;
    private readonly IntervalRates _rates = new();

    /// <param name="source">Takes one sample: a TunnelLite.TunnelStats per tunnel or server, wrapped with any note
    /// properties it carries (a JobId).</param>
    /// <param name="interval">The time from one sample to the next.</param>
    /// <param name="maxSamples">How many samples to take; null for as many as there is time for, until cancelled.</param>
    public StatsSampler(Func<CancellationToken, IReadOnlyList<PSObject>> source, TimeSpan interval, long? maxSamples)
    {
        _source = source;
        _interval = interval;
        _maxSamples = maxSamples;
    }

    /// <summary>Samples until <see cref="StatsSampler(Func{CancellationToken, IReadOnlyList{PSObject}}, TimeSpan, long?)"/>'s
    /// maxSamples are taken or <paramref name="cancellationToken"/> is cancelled (Ctrl+C), which ends it at once and
    /// quietly: a stopped sampling is not an error.</summary>
    public void Run(Action<PSObject> write, Action<string> verbose, CancellationToken cancellationToken)
    {
        // Samples keep to a schedule (start + n x interval), so a slow sample does not push every later one back.
        var clock = Stopwatch.StartNew();
        var due = TimeSpan.Zero;
        for (var n = 1L; !cancellationToken.IsCancellationRequested; n++)
        {
            if (_maxSamples != 1) verbose(string.Create(CultureInfo.InvariantCulture, $"Sample {n}{(_maxSamples is { } max ? $" of {max}" : "")}."));
            foreach (var sample in _source(cancellationToken)) write(WithIntervalRates(sample));
            if (n == _maxSamples) return;
            due += _interval;
            var wait = due - clock.Elapsed;
            if (wait < TimeSpan.Zero)
            {
                // Behind schedule (a source slower than the interval): go on from now rather than take a burst of samples.
                due = clock.Elapsed;
                wait = TimeSpan.Zero;
            }
            if (cancellationToken.WaitHandle.WaitOne(wait)) return;
        }
    }

    /// <summary>The sample with its rates over the interval since its tunnel's previous sample; the sample itself when it is
    /// the first of its tunnel.</summary>
    private PSObject WithIntervalRates(PSObject sample)
    {
        if (sample.BaseObject is not TunnelStats stats) return sample;
        // The job that reports it, or the admin endpoint it was read from.
        var jobId = sample.Properties["JobId"]?.Value ?? sample.Properties["AdminEndpoint"]?.Value;
        // One tunnel as one process sees it: its name and end, where it listens, whose it is, and the job that reports it.
        var key = string.Join('\u001f', stats.Role, stats.Name, stats.Port.ToString(CultureInfo.InvariantCulture), stats.ClientName, jobId);
        var rated = _rates.Apply(key, stats);
        if (ReferenceEquals(rated, stats)) return sample;
        var copy = new PSObject(rated);
        foreach (var note in sample.Properties.Match("*", PSMemberTypes.NoteProperty)) copy.Properties.Add(new PSNoteProperty(note.Name, note.Value));
        return copy;
    }
}
