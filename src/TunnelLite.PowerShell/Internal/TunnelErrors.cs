using System.Management.Automation;
using TunnelLite.Config;

namespace TunnelLite.PowerShell.Internal;

/// <summary>Every ErrorRecord the module makes comes from here: one table gives each ErrorId (the <see cref="TunnelErrorCode"/>
/// names, and the module's own) its category and the RecommendedAction that <c>Get-Error</c> and <c>$err.ErrorDetails</c>
/// show, so that a new ErrorId is added in one place.</summary>
internal static class TunnelErrors
{
    /// <summary>The category and the recommended action of an ErrorId.</summary>
    internal sealed record Kind(ErrorCategory Category, string RecommendedAction);

    // A missing configuration file is ConfigNotFound (ObjectNotFound), not InvalidConfig: the file is not wrong, its path is.
    internal const string InvalidConfig = nameof(InvalidConfig);
    internal const string ConfigNotFound = nameof(ConfigNotFound);

    private const string CheckControlPort = "Check that -Server (serverAddr, serverPort) names the control port of a TunnelLite server (its bindPort, 7000 by default).";

    /// <summary>Every ErrorId the module uses.</summary>
    internal static readonly IReadOnlyDictionary<string, Kind> Table = new Dictionary<string, Kind>(StringComparer.Ordinal)
    {
        // The engine's codes (TunnelErrorCode), as New-Tunnel and Start-TunnelServer report them.
        [nameof(TunnelErrorCode.Unknown)] = new(ErrorCategory.NotSpecified,
            "Read the message for the cause; run the command again with -Verbose, and look at the server job's warnings (Receive-Job)."),
        [nameof(TunnelErrorCode.ProtocolError)] = new(ErrorCategory.ProtocolError, CheckControlPort),
        [nameof(TunnelErrorCode.VersionMismatch)] = new(ErrorCategory.ProtocolError,
            "Install the same TunnelLite version on the client and the server."),
        [nameof(TunnelErrorCode.AuthenticationFailed)] = new(ErrorCategory.AuthenticationError,
            "Give the server's token exactly (-Token, auth.token); with -ClientName or -Credential naming a [[clients]] account, that account's own token."),
        [nameof(TunnelErrorCode.PortNotAllowed)] = new(ErrorCategory.PermissionDenied,
            "Ask for a port among the server's allowPorts (and the client's own), or -RemotePort 0 to let the server pick one; a server needs privileges for ports below 1024."),
        [nameof(TunnelErrorCode.PortInUse)] = new(ErrorCategory.ResourceExists,
            "Choose another -RemotePort, or 0 to let the server pick a free one; or widen allowPorts on the server."),
        [nameof(TunnelErrorCode.DuplicateName)] = new(ErrorCategory.ResourceExists,
            "Choose another -Name. The tunnel of a client that died is freed after the server's heartbeat timeout (30 s)."),
        [nameof(TunnelErrorCode.ServerUnreachable)] = new(ErrorCategory.ConnectionError,
            "Check -Server (host and port), that the server runs, and that no firewall blocks its control port: Test-Connection <host> -TcpPort <port>."),
        [nameof(TunnelErrorCode.RegistrationTimeout)] = new(ErrorCategory.OperationTimeout,
            "Try again, or raise -TimeoutSec on a slow link."),
        [nameof(TunnelErrorCode.ControlPortInUse)] = new(ErrorCategory.ResourceExists,
            "Choose another -ControlPort (bindPort), or stop what listens there: ss -ltnp 'sport = :<port>' on Linux, Get-NetTCPConnection -LocalPort <port> -State Listen on Windows."),
        [nameof(TunnelErrorCode.QuotaExceeded)] = new(ErrorCategory.QuotaExceeded,
            "Stop a tunnel of this client (Stop-Tunnel), or raise maxTunnels ([[clients]]) or transport.maxTunnelsPerClient on the server."),
        [nameof(TunnelErrorCode.ServerShuttingDown)] = new(ErrorCategory.ResourceUnavailable,
            "Wait until the server runs again, then retry."),
        [nameof(TunnelErrorCode.BadRequest)] = new(ErrorCategory.InvalidArgument,
            "Give the tunnel a name of 1-128 printable characters (-Name, a proxy's name), and at most 256 networks such as 10.0.0.0/8 in each of -AllowSource and -DenySource (allowSources, denySources)."),
        [nameof(TunnelErrorCode.TlsMismatch)] = new(ErrorCategory.ProtocolError,
            "Use TLS at both ends or at neither: -Tls with -CertificateFingerprint for a server started with -Tls, no -Tls otherwise."),
        [nameof(TunnelErrorCode.CertificateMismatch)] = new(ErrorCategory.SecurityError,
            "If the server made a new certificate, pin the fingerprint its job shows (-CertificateFingerprint); if it did not, something else answers at that address: do not connect."),
        [nameof(TunnelErrorCode.CertificateUntrusted)] = new(ErrorCategory.SecurityError,
            "Pin the server's certificate (-CertificateFingerprint, as its job shows it), or trust its CA with -TrustedCaPath; the certificate must name the server's host."),
        [nameof(TunnelErrorCode.CertificateLoadFailed)] = new(ErrorCategory.ReadError,
            "Check the file the message names: its path, its format (PEM or PFX) and, for a PFX, -CertificatePassword."),
        [nameof(TunnelErrorCode.AuthenticationThrottled)] = new(ErrorCategory.AuthenticationError,
            "Wait as long as the message says, then retry with the right token."),
        [nameof(TunnelErrorCode.ServerAuthenticationFailed)] = new(ErrorCategory.SecurityError,
            "Check -Server and the token: that server does not know this client's token. On an untrusted network use -Tls with a pinned certificate."),
        [nameof(TunnelErrorCode.TooManySessions)] = new(ErrorCategory.QuotaExceeded,
            "Stop other tunnels of this account or address (Get-Tunnel), or raise transport.maxSessionsPerAccount or maxSessionsPerSource on the server."),
        [nameof(TunnelErrorCode.AddressNotAvailable)] = new(ErrorCategory.ResourceUnavailable,
            "Bind an address this host has (ip address, Get-NetIPAddress), 0.0.0.0 or :: for all of them, or 127.0.0.1 for this host only (-BindAddress, bindAddr)."),
        [nameof(TunnelErrorCode.AdminPortInUse)] = new(ErrorCategory.ResourceExists,
            "Choose another port for -AdminEndpoint (webServer.port), or stop what listens there: ss -ltnp 'sport = :<port>' on Linux, Get-NetTCPConnection -LocalPort <port> -State Listen on Windows."),
        [nameof(TunnelErrorCode.ClientBanned)] = new(ErrorCategory.PermissionDenied,
            "Wait until the ban the server's operator set is over (Disconnect-TunnelClient -BanSeconds); the tunnel job reconnects by itself."),
        [nameof(TunnelErrorCode.AdminEndpointUnreachable)] = new(ErrorCategory.ConnectionError,
            "Check -AdminEndpoint (address:port) and that the server or tunnel there runs with -AdminEndpoint (webServer.port); over HTTPS with a self-signed certificate, give its fingerprint with -CertificateFingerprint."),
        [nameof(TunnelErrorCode.AdminAuthenticationFailed)] = new(ErrorCategory.AuthenticationError,
            "Give the admin endpoint's user and password with -Credential (its -AdminCredential, or webServer.user and webServer.password); after failed logins, wait a minute."),
        [nameof(TunnelErrorCode.ClientNotFound)] = new(ErrorCategory.ObjectNotFound,
            "Run Get-TunnelClient to list the clients connected now; a client that reconnected has a new Id."),
        [nameof(TunnelErrorCode.DataPlaneFailed)] = new(ErrorCategory.InvalidResult,
            "Start the server or tunnel again; if it happens again, run it with -DataPlane Async and report the error."),
        [nameof(TunnelErrorCode.GroupKeyMismatch)] = new(ErrorCategory.SecurityError,
            "Give the group's key exactly as its other members do (-GroupKey, loadBalancer.groupKey), or another -Group and port for a group of its own."),
        [nameof(TunnelErrorCode.ReloadRefused)] = new(ErrorCategory.InvalidOperation,
            "Set the key the message names back to the value the server runs with (restart the server to change it), or give -ConfigPath to a server started without a file; the running configuration is unchanged."),

        // The module's own.
        [InvalidConfig] = new(ErrorCategory.InvalidData,
            "Fix the configuration file at the line and key the message names; Get-Help about_TunnelLite lists the keys."),
        [ConfigNotFound] = new(ErrorCategory.ObjectNotFound,
            "Check -ConfigPath: the file does not exist. A relative path is resolved from the current location."),
        ["InvalidPortRange"] = new(ErrorCategory.InvalidArgument,
            "Give ports or ranges from 1 to 65535, the lower port first: -AllowPorts 8080, '20000-20100'."),
        ["InvalidSourceNetwork"] = new(ErrorCategory.InvalidArgument,
            "Give addresses or networks in CIDR form, without host bits below the prefix: -AllowSource 203.0.113.7, '10.0.0.0/8', '2001:db8::/32'."),
        ["GroupWithoutKey"] = new(ErrorCategory.InvalidArgument,
            "Give -Group and -GroupKey together (loadBalancer.group and loadBalancer.groupKey in a file): the key proves that the tunnel may join the group."),
        ["InvalidBandwidthLimit"] = new(ErrorCategory.InvalidArgument,
            "Write a bandwidth as frp does, a number and KB or MB per second (KB = 1024 bytes): -BandwidthLimit 512KB, -BandwidthLimit 10MB."),
        ["InvalidServerAddress"] = new(ErrorCategory.InvalidArgument,
            "Write -Server as host, host:port or [IPv6]:port, for example vps.example.net:7000."),
        ["TokenRequired"] = new(ErrorCategory.InvalidArgument,
            "Pass the server's token with -Token, or set auth.token in the configuration file; New-TunnelToken makes one."),
        ["TokenAndCredential"] = new(ErrorCategory.InvalidArgument,
            "Give the token once: -Token, or -Credential (user name: the client name; password: its token)."),
        ["ClientNameMismatch"] = new(ErrorCategory.InvalidArgument,
            "Leave out -ClientName, or make it the user name of -Credential."),
        ["NoTunnels"] = new(ErrorCategory.InvalidArgument,
            "Add a [[proxies]] entry per tunnel (name, type = \"tcp\", localPort) to the client file."),
        ["TlsRequired"] = new(ErrorCategory.InvalidArgument,
            "Add -Tls (transport.tls.enable = true), or leave out the TLS parameters."),
        ["InvalidCertificateFingerprint"] = new(ErrorCategory.InvalidArgument,
            "Copy the 64 hex digits of the server job's CertificateFingerprint; colons are allowed."),
        ["CertificatePathRequired"] = new(ErrorCategory.InvalidArgument,
            "Give -CertificatePath with -CertificateKeyPath or -CertificatePassword."),
        ["InvalidCertificateOptions"] = new(ErrorCategory.InvalidArgument,
            "Use -CertificateKeyPath with a PEM certificate, -CertificatePassword with a PFX file (.pfx, .p12)."),
        ["InvalidServerOptions"] = new(ErrorCategory.InvalidArgument,
            "Fix the setting the message names (a parameter of Start-TunnelServer, or its key in the configuration file)."),
        ["InvalidTunnelOptions"] = new(ErrorCategory.InvalidArgument,
            "Fix the setting the message names (a parameter of New-Tunnel, or its key in the configuration file)."),
        ["SelectionRequired"] = new(ErrorCategory.InvalidArgument,
            "Name the tunnels to stop with -Name or -Id, pipe them from Get-Tunnel, or use -All."),
        ["DrainRequired"] = new(ErrorCategory.InvalidArgument,
            "Add -Drain to drain the servers with these times, or leave out -DrainDelaySec and -DrainTimeoutSec for a plain stop."),
        ["InvalidAdminEndpoint"] = new(ErrorCategory.InvalidArgument,
            "Write the admin endpoint as address:port, for example 127.0.0.1:7500 or [::1]:7500 (to read one, an http:// or https:// URL also works)."),
        ["AdminEndpointRequired"] = new(ErrorCategory.InvalidArgument,
            "Give -AdminEndpoint with -AdminCredential, or set webServer.port in the configuration file."),
        ["NotAServerJob"] = new(ErrorCategory.InvalidArgument,
            "Name a server job (from Start-TunnelServer); Get-Tunnel lists the jobs, and a tunnel's clients are listed by its server."),
        ["TunnelNotFound"] = new(ErrorCategory.ObjectNotFound,
            "Run Get-Tunnel to list the tunnel and server jobs of this process; removed jobs are gone."),
        ["NotATunnelJob"] = new(ErrorCategory.InvalidArgument,
            "Pipe only jobs of Get-Tunnel, New-Tunnel or Start-TunnelServer; use Stop-Job for other jobs."),
        ["ServerNotRunning"] = new(ErrorCategory.ResourceUnavailable,
            "Start the server again (Start-TunnelServer); only a running server reloads its configuration."),
        ["StopFailed"] = new(ErrorCategory.CloseError,
            "Read the job's other errors and warnings (Receive-Job); Remove-Job -Force lets go of it."),
        ["EndedUnexpectedly"] = new(ErrorCategory.OperationStopped,
            "Read the events before it (the lines above, or the service's journal); the service manager restarts it (Restart=on-failure)."),
        ["TunnelEngineError"] = new(ErrorCategory.NotSpecified,
            "Read the job's events around it (Receive-Job -Keep); the job goes on unless its State says otherwise. Please report an unexpected failure."),
    };

