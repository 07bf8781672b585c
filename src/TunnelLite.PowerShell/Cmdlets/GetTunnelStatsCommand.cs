using System.Management.Automation;
using TunnelLite.Admin;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Get-TunnelStats: one TunnelLite.TunnelStats per tunnel and per server; with -MaxSamples or -Continuous, one such
/// set every -SampleInterval, as Get-Counter samples.</summary>
/// <remarks>Each way of selecting jobs has two parameter sets, one that takes -MaxSamples and one that takes -Continuous,
/// so that PowerShell itself refuses the two together, and completion never offers the one after the other.</remarks>
[Cmdlet(VerbsCommon.Get, "TunnelStats", DefaultParameterSetName = ByName)]
[OutputType(typeof(TunnelStats))]
public sealed class GetTunnelStatsCommand : TunnelSelectionCmdletBase
{
    private const string ByNameContinuous = "NameContinuous";
    private const string ByIdContinuous = "IdContinuous";
    private const string ByInputContinuous = "InputObjectContinuous";
    private const string ByEndpoint = "AdminEndpoint";
    private const string ByEndpointContinuous = "AdminEndpointContinuous";

    // The jobs chosen, in order and once each: sampling reads them all at each interval, after the pipeline input is in.
    private readonly List<TunnelJobBase> _jobs = new();
    private readonly HashSet<TunnelJobBase> _chosen = new();

    /// <inheritdoc />
    [Parameter(Position = 0, ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
    [Parameter(Position = 0, ParameterSetName = ByNameContinuous, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(TunnelNameCompleter))]
    [ValidateNotNullOrEmpty]
    public override string[]? Name { get => base.Name; set => base.Name = value; }

    /// <inheritdoc />
    [Parameter(Mandatory = true, ParameterSetName = ById)]
    [Parameter(Mandatory = true, ParameterSetName = ByIdContinuous)]
    [ValidateNotNullOrEmpty]
    public override int[]? Id { get => base.Id; set => base.Id = value; }

    /// <summary>Tunnel or server jobs, e.g. from Get-Tunnel or New-Tunnel.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByInput, ValueFromPipeline = true)]
    [Parameter(Mandatory = true, ParameterSetName = ByInputContinuous, ValueFromPipeline = true)]
    public Job? InputObject { get; set; }

    /// <summary>The admin endpoint of a server or tunnel in another process, 'address:port' (its -AdminEndpoint or
    /// webServer.port) or a URL: its statistics, as this process's jobs give theirs. Without a scheme it is read over HTTPS
    /// when the address is not loopback or -CertificateFingerprint is given.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByEndpoint)]
    [Parameter(Mandatory = true, ParameterSetName = ByEndpointContinuous)]
    [ValidateNotNullOrEmpty]
    public string? AdminEndpoint { get; set; }

    /// <summary>The admin endpoint's user and password (its -AdminCredential, or webServer.user and webServer.password).</summary>
    [Parameter(ParameterSetName = ByEndpoint)]
    [Parameter(ParameterSetName = ByEndpointContinuous)]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>The SHA-256 fingerprint of the admin endpoint's certificate (its AdminCertificateFingerprint), for an
    /// endpoint with a self-signed certificate.</summary>
    [Parameter(ParameterSetName = ByEndpoint)]
    [Parameter(ParameterSetName = ByEndpointContinuous)]
    [ValidateNotNullOrEmpty]
    public string? CertificateFingerprint { get; set; }

    /// <summary>For a server, also one object per tunnel it carries (Role Server, with the ClientName that registered it).</summary>
    [Parameter]
    public SwitchParameter PerTunnel { get; set; }

    /// <summary>Seconds between samples (1 by default).</summary>
    [Parameter]
    [ValidateRange(1, 86400)]
    public int SampleInterval { get; set; } = 1;

    /// <summary>How many samples to take, -SampleInterval apart (1 by default: one snapshot).</summary>
    [Parameter(ParameterSetName = ByName)]
    [Parameter(ParameterSetName = ById)]
    [Parameter(ParameterSetName = ByInput)]
    [Parameter(ParameterSetName = ByEndpoint)]
    [ValidateRange(1, long.MaxValue)]
    public long MaxSamples { get; set; } = 1;

    /// <summary>Samples every -SampleInterval until stopped (Ctrl+C).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByNameContinuous)]
    [Parameter(Mandatory = true, ParameterSetName = ByIdContinuous)]
    [Parameter(Mandatory = true, ParameterSetName = ByInputContinuous)]
    [Parameter(Mandatory = true, ParameterSetName = ByEndpointContinuous)]
    public SwitchParameter Continuous { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        if (ParameterSetName is ByEndpoint or ByEndpointContinuous) return;
        var jobs = ParameterSetName is ByInput or ByInputContinuous
            ? new[] { AsTunnelJob(InputObject) }.Where(j => j is not null).Select(j => j!)
            : SelectJobs();
        foreach (var job in jobs)
        {
            if (!_chosen.Add(job)) continue;
            WriteVerbose($"Reading statistics of {job.PSJobTypeName} '{job.Name}' (Id {job.Id}).");
            _jobs.Add(job);
        }
    }

    /// <inheritdoc />
    protected override void EndProcessing()
    {
        if (ParameterSetName is ByEndpoint or ByEndpointContinuous)
        {
            using var admin = AdminConnection.Open(this, AdminEndpoint!, Credential, CertificateFingerprint);
            WriteVerbose($"Reading statistics from the admin endpoint {admin.BaseAddress}.");
            Sample(_ => ReadEndpoint(admin));
        }
        else
        {
            Sample(ReadJobs);
        }
    }

    private void Sample(Func<CancellationToken, IReadOnlyList<PSObject>> source) =>
        new StatsSampler(source, TimeSpan.FromSeconds(SampleInterval), Continuous ? null : MaxSamples).Run(WriteObject, WriteVerbose, Call.Token);

    /// <summary>One sample of another process, shaped as its own jobs would give it: a server's object (and with -PerTunnel
    /// its tunnels'), or a client's tunnels; each with an AdminEndpoint note property saying where it was read.</summary>
    private IReadOnlyList<PSObject> ReadEndpoint(AdminClient admin)
    {
        var summary = AdminConnection.Call(this, Call, admin, admin.GetSummaryAsync);
        var stats = new List<TunnelStats>();
        if (summary.Role == Statistics.TunnelRole.Server) stats.Add(summary);
        if (summary.Role == Statistics.TunnelRole.Client || PerTunnel.IsPresent)
            stats.AddRange(AdminConnection.Call(this, Call, admin, admin.GetTunnelsAsync));
        return stats.Select(s =>
        {
            var o = new PSObject(s);
            o.Properties.Add(new PSNoteProperty("AdminEndpoint", admin.BaseAddress.ToString()));
            return o;
        }).ToList();
    }

    /// <summary>One sample of the chosen jobs of this process.</summary>
    private IReadOnlyList<PSObject> ReadJobs(CancellationToken cancellationToken) =>
        _jobs.SelectMany(j => j.GetStats(PerTunnel.IsPresent)).ToList();
}
