using TunnelLite.Admin;
using TunnelLite.Statistics;

namespace TunnelLite.Client;

/// <summary>A client with several servers as its admin endpoint shows it: each tunnel once, summed over the servers (the
/// per-server objects would repeat a tunnel's name in /metrics and /api/v1/tunnels; Get-TunnelStats on the job has them).</summary>
internal sealed class MultiServerAdminView(MultiServerClient client) : IAdminSource
{
    public TunnelRole Role => TunnelRole.Client;
    public TunnelStats Summary() => client.GetSummary();

    public IReadOnlyList<TunnelStats> Tunnels() =>
        client.Clients[0].Tunnels.Select(t => client.GetStatistics(client.FindTunnels(t.Name))).Where(s => s.Count > 0).Select(s => s[0]).ToList();

    public IReadOnlyList<TunnelClientInfo> Clients() => Array.Empty<TunnelClientInfo>();

    // The freshest server: the endpoint is alive while any server is heard from.
    public double? ControlHeartbeatAgeSeconds => client.Clients.Select(c => c.ServerSilentFor).Where(s => s is not null).Min()?.TotalSeconds;

    public RecentEvents Events => client.Events;

    public Readiness Ready(string? tunnel)
    {
        var servers = string.Join(", ", client.Servers);
        if (client.State == ClientState.Stopped) return new(false, "The client has stopped.");
        var connected = client.Clients.Where(c => c.State == ClientState.Connected).ToList();
        if (tunnel is not null && client.FindTunnels(tunnel).Count == 0) return new(false, "This client has no tunnel of that name.", Found: false);
        if (connected.Count == 0)
            return new(false, $"No server carries the tunnels yet ({servers}){(client.LastError is { } e ? $": {e.Message}" : ".")}");
        var on = $"{connected.Count} of {client.Servers.Count} servers ({servers})";
        if (tunnel is not null)
            return connected.Any(c => c.FindTunnel(tunnel)?.RemotePort > 0)
                ? new(true, $"Tunnel {tunnel} is registered on {on}.")
                : new(false, $"Tunnel {tunnel} is not registered yet.");
        return new(true, $"Connected to {on}; {connected[0].Tunnels.Count} tunnel(s) registered.");
    }

    public Task<TunnelClientInfo?> DisconnectClientAsync(string id, TimeSpan ban) =>
        throw new NotSupportedException("A client has no clients to disconnect.");

    public Task<ServerReloadResult> ReloadAsync() =>
        throw new NotSupportedException("A client's admin endpoint does not reload a configuration.");

    public ServerDrain BeginDrain(TimeSpan? delay, TimeSpan? timeout) =>
        throw new NotSupportedException("A client's admin endpoint does not drain; its servers' do.");
}
