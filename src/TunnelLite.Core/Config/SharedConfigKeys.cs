namespace TunnelLite.Config;

/// <summary>Keys that frps.toml and frpc.toml share: <c>auth.*</c>, the heartbeat pair of <c>transport.*</c>, and TunnelLite's
/// own <c>transport.*</c> keys for how the bytes move (forwarding mode, data plane, event loops).</summary>
internal static class SharedConfigKeys
{
    /// <summary>
    /// Reads <c>auth.token</c>. A missing token is an error rather than a default: a server without one would let anybody
    /// open tunnels, and a client without one cannot log in.
    /// </summary>
    /// <param name="root">The document's root table.</param>
    /// <param name="fallback">A token given elsewhere (a command line); it stands in for a missing <c>auth.token</c>.</param>
    public static string ReadToken(TomlConfigTable root, string? fallback = null)
    {
        const string Hint = "add auth.token = \"...\" with the same secret on the server and its clients";
        if (root.GetTable("auth") is not { } auth)
            return fallback ?? throw root.MissingError("auth.token", $"a token is required; {Hint}");

        if (auth.GetString("method", allowEmpty: true) is { } method && method != "token")
            throw auth.ValueError(auth.Find("method")!, $"\"{method}\" is not supported; TunnelLite authenticates only with auth.method = \"token\"");

        var token = auth.GetString("token", allowEmpty: true);
        if (token is null) return fallback ?? throw auth.MissingError("token", $"a token is required; {Hint}");
        if (token.Length == 0) throw auth.ValueError(auth.Find("token")!, $"the token is empty; {Hint}");
        return token;
    }

    /// <summary>
    /// Checks that the heartbeat timeout exceeds the interval, naming the key the user wrote (the other may be a default):
    /// a timeout at or below the interval would drop healthy peers between two heartbeats.
    /// </summary>
    public static void CheckHeartbeats(TomlConfigTable? transport, TomlConfigTable root, TimeSpan interval, TimeSpan timeout)
    {
        if (timeout > interval) return;
        var timeoutNode = transport?.Find("heartbeatTimeout");
        var intervalNode = transport?.Find("heartbeatInterval");
        var detail = $"the heartbeat timeout ({Seconds(timeout)}{(timeoutNode is null ? ", the default" : "")}) must be longer than " +
                     $"transport.heartbeatInterval ({Seconds(interval)}{(intervalNode is null ? ", the default" : "")})";
        if ((timeoutNode ?? intervalNode) is { } node) throw node.Error(detail);
        throw root.MissingError("transport.heartbeatTimeout", detail);
    }

    private static string Seconds(TimeSpan t) => $"{t.TotalSeconds:0.###} s";

    /// <summary>Reads <c>transport.forwardingMode</c> ("auto", "copy" or "splice"; a TunnelLite key, unknown to frp).</summary>
    public static Forwarding.ForwardingMode? ReadForwardingMode(TomlConfigTable? transport) =>
        ReadChoice<Forwarding.ForwardingMode>(transport, "forwardingMode", "a forwarding mode");

    /// <summary>Reads <c>transport.dataPlane</c> ("auto", "eventloops" or "async"; a TunnelLite key, unknown to frp).</summary>
    public static Forwarding.DataPlaneKind? ReadDataPlane(TomlConfigTable? transport) =>
        ReadChoice<Forwarding.DataPlaneKind>(transport, "dataPlane", "a data plane");

    /// <summary>Reads <c>transport.eventLoops</c>: 0 (one per core) to <see cref="Forwarding.PumpSelector.MaxEventLoops"/>.</summary>
    public static int? ReadEventLoops(TomlConfigTable? transport) =>
        transport?.GetInt("eventLoops", 0, Forwarding.PumpSelector.MaxEventLoops);

    /// <summary>A string key that names a member of <typeparamref name="T"/>, in any case, names only (<see cref="EnumNames"/>).
    /// <paramref name="what"/> names the kind of value in the message: "\"zerocopy\" is not a forwarding mode; use ...".</summary>
    private static T? ReadChoice<T>(TomlConfigTable? transport, string key, string what) where T : struct, Enum
    {
        if (transport?.GetString(key) is not { } text) return null;
        if (EnumNames.TryParse<T>(text, out var value)) return value;
        var choices = Enum.GetNames<T>().Select(n => $"\"{n.ToLowerInvariant()}\"").ToArray();
        throw transport.ValueError(transport.Find(key)!, $"\"{text}\" is not {what}; use {string.Join(", ", choices[..^1])} or {choices[^1]}");
    }

    /// <summary>frp's <c>bandwidthLimit</c> ("512KB", "10MB": each direction), and TunnelLite's <c>bandwidthLimitIn</c> and
    /// <c>bandwidthLimitOut</c>, which set one direction and win over it: in a server's <c>[[clients]]</c> entry and a
    /// client's <c>[[proxies]]</c> transport table.</summary>
    public static BandwidthLimit ReadBandwidthLimit(TomlConfigTable table)
    {
        var both = ReadRate(table, "bandwidthLimit") ?? 0;
        return new BandwidthLimit(ReadRate(table, "bandwidthLimitIn") ?? both, ReadRate(table, "bandwidthLimitOut") ?? both);
    }

    private static long? ReadRate(TomlConfigTable table, string key)
    {
        if (table.GetString(key, allowEmpty: true) is not { } text) return null;
        try
        {
            return BandwidthLimit.ParseRate(text);
        }
        catch (FormatException e)
        {
            throw table.ValueError(table.Find(key)!, e.Message);
        }
    }
}
