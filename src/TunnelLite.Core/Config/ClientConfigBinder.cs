using TunnelLite.Protocol;

namespace TunnelLite.Config;

/// <summary>Maps the keys of an frpc.toml onto <see cref="TunnelClientOptions"/>.</summary>
internal static class ClientConfigBinder
{
    private const int MaxNameLength = 128; // TunnelClientOptions.Validate's limit, checked here to point at the line.

    public static TunnelClientOptions Bind(TomlConfigDocument document, string? tokenFallback)
    {
        var root = document.Root;
        var options = new TunnelClientOptions();

        if (root.GetString("serverAddr") is { } serverAddr) options.ServerAddress = serverAddr;
        if (root.GetPort("serverPort") is { } serverPort) options.ServerPort = serverPort;
        options.Servers = ReadServers(root);
        options.Token = SharedConfigKeys.ReadToken(root, tokenFallback);
        if (root.GetString("clientName") is { } clientName)
        {
            if (clientName.Length > MaxNameLength || !Logging.PeerText.IsPrintable(clientName))
                throw root.ValueError(root.Find("clientName")!, $"a client name must be 1-{MaxNameLength} printable characters");
            options.ClientName = clientName;
        }
        options.Admin = AdminConfigKeys.Read(root);

        var transport = root.GetTable("transport");
        if (transport is not null)
        {
            if (transport.GetInt("poolCount", 0, 1000) is { } pool) options.PoolCount = pool;
            if (transport.GetSeconds("heartbeatInterval") is { } interval) options.HeartbeatInterval = interval;
            if (SharedConfigKeys.ReadForwardingMode(transport) is { } mode) options.ForwardingMode = mode;
            if (SharedConfigKeys.ReadDataPlane(transport) is { } plane) options.DataPlane = plane;
            if (SharedConfigKeys.ReadEventLoops(transport) is { } loops) options.EventLoops = loops;
            if (transport.GetSeconds("heartbeatTimeout") is { } timeout) options.HeartbeatTimeout = timeout;
            if (transport.GetTable("tls") is { } tls) options.Tls = TlsConfigKeys.ReadClient(tls);
            // frpc's other protocols (kcp, quic, websocket, wss) would be spoken as plain TCP if ignored: wss would lose its TLS.
            if (transport.GetString("protocol") is { } protocol && protocol != "tcp")
                throw transport.ValueError(transport.Find("protocol")!,
                    $"\"{protocol}\" is not supported; TunnelLite connects over TCP only (\"tcp\"), encrypted with transport.tls.enable = true");
        }
        SharedConfigKeys.CheckHeartbeats(transport, root, options.HeartbeatInterval, options.HeartbeatTimeout);

        if (root.GetTableArray("proxies") is { } proxies) options.Tunnels = ReadProxies(proxies, options.Tls.Enabled);
        return options;
    }

    /// <summary>TunnelLite's <c>serverAddrs</c> (frp has one server per client): "host:port" strings, each a server that
    /// carries every proxy; not with serverAddr or serverPort, which name the one server otherwise.</summary>
    private static List<ServerEndpoint> ReadServers(TomlConfigTable root)
    {
        if (root.GetArray("serverAddrs") is not { } array) return new();
        foreach (var single in new[] { "serverAddr", "serverPort" })
            if (root.Find(single) is { } node)
                throw root.ValueError(node, $"{single} and serverAddrs both name servers; list every server in serverAddrs (\"host:port\") and drop {single}");
        if (array.Items.Count is 0 or > TunnelClientOptions.MaxServers)
            throw root.ValueError(array, $"list 1 to {TunnelClientOptions.MaxServers} servers, such as [\"a.example.net:7000\", \"b.example.net:7000\"]");
        var servers = new List<ServerEndpoint>(array.Items.Count);
        foreach (var item in array.Items)
        {
            if (item is not TomlConfigValue { Value: string text })
                throw root.ValueError(item, $"expected a server as a string, such as \"a.example.net:7000\", found {item.Description}");
            ServerEndpoint server;
            try
            {
                server = ServerEndpoint.Parse(text);
            }
            catch (FormatException e)
            {
                throw root.ValueError(item, e.Message);
            }
            if (servers.Any(s => s.SameAs(server))) throw root.ValueError(item, $"{server} is listed twice");
            servers.Add(server);
        }
        return servers;
    }

