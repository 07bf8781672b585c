namespace TunnelLite.Config;

/// <summary>Maps the keys of an frps.toml onto <see cref="TunnelServerOptions"/>.</summary>
internal static class ServerConfigBinder
{
    public static TunnelServerOptions Bind(TomlConfigDocument document, string? tokenFallback)
    {
        var root = document.Root;
        var options = new TunnelServerOptions();

        if (root.GetString("bindAddr") is { } bindAddr) options.BindAddress = bindAddr;
        // 1-65535, unlike ControlPort's 0 ("any free port"): clients must be told the port, so a file cannot leave it to chance.
        if (root.GetPort("bindPort") is { } bindPort) options.ControlPort = bindPort;
        var clients = root.GetTableArray("clients");
        // With every client listed under [[clients]], the shared token is optional.
        var sharedToken = SharedConfigKeys.ReadToken(root, tokenFallback ?? (clients is { Count: > 0 } ? "" : null));
        options.Token = sharedToken;
        var sharedPrevious = TokenRotationKeys.Read(root.GetTable("auth"));
        options.PreviousToken = sharedPrevious.Token;
        options.PreviousTokenExpires = sharedPrevious.Expires;
        // Every token, current and previous, says who proves it: each must be unique. Keyed by value, naming the key.
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        if (sharedToken.Length > 0) tokens[sharedToken] = "auth.token";
        if (sharedPrevious.Token is { } previous)
        {
            if (tokens.ContainsKey(previous))
                throw sharedPrevious.TokenNode!.Error("the previous token is the same as auth.token; a rotation needs a new token in auth.token");
            tokens[previous] = "auth.previousToken";
        }
        if (root.GetArray("allowPorts") is { } allowPorts) options.AllowPorts = ReadAllowPorts(allowPorts);
        if (SourceConfigKeys.Read(root, "allowSources", TunnelServerOptions.MaxSourceNetworks) is { } allowSources) options.AllowSources = allowSources;
        if (SourceConfigKeys.Read(root, "denySources", TunnelServerOptions.MaxSourceNetworks) is { } denySources) options.DenySources = denySources;
        if (clients is not null) options.Clients = ReadClients(clients, tokens);
        options.Admin = AdminConfigKeys.Read(root);

        // frps' names for two limits that TunnelLite keeps under transport; 0 in maxPortsPerClient is frp's "no limit".
        var maxPorts = root.GetInt("maxPortsPerClient", 0, MaxTunnelsLimit);
        var maxPortsReading = SynonymKeys.Read<int>(root, "maxPortsPerClient", maxPorts is 0 ? MaxTunnelsLimit : maxPorts, _ => Show(maxPorts.GetValueOrDefault()));
        var userConnReading = SynonymKeys.Read(root, "userConnTimeout", root.GetSeconds("userConnTimeout"), Seconds);
        SynonymKeys.Reading<int> maxTunnelsReading = default;
        SynonymKeys.Reading<TimeSpan> userConnectionReading = default;

        var transport = root.GetTable("transport");
        if (transport is not null)
        {
            if (transport.GetInt("maxPoolCount", 0, 1000) is { } maxPool) options.MaxPoolCount = maxPool;
            if (transport.GetSeconds("heartbeatInterval") is { } interval) options.HeartbeatInterval = interval;
            if (SharedConfigKeys.ReadForwardingMode(transport) is { } mode) options.ForwardingMode = mode;
            if (SharedConfigKeys.ReadDataPlane(transport) is { } plane) options.DataPlane = plane;
            if (SharedConfigKeys.ReadEventLoops(transport) is { } loops) options.EventLoops = loops;
            if (transport.GetSeconds("heartbeatTimeout") is { } timeout) options.HeartbeatTimeout = timeout;
            if (transport.GetSeconds("handshakeTimeout") is { } handshake) options.HandshakeTimeout = handshake;
            userConnectionReading = SynonymKeys.Read(transport, "userConnectionTimeout", transport.GetSeconds("userConnectionTimeout"), Seconds);
            if (transport.GetSeconds("preambleTimeout") is { } preamble) options.PreambleTimeout = preamble;
            if (transport.GetInt("maxPendingHandshakes", 1, 100_000) is { } pending) options.MaxPendingHandshakes = pending;
            if (transport.GetInt("maxPendingHandshakesPerSource", 1, 100_000) is { } pendingPerSource) options.MaxPendingHandshakesPerSource = pendingPerSource;
            if (transport.GetInt("maxSessionsPerAccount", 1, 100_000) is { } sessionsPerAccount) options.MaxSessionsPerAccount = sessionsPerAccount;
            if (transport.GetInt("maxSessionsPerSource", 1, 100_000) is { } sessionsPerSource) options.MaxSessionsPerSource = sessionsPerSource;
            if (transport.GetInt("descriptorReserve", 64, 1_000_000) is { } reserve) options.DescriptorReserve = reserve;
            if (transport.GetInt("maxPendingUserConnections", 1, 1_000_000) is { } waiting) options.MaxPendingUserConnections = waiting;
            if (transport.GetInt("maxConnectionsPerTunnel", 1, 1_000_000) is { } perTunnel) options.MaxConnectionsPerTunnel = perTunnel;
            maxTunnelsReading = SynonymKeys.Read(transport, "maxTunnelsPerClient", transport.GetInt("maxTunnelsPerClient", 1, MaxTunnelsLimit), Show);
            if (transport.GetInt("authFailureDelay", 0, 3600) is { } authDelay)
            {
                options.AuthFailureDelay = TimeSpan.FromSeconds(authDelay);
                if (options.MaxAuthFailureDelay < options.AuthFailureDelay) options.MaxAuthFailureDelay = options.AuthFailureDelay;
            }
            if (transport.GetInt("drainTimeout", 0, 3600) is { } drainTimeout) options.DrainTimeout = TimeSpan.FromSeconds(drainTimeout);
            if (transport.GetInt("drainDelay", 0, 3600) is { } drainDelay) options.DrainDelay = TimeSpan.FromSeconds(drainDelay);
            if (transport.GetTable("tls") is { } tls) options.Tls = TlsConfigKeys.ReadServer(tls);
        }
        SharedConfigKeys.CheckHeartbeats(transport, root, options.HeartbeatInterval, options.HeartbeatTimeout);
        if (SynonymKeys.Agree(maxPortsReading, maxTunnelsReading) is { } maxTunnels) options.MaxTunnelsPerClient = maxTunnels;
        if (SynonymKeys.Agree(userConnReading, userConnectionReading) is { } userTimeout) options.UserConnectionTimeout = userTimeout;
        return options;
    }

