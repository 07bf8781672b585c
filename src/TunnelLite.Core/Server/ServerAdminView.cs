using TunnelLite.Admin;
using TunnelLite.Statistics;

namespace TunnelLite.Server;

/// <summary>A server as its admin endpoint shows it.</summary>
internal sealed class ServerAdminView(TunnelServer server) : IAdminSource
{
    public TunnelRole Role => TunnelRole.Server;
    public TunnelStats Summary() => server.GetStatistics();
    public IReadOnlyList<TunnelStats> Tunnels() => server.GetTunnelStatistics();
    public IReadOnlyList<TunnelClientInfo> Clients() => server.GetClients();
    public double? ControlHeartbeatAgeSeconds => null;
    public RecentEvents Events => server.Events;

    public Readiness Ready(string? tunnel)
    {
        if (server.State == "Draining" && server.Drain is { } drain)
            return new(false, $"The server is draining: it stops accepting new users at {drain.StopsAccepting:yyyy-MM-dd HH:mm:ss} UTC.", Draining: true);
        if (server.State != "Running") return new(false, $"The server is {server.State.ToLowerInvariant()}.");
        if (tunnel is null) return new(true, $"The control port listens on {server.ControlEndpoint}.");
        return server.GetTunnelStatistics().FirstOrDefault(t => t.Name == tunnel) is { } t
            ? new(true, $"Tunnel {tunnel} listens on port {t.Port}.")
            : new(false, "No tunnel of that name is registered on this server.", Found: false);
    }

    public Task<TunnelClientInfo?> DisconnectClientAsync(string id, TimeSpan ban) => server.DisconnectClientAsync(id, ban);

    public Task<ServerReloadResult> ReloadAsync() => server.ReloadFromConfigAsync();

    public ServerDrain BeginDrain(TimeSpan? delay, TimeSpan? timeout) => server.BeginDrain(delay, timeout);
}
