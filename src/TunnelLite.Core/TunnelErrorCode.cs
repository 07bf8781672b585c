namespace TunnelLite;

/// <summary>Why an engine operation failed. Stable: the PowerShell module uses these names as ErrorIds.</summary>
public enum TunnelErrorCode
{
    /// <summary>Not classified.</summary>
    Unknown = 0,
    /// <summary>The peer does not speak TunnelLite, sent a malformed frame or broke the message order.</summary>
    ProtocolError,
    /// <summary>The peers speak different protocol versions.</summary>
    VersionMismatch,
    /// <summary>The server rejected the client's token.</summary>
    AuthenticationFailed,
    /// <summary>The requested remote port is outside the server's allowed ports.</summary>
    PortNotAllowed,
    /// <summary>The requested remote port is taken on the server.</summary>
    PortInUse,
    /// <summary>A tunnel of that name is already registered on the server.</summary>
    DuplicateName,
    /// <summary>The client could not reach the server's control port.</summary>
    ServerUnreachable,
    /// <summary>The server did not confirm in time.</summary>
    RegistrationTimeout,
    /// <summary>The server's control port is taken by another process.</summary>
    ControlPortInUse,
    /// <summary>The client asked for more than its quota allows.</summary>
    QuotaExceeded,
    /// <summary>The server is shutting down.</summary>
    ServerShuttingDown,
    /// <summary>The request was not valid (a bad name, a bad port).</summary>
    BadRequest,
    /// <summary>One end uses TLS and the other does not.</summary>
    TlsMismatch,
    /// <summary>The server's certificate does not have the pinned SHA-256 fingerprint.</summary>
    CertificateMismatch,
    /// <summary>The server's certificate does not chain to a trusted root (the system store or the trusted CA file), or names another host.</summary>
    CertificateUntrusted,
    /// <summary>A certificate, key or CA file could not be read or used.</summary>
    CertificateLoadFailed,
    /// <summary>Too many failed authentications from the client's address; it must wait before it tries again.</summary>
    AuthenticationThrottled,
    /// <summary>The server could not prove that it knows the token: it is not the server the client meant (or its token differs).
    /// The client opened no data connection and made no local connection for it.</summary>
    ServerAuthenticationFailed,
    /// <summary>The account, or the client's address, already has as many sessions open as the server allows.</summary>
    TooManySessions,
    /// <summary>The server cannot bind its address: this host has no such address (a typo, or an interface that is down
    /// or gone since the server started).</summary>
    AddressNotAvailable,
    /// <summary>The admin endpoint's port is taken (webServer.port / -AdminEndpoint).</summary>
    AdminPortInUse,
    /// <summary>The server's operator disconnected this client and keeps it out for a while (Disconnect-TunnelClient -BanSeconds).</summary>
    ClientBanned,
    /// <summary>The admin endpoint asked for could not be reached or did not answer as a TunnelLite admin endpoint.</summary>
    AdminEndpointUnreachable,
    /// <summary>The admin endpoint refused the credentials given (or none were given and it needs them).</summary>
    AdminAuthenticationFailed,
    /// <summary>No client connected to the server has the id given.</summary>
    ClientNotFound,
    /// <summary>An event loop of the data plane failed: its connections were reset and the server or client stopped.
    /// The process goes on; start the server or tunnel again, or use -DataPlane Async, and report the error.</summary>
    DataPlaneFailed,
    /// <summary>A reload of the server's configuration was refused as a whole and changed nothing: a key that cannot change
    /// while the server runs (bindAddr, bindPort, transport.tls.*, ...) differs, or the server has no file to read again.</summary>
    ReloadRefused,
    /// <summary>A tunnel asked to join a load-balancing group with a key that is not the group's (loadBalancer.groupKey).</summary>
    GroupKeyMismatch,
}