    /// <summary>The largest tunnel quota a file may set; it stands for frp's "no limit" (maxPortsPerClient = 0).</summary>
    private const int MaxTunnelsLimit = 100_000;

    private static string Show(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary><c>[[clients]]</c>: name, token (and previous token), allowPorts, maxTunnels, allowSources and denySources of each client with a token
    /// of its own. <paramref name="tokens"/> holds the tokens seen so far (the shared ones), each with its key.</summary>
    private static List<ClientAccount> ReadClients(IReadOnlyList<TomlConfigTable> tables, Dictionary<string, string> tokens)
    {
        var accounts = new List<ClientAccount>(tables.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in tables)
        {
            var name = entry.GetString("name") ?? throw entry.MissingError("name", "each [[clients]] entry needs a name");
            if (name.Length > 128 || name.Any(char.IsControl))
                throw entry.ValueError(entry.Find("name")!, "a client name must be 1-128 printable characters");
            if (!names.Add(name)) throw entry.ValueError(entry.Find("name")!, $"client \"{name}\" is listed twice");
            var token = entry.GetString("token") ?? throw entry.MissingError("token", $"client \"{name}\" needs a token of its own");
            // The token is how the server tells clients apart, so it must be unique (and not a shared one).
            Unique(tokens, token, entry, entry.Find("token")!, $"client \"{name}\" has the same token as");
            var previous = TokenRotationKeys.Read(entry);
            if (previous.Token is { } old) Unique(tokens, old, entry, previous.TokenNode!, $"client \"{name}\" has a previous token that is the same as");
            var account = new ClientAccount { Name = name, Token = token, PreviousToken = previous.Token, PreviousTokenExpires = previous.Expires };
            if (entry.GetArray("allowPorts") is { } ports) account.AllowPorts = ReadAllowPorts(ports);
            if (entry.GetInt("maxTunnels", 0, 100_000) is { } max) account.MaxTunnels = max;
            account.BandwidthLimit = SharedConfigKeys.ReadBandwidthLimit(entry);
            if (SourceConfigKeys.Read(entry, "allowSources", TunnelServerOptions.MaxSourceNetworks) is { } allowSources) account.AllowSources = allowSources;
            if (SourceConfigKeys.Read(entry, "denySources", TunnelServerOptions.MaxSourceNetworks) is { } denySources) account.DenySources = denySources;
            accounts.Add(account);
        }
        return accounts;
    }

    /// <summary>Adds a token to those seen, naming <paramref name="node"/>'s key; one seen before is an error that names
    /// both keys and neither value.</summary>
    private static void Unique(Dictionary<string, string> tokens, string token, TomlConfigTable entry, TomlConfigNode node, string what)
    {
        if (tokens.TryGetValue(token, out var other))
        {
            var whose = other.StartsWith(entry.Path + ".", StringComparison.Ordinal) ? "its own token" : other.StartsWith("clients", StringComparison.Ordinal) ? "another client" : null;
            throw entry.ValueError(node, $"{what} {(whose is null ? other : $"{whose} ({other})")}; every token, current (token) and previous (previousToken), must be unique");
        }
        tokens[token] = node.Path;
    }

    /// <summary>frp's <c>allowPorts = [{ start = 20000, end = 20100 }, { single = 8080 }]</c>.</summary>
    private static List<PortRange> ReadAllowPorts(TomlConfigArray array)
    {
        var ranges = new List<PortRange>(array.Items.Count);
        foreach (var item in array.Items)
        {
            if (item is not TomlConfigTable entry)
                throw item.Error($"expected {{ start = 20000, end = 20100 }} or {{ single = 8080 }}, found {item.Description}");

            var single = entry.GetPort("single");
            var start = entry.GetPort("start");
            var end = entry.GetPort("end");
            if (single is { } port)
            {
                if (start is not null || end is not null)
                    throw entry.Error("write either single = port or start/end, not both");
                ranges.Add(new PortRange(port, port));
            }
            else if (start is { } s && end is { } e)
            {
                if (e < s) throw entry.ValueError(entry.Find("end")!, $"end {e} is before start {s}");
                ranges.Add(new PortRange(s, e));
            }
            else
            {
                throw entry.Error(start is null && end is null
                    ? "an allowPorts entry needs start and end, or single, e.g. { start = 20000, end = 20100 } or { single = 8080 }"
                    : "an allowPorts range needs both start and end");
            }
        }
        return ranges;
    }
}
