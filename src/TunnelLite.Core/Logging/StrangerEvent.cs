namespace TunnelLite.Logging;

/// <summary>What a stranger (a peer not authenticated, or a user of a public port) did that the server warns about; each kind
/// is rate-limited and summed up on its own by <see cref="StrangerLog"/>.</summary>
internal enum StrangerEvent
{
    /// <summary>A connection to the control port was closed for not speaking the protocol.</summary>
    Garbage,

    /// <summary>A connection to the control port was closed for not completing its handshake within the deadline.</summary>
    HandshakeTimeout,

    /// <summary>A connection still in its handshake was closed to make room for others.</summary>
    HandshakeEvicted,

    /// <summary>A login was refused because its address is throttled after failed authentications (security-relevant).</summary>
    Throttled,

    /// <summary>A login failed: wrong token (security-relevant).</summary>
    AuthenticationFailed,

    /// <summary>A data connection was refused: its proof or nonce was wrong or its session is gone.</summary>
    DataConnectionRefused,

    /// <summary>A connection (a user's to a public port, or a stranger's to the control port) was reset because the server
    /// reached its descriptor budget.</summary>
    DescriptorRefusal,

    /// <summary>A session was refused because the server or the account has as many sessions as it may.</summary>
    SessionLimit,

    /// <summary>A request to the admin endpoint was refused: malformed, a wrong or throttled login, a foreign Host header,
    /// or a connection over the endpoint's limits.</summary>
    AdminRefused,

    /// <summary>A login to the admin endpoint failed or was refused while throttled: a wrong user or password
    /// (security-relevant).</summary>
    AdminLoginFailed,

    /// <summary>A user of a public port was reset because its address is denied, or not allowed, by the tunnel's source
    /// lists (the server's, the client account's or the client's).</summary>
    SourceRefused,
}
