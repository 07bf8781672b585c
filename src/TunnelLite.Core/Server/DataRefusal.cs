namespace TunnelLite.Server;

/// <summary>Why the server refused a data connection: the code it tells the client, and the reason it logs.</summary>
internal sealed record DataRefusal(TunnelErrorCode Code, string Reason)
{
    /// <summary>Not a data connection of a live session: unknown session, wrong proof, replayed or stale counter.</summary>
    public static DataRefusal Rejected(string reason) => new(TunnelErrorCode.AuthenticationFailed, reason);

    /// <summary>Good, but the session has idle connections enough: the client should stop opening the ones it still owes.</summary>
    public static DataRefusal PoolFull(string reason) => new(TunnelErrorCode.QuotaExceeded, reason);
}
