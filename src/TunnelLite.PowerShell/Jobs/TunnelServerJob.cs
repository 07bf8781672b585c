using System.Management.Automation;
using System.Net;
using TunnelLite.Admin;
using TunnelLite.PowerShell.Internal;
using TunnelLite.Server;

namespace TunnelLite.PowerShell.Jobs;

/// <summary>A TunnelLite server running in this pwsh process, as a job: Get-Job lists it, Stop-Job stops it,
/// Wait-Job blocks until it stops, Receive-Job shows its events.</summary>
public sealed class TunnelServerJob : TunnelJobBase
{
    private TunnelServer? _server;

    internal TunnelServerJob(string name, string command, JobStreamLogger logger) : base(command, name, "TunnelServer")
    {
        logger.Attach(this);
    }

    /// <summary>The engine server.</summary>
    public TunnelServer Server => _server ?? throw new InvalidOperationException("The server is not attached yet.");

    /// <summary>The control endpoint clients connect to.</summary>
    public string ControlEndpoint => _server?.ControlEndpoint?.ToString() ?? "";

    /// <summary>The control port (the real one when 0 was asked).</summary>
    public int ControlPort => _server?.ControlEndpoint?.Port ?? 0;

    /// <summary>SHA-256 fingerprint of the server's TLS certificate, which clients pin with New-Tunnel -CertificateFingerprint;
    /// empty when the server does not use TLS.</summary>
    public string CertificateFingerprint => _server?.CertificateFingerprint ?? "";

    /// <summary>The configuration file the server reads again on a reload (Update-TunnelServer, the admin endpoint, SIGHUP
    /// with -Wait); empty when it was started without one.</summary>
    public string ConfigPath => _server?.ConfigSource?.Path ?? "";

    /// <inheritdoc />
    public override string Location => ControlEndpoint;

    /// <inheritdoc />
    private protected override AdminServer? Admin => _server?.Admin;

    /// <summary>The clients connected now, each with this job's name as its Server.</summary>
    internal IEnumerable<TunnelClientInfo> GetClients() =>
        _server?.GetClients().Select(c => c with { Server = Name }) ?? [];

    /// <summary>Disconnects the client with <paramref name="id"/> and keeps it out for <paramref name="ban"/>; what it was,
    /// or null when no client of this server has that id.</summary>
    internal async Task<TunnelClientInfo?> DisconnectClientAsync(string id, TimeSpan ban) =>
        _server is null ? null : await _server.DisconnectClientAsync(id, ban).ConfigureAwait(false) is { } gone ? gone with { Server = Name } : null;

    /// <summary>Reads the server's file again (or <paramref name="path"/>, its file from then on) with the parameters it was
    /// started with over it, and applies it; what changed, with this job's name as its Server.</summary>
    /// <exception cref="Config.TunnelConfigException">The file is invalid: nothing changed.</exception>
    /// <exception cref="TunnelException">ReloadRefused: nothing changed.</exception>
    internal async Task<ServerReloadResult> ReloadAsync(string? path) =>
        (await Server.ReloadFromConfigAsync(path).ConfigureAwait(false)) with { Server = Name };

    /// <summary>Drains the server (<see cref="TunnelServer.BeginDrain"/>) and returns once it has stopped: the job is
    /// Stopping meanwhile (its statistics say Draining during the delay) and Stopped after. Null times are the server's
    /// own (transport.drainDelay, transport.drainTimeout). A Stop-Tunnel without -Drain meanwhile stops it at once.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A time below zero or above an hour.</exception>
    internal ServerDrain? Drain(TimeSpan? delay, TimeSpan? timeout)
    {
        ServerDrain? drain = null;
        StopJob("Stop-Tunnel -Drain", async () => drain = await Server.DrainAsync(delay, timeout).ConfigureAwait(false));
        return drain is null ? null : drain with { Server = Name };
    }

    /// <inheritdoc />
    /// <remarks>During a drain, a plain stop ends it at once.</remarks>
    private protected override void OnSecondStop()
    {
        if (_server?.Drain is not null) _ = _server.StopAsync();
    }

    internal void Attach(TunnelServer server)
    {
        _server = server;
        MarkRunning();
        // A drain through the admin endpoint is a stop the operator asked for, not an unexpected end.
        _ = server.Completion.ContinueWith(_ => MarkEnded(server.Fault, server.Drain is not null), TaskScheduler.Default);
    }

    /// <inheritdoc />
    protected override IEnumerable<TunnelStats> ReadStats(bool perTunnel)
    {
        if (_server is null) yield break;
        yield return _server.GetStatistics(Name);
        if (!perTunnel) yield break;
        foreach (var t in _server.GetTunnelStatistics()) yield return t;
    }

    /// <inheritdoc />
    /// <remarks>Its tunnels listen on its bind address; a wildcard one (0.0.0.0, ::) is probed on the loopback address.</remarks>
    internal override IEnumerable<ProbeTarget> ProbeTargets()
    {
        if (_server?.ControlEndpoint is not { } control) yield break;
        var address = control.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : control.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
            : control.Address;
        foreach (var t in _server.GetTunnelStatistics()) yield return new ProbeTarget(t.Name, address.ToString(), t.Port);
    }

    /// <inheritdoc />
    protected override Task StopEngineAsync() => _server?.StopAsync() ?? Task.CompletedTask;

    /// <inheritdoc />
    protected override void DisposeEngine() => _server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
