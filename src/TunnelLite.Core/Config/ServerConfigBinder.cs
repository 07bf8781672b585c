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
        options.Token = SharedConfigKeys.ReadToken(root, tokenFallback);
        if (root.GetArray("allowPorts") is { } allowPorts) options.AllowPorts = ReadAllowPorts(allowPorts);

        var transport = root.GetTable("transport");
        if (transport is not null)
        {
            if (transport.GetInt("maxPoolCount", 0, 1000) is { } maxPool) options.MaxPoolCount = maxPool;
            if (transport.GetSeconds("heartbeatInterval") is { } interval) options.HeartbeatInterval = interval;
            if (SharedConfigKeys.ReadForwardingMode(transport) is { } mode) options.ForwardingMode = mode;
            if (transport.GetSeconds("heartbeatTimeout") is { } timeout) options.HeartbeatTimeout = timeout;
            if (transport.GetSeconds("handshakeTimeout") is { } handshake) options.HandshakeTimeout = handshake;
            if (transport.GetSeconds("userConnectionTimeout") is { } user) options.UserConnectionTimeout = user;
            if (transport.GetTable("tls") is { } tls) options.Tls = TlsConfigKeys.ReadServer(tls);
        }
        SharedConfigKeys.CheckHeartbeats(transport, root, options.HeartbeatInterval, options.HeartbeatTimeout);
        return options;
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
