using System.Management.Automation;
using TunnelLite.Admin;
using TunnelLite.PowerShell.Internal;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>What Get-TunnelClient and Disconnect-TunnelClient share: the admin endpoints of servers in other processes,
/// each opened once per pipeline and closed at its end; calls that Ctrl+C cancels; and an endpoint that cannot be read
/// (unreachable, credentials refused) as a terminating error, since every further record would fail the same way.</summary>
public abstract class TunnelClientCmdletBase : PSCmdlet, IDisposable
{
    private readonly Dictionary<string, AdminClient> _endpoints = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The call in flight, cancelled by Ctrl+C.</summary>
    private protected EngineCall Call { get; } = new();

    /// <inheritdoc />
    protected override void StopProcessing() => Call.Cancel();

    /// <summary>The engine's client for <paramref name="endpoint"/>, opened at its first use.</summary>
    private protected AdminClient Endpoint(string endpoint, PSCredential? credential, string? fingerprint)
    {
        if (!_endpoints.TryGetValue(endpoint, out var admin))
            _endpoints[endpoint] = admin = AdminConnection.Open(this, endpoint, credential, fingerprint);
        return admin;
    }

    /// <summary>Runs a call on <paramref name="admin"/>. ClientNotFound is written as a non-terminating error (the other
    /// clients of the pipeline go on) and gives the default; any other failure ends the cmdlet.</summary>
    private protected T? Run<T>(AdminClient admin, Func<CancellationToken, Task<T>> call)
    {
        try
        {
            return AdminConnection.Call(this, Call, admin, call);
        }
        catch (TunnelException e) when (e.Code == TunnelErrorCode.ClientNotFound)
        {
            WriteError(TunnelErrors.From(e, admin.BaseAddress.ToString()));
            return default;
        }
    }

    /// <summary>Where a client read from <paramref name="admin"/> is: its URL, which Disconnect-TunnelClient -Server takes.</summary>
    private protected static TunnelClientInfo From(AdminClient admin, TunnelClientInfo client) => client with { Server = admin.BaseAddress.ToString() };

    /// <summary>A ClientNotFound error for a client that none of the servers read has.</summary>
    private protected static ErrorRecord NotFound(string what, object target) =>
        TunnelErrors.Create(new ItemNotFoundException($"No client {what} is connected to the servers read. Get-TunnelClient lists them."), "ClientNotFound", target);

    /// <summary>Closes the admin endpoints' connections.</summary>
    public void Dispose()
    {
        foreach (var admin in _endpoints.Values) admin.Dispose();
        _endpoints.Clear();
        Call.Dispose();
        GC.SuppressFinalize(this);
    }
}
