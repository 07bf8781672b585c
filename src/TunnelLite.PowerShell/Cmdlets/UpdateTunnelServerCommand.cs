using System.Management.Automation;
using TunnelLite.Config;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Update-TunnelServer: has a running server read its configuration file again and apply it without dropping a
/// connection, or refuse it whole (a key that cannot change live, an invalid file) and keep running as it was. The
/// parameters given to Start-TunnelServer still win over the file. For the server jobs of this process, or a server in
/// another process through its admin endpoint (which reads its own file; no path or contents travel).</summary>
[Cmdlet(VerbsData.Update, "TunnelServer", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ServerReloadResult))]
public sealed class UpdateTunnelServerCommand : TunnelSelectionCmdletBase
{
    private const string EndpointSet = "AdminEndpoint";

    /// <summary>Server jobs, e.g. from Start-TunnelServer or Get-Tunnel.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByInput, ValueFromPipeline = true)]
    public Job? InputObject { get; set; }

    /// <summary>The server TOML file to read instead of the one the server was started with; it becomes the server's file
    /// from then on (for later reloads, also through the admin endpoint and SIGHUP). Required for a server started without
    /// a file. Default: the server's file (its job's ConfigPath).</summary>
    [Parameter(ParameterSetName = ByName)]
    [Parameter(ParameterSetName = ById)]
    [Parameter(ParameterSetName = ByInput)]
    [ValidateNotNullOrEmpty]
    public string? ConfigPath { get; set; }

    /// <summary>The admin endpoint of a server in another process, 'address:port' or a URL: the server reads its own file
    /// again. Needs the endpoint's credentials (-Credential): a reload is a change.</summary>
    [Parameter(Mandatory = true, ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? AdminEndpoint { get; set; }

    /// <summary>The admin endpoint's user and password (the server's -AdminCredential, or webServer.user and webServer.password).</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>The SHA-256 fingerprint of the admin endpoint's certificate, for a self-signed one.</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? CertificateFingerprint { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        if (ParameterSetName == EndpointSet)
        {
            ReloadThrough(AdminEndpoint!);
            return;
        }
        // Named on purpose (by name without wildcards, id, or pipe): a tunnel job is an error; matched by a wildcard, skipped.
        var jobs = ParameterSetName == ByInput
            ? new[] { AsTunnelJob(InputObject) }.Where(j => j is not null).Select(j => j!).ToList()
            : SelectJobs().ToList();
        var servers = jobs.OfType<TunnelServerJob>().ToList();
        foreach (var other in jobs.Except(servers).Where(NamedExactly))
            WriteError(TunnelErrors.Create(new ArgumentException($"'{other.Name}' is a {other.PSJobTypeName} job; Update-TunnelServer reloads server jobs."), "NotAServerJob", other));
        if (servers.Count == 0 && ParameterSetName == ByName && Name is null)
            WriteError(TunnelErrors.Create(new ItemNotFoundException("No server job runs in this process; Start-TunnelServer starts one, or give -AdminEndpoint for a server in another process."), "TunnelNotFound", null));
        foreach (var server in servers) Reload(server);
    }

    private bool NamedExactly(TunnelJobBase job) => ParameterSetName != ByName
        || Name?.Any(n => !WildcardPattern.ContainsWildcardCharacters(n) && n.Equals(job.Name, StringComparison.OrdinalIgnoreCase)) == true;

    private void Reload(TunnelServerJob server)
    {
        var path = ConfigPath is null ? null : GetUnresolvedProviderPathFromPSPath(ConfigPath);
        var file = path ?? (server.ConfigPath.Length > 0 ? server.ConfigPath : null);
        if (!ShouldProcess($"server '{server.Name}' ({server.Location})", file is null ? "Reload the configuration" : $"Reload the configuration from {file}")) return;
        WriteVerbose($"Reloading server '{server.Name}' (Id {server.Id}){(file is null ? "" : $" from {file}")}.");
        try
        {
            Report(Call.Run(_ => server.ReloadAsync(path)));
        }
        catch (TunnelConfigException e)
        {
            WriteError(TunnelErrors.From(e));
        }
        catch (TunnelException e)
        {
            WriteError(TunnelErrors.From(e, server));
        }
        catch (InvalidOperationException e)
        {
            WriteError(TunnelErrors.Create(e, "ServerNotRunning", server));
        }
    }

    private void ReloadThrough(string endpoint)
    {
        if (!ShouldProcess($"the server of admin endpoint {endpoint}", "Reload its configuration file")) return;
        using var admin = AdminConnection.Open(this, endpoint, Credential, CertificateFingerprint);
        WriteVerbose($"Asking {admin.BaseAddress} to reload its configuration file.");
        try
        {
            Report(Call.Run(admin.ReloadAsync) with { Server = admin.BaseAddress.ToString() });
        }
        catch (TunnelConfigException e)
        {
            WriteError(TunnelErrors.From(e));
        }
        catch (TunnelException e)
        {
            WriteError(TunnelErrors.From(e, admin.BaseAddress.ToString()));
        }
    }

    private void Report(ServerReloadResult result)
    {
        foreach (var w in result.Warnings) WriteWarning(w);
        WriteVerbose(result.Changed
            ? $"Server '{result.Server}' reloaded: {result.ChangedKeys.Count} key(s) changed, clients added {result.ClientsAdded.Count}, removed {result.ClientsRemoved.Count}, changed {result.ClientsChanged.Count}; {result.SessionsEnded.Count} session(s) ended, {result.TunnelsClosed.Count} tunnel(s) closed, {result.TunnelsUpdated} updated."
            : $"Server '{result.Server}' reloaded: nothing changed.");
        WriteObject(result);
    }
}
