using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace TunnelLite.Protocol;

/// <summary>An open control connection, the same machinery on both ends: a read loop that hands each frame to the
/// subclass, heartbeats that drop a silent peer, a graceful goodbye, and one teardown whatever ended it.</summary>
internal abstract class ControlChannel
{
    private readonly CancellationTokenSource _closing = new();
    private readonly Heartbeat _heartbeat;
    private volatile bool _closingByUs;

    protected ControlChannel(FrameConnection connection, TimeSpan heartbeatInterval, TimeSpan heartbeatTimeout, ILogger log)
    {
        Connection = connection;
        Log = log;
        _heartbeat = new Heartbeat(heartbeatInterval, heartbeatTimeout);
    }

    protected FrameConnection Connection { get; }
    protected ILogger Log { get; }

    /// <summary>Cancelled when the channel closes, for whatever reason.</summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>Completes when the channel has closed and torn down.</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    /// <summary>How long the peer has been silent (no frame of any kind), for the admin endpoint's heartbeat age.</summary>
    public TimeSpan SilentFor => _heartbeat.SilentFor;

    /// <summary>True once this side asked to close: the peer's answering close is then not news.</summary>
    protected bool ClosingByUs => _closingByUs;

    /// <summary>Starts the read and heartbeat loops.</summary>
    protected void StartLoops() => Completion = RunAsync();

    /// <summary>Says goodbye when it can, closes, and waits for the teardown.</summary>
    public async Task CloseAsync(string reason)
    {
        _closingByUs = true;
        if (!_closing.IsCancellationRequested)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await Connection.SendAsync(new GoodbyeMessage { Reason = reason }, cts.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Best effort: the peer may be gone.
            }
        }
        Abort();
        await Completion.ConfigureAwait(false);
    }

    /// <summary>Sends a message; a failure closes the channel instead of throwing.</summary>
    protected async Task SendOrCloseAsync<T>(T message) where T : class
    {
        try
        {
            await Connection.SendAsync(message, _closing.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            Abort();
        }
    }

    /// <summary>Closes at once, without a goodbye.</summary>
    protected void Abort()
    {
        try { _closing.Cancel(); } catch (ObjectDisposedException) { }
        Connection.Dispose();
    }

    /// <summary>Handles one frame; false ends the channel.</summary>
    protected abstract ValueTask<bool> HandleAsync(Frame frame);

    /// <summary>The peer fell silent past the heartbeat timeout.</summary>
    protected abstract void OnSilence(double timeoutSeconds);

    /// <summary>The peer broke the protocol; the channel closes after this.</summary>
    protected abstract Task OnProtocolErrorAsync(ProtocolException error);

    /// <summary>The connection ended without a goodbye: null for a clean close by the peer, else the error.</summary>
    protected abstract void OnConnectionLost(Exception? error);

    /// <summary>Runs once, after both loops have ended.</summary>
    protected abstract Task OnClosedAsync();

    private async Task RunAsync()
    {
        var heartbeat = HeartbeatLoopAsync();
        try
        {
            while (!_closing.IsCancellationRequested)
            {
                var frame = await Connection.ReadAsync(_closing.Token).ConfigureAwait(false);
                if (frame is null)
                {
                    if (!_closingByUs) OnConnectionLost(null);
                    break;
                }
                _heartbeat.Seen();
                if (!await HandleAsync(frame.Value).ConfigureAwait(false)) break;
            }
        }
        catch (ProtocolException e)
        {
            await OnProtocolErrorAsync(e).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            if (!_closing.IsCancellationRequested && !_closingByUs) OnConnectionLost(e);
        }
        finally
        {
            Abort();
            await heartbeat.ConfigureAwait(false);
            await OnClosedAsync().ConfigureAwait(false);
        }
    }

    private async Task HeartbeatLoopAsync()
    {
        if (await _heartbeat.RunAsync(Connection, _closing.Token).ConfigureAwait(false)) OnSilence(_heartbeat.TimeoutSeconds);
        Abort();
    }
}
