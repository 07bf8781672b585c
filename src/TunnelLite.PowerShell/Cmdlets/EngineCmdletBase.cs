using System.Management.Automation;
using System.Security;
using TunnelLite.Config;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>What the cmdlets that start engine objects share: Ctrl+C cancels the engine call (and, with -Wait, stops the job),
/// configuration files are read with their warnings shown, and an empty token is refused before anything connects.</summary>
public abstract class EngineCmdletBase : PSCmdlet
{
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

    /// <summary>Refuses an empty -Token with TokenRequired.</summary>
    private protected void RejectEmptyToken(SecureString? token)
    {
        if (token is { Length: 0 })
            ThrowTerminatingError(TunnelErrors.InvalidArgument("TokenRequired", "The token is empty; pass the server's shared secret with -Token.", null));
    }

    /// <summary>Refuses options that ended up without a token.</summary>
    private protected void RequireToken(Security.Secret token, string? configPath)
    {
        if (token.IsEmpty)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("TokenRequired", "A token is required: pass -Token, or set auth.token in the configuration file.", configPath));
    }
}
