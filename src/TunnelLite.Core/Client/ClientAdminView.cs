using TunnelLite.Admin;
using TunnelLite.Statistics;

namespace TunnelLite.Client;

/// <summary>A client as its admin endpoint shows it.</summary>
internal sealed class ClientAdminView(TunnelClient client) : IAdminSource
{
    public TunnelRole Role => TunnelRole.Client;
    public TunnelStats Summary() => client.GetSummary();
    public IReadOnlyList<TunnelStats> Tunnels() => client.GetStatistics();
    public IReadOnlyList<TunnelClientInfo> Clients() => Array.Empty<TunnelClientInfo>();
    public double? ControlHeartbeatAgeSeconds => client.ServerSilentFor?.TotalSeconds;
    public RecentEvents Events => client.Events;

    public Readiness Ready(string? tunnel)
    {
        var server = $"{client.Options.ServerAddress}:{client.Options.ServerPort}";
        var why = client.State switch
        {
            ClientState.Connected => null,
            ClientState.Reconnecting => $"The client lost {server} and is reconnecting{(client.LastError is { } e ? $": {e.Message}" : ".")}",
            ClientState.Stopped => "The client has stopped.",
            _ => $"The client is connecting to {server}.",
        };
        if (tunnel is not null)
        {
            if (client.FindTunnel(tunnel) is not { } t) return new(false, "This client has no tunnel of that name.", Found: false);
            if (why is not null) return new(false, why);
            return t.RemotePort > 0 ? new(true, $"Tunnel {tunnel} is registered on {server}, port {t.RemotePort}.") : new(false, $"Tunnel {tunnel} is not registered yet.");
        }
        if (why is not null) return new(false, why);
        var waiting = client.Tunnels.Where(t => t.RemotePort == 0).Select(t => t.Name).ToList();
        return waiting.Count == 0
            ? new(true, $"Connected to {server}; all {client.Tunnels.Count} tunnel(s) registered.")
            : new(false, $"Not yet registered: {string.Join(", ", waiting.Take(10))}.");
    }

    public Task<TunnelClientInfo?> DisconnectClientAsync(string id, TimeSpan ban) =>
        throw new NotSupportedException("A client has no clients to disconnect.");

    public Task<ServerReloadResult> ReloadAsync() =>
        throw new NotSupportedException("A client's admin endpoint does not reload a configuration.");

    public ServerDrain BeginDrain(TimeSpan? delay, TimeSpan? timeout) =>
        throw new NotSupportedException("A client's admin endpoint does not drain; its server's does.");
}
