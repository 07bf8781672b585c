using System.Management.Automation;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Disconnect-TunnelClient: disconnects clients from a server, which frees their ports at once, and keeps them out
/// for a while (-BanSeconds); after that they reconnect by themselves. For the server jobs of this process, or a server in
/// another process through its admin endpoint.</summary>
[Cmdlet(VerbsCommunications.Disconnect, "TunnelClient", DefaultParameterSetName = LocalSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(TunnelClientInfo))]
public sealed class DisconnectTunnelClientCommand : TunnelClientCmdletBase
{
    private const string LocalSet = "Server";
    private const string EndpointSet = "AdminEndpoint";

    /// <summary>Ids of the clients to disconnect, as Get-TunnelClient shows them; piped objects with an Id property (the
    /// output of Get-TunnelClient) bind to it.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TunnelClientIdCompleter))]
    public string[]? Id { get; set; }

    /// <summary>The server job the clients are connected to, by name; or the admin endpoint URL that Get-TunnelClient
    /// -AdminEndpoint put in its output's Server property. Default: whichever server job of this process has the client.</summary>
    [Parameter(ParameterSetName = LocalSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TunnelNameCompleter))]
    public string? Server { get; set; }

    /// <summary>The admin endpoint of a server in another process, 'address:port' or a URL.</summary>
    [Parameter(Mandatory = true, ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? AdminEndpoint { get; set; }

    /// <summary>The admin endpoint's user and password. An admin endpoint disconnects clients only for a user with them.</summary>
    [Parameter]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>The SHA-256 fingerprint of the admin endpoint's certificate, for a self-signed one.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CertificateFingerprint { get; set; }

    /// <summary>Seconds the client may not log in again (0 to 604800, a week). Default 300. With 0 it is back within its
    /// reconnect backoff.</summary>
    [Parameter]
    [ValidateRange(0, 604800)]
    public int BanSeconds { get; set; } = 300;

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var ban = TimeSpan.FromSeconds(BanSeconds);
        // A client that Get-TunnelClient read through an admin endpoint carries that endpoint's URL as its Server.
        var endpoint = AdminEndpoint ?? (Uri.TryCreate(Server, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? Server : null);
        foreach (var id in Id!)
        {
            if (endpoint is not null) DisconnectThrough(endpoint, id, ban);
            else DisconnectHere(id, ban);
        }
    }

    private void DisconnectHere(string id, TimeSpan ban)
    {
        var servers = TunnelRegistry.All().OfType<TunnelServerJob>()
            .Where(j => Server is null || j.Name.Equals(Server, StringComparison.OrdinalIgnoreCase)).ToList();
        if (Server is not null && servers.Count == 0)
        {
            WriteError(TunnelRegistry.All().Any(j => j.Name.Equals(Server, StringComparison.OrdinalIgnoreCase))
                ? TunnelErrors.Create(new ArgumentException($"'{Server}' is a tunnel job; clients are connected to server jobs."), "NotAServerJob", Server)
                : TunnelErrors.Create(new ItemNotFoundException($"No server job is named '{Server}'. Get-Tunnel lists them."), "TunnelNotFound", Server));
            return;
        }
        var found = servers.Select(s => (Job: s, Client: s.GetClients().FirstOrDefault(c => c.Id.Equals(id, StringComparison.OrdinalIgnoreCase))))
            .FirstOrDefault(f => f.Client is not null);
        if (found.Client is null)
        {
            WriteError(NotFound($"has Id {id}", id));
            return;
        }
        if (!ShouldProcess(Describe(found.Client), Action)) return;
        // The client may have left since it was listed.
        if (Call.Run(_ => found.Job.DisconnectClientAsync(id, ban)) is { } gone) Disconnected(gone);
        else WriteError(NotFound($"has Id {id}", id));
    }

    private void DisconnectThrough(string endpoint, string id, TimeSpan ban)
    {
        var admin = Endpoint(endpoint, Credential, CertificateFingerprint);
        // Read first, so that -WhatIf and -Confirm can say whom they would disconnect.
        var client = Run(admin, admin.GetClientsAsync)?.FirstOrDefault(c => c.Id.Equals(id, StringComparison.OrdinalIgnoreCase));
        if (client is null)
        {
            WriteError(NotFound($"has Id {id}", id));
            return;
        }
        if (!ShouldProcess(Describe(From(admin, client)), Action)) return;
        if (Run(admin, ct => admin.DisconnectClientAsync(id, ban, ct)) is { } gone) Disconnected(From(admin, gone));
    }

    private string Action => BanSeconds > 0 ? $"Disconnect and keep out for {BanSeconds} s" : "Disconnect";

    private static string Describe(TunnelClientInfo c) => $"client '{c.Name}' ({c.Id}) from {c.RemoteAddress} on {c.Server}";

    private void Disconnected(TunnelClientInfo client)
    {
        WriteVerbose($"Disconnected {Describe(client)}{(BanSeconds > 0 ? $"; it may not log in again for {BanSeconds} s" : "")}.");
        WriteObject(client);
    }
}