    /// <summary>frp's <c>transport.proxyProtocolVersion</c>: "v1" or "v2" (any case); "" or absent for none.</summary>
    private static ProxyProtocolVersion ReadProxyProtocol(TomlConfigTable transport) =>
        transport.GetString("proxyProtocolVersion", allowEmpty: true)?.ToLowerInvariant() switch
        {
            null or "" => ProxyProtocolVersion.None,
            "v1" => ProxyProtocolVersion.V1,
            "v2" => ProxyProtocolVersion.V2,
            var other => throw transport.ValueError(transport.Find("proxyProtocolVersion")!,
                $"\"{other}\" is not a PROXY protocol version; use \"v1\" (text) or \"v2\" (binary), as the service behind the tunnel expects"),
        };

    /// <summary>frp's <c>transport.bandwidthLimitMode</c>: "client" (the default) or "server".</summary>
    private static BandwidthLimitMode ReadBandwidthLimitMode(TomlConfigTable transport) =>
        transport.GetString("bandwidthLimitMode")?.ToLowerInvariant() switch
        {
            null or "client" => BandwidthLimitMode.Client,
            "server" => BandwidthLimitMode.Server,
            var other => throw transport.ValueError(transport.Find("bandwidthLimitMode")!,
                $"\"{other}\" is not a bandwidth limit mode; use \"client\" (this client limits its connections) or \"server\" (the server enforces it)"),
        };

    /// <summary>frp's <c>loadBalancer.group</c> and <c>loadBalancer.groupKey</c> (both or neither), and TunnelLite's
    /// <c>loadBalancer.strategy</c>: "roundRobin" (the default) or "leastConn".</summary>
    private static (string? Group, Security.Secret? Key, LoadBalancingStrategy Strategy) ReadLoadBalancer(TomlConfigTable? table)
    {
        if (table is null) return (null, null, LoadBalancingStrategy.RoundRobin);
        var group = table.GetString("group");
        var key = table.GetString("groupKey");
        var strategy = table.GetString("strategy") switch
        {
            null or "roundRobin" => LoadBalancingStrategy.RoundRobin,
            "leastConn" => LoadBalancingStrategy.LeastConnections,
            var other => throw table.ValueError(table.Find("strategy")!,
                $"\"{other}\" is not a load-balancing strategy; use \"roundRobin\" (each member in turn) or \"leastConn\" (the member with the fewest active connections)"),
        };
        if (group is null)
        {
            if (table.Find("groupKey") is { } orphan) throw table.ValueError(orphan, "a group key needs a group: set loadBalancer.group too");
            if (table.Find("strategy") is { } lone) throw table.ValueError(lone, "a strategy needs a group: set loadBalancer.group too");
            return (null, null, strategy);
        }
        if (group.Length > MaxNameLength || !Logging.PeerText.IsPrintable(group))
            throw table.ValueError(table.Find("group")!, $"a group name must be 1-{MaxNameLength} printable characters");
        if (key is null) throw table.MissingError("groupKey", "a group needs its key (loadBalancer.groupKey): it proves that a tunnel may join the group");
        if (System.Text.Encoding.UTF8.GetByteCount(key) > GroupKeySeal.MaxKeyBytes)
            throw table.ValueError(table.Find("groupKey")!, $"a group key must be at most {GroupKeySeal.MaxKeyBytes} bytes");
        return (group, Security.Secret.From(key), strategy);
    }

