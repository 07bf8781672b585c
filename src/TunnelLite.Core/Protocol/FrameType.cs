namespace TunnelLite.Protocol;

/// <summary>The kind of a frame. Values are wire format: never renumber.</summary>
public enum FrameType : byte
{
    /// <summary>Client to server, first frame of a control connection.</summary>
    Hello = 1,
    /// <summary>Server to client: the nonce to prove the token over.</summary>
    Challenge = 2,
    /// <summary>Client to server: HMAC proof and session parameters.</summary>
    Auth = 3,
    /// <summary>Server to client: the session is open.</summary>
    AuthOk = 4,
    /// <summary>Either way: a failure with a code; the sender closes afterwards when it is fatal.</summary>
    Error = 5,
    /// <summary>Client to server: register tunnels.</summary>
    Register = 6,
    /// <summary>Server to client: one result per tunnel of a <see cref="Register"/>.</summary>
    RegisterResult = 7,
    /// <summary>Client to server: release a tunnel.</summary>
    Unregister = 8,
    /// <summary>Either way: liveness.</summary>
    Heartbeat = 9,
    /// <summary>Server to client: open data connections (proved with the session key and a counter).</summary>
    RequestWorkConn = 10,
    /// <summary>Client to server, first frame of a data connection.</summary>
    DataHello = 11,
    /// <summary>Server to client on a data connection: a user connection is paired with it; raw bytes follow.</summary>
    StartWork = 12,
    /// <summary>Client to server: the local service of a tunnel could not be reached.</summary>
    WorkFailed = 13,
    /// <summary>Either way: a graceful close of the control connection.</summary>
    Goodbye = 14,
    /// <summary>Client to server: a tunnel's health check withdrew it from its users, or put it back
    /// (only when <see cref="AuthOkMessage.HearsTunnelHealth"/>).</summary>
    TunnelHealth = 15,
}
