using System.Text.Json.Serialization;

namespace TunnelLite.Protocol;

// The payloads of the frames. JSON keeps the protocol extensible: a newer peer may add fields, an older one ignores them.

/// <summary>First frame of a control connection.</summary>
public sealed class HelloMessage
{
    /// <summary>Protocol version of the client.</summary>
    public int Version { get; set; }
    /// <summary>Product version, for logs.</summary>
    public string? Software { get; set; }
    /// <summary>The client's fresh random bytes: both proofs and the session key cover them, so a server cannot replay an
    /// old session's answer.</summary>
    public byte[] Nonce { get; set; } = Array.Empty<byte>();
    /// <summary>The client's name. When it is one of the server's accounts, the client will prove that account's token: the
    /// server then checks only that token and throttles failures per account too. Any other name (a host name, by default)
    /// is checked like none, against the shared token and every account, and names a shared-token client in statistics.</summary>
    public string? Account { get; set; }
}

/// <summary>The server's nonce for the token proof.</summary>
public sealed class ChallengeMessage
{
    /// <summary>Protocol version of the server.</summary>
    public int Version { get; set; }
    /// <summary>Fresh random bytes; the client's proof covers them and its own nonce.</summary>
    public byte[] Nonce { get; set; } = Array.Empty<byte>();
}

/// <summary>The client's proof and its wishes.</summary>
public sealed class AuthMessage
{
    /// <summary>HMAC-SHA256 over both nonces, keyed with the token (<see cref="TokenProof.ForClient"/>).</summary>
    public byte[] Proof { get; set; } = Array.Empty<byte>();
    /// <summary>Stable id of this client instance: a reconnecting client replaces its own stale session.</summary>
    public string ClientId { get; set; } = "";
    /// <summary>Idle data connections the client wants pooled.</summary>
    public int PoolCount { get; set; }
    /// <summary>The client offers to refill its pool by itself: it opens a replacement as soon as one of its pooled data
    /// connections receives a <see cref="StartWorkMessage"/> that asks for one (<see cref="StartWorkMessage.Refill"/>), so
    /// that the server need not send a request per user. It does so only when the server's
    /// <see cref="AuthOkMessage.RefillsPool"/> agrees. Left out when false, so that the frame is what older servers know.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool RefillsPool { get; set; }
    /// <summary>The client understands an <see cref="UnregisterMessage"/> from the server (a reload took a tunnel's port
    /// away). The server sends one only to clients that say so: an older client would take it for a protocol error and drop
    /// its whole session. Left out when false.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool HearsTunnelClosed { get; set; }
}

/// <summary>The session is open.</summary>
public sealed class AuthOkMessage
{
    /// <summary>Session id; data connections name it.</summary>
    public byte[] SessionId { get; set; } = Array.Empty<byte>();
    /// <summary>Pool size granted (the client's wish capped by the server).</summary>
    public int PoolCount { get; set; }
    /// <summary>Server's heartbeat interval, in milliseconds.</summary>
    public int HeartbeatIntervalMs { get; set; }
    /// <summary>Server's heartbeat timeout, in milliseconds.</summary>
    public int HeartbeatTimeoutMs { get; set; }
    /// <summary>The server relies on the client's offer (<see cref="AuthMessage.RefillsPool"/>): it asks for replacements in
    /// <see cref="StartWorkMessage.Refill"/> and sends <see cref="FrameType.RequestWorkConn"/> only when the pool runs short
    /// otherwise (the first fill, a pooled connection that died, more users waiting than connections on their way).
    /// Absent (an older server, or one that declines), the client refills nothing by itself and opens what the server
    /// asks for, as before.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool RefillsPool { get; set; }
    /// <summary>The server understands <see cref="TunnelHealthMessage"/> (a client's health check withdrawing a tunnel from
    /// its users, or putting it back). A client sends one only to a server that says so: an older one would take the frame
    /// for a protocol error and drop the session. Left out when false.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool HearsTunnelHealth { get; set; }
    /// <summary>The server's proof that it knows the token too, over both nonces and the session id
    /// (<see cref="TokenProof.ForServer"/>); the client does nothing for a server whose proof does not check.</summary>
    public byte[] Proof { get; set; } = Array.Empty<byte>();
}

/// <summary>A failure.</summary>
public sealed class ErrorMessage
{
    /// <summary>What failed.</summary>
    [JsonConverter(typeof(ErrorCodeJsonConverter))]
    public TunnelErrorCode Code { get; set; }
    /// <summary>For people.</summary>
    public string Message { get; set; } = "";
    /// <summary>The request it answers, if any.</summary>
    public int RequestId { get; set; }
}

