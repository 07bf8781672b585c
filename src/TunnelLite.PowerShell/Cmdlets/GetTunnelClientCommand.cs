using System.Management.Automation;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Get-TunnelClient: the clients connected to a server, with where they connect from and their tunnels: of the
/// server jobs of this process, or of a server in another process read through its admin endpoint.</summary>
[Cmdlet(VerbsCommon.Get, "TunnelClient", DefaultParameterSetName = LocalSet)]
[OutputType(typeof(TunnelClientInfo))]
public sealed class GetTunnelClientCommand : TunnelClientCmdletBase
{
    private const string LocalSet = "Server";
    private const string InputSet = "InputObject";
    private const string EndpointSet = "AdminEndpoint";

    private readonly HashSet<string> _namesSeen = new(StringComparer.Ordinal);
    private readonly HashSet<string> _idsSeen = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Names of the clients to list (their account, or the name a shared-token client gave); wildcards allowed.
    /// Default: every client.</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    /// <summary>Ids of the clients to list, as Get-TunnelClient shows them.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TunnelClientIdCompleter))]
    public string[]? Id { get; set; }

    /// <summary>Names of the server jobs of this process to read; wildcards allowed. Default: every server job.</summary>
    [Parameter(ParameterSetName = LocalSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TunnelNameCompleter))]
    public string[]? Server { get; set; }

    /// <summary>Server jobs, e.g. from Start-TunnelServer or Get-Tunnel.</summary>
    [Parameter(Mandatory = true, ParameterSetName = InputSet, ValueFromPipeline = true)]
    public Job? InputObject { get; set; }

    /// <summary>The admin endpoint of a server in another process, 'address:port' (as its -AdminEndpoint or webServer.port)
    /// or a URL. Without a scheme it is read over HTTPS when the address is not loopback or -CertificateFingerprint is given.</summary>
    [Parameter(Mandatory = true, ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? AdminEndpoint { get; set; }

    /// <summary>The admin endpoint's user and password (the server's -AdminCredential, or webServer.user and webServer.password).</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>The SHA-256 fingerprint of the admin endpoint's certificate (the server job's AdminCertificateFingerprint,
    /// or the fingerprint its log shows); needed for a self-signed one.</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? CertificateFingerprint { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        switch (ParameterSetName)
        {
            case EndpointSet:
                var admin = Endpoint(AdminEndpoint!, Credential, CertificateFingerprint);
                WriteVerbose($"Reading the clients of {admin.BaseAddress}.");
                foreach (var c in Run(admin, admin.GetClientsAsync) ?? []) Emit(From(admin, c));
                break;
            case InputSet:
                if (JobSelection.AsTunnelJob(this, InputObject) is { } piped) Read(piped, named: true);
                break;
            default:
                foreach (var job in JobSelection.ByName(this, Server).ToList()) Read(job, named: NamedExactly(job));
                break;
        }
    }

    /// <inheritdoc />
    protected override void EndProcessing()
    {
        foreach (var n in Name ?? [])
            if (!WildcardPattern.ContainsWildcardCharacters(n) && !_namesSeen.Contains(n)) WriteError(NotFound($"named '{n}'", n));
        foreach (var id in Id ?? [])
            if (!_idsSeen.Contains(id)) WriteError(NotFound($"has Id {id}", id));
    }

    /// <summary>Whether -Server names the job without wildcards: then it was meant, not merely matched.</summary>
    private bool NamedExactly(TunnelJobBase job) =>
        Server?.Any(n => !WildcardPattern.ContainsWildcardCharacters(n) && n.Equals(job.Name, StringComparison.OrdinalIgnoreCase)) == true;

    /// <summary>The clients of a server job; a tunnel job named on purpose is a NotAServerJob error, else skipped.</summary>
    private void Read(TunnelJobBase job, bool named)
    {
        if (job is TunnelServerJob server)
        {
            WriteVerbose($"Reading the clients of server '{server.Name}' (Id {server.Id}).");
            foreach (var c in server.GetClients()) Emit(c);
        }
        else if (named)
        {
            WriteError(TunnelErrors.Create(new ArgumentException($"'{job.Name}' is a {job.PSJobTypeName} job; Get-TunnelClient lists the clients of server jobs."), "NotAServerJob", job));
        }
    }

    private void Emit(TunnelClientInfo client)
    {
        if (Name is not null)
        {
            var name = client.Name ?? "";
            var hits = Name.Where(n => new WildcardPattern(n, WildcardOptions.IgnoreCase).IsMatch(name)).ToList();
            if (hits.Count == 0) return;
            _namesSeen.UnionWith(hits);
        }
        if (Id is not null)
        {
            if (!Id.Contains(client.Id, StringComparer.OrdinalIgnoreCase)) return;
            _idsSeen.Add(client.Id);
        }
        WriteObject(client);
    }
}
