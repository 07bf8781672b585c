using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using TunnelLite.PowerShell.Jobs;

namespace TunnelLite.PowerShell.Internal;

/// <summary>Completes -Name from the live tunnel and server jobs of this process.</summary>
public sealed class TunnelNameCompleter : IArgumentCompleter
{
    /// <inheritdoc />
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = (wordToComplete ?? "").Trim('\'', '"');
        var pattern = new WildcardPattern(prefix + "*", WildcardOptions.IgnoreCase);
        foreach (var job in TunnelRegistry.All())
        {
            if (!pattern.IsMatch(job.Name)) continue;
            var text = job.Name.IndexOfAny(new[] { ' ', '\'', '"', '$', '`', ',', ';', '(', ')', '{', '}' }) >= 0 ? $"'{job.Name.Replace("'", "''")}'" : job.Name;
            yield return new CompletionResult(text, job.Name, CompletionResultType.ParameterValue, $"{job.PSJobTypeName} {job.Name} ({job.JobStateInfo.State}) {job.Location}");
        }
    }
}
