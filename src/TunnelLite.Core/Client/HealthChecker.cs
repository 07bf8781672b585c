using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TunnelLite.Logging;

namespace TunnelLite.Client;

/// <summary>The health checks of a client's tunnels (<see cref="Config.TunnelDefinition.HealthCheck"/>): one timer-driven
/// loop per client, which starts each due check as a TCP connect to the tunnel's local service within its timeout. After
/// maxFailed failures in a row the tunnel is withdrawn from its users (the server is told, the port stays bound); after one
/// success it is put back. Both are logged; <see cref="ClientTunnel.Healthy"/> shows where it stands.</summary>
internal sealed class HealthChecker
{
    /// <summary>How often the loop looks for checks that are due.</summary>
    internal static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);

    private readonly TunnelClient _client;
    private readonly ILogger _log;

    public HealthChecker(TunnelClient client, ILogger log)
    {
        _client = client;
        _log = log;
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Tick);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var now = Environment.TickCount64;
                foreach (var t in _client.Tunnels)
                {
                    if (t.Definition.HealthCheck is not { } check || t.Stopped is not null || now < t.NextCheck) continue;
                    if (Interlocked.Exchange(ref t.Checking, 1) == 1) continue; // the previous check is still connecting
                    t.NextCheck = now + (long)check.Interval.TotalMilliseconds;
                    _ = CheckAsync(t, check, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task CheckAsync(ClientTunnel tunnel, Config.HealthCheck check, CancellationToken cancellationToken)
    {
        string? failure = null;
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(check.Timeout);
            var def = tunnel.Definition;
            using var s = IPAddress.TryParse(def.LocalAddress.Trim('[', ']'), out var ip)
                ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
                : new Socket(SocketType.Stream, ProtocolType.Tcp);
            if (ip is not null) await s.ConnectAsync(new IPEndPoint(ip, def.LocalPort), cts.Token).ConfigureAwait(false);
            else await s.ConnectAsync(def.LocalAddress, def.LocalPort, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            failure = $"no connection within {check.Timeout.TotalSeconds:0.##} s";
        }
        catch (OperationCanceledException)
        {
            return; // the client stops
        }
        catch (SocketException e)
        {
            failure = e.Message;
        }
        finally
        {
            Volatile.Write(ref tunnel.Checking, 0);
        }
        if (failure is null)
        {
            tunnel.Failures = 0;
            if (!tunnel.Healthy) Change(tunnel, true, null);
        }
        else if (++tunnel.Failures >= check.MaxFailed && tunnel.Healthy)
        {
            Change(tunnel, false, failure);
        }
    }

    private void Change(ClientTunnel tunnel, bool healthy, string? failure)
    {
        tunnel.Healthy = healthy;
        var name = PeerText.Escape(tunnel.Name, 128);
        if (healthy) _log.LogInformation("Tunnel {Tunnel}: {Local} answers again; it takes users again.", name, tunnel.LocalEndpoint);
        else
        {
            _log.LogWarning("Tunnel {Tunnel}: {Local} failed {Count} health check(s) in a row ({Error}); withdrawn from its users.", name, tunnel.LocalEndpoint, tunnel.Failures, failure);
            tunnel.Counters.RecordError($"Health check failed: {failure}");
        }
        _client.ReportHealth(tunnel);
    }
}
