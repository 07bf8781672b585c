namespace TunnelLite.Server;

/// <summary>What the server refused, and why, since it started: every bound a peer can hit is counted here, never silent.
/// Lock-free; read into <see cref="TunnelStats"/>.</summary>
internal sealed class AdmissionCounters
{
    private long _timeouts, _garbage, _sessionsRefused, _descriptorRefusals, _dataRefused;

    /// <summary>Connections closed for not finishing their preamble or handshake in time.</summary>
    public long HandshakeTimeouts => Interlocked.Read(ref _timeouts);
    /// <summary>Connections closed for not speaking the protocol (garbage, HTTP, TLS on a plain port, bad frames).</summary>
    public long Garbage => Interlocked.Read(ref _garbage);
    /// <summary>Logins refused at a session cap (per account, per source).</summary>
    public long SessionsRefused => Interlocked.Read(ref _sessionsRefused);
    /// <summary>Connections reset because the descriptor budget was reached (users, and the control port at its margin).</summary>
    public long DescriptorRefusals => Interlocked.Read(ref _descriptorRefusals);
    /// <summary>Data connections refused: unknown session, wrong proof, replayed or stale counter, or more than the session may pool.</summary>
    public long DataConnectionsRefused => Interlocked.Read(ref _dataRefused);

    public void HandshakeTimedOut() => Interlocked.Increment(ref _timeouts);
    public void GarbageClosed() => Interlocked.Increment(ref _garbage);
    public void SessionRefused() => Interlocked.Increment(ref _sessionsRefused);
    public void DescriptorRefused() => Interlocked.Increment(ref _descriptorRefusals);
    public void DataConnectionRefused() => Interlocked.Increment(ref _dataRefused);
}
