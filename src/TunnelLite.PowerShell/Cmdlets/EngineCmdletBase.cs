using System.Management.Automation;
using System.Security;
using TunnelLite.Admin;
using TunnelLite.Config;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>What the cmdlets that start engine objects share: Ctrl+C cancels the engine call (and, with -Wait, stops the job),
/// configuration files are read with their warnings shown, an empty token is refused before anything connects, and the
/// admin endpoint (-AdminEndpoint, -AdminCredential) is set up the same way for a server and a client.</summary>
public abstract class EngineCmdletBase : PSCmdlet
{
    /// <summary>Serves the admin endpoint (web dashboard at /, Prometheus metrics at /metrics, /healthz, /ready and the JSON
    /// API under /api/v1) on 'address:port', e.g. '127.0.0.1:7500'; port 0 picks a free one. Wins over the config's
    /// webServer.addr and webServer.port. Off loopback it needs -AdminCredential and speaks HTTPS.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? AdminEndpoint { get; set; }

    /// <summary>The admin endpoint's basic-auth user and password; every page but /healthz and /ready then needs them, and
    /// Disconnect-TunnelClient works only with them. Wins over the config's webServer.user and webServer.password.</summary>
    [Parameter]
    [Credential]
    [ValidateNotNull]
    public PSCredential? AdminCredential { get; set; }

    /// <summary>The engine call in flight, cancelled by Ctrl+C.</summary>
    private protected EngineCall Call { get; } = new();

    /// <inheritdoc />
    protected override void StopProcessing() => Call.Cancel();

    /// <inheritdoc />
    protected override void EndProcessing() => Call.Dispose();

    /// <summary>-Wait: runs <paramref name="jobs"/> (one engine object's) in the foreground until they are stopped, writing their
    /// events to the host; see <see cref="ForegroundJobRunner"/>.</summary>
    private protected void RunInForeground(IReadOnlyList<TunnelJobBase> jobs) => new ForegroundJobRunner(this, jobs, Call.Token).Run();

    /// <summary>Reads a TOML file with <paramref name="load"/>; warnings become WriteWarning, errors InvalidConfig.</summary>
    private protected T LoadConfig<T>(string configPath, string kind, SecureString? token, Func<string, string?, ConfigLoadResult<T>> load)
    {
        var path = GetUnresolvedProviderPathFromPSPath(configPath);
        WriteVerbose($"Reading {kind} configuration from {path}.");
        try
        {
            var loaded = load(path, token is null ? null : SecureStringTransformationAttribute.ToPlainText(token));
            foreach (var w in loaded.Warnings) WriteWarning(w.Message);
            return loaded.Options;
        }
        catch (TunnelConfigException e)
        {
            ThrowTerminatingError(TunnelErrors.From(e));
            throw; // unreachable: ThrowTerminatingError always throws
        }
    }

    /// <summary>-AdminEndpoint and -AdminCredential over the config's webServer keys; InvalidAdminEndpoint for an endpoint that
    /// is not address:port, AdminEndpointRequired for a credential that protects nothing.</summary>
    private protected void ApplyAdmin(AdminOptions admin)
    {
        if (ParseAdminEndpoint() is { } endpoint) (admin.Address, admin.Port) = endpoint;
        RequireAdminEndpoint(admin);
        if (AdminCredential is not null) (admin.User, admin.Password) = AdminConnection.Split(AdminCredential);
    }

    /// <summary>-AdminEndpoint as address and port, null when not given; InvalidAdminEndpoint when it is not address:port.</summary>
    private protected (string Address, int Port)? ParseAdminEndpoint()
    {
        if (AdminEndpoint is null) return null;
        try
        {
            return AdminOptions.ParseEndpoint(AdminEndpoint);
        }
        catch (ArgumentException e)
        {
            ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidAdminEndpoint", e.Message, AdminEndpoint));
            throw; // unreachable: ThrowTerminatingError always throws
        }
    }

    /// <summary>AdminEndpointRequired for an -AdminCredential that protects nothing (<paramref name="admin"/> is off).</summary>
    private protected void RequireAdminEndpoint(AdminOptions admin)
    {
        if (AdminCredential is not null && !admin.Enabled)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("AdminEndpointRequired",
                "-AdminCredential protects an admin endpoint: give -AdminEndpoint too (or webServer.port in the configuration file).", null));
    }

    /// <summary>Says where the admin endpoint of a started engine object listens, when it has one.</summary>
    private protected void WriteAdminVerbose(AdminServer? admin)
    {
        if (admin is null) return;
        WriteVerbose($"Admin endpoint on {admin.Url}: dashboard at /, metrics at /metrics, API at /api/v1" +
            (admin.CertificateFingerprint is { } pin ? $"; certificate SHA-256 fingerprint {pin}." : "."));
    }

    /// <summary>Refuses an empty -Token with TokenRequired.</summary>
    private protected void RejectEmptyToken(SecureString? token)
    {
        if (token is { Length: 0 })
            ThrowTerminatingError(TunnelErrors.InvalidArgument("TokenRequired", "The token is empty; pass the server's shared secret with -Token.", null));
    }

    /// <summary>The networks of -AllowSource or -DenySource (each value may list several, comma-separated); at most
    /// <paramref name="max"/>. A value that is not a network is a terminating InvalidSourceNetwork error.</summary>
    private protected List<SourceNetwork> ParseSourceNetworks(string[] values, string parameter, int max)
    {
        var networks = new List<SourceNetwork>();
        foreach (var text in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!SourceNetwork.TryParse(text, out var network, out var error))
                ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidSourceNetwork", $"-{parameter}: {error}", text));
            networks.Add(network);
        }
        if (networks.Count > max)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidSourceNetwork", $"-{parameter} lists {networks.Count} networks; at most {max} are allowed.", null));
        return networks;
    }

    /// <summary>Refuses options that ended up without a token.</summary>
    private protected void RequireToken(Security.Secret token, string? configPath)
    {
        if (token.IsEmpty)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("TokenRequired", "A token is required: pass -Token, or set auth.token in the configuration file.", configPath));
    }
}
