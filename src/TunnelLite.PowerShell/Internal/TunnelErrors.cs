using System.Management.Automation;
using TunnelLite.Config;

namespace TunnelLite.PowerShell.Internal;

/// <summary>Turns engine failures into ErrorRecords with stable ErrorIds (the <see cref="TunnelErrorCode"/> names).</summary>
internal static class TunnelErrors
{
    public static ErrorRecord From(TunnelException e, object? target) =>
        new(e, e.Code.ToString(), CategoryOf(e.Code), target);

    public static ErrorRecord From(TunnelConfigException e) =>
        new(e, "InvalidConfig", ErrorCategory.InvalidData, e.FilePath);

    public static ErrorRecord InvalidArgument(string errorId, string message, object? target) =>
        new(new ArgumentException(message), errorId, ErrorCategory.InvalidArgument, target);

    /// <summary>A job run with -Wait ended without being stopped: fatal for a service, which must exit non-zero to be restarted.</summary>
    public static ErrorRecord EndedUnexpectedly(string kind, string name, string state, Exception? reason) =>
        new(new InvalidOperationException($"{kind} '{name}' ended without being stopped (state {state}){(reason is null ? "." : $": {reason.Message}")}", reason),
            "EndedUnexpectedly", ErrorCategory.OperationStopped, name);

    private static ErrorCategory CategoryOf(TunnelErrorCode code) => code switch
    {
        TunnelErrorCode.AuthenticationFailed or TunnelErrorCode.AuthenticationThrottled => ErrorCategory.AuthenticationError,
        TunnelErrorCode.PortNotAllowed => ErrorCategory.PermissionDenied,
        TunnelErrorCode.PortInUse or TunnelErrorCode.ControlPortInUse or TunnelErrorCode.DuplicateName => ErrorCategory.ResourceExists,
        TunnelErrorCode.ServerUnreachable => ErrorCategory.ConnectionError,
        TunnelErrorCode.RegistrationTimeout => ErrorCategory.OperationTimeout,
        TunnelErrorCode.VersionMismatch or TunnelErrorCode.ProtocolError => ErrorCategory.ProtocolError,
        TunnelErrorCode.BadRequest => ErrorCategory.InvalidArgument,
        TunnelErrorCode.QuotaExceeded or TunnelErrorCode.TooManySessions => ErrorCategory.QuotaExceeded,
        TunnelErrorCode.ServerAuthenticationFailed => ErrorCategory.SecurityError,
        TunnelErrorCode.TlsMismatch => ErrorCategory.ProtocolError,
        TunnelErrorCode.CertificateMismatch or TunnelErrorCode.CertificateUntrusted => ErrorCategory.SecurityError,
        TunnelErrorCode.CertificateLoadFailed => ErrorCategory.ReadError,
        _ => ErrorCategory.NotSpecified,
    };
}
