using System.Net.Sockets;

namespace TunnelLite.Protocol;

/// <summary>Liveness of a control connection, the same on both ends: send a heartbeat every interval, and give up on a peer
/// that has been silent (no frame of any kind) for longer than the timeout.</summary>
internal sealed class Heartbeat
{
    private readonly TimeSpan _interval;
    private readonly long _timeoutMs;
    private long _lastSeen = Environment.TickCount64;

    public Heartbeat(TimeSpan interval, TimeSpan timeout)
    {
        _interval = interval;
        _timeoutMs = (long)timeout.TotalMilliseconds;
    }

    /// <summary>The timeout in seconds, for messages.</summary>
    public double TimeoutSeconds => _timeoutMs / 1000.0;

    /// <summary>How long the peer has been silent.</summary>
    public TimeSpan SilentFor => TimeSpan.FromMilliseconds(Math.Max(0, Environment.TickCount64 - Interlocked.Read(ref _lastSeen)));

    /// <summary>Records that the peer sent something.</summary>
    public void Seen() => Interlocked.Exchange(ref _lastSeen, Environment.TickCount64);

    /// <summary>Runs until cancelled, the connection fails, or the peer falls silent; returns true in the last case.</summary>
    public async Task<bool> RunAsync(FrameConnection connection, CancellationToken cancellationToken)
    {
        // Check more often than we send, so that a silent peer is noticed close to the timeout.
        var tick = TimeSpan.FromMilliseconds(Math.Max(50, Math.Min(_interval.TotalMilliseconds, _timeoutMs / 4.0)));
        var nextSend = Environment.TickCount64 + (long)_interval.TotalMilliseconds;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(tick, cancellationToken).ConfigureAwait(false);
                var now = Environment.TickCount64;
                if (now - Interlocked.Read(ref _lastSeen) > _timeoutMs) return true;
                if (now >= nextSend)
                {
                    nextSend = now + (long)_interval.TotalMilliseconds;
                    await connection.SendAsync(new HeartbeatMessage(), cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
        }
        return false;
    }
}