    /// <summary>For an ErrorId missing from the table: a bug, but the record must still be made.</summary>
    private static readonly Kind Unlisted = new(ErrorCategory.NotSpecified, "Read the message for the cause.");

    /// <summary>The category and recommended action of <paramref name="errorId"/>.</summary>
    public static Kind KindOf(string errorId) => Table.TryGetValue(errorId, out var kind) ? kind : Unlisted;

    /// <summary>An ErrorRecord for <paramref name="exception"/> with <paramref name="errorId"/>'s category and recommended
    /// action; <paramref name="message"/> replaces the text shown (by default the exception's message).</summary>
    public static ErrorRecord Create(Exception exception, string errorId, object? target, string? message = null)
    {
        var kind = KindOf(errorId);
        return new ErrorRecord(exception, errorId, kind.Category, target)
        {
            ErrorDetails = new ErrorDetails(message ?? exception.Message) { RecommendedAction = kind.RecommendedAction },
        };
    }

    public static ErrorRecord From(TunnelException e, object? target) => Create(e, e.Code.ToString(), target);

    public static ErrorRecord From(TunnelConfigException e) => Create(e, e.FileNotFound ? ConfigNotFound : InvalidConfig, e.FilePath);

    public static ErrorRecord InvalidArgument(string errorId, string message, object? target) =>
        Create(new ArgumentException(message), errorId, target);

    /// <summary>A job run with -Wait ended without being stopped: fatal for a service, which must exit non-zero to be restarted.</summary>
    public static ErrorRecord EndedUnexpectedly(string kind, string name, string state, Exception? reason) =>
        Create(new InvalidOperationException($"{kind} '{name}' ended without being stopped (state {state}){(reason is null ? "." : $": {reason.Message}")}", reason),
            "EndedUnexpectedly", name);

    /// <summary>Invalid options, reported without the "(Parameter 'X')" that ArgumentException appends (X is a property of
    /// the engine's options, which the user never typed) nor the "Actual value was" line of an ArgumentOutOfRangeException.</summary>
    public static ErrorRecord InvalidOptions(string errorId, ArgumentException e, object? target)
    {
        var text = e.Message;
        if (e.ParamName is { } name) text = text.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
        var lineEnd = text.IndexOfAny(['\r', '\n']);
        if (lineEnd >= 0) text = text[..lineEnd];
        return Create(new ArgumentException(text, e), errorId, target);
    }
}
