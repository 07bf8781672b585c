namespace TunnelLite.Config;

/// <summary>
/// The one list of frp's keys (frps.toml, frpc.toml) that TunnelLite does not read, and what it does about each: a key
/// whose absence weakens nothing here is <see cref="Harmless"/> and ignored with a warning, so that a file shared with
/// frp still loads; a key that guards something (who may log in, what is exposed, whether bytes are encrypted) is
/// <see cref="Refused"/>, an InvalidConfig error, because ignoring it would silently run with less protection than the
/// file asks for. Any other key TunnelLite does not read is an error too (see <see cref="UnusedKeys"/>), as frp refuses
/// unknown keys. Keys TunnelLite reads never get here, so the same name can be harmless or refused in one role and
/// supported in the other (<c>transport.tls.trustedCaFile</c>: a client's CA file, but a server's check of client
/// certificates). Documented in about_TunnelLite, Configuration files.
/// </summary>
internal static class FrpKeys
{
    /// <summary>One key (or, ending in <c>.*</c>, a table and everything in it), by schema path (no array indices).</summary>
    /// <param name="Pattern">e.g. <c>log.*</c>, <c>transport.tcpMux</c>, <c>proxies.healthCheck.*</c>.</param>
    /// <param name="Reason">Why it is ignored or refused, for the message; a clause that reads after "frp key ignored: ".</param>
    public sealed record Entry(string Pattern, string Reason)
    {
        public bool Matches(string schemaPath) => Pattern.EndsWith(".*", StringComparison.Ordinal)
            ? schemaPath == Pattern[..^2] || schemaPath.StartsWith(Pattern[..^1], StringComparison.Ordinal)
            : schemaPath == Pattern;
    }

    private const string TcpOnly = "TunnelLite carries TCP only, so it opens no UDP, KCP or QUIC port and punches no NAT holes";
    private const string TcpProxiesOnly = "TunnelLite carries only tcp proxies, so it opens no HTTP, HTTPS or tcpmux port";
    private const string NoPlugins = "TunnelLite has no server plugins to pass them to";

    /// <summary>Ignored with a warning: TunnelLite lacks the feature, and lacking it exposes nothing and weakens no check.</summary>
    public static readonly IReadOnlyList<Entry> Harmless =
    [
        // Both roles.
        new("log.*", "TunnelLite writes its events to the job's streams (Receive-Job), not to a log file"),
        new("webServer.assetsDir", "TunnelLite's dashboard is built into the module"),
        new("webServer.pprofEnable", "TunnelLite has no profiling endpoint; /metrics has the process's figures"),
        new("auth.additionalScopes", "TunnelLite proves the token on every data connection, and heartbeats travel on the authenticated control connection"),
        new("transport.tcpMux", "TunnelLite opens a TCP connection per user connection and multiplexes nothing"),
        new("transport.tcpMuxKeepaliveInterval", "TunnelLite opens a TCP connection per user connection and multiplexes nothing"),
        new("transport.quic.*", TcpOnly),
        new("udpPacketSize", TcpOnly),
        new("transport.tls.disableCustomTLSFirstByte", "TunnelLite frames its TLS connections its own way"),

        // frps.toml.
        new("kcpBindPort", TcpOnly),
        new("quicBindPort", TcpOnly),
        new("natholeAnalysisDataReserveHours", TcpOnly),
        new("transport.tcpKeepalive", "TunnelLite's heartbeats find dead connections"),
        new("vhostHTTPPort", TcpProxiesOnly),
        new("vhostHTTPSPort", TcpProxiesOnly),
        new("vhostHTTPTimeout", TcpProxiesOnly),
        new("subDomainHost", TcpProxiesOnly),
        new("custom404Page", TcpProxiesOnly),
        new("tcpmuxHTTPConnectPort", TcpProxiesOnly),
        new("tcpmuxPassthrough", TcpProxiesOnly),
        new("sshTunnelGateway.*", "TunnelLite has no SSH tunnel gateway, so it opens no port for one"),
        new("detailedErrorsToClient", "TunnelLite tells clients an error code and a short reason, never debugging details"),
        new("transport.tls.serverName", "a client key: the server presents its certificate whatever name the client expects"),

        // frpc.toml.
        new("user", "TunnelLite registers each tunnel under its name as written, without a user prefix"),
        new("clientID", "TunnelLite has no client ID (clientName names an account of the server)"),
        new("loginFailExit", "New-Tunnel fails when the first login fails; after that the job reconnects on its own"),
        new("natHoleStunServer", TcpOnly),
        new("dnsServer", "TunnelLite resolves serverAddr with the system's resolver"),
        new("transport.dialServerTimeout", "New-Tunnel -TimeoutSec sets the time to connect, log in and register"),
        new("transport.dialServerKeepalive", "TunnelLite's heartbeats find dead connections"),
        new("transport.wireProtocol", "TunnelLite speaks its own protocol, whatever frp's version"),
        new("transport.auto.*", "TunnelLite connects over TCP (transport.protocol = \"tcp\")"),
        new("featureGates.*", "TunnelLite has none of frp's experimental features"),
        new("virtualNet.*", "TunnelLite has no virtual network"),
        new("metadatas.*", NoPlugins),
        new("includes", "TunnelLite reads this file only: the proxies of included files are not loaded"),
        new("store.*", "TunnelLite has no admin API to store proxies through"),

        // [[proxies]] entries (type = "tcp").
        new("proxies.metadatas.*", NoPlugins),
        new("proxies.annotations.*", NoPlugins),
        new("proxies.transport.useCompression", "TunnelLite does not compress"),
        new("proxies.healthCheck.path", "TunnelLite checks with a TCP connect (healthCheck.type = \"tcp\"), not HTTP"),
        new("proxies.healthCheck.httpHeaders.*", "TunnelLite checks with a TCP connect (healthCheck.type = \"tcp\"), not HTTP"),
    ];

