using System.Management.Automation;
using TunnelLite.PowerShell.Output;

namespace TunnelLite.PowerShell;

/// <summary>Runs when the module is imported (PowerShell calls it for the module's assembly).</summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer
{
    /// <summary>Makes ConvertTo-Json write TunnelLite's enums by name (see <see cref="EnumJson"/>).</summary>
    public void OnImport() => EnumJson.Install();
}
