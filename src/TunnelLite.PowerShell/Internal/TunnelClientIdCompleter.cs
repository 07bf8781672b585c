using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Internal;

/// <summary>Completes a client -Id from the clients of this process's server jobs: what is typed may begin the Id or the
/// client's name, since nobody types 64 hex digits; the list shows the names.</summary>
public sealed class TunnelClientIdCompleter : IArgumentCompleter
{
    /// <inheritdoc />
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = (wordToComplete ?? "").Trim('\'', '"');
        foreach (var server in TunnelRegistry.All().OfType<TunnelServerJob>())
        {
            foreach (var c in server.GetClients())
            {
                if (!c.Id.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && !(c.Name ?? "").StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) continue;
                yield return new CompletionResult(c.Id, $"{c.Name} ({c.RemoteAddress})", CompletionResultType.ParameterValue,
                    $"Client '{c.Name}' from {c.RemoteAddress} on {server.Name}; tunnels: {string.Join(", ", c.Tunnels)}");
            }
        }
    }
}
