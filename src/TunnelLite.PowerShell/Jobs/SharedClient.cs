using TunnelLite.Client;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>One engine client, on one server or several, shared by the tunnel jobs made from one New-Tunnel call (one
/// per [[proxies]] entry). The client stops when its last tunnel job stops.</summary>
internal sealed class SharedClient
{
    private int _users;

    public SharedClient(MultiServerClient client, JobStreamLogger logger)
    {
        Client = client;
        Logger = logger;
    }

    public MultiServerClient Client { get; }
    public JobStreamLogger Logger { get; }

    public void AddUser() => Interlocked.Increment(ref _users);

    /// <summary>Releases one tunnel; stops the client after the last one.</summary>
    public async Task ReleaseAsync(string tunnelName)
    {
        if (Interlocked.Decrement(ref _users) <= 0)
            await Client.StopAsync().ConfigureAwait(false);
        else
            await Client.RemoveTunnelAsync(tunnelName).ConfigureAwait(false);
    }
}
