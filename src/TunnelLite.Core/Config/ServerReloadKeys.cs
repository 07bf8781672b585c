using System.Globalization;
using TunnelLite.Security;

namespace TunnelLite.Config;

/// <summary>Which keys of a server's configuration a reload may change while it runs (live) and which it may not (fixed:
/// what was bound or built at start — the control port and its address, TLS, the data plane, the admin endpoint, the
/// handshake admission and the login throttle). A reload whose fixed keys differ is refused whole, naming the first.
/// Every setting of <see cref="TunnelServerOptions"/> is in this table (a test checks), so that a new one must be
/// classified. Secrets are compared in constant time and never shown.</summary>
internal static class ServerReloadKeys
{
    /// <summary>One key: the option it is (dotted for a nested one), its name in the file, whether it is live, how two
    /// options compare on it, and how its value is shown (null for a secret).</summary>
    internal sealed record Key(string Property, string Name, bool Live, Func<TunnelServerOptions, TunnelServerOptions, bool> Same, Func<TunnelServerOptions, string>? Show);

    /// <summary>Every key, fixed first, in the order a refusal names them.</summary>
    public static readonly IReadOnlyList<Key> All =
    [
        Plain(nameof(TunnelServerOptions.BindAddress), "bindAddr", false, o => o.BindAddress),
        Plain(nameof(TunnelServerOptions.ControlPort), "bindPort", false, o => Show(o.ControlPort)),
        Plain("Tls.Enabled", "transport.tls.enable", false, o => o.Tls.Enabled ? "true" : "false"),
        Plain("Tls.CertificateFile", "transport.tls.certFile", false, o => o.Tls.CertificateFile ?? "(none)"),
        Plain("Tls.KeyFile", "transport.tls.keyFile", false, o => o.Tls.KeyFile ?? "(none)"),
        Plain("Tls.PfxFile", "transport.tls.pfxFile", false, o => o.Tls.PfxFile ?? "(none)"),
        Hidden("Tls.PfxPassword", "transport.tls.pfxPassword", false, o => o.Tls.PfxPassword),
        Plain(nameof(TunnelServerOptions.ForwardingMode), "transport.forwardingMode", false, o => o.ForwardingMode.ToString()),
        Plain(nameof(TunnelServerOptions.DataPlane), "transport.dataPlane", false, o => o.DataPlane.ToString()),
        Plain(nameof(TunnelServerOptions.EventLoops), "transport.eventLoops", false, o => Show(o.EventLoops)),
        Plain(nameof(TunnelServerOptions.MaxPendingHandshakes), "transport.maxPendingHandshakes", false, o => Show(o.MaxPendingHandshakes)),
        Plain(nameof(TunnelServerOptions.MaxPendingHandshakesPerSource), "transport.maxPendingHandshakesPerSource", false, o => Show(o.MaxPendingHandshakesPerSource)),
        Plain(nameof(TunnelServerOptions.AuthFailureDelay), "transport.authFailureDelay", false, o => Seconds(o.AuthFailureDelay)),
        Plain(nameof(TunnelServerOptions.MaxAuthFailureDelay), "transport.authFailureDelay", false, o => Seconds(o.MaxAuthFailureDelay)),
        Plain("Admin.Address", "webServer.addr", false, o => o.Admin.Address ?? "(off)"),
        Plain("Admin.Port", "webServer.port", false, o => o.Admin.Enabled ? Show(o.Admin.Port) : "(off)"),
        Plain("Admin.User", "webServer.user", false, o => o.Admin.User ?? "(none)"),
        Hidden("Admin.Password", "webServer.password", false, o => o.Admin.Password),
        Plain("Admin.AllowedHosts", "webServer.allowedHosts", false, o => string.Join(", ", o.Admin.AllowedHosts)),
        Plain("Admin.Tls", "webServer.tls.enable", false, o => o.Admin.Tls ? "true" : "false"),
        Plain("Admin.CertificateFile", "webServer.tls.certFile", false, o => o.Admin.CertificateFile ?? "(none)"),
        Plain("Admin.KeyFile", "webServer.tls.keyFile", false, o => o.Admin.KeyFile ?? "(none)"),
        Plain("Admin.Metrics", "enablePrometheus", false, o => o.Admin.Metrics ? "true" : "false"),

        Hidden(nameof(TunnelServerOptions.Token), "auth.token", true, o => o.Token),
        Hidden(nameof(TunnelServerOptions.PreviousToken), "auth.previousToken", true, o => o.PreviousToken),
        Plain(nameof(TunnelServerOptions.PreviousTokenExpires), "auth.previousTokenExpires", true, o => o.PreviousTokenExpires is { } t ? TokenRotationKeys.Show(t) : "(none)"),
        Plain(nameof(TunnelServerOptions.AllowPorts), "allowPorts", true, o => o.AllowPorts.Count == 0 ? "any" : string.Join(", ", o.AllowPorts)),
        Plain(nameof(TunnelServerOptions.AllowSources), "allowSources", true, o => string.Join(", ", o.AllowSources)),
        Plain(nameof(TunnelServerOptions.DenySources), "denySources", true, o => string.Join(", ", o.DenySources)),
        Plain(nameof(TunnelServerOptions.MaxPoolCount), "transport.maxPoolCount", true, o => Show(o.MaxPoolCount)),
        Plain(nameof(TunnelServerOptions.HeartbeatInterval), "transport.heartbeatInterval", true, o => Seconds(o.HeartbeatInterval)),
        Plain(nameof(TunnelServerOptions.HeartbeatTimeout), "transport.heartbeatTimeout", true, o => Seconds(o.HeartbeatTimeout)),
        Plain(nameof(TunnelServerOptions.HandshakeTimeout), "transport.handshakeTimeout", true, o => Seconds(o.HandshakeTimeout)),
        Plain(nameof(TunnelServerOptions.PreambleTimeout), "transport.preambleTimeout", true, o => Seconds(o.PreambleTimeout)),
        Plain(nameof(TunnelServerOptions.UserConnectionTimeout), "transport.userConnectionTimeout", true, o => Seconds(o.UserConnectionTimeout)),
        Plain(nameof(TunnelServerOptions.MaxSessionsPerAccount), "transport.maxSessionsPerAccount", true, o => Show(o.MaxSessionsPerAccount)),
        Plain(nameof(TunnelServerOptions.MaxSessionsPerSource), "transport.maxSessionsPerSource", true, o => Show(o.MaxSessionsPerSource)),
        Plain(nameof(TunnelServerOptions.DescriptorReserve), "transport.descriptorReserve", true, o => Show(o.DescriptorReserve)),
        Plain(nameof(TunnelServerOptions.MaxPendingUserConnections), "transport.maxPendingUserConnections", true, o => Show(o.MaxPendingUserConnections)),
        Plain(nameof(TunnelServerOptions.MaxTunnelsPerClient), "transport.maxTunnelsPerClient", true, o => Show(o.MaxTunnelsPerClient)),
        Plain(nameof(TunnelServerOptions.MaxConnectionsPerTunnel), "transport.maxConnectionsPerTunnel", true, o => Show(o.MaxConnectionsPerTunnel)),
        Plain(nameof(TunnelServerOptions.DrainTimeout), "transport.drainTimeout", true, o => Seconds(o.DrainTimeout)),
        Plain(nameof(TunnelServerOptions.DrainDelay), "transport.drainDelay", true, o => Seconds(o.DrainDelay)),
    ];