/// <summary>One tunnel to register.</summary>
public sealed class TunnelRequest
{
    /// <summary>Tunnel name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Wanted public port; 0 lets the server pick.</summary>
    public int RemotePort { get; set; }
    /// <summary>The client writes a PROXY protocol header to its local service, so it needs each user's source and public
    /// destination in <see cref="StartWorkMessage.Source"/> and <see cref="StartWorkMessage.Destination"/>. Left out when
    /// None, so that the frame is what older servers know (they ignore it, and the client then writes an UNKNOWN header).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ProxyProtocolVersion ProxyProtocol { get; set; }
    /// <summary>The client asks the server to limit the tunnel toward its service, in bytes per second (frp's
    /// bandwidthLimitMode = "server"); the server applies the stricter of this and its account's limit. Left out when 0.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long BandwidthLimitIn { get; set; }
    /// <summary>The same toward the user.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long BandwidthLimitOut { get; set; }

    /// <summary>Networks ("10.0.0.0/8", "2001:db8::/32") users of the tunnel may come from, on top of the server's own
    /// lists; null (left out, as older servers know the frame) for every address. At most 256 entries.</summary>
    public List<string>? AllowSources { get; set; }
    /// <summary>Networks users of the tunnel may not come from; null (left out) for none. At most 256 entries.</summary>
    public List<string>? DenySources { get; set; }

    /// <summary>The load-balancing group the tunnel joins (frp's <c>loadBalancer.group</c>): the tunnels of one group share
    /// one public port, and the server spreads users over those whose service is healthy. Null (left out) for none.</summary>
    public string? Group { get; set; }
    /// <summary>The group's key (frp's <c>loadBalancer.groupKey</c>), sealed with the session key
    /// (<see cref="GroupKeySeal"/>): it proves membership, so it never crosses the wire in plain text. Only with <see cref="Group"/>.</summary>
    public byte[]? SealedGroupKey { get; set; }
    /// <summary>How the group spreads users: "roundRobin" (the default) or "leastConn". Only with <see cref="Group"/>.</summary>
    public string? Strategy { get; set; }
}

/// <summary>Register tunnels.</summary>
public sealed class RegisterMessage
{
    /// <summary>Correlates the <see cref="RegisterResultMessage"/>.</summary>
    public int RequestId { get; set; }
    /// <summary>The tunnels.</summary>
    public List<TunnelRequest> Tunnels { get; set; } = new();
}

/// <summary>Outcome for one tunnel.</summary>
public sealed class TunnelResult
{
    /// <summary>Tunnel name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Unknown when it succeeded, else why not.</summary>
    [JsonConverter(typeof(ErrorCodeJsonConverter))]
    public TunnelErrorCode Error { get; set; }
    /// <summary>For people, on failure.</summary>
    public string? Message { get; set; }
    /// <summary>The port bound, on success.</summary>
    public int RemotePort { get; set; }
    /// <summary>True when the server enforces the source lists the request carried: a client that sent lists refuses a
    /// tunnel without it (an older server would ignore them, and open the port to everyone). Left out when false.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool SourcesEnforced { get; set; }
    /// <summary>True when the tunnel joined the group its request named: a client that asked for a group refuses a tunnel
    /// without it (an older server would ignore the group and bind the port for this tunnel alone). Left out when false.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool GroupJoined { get; set; }
}

/// <summary>Answer to <see cref="RegisterMessage"/>.</summary>
public sealed class RegisterResultMessage
{
    /// <summary>The request answered.</summary>
    public int RequestId { get; set; }
    /// <summary>One per requested tunnel.</summary>
    public List<TunnelResult> Results { get; set; } = new();
}

/// <summary>Release a tunnel: client to server, the client lets it go; server to client, the server closed it (a reload
/// of its configuration took its port away), with why.</summary>
public sealed class UnregisterMessage
{
    /// <summary>Tunnel name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Server to client: why the server closed the tunnel (PortNotAllowed); Unknown from a client.</summary>
    [JsonConverter(typeof(ErrorCodeJsonConverter))]
    public TunnelErrorCode Code { get; set; }
    /// <summary>Server to client: the reason, for people; null from a client.</summary>
    public string? Message { get; set; }
}

/// <summary>Ask for data connections.</summary>
public sealed class RequestWorkConnMessage
{
    /// <summary>How many (at least 1); the client opens them within its own bound.</summary>
    public int Count { get; set; } = 1;
}

