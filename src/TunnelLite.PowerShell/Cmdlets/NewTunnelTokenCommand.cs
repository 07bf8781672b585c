using System.Management.Automation;
using System.Security;
using TunnelLite.Security;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>New-TunnelToken: makes a strong random token for -Token and auth.token (base64url, 256 bits by default).</summary>
[Cmdlet(VerbsCommon.New, "TunnelToken")]
[OutputType(typeof(string), typeof(SecureString))]
public sealed class NewTunnelTokenCommand : PSCmdlet
{
    /// <summary>Bits of randomness: 128, 192, 256 (the default), 384 or 512; the token has about bits / 6 characters.</summary>
    [Parameter(Position = 0)]
    [ValidateSet("128", "192", "256", "384", "512")]
    public int Bits { get; set; } = TokenStrength.DefaultBits;

    /// <summary>Returns the token as a read-only SecureString, for -Token, so that it is never shown or kept in the history.</summary>
    [Parameter]
    public SwitchParameter AsSecureString { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var token = TokenStrength.NewToken(Bits);
        WriteVerbose($"Made a token of {Bits} random bits ({token.Length} base64url characters).");
        if (!AsSecureString)
        {
            WriteObject(token);
            return;
        }
        var secure = new SecureString();
        foreach (var c in token) secure.AppendChar(c);
        secure.MakeReadOnly();
        WriteObject(secure);
    }
}
