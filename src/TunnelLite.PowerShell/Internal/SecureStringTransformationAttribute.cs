using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Security;

namespace TunnelLite.PowerShell.Internal;

/// <summary>Lets a SecureString parameter (a token, a certificate password) also take a plain string, so that scripts can pass it from a variable or a file.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class SecureStringTransformationAttribute : ArgumentTransformationAttribute
{
    /// <inheritdoc />
    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        var value = inputData is PSObject pso ? pso.BaseObject : inputData;
        switch (value)
        {
            case null:
            case SecureString:
                return value;
            case string s:
                var secure = new SecureString();
                foreach (var c in s) secure.AppendChar(c);
                secure.MakeReadOnly();
                return secure;
            default:
                throw new ArgumentTransformationMetadataException($"Expected a SecureString or a string, not {value.GetType().Name}.");
        }
    }

    /// <summary>The plain text of a SecureString, for the engine (which never sends it over the wire).</summary>
    internal static string ToPlainText(SecureString secure)
    {
        var ptr = Marshal.SecureStringToGlobalAllocUnicode(secure);
        try
        {
            return Marshal.PtrToStringUni(ptr) ?? "";
        }
        finally
        {
            Marshal.ZeroFreeGlobalAllocUnicode(ptr);
        }
    }
}