    /// <summary>Settings that no key stands for: the clients (compared account by account, <see cref="AccountChanged"/>),
    /// the admin endpoint's limits and default ban (not in a file; the running endpoint keeps its own) and the logger.</summary>
    public static readonly IReadOnlyList<string> NotKeys =
        [nameof(TunnelServerOptions.Clients), nameof(TunnelServerOptions.LoggerFactory), "Admin.Limits", "Admin.DefaultBan"];

    /// <summary>The first fixed key whose value differs, with a sentence for the operator; null when none does.</summary>
    public static string? FixedChange(TunnelServerOptions running, TunnelServerOptions loaded)
    {
        foreach (var k in All)
        {
            if (k.Live || k.Same(running, loaded)) continue;
            var values = k.Show is null ? "changed" : $"{k.Show(running)} -> {k.Show(loaded)}";
            return $"{k.Name} cannot change while the server runs ({values}); restart the server to change it, or set it back. Nothing was changed.";
        }
        return null;
    }

    /// <summary>The names of the live keys whose value differs, in table order, each once.</summary>
    public static IReadOnlyList<string> LiveChanges(TunnelServerOptions running, TunnelServerOptions loaded) =>
        All.Where(k => k.Live && !k.Same(running, loaded)).Select(k => k.Name).Distinct().ToList();

    /// <summary>True when anything of an account differs: a token, its expiry, its ports, quota, bandwidth or lists.</summary>
    public static bool AccountChanged(ClientAccount a, ClientAccount b) =>
        !a.Token.SameAs(b.Token) || !a.PreviousToken.SameAs(b.PreviousToken) || a.PreviousTokenExpires != b.PreviousTokenExpires
        || !a.AllowPorts.SequenceEqual(b.AllowPorts) || a.MaxTunnels != b.MaxTunnels || a.BandwidthLimit != b.BandwidthLimit
        || !SameSources(a, b);

    /// <summary>True when two accounts have the same source lists.</summary>
    public static bool SameSources(ClientAccount? a, ClientAccount? b) =>
        (a?.AllowSources ?? []).SequenceEqual(b?.AllowSources ?? []) && (a?.DenySources ?? []).SequenceEqual(b?.DenySources ?? []);

    private static Key Plain(string property, string name, bool live, Func<TunnelServerOptions, string> show) =>
        new(property, name, live, (a, b) => string.Equals(show(a), show(b), StringComparison.Ordinal), show);

    private static Key Hidden(string property, string name, bool live, Func<TunnelServerOptions, Secret?> read) =>
        new(property, name, live, (a, b) => (read(a) ?? Secret.Empty).SameAs(read(b) ?? Secret.Empty), null);

    private static string Show(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s";
}