    /// <summary>frp's <c>healthCheck.*</c>: type "tcp" (a connect to the local service) with intervalSeconds (default 10),
    /// timeoutSeconds (default 3) and maxFailed (default 1). frp's "http" checks are refused: TunnelLite would check less
    /// than the file asks.</summary>
    private static HealthCheck? ReadHealthCheck(TomlConfigTable? table)
    {
        if (table is null) return null;
        var type = table.GetString("type", allowEmpty: true);
        if (type is null or "") return null; // frp: no type, no check
        if (type != "tcp")
            throw table.ValueError(table.Find("type")!, $"\"{type}\" health checks are not supported; TunnelLite checks with a TCP connect (type = \"tcp\")");
        var check = new HealthCheck();
        if (table.GetInt("intervalSeconds", 1, 3600) is { } interval) check = check with { Interval = TimeSpan.FromSeconds(interval) };
        if (table.GetInt("timeoutSeconds", 1, 60) is { } timeout) check = check with { Timeout = TimeSpan.FromSeconds(timeout) };
        if (table.GetInt("maxFailed", 1, 100) is { } maxFailed) check = check with { MaxFailed = maxFailed };
        return check;
    }

    private static List<TunnelDefinition> ReadProxies(IReadOnlyList<TomlConfigTable> proxies, bool tls)
    {
        var tunnels = new List<TunnelDefinition>(proxies.Count);
        var firstLineByName = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var proxy in proxies)
        {
            // The name first, so that every later message about this proxy can name it.
            var name = proxy.GetString("name") ?? throw proxy.MissingError("name", "every proxy needs a name, e.g. name = \"ssh\"");
            var nameNode = proxy.Find("name")!;
            if (name.Length > MaxNameLength)
                throw proxy.ValueError(nameNode, $"the name is longer than {MaxNameLength} characters");
            if (!firstLineByName.TryAdd(name, nameNode.Line))
                throw proxy.ValueError(nameNode, $"proxy name '{name}' is already used at line {firstLineByName[name]}; names must be unique");
            proxy.Subject = $"proxy '{name}'";

            var type = proxy.GetString("type", allowEmpty: true)
                       ?? throw proxy.MissingError("type", "the type is missing; TunnelLite carries only type = \"tcp\"");
            if (type != "tcp")
                throw proxy.Find("type")!.Error($"proxy '{name}' has type \"{type}\"; TunnelLite carries only type = \"tcp\"");

            var localAddress = proxy.GetString("localIP") ?? "127.0.0.1";
            var localPort = proxy.GetPort("localPort")
                            ?? throw proxy.MissingError("localPort", "localPort is required: the port of the local service to expose");
            // 0 asks the server to pick a free port from its allowPorts, as in frp.
            var remotePort = proxy.GetPort("remotePort", allowZero: true) ?? 0;

            // frpc encrypts such a proxy's bytes with the token; TunnelLite encrypts whole connections with TLS, so the
            // key is honoured only when TLS is on, never by sending in plain text what the file asked to encrypt.
            var proxyTransport = proxy.GetTable("transport");
            if (proxyTransport is not null && proxyTransport.GetBool("useEncryption") is true && !tls)
                throw proxy.ValueError(proxyTransport.Find("useEncryption")!,
                    "useEncryption = true asks for encrypted traffic, which TunnelLite gives with TLS only: set transport.tls.enable = true at the top of the file");
            var proxyProtocol = proxyTransport is null ? ProxyProtocolVersion.None : ReadProxyProtocol(proxyTransport);
            var bandwidth = proxyTransport is null ? BandwidthLimit.None : SharedConfigKeys.ReadBandwidthLimit(proxyTransport);
            var bandwidthMode = proxyTransport is null ? BandwidthLimitMode.Client : ReadBandwidthLimitMode(proxyTransport);

            var (group, groupKey, strategy) = ReadLoadBalancer(proxy.GetTable("loadBalancer"));
            var healthCheck = ReadHealthCheck(proxy.GetTable("healthCheck"));

            tunnels.Add(new TunnelDefinition
            {
                Group = group, GroupKey = groupKey, Strategy = strategy, HealthCheck = healthCheck,
                Name = name, LocalAddress = localAddress, LocalPort = localPort, RemotePort = remotePort, ProxyProtocol = proxyProtocol,
                BandwidthLimit = bandwidth, BandwidthLimitMode = bandwidthMode,
                AllowSources = SourceConfigKeys.ReadOrNone(proxy, "allowSources", TunnelDefinition.MaxSourceNetworks),
                DenySources = SourceConfigKeys.ReadOrNone(proxy, "denySources", TunnelDefinition.MaxSourceNetworks),
            });
        }
        return tunnels;
    }
}
