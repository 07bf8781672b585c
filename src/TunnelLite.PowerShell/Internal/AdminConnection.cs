using System.Management.Automation;
using TunnelLite.Admin;
using TunnelLite.Security;

namespace TunnelLite.PowerShell.Internal;

/// <summary>The admin endpoint of a server or tunnel in another process, as the cmdlets that read or steer one open it
/// (-AdminEndpoint, -Credential, -CertificateFingerprint), and credentials as the engine takes them.</summary>
internal static class AdminConnection
{
    /// <summary>A PSCredential's user (without the leading '\' that Get-Credential adds to a name without a domain) and its
    /// password, as a Secret read from the SecureString without a managed copy.</summary>
    public static (string User, Secret Password) Split(PSCredential credential) =>
        (credential.UserName?.TrimStart('\\') ?? "", Secret.From(credential.Password));

    /// <summary>Runs a call on <paramref name="admin"/> that Ctrl+C cancels; a failure (unreachable, credentials refused)
    /// is a terminating error, since every further call would fail the same way.</summary>
    public static T Call<T>(Cmdlet cmdlet, EngineCall call, AdminClient admin, Func<CancellationToken, Task<T>> request)
    {
        try
        {
            return call.Run(request);
        }
        catch (TunnelException e)
        {
            cmdlet.ThrowTerminatingError(TunnelErrors.From(e, admin.BaseAddress.ToString()));
            throw; // unreachable: ThrowTerminatingError always throws
        }
    }

    /// <summary>An engine client for <paramref name="endpoint"/>; a malformed endpoint or fingerprint is a terminating error
    /// (InvalidAdminEndpoint, InvalidCertificateFingerprint).</summary>
    public static AdminClient Open(Cmdlet cmdlet, string endpoint, PSCredential? credential, string? fingerprint)
    {
        if (fingerprint is not null && !CertificateFingerprint.TryNormalize(fingerprint, out _))
            cmdlet.ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidCertificateFingerprint",
                $"'{fingerprint}' is not a SHA-256 fingerprint: expected the 64 hex digits of the job's AdminCertificateFingerprint, colons allowed.", fingerprint));
        string? user = null;
        Secret? password = null;
        if (credential is not null) (user, password) = Split(credential);
        try
        {
            return new AdminClient(endpoint, user, password, fingerprint);
        }
        catch (ArgumentException e)
        {
            cmdlet.ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidAdminEndpoint", e.Message, endpoint));
            throw; // unreachable: ThrowTerminatingError always throws
        }
    }
}