    /// <summary>An InvalidConfig error: ignoring the key would run with less protection than the file asks for.</summary>
    public static readonly IReadOnlyList<Entry> Refused =
    [
        // frps.toml.
        new("proxyBindAddr", "TunnelLite binds the public ports on bindAddr, and ignoring this key could expose them on addresses you meant to keep them off; set bindAddr instead"),
        new("allowedClientIPs", "TunnelLite cannot limit clients by address, and ignoring this key would let every address log in; restrict the control port in the firewall instead"),
        new("httpPlugins", "TunnelLite has no server plugins, and ignoring them would skip the checks they make on logins and proxies"),
        new("auth.oidc.*", "TunnelLite authenticates only with a token (auth.token)"),
        new("auth.tokenSource.*", "TunnelLite reads the token from auth.token; keep it out of the file with auth.token = \"{{ .Envs.NAME }}\" or -Token"),
        new("transport.tls.trustedCaFile", "frps checks client certificates against this CA, and TunnelLite cannot, so clients would log in without one"),
        new("webServer.tls.trustedCaFile", "frp's dashboard then asks browsers for a certificate signed by this CA, and TunnelLite's cannot, so the password alone would let anyone in"),
        new("proxies", "[[proxies]] belong in a client's file (New-Tunnel -ConfigPath)"),

        // frpc.toml.
        new("transport.tls.certFile", "TunnelLite clients present no certificate of their own (no mutual TLS)"),
        new("transport.tls.keyFile", "TunnelLite clients present no certificate of their own (no mutual TLS)"),
        new("transport.tls.force", "a server key: a client turns TLS on with transport.tls.enable = true"),
        new("transport.proxyURL", "TunnelLite connects to the server directly, and ignoring this key would bypass the proxy you meant to go through"),
        new("transport.connectServerLocalIP", "TunnelLite cannot choose the local address it connects from, and ignoring this key could route the connection another way, e.g. around a VPN"),
        new("transport.connectServerInterface", "TunnelLite cannot choose the interface it connects from, and ignoring this key could route the connection another way, e.g. around a VPN"),
        new("start", "TunnelLite starts every [[proxies]] entry, and ignoring this list would expose the ones it leaves out; remove the entries you do not want instead"),
        new("visitors", "TunnelLite has no visitors (stcp, xtcp, sudp): it carries only tcp proxies"),
        new("clients", "[[clients]] belong in a server's file (Start-TunnelServer -ConfigPath)"),
        new("proxies.plugin.*", "TunnelLite has no client plugins: users would reach localIP:localPort instead of the plugin"),
    ];

    /// <summary>The entry for <paramref name="schemaPath"/> and whether it is harmless; null when frp has no such key (as far
    /// as TunnelLite knows), which makes the key an unknown one.</summary>
    public static (Entry Entry, bool IsHarmless)? Find(string schemaPath)
    {
        if (Harmless.FirstOrDefault(e => e.Matches(schemaPath)) is { } harmless) return (harmless, true);
        if (Refused.FirstOrDefault(e => e.Matches(schemaPath)) is { } refused) return (refused, false);
        return null;
    }

    /// <summary>True when some key at or below <paramref name="tablePath"/> is in either list: such a table is judged key by key.</summary>
    public static bool CoversSomethingIn(string tablePath) =>
        Harmless.Concat(Refused).Any(e => e.Pattern == tablePath || e.Pattern.StartsWith(tablePath + ".", StringComparison.Ordinal) || e.Matches(tablePath));
}