/// <summary>First frame of a data connection.</summary>
public sealed class DataHelloMessage
{
    /// <summary>Protocol version.</summary>
    public int Version { get; set; }
    /// <summary>Session it belongs to.</summary>
    public byte[] SessionId { get; set; } = Array.Empty<byte>();
    /// <summary>The client's counter for this session's data connections, from 1 up; each value is good once, and only
    /// within the server's window behind the highest seen.</summary>
    public long Counter { get; set; }
    /// <summary>HMAC-SHA256 over session id and counter, keyed with the session key (<see cref="TokenProof.ForData"/>).</summary>
    public byte[] Proof { get; set; } = Array.Empty<byte>();
}

/// <summary>A user connection is paired with this data connection.</summary>
public sealed class StartWorkMessage
{
    /// <summary>Which tunnel.</summary>
    public string Tunnel { get; set; } = "";
    /// <summary>The user's address, for logs.</summary>
    public string? UserEndpoint { get; set; }
    /// <summary>The user's address and port, for the PROXY protocol header; only for tunnels that asked for it
    /// (<see cref="TunnelRequest.ProxyProtocol"/>).</summary>
    public AddressAndPort? Source { get; set; }
    /// <summary>The public address and port the user connected to, for the PROXY protocol header; only for tunnels that
    /// asked for it.</summary>
    public AddressAndPort? Destination { get; set; }
    /// <summary>Open a data connection to replace this one, now (only when both ends agreed on
    /// <see cref="AuthOkMessage.RefillsPool"/>). The server asks while its idle connections and those on their way are
    /// fewer than the pool plus the users waiting, so that a connection it asked for a user of a burst is not replaced
    /// again. Left out when false.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Refill { get; set; }
}

/// <summary>One end of a TCP connection, as StartWork carries it: an IP address in text form and a port.</summary>
public sealed class AddressAndPort
{
    /// <summary>An IPv4 or IPv6 address ("203.0.113.7", "2001:db8::1").</summary>
    public string Address { get; set; } = "";
    /// <summary>The port, 0-65535.</summary>
    public int Port { get; set; }

    /// <summary>The endpoint, or null when the peer sent something that is not one (the text is not an IP address, or the
    /// port is out of range): a client never trusts what a server says.</summary>
    public System.Net.IPEndPoint? ToEndPoint() =>
        Address.Length <= 64 && System.Net.IPAddress.TryParse(Address, out var ip) && Port is >= 0 and <= 65535 ? new System.Net.IPEndPoint(ip, Port) : null;

    /// <summary>The wire form of <paramref name="endPoint"/>; null for none.</summary>
    public static AddressAndPort? From(System.Net.IPEndPoint? endPoint) =>
        endPoint is null ? null : new AddressAndPort { Address = endPoint.Address.ToString(), Port = endPoint.Port };
}

/// <summary>The local service of a tunnel was unreachable.</summary>
public sealed class WorkFailedMessage
{
    /// <summary>Which tunnel.</summary>
    public string Tunnel { get; set; } = "";
    /// <summary>Why.</summary>
    public string Message { get; set; } = "";
}

/// <summary>Client to server: a tunnel's local service failed its health checks (the server stops sending it users; the
/// port stays bound) or answers again (users come back). Sent only to a server that hears it
/// (<see cref="AuthOkMessage.HearsTunnelHealth"/>).</summary>
public sealed class TunnelHealthMessage
{
    /// <summary>Which tunnel.</summary>
    public string Name { get; set; } = "";
    /// <summary>True: the service answers; false: withdraw the tunnel from its users.</summary>
    public bool Healthy { get; set; }
}

/// <summary>Graceful close.</summary>
public sealed class GoodbyeMessage
{
    /// <summary>Why.</summary>
    public string? Reason { get; set; }
}

/// <summary>Liveness ping; no content.</summary>
public sealed class HeartbeatMessage
{
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HelloMessage))]
[JsonSerializable(typeof(ChallengeMessage))]
[JsonSerializable(typeof(AuthMessage))]
[JsonSerializable(typeof(AuthOkMessage))]
[JsonSerializable(typeof(ErrorMessage))]
[JsonSerializable(typeof(RegisterMessage))]
[JsonSerializable(typeof(RegisterResultMessage))]
[JsonSerializable(typeof(UnregisterMessage))]
[JsonSerializable(typeof(RequestWorkConnMessage))]
[JsonSerializable(typeof(DataHelloMessage))]
[JsonSerializable(typeof(StartWorkMessage))]
[JsonSerializable(typeof(WorkFailedMessage))]
[JsonSerializable(typeof(GoodbyeMessage))]
[JsonSerializable(typeof(TunnelHealthMessage))]
[JsonSerializable(typeof(HeartbeatMessage))]
internal sealed partial class ProtocolJsonContext : JsonSerializerContext
{
}
