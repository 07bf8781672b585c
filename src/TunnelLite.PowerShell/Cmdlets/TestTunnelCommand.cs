using System.Management.Automation;
using TunnelLite.Diagnostics;
using TunnelLite.PowerShell.Internal;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Test-Tunnel: connects to tunnels' public ends, as Test-NetConnection does, and reports whether the local service
/// behind each is reachable (<see cref="TunnelProbe"/>).</summary>
[Cmdlet(VerbsDiagnostic.Test, "Tunnel", DefaultParameterSetName = ByName)]
[OutputType(typeof(TunnelTestResult), typeof(bool))]
public sealed class TestTunnelCommand : TunnelSelectionCmdletBase
{
    private const string ByEndpoint = "ComputerName";
    // Probes at once at most; a process rarely has more tunnels, and a few more only wait their turn.
    private const int Parallelism = 16;

    // Collected from the pipeline, then probed together: a silent service holds its probe for the whole timeout, and ten
    // tunnels should take one timeout, not ten.
    private readonly List<ProbeTarget> _targets = new();

    /// <summary>Tunnel or server jobs, e.g. from Get-Tunnel or New-Tunnel.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByInput, ValueFromPipeline = true)]
    public Job? InputObject { get; set; }

    /// <summary>A public end anywhere, by host name or address, instead of a tunnel job of this process.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByEndpoint)]
    [Alias("RemoteAddress")]
    [ValidatePattern(@"\S")]
    public string? ComputerName { get; set; }

    /// <summary>The public port, with -ComputerName.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByEndpoint)]
    [Alias("RemotePort")]
    [ValidateRange(1, 65535)]
    public int Port { get; set; }

    /// <summary>Seconds to wait for the connection, and then for a byte or a reset (3 by default).</summary>
    [Parameter]
    [ValidateRange(1, 300)]
    public int TimeoutSec { get; set; } = 3;

    /// <summary>Returns only whether each tunnel is reachable, as a Boolean.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        if (ParameterSetName == ByEndpoint)
        {
            _targets.Add(new ProbeTarget(null, ComputerName!, Port));
            return;
        }
        var jobs = ParameterSetName == ByInput ? new[] { AsTunnelJob(InputObject) }.Where(j => j is not null).Select(j => j!) : SelectJobs();
        foreach (var job in jobs)
        {
            var targets = job.ProbeTargets().ToList();
            if (targets.Count == 0) WriteVerbose($"{job.PSJobTypeName} '{job.Name}' (Id {job.Id}) has no public port to test.");
            _targets.AddRange(targets);
        }
    }

    /// <inheritdoc />
    protected override void EndProcessing()
    {
        var timeout = TimeSpan.FromSeconds(TimeoutSec);
        foreach (var t in _targets) WriteVerbose($"Testing {(t.Name is null ? "" : $"tunnel '{t.Name}' at ")}{t.Host}:{t.Port} (timeout {TimeoutSec} s).");
        var results = new TunnelTestResult[_targets.Count];
        try
        {
            Call.Run(token => Parallel.ForEachAsync(Enumerable.Range(0, _targets.Count),
                new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = token },
                async (i, ct) => results[i] = await TunnelProbe.RunAsync(_targets[i].Host, _targets[i].Port, timeout, ct).ConfigureAwait(false)));
        }
        catch (OperationCanceledException)
        {
            return; // Ctrl+C: the probes' sockets are closed; a stopped test is not an error.
        }
        for (var i = 0; i < results.Length; i++)
        {
            var result = results[i] with { Name = _targets[i].Name };
            WriteVerbose($"{(result.Name ?? $"{result.ComputerName}:{result.RemotePort}")}: {result.Reason}. {result.Message}");
            WriteObject(Quiet ? result.Reachable : result);
        }
    }
}
