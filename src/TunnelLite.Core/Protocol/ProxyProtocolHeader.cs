using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TunnelLite.Protocol;

/// <summary>The PROXY protocol version a tunnel writes to its local service ahead of a user's bytes.</summary>
public enum ProxyProtocolVersion
{
    /// <summary>No header: the service sees the connection come from the client.</summary>
    None = 0,
    /// <summary>Version 1, the human-readable line ("PROXY TCP4 ...\r\n").</summary>
    V1 = 1,
    /// <summary>Version 2, the binary header.</summary>
    V2 = 2,
}

/// <summary>PROXY protocol headers (HAProxy's proxy-protocol.txt, versions 1 and 2) for a TCP connection: who connected
/// (the user's source) and where to (the public address and port). IPv4-mapped IPv6 addresses (a user on a dual-stack
/// listener) are written as the IPv4 addresses they are; a source and destination of different families are written as
/// IPv6.</summary>
public static class ProxyProtocolHeader
{
    /// <summary>The 12 bytes that open a version 2 header.</summary>
    public static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>The longest version 1 line, CRLF included (the spec's 107 bytes).</summary>
    public const int MaxV1Length = 107;

    /// <summary>The header for a connection from <paramref name="source"/> to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="version"/> is None or unknown.</exception>
    public static byte[] Write(ProxyProtocolVersion version, IPEndPoint source, IPEndPoint destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        var (src, dst) = SameFamily(source.Address, destination.Address);
        return version switch
        {
            ProxyProtocolVersion.V1 => WriteV1(src, source.Port, dst, destination.Port),
            ProxyProtocolVersion.V2 => WriteV2(src, source.Port, dst, destination.Port),
            _ => throw new ArgumentException($"No PROXY protocol header for {version}.", nameof(version)),
        };
    }

    /// <summary>The header for a user whose StartWork carried <paramref name="source"/> and <paramref name="destination"/>;
    /// when either is missing or not an address (an older or a misbehaving server), the header says so (v1 "UNKNOWN", v2
    /// LOCAL) and the service uses the connection's own addresses, as the spec has it: never an address made up.</summary>
    public static byte[] For(ProxyProtocolVersion version, AddressAndPort? source, AddressAndPort? destination) =>
        source?.ToEndPoint() is { } src && destination?.ToEndPoint() is { } dst ? Write(version, src, dst) : WriteUnknown(version);

    /// <summary>The header that gives no addresses: v1 "PROXY UNKNOWN\r\n", v2 the LOCAL command with no address block.</summary>
    public static byte[] WriteUnknown(ProxyProtocolVersion version)
    {
        switch (version)
        {
            case ProxyProtocolVersion.V1:
                return "PROXY UNKNOWN\r\n"u8.ToArray();
            case ProxyProtocolVersion.V2:
                var header = new byte[16];
                V2Signature.CopyTo(header);
                header[12] = 0x20; // version 2, command LOCAL; family 0 (UNSPEC) and length 0 follow
                return header;
            default:
                throw new ArgumentException($"No PROXY protocol header for {version}.", nameof(version));
        }
    }

    // Mapped IPv4 back to IPv4; then, if the families still differ, both as IPv6 (the spec has no mixed form).
    private static (IPAddress Source, IPAddress Destination) SameFamily(IPAddress source, IPAddress destination)
    {
        if (source.IsIPv4MappedToIPv6) source = source.MapToIPv4();
        if (destination.IsIPv4MappedToIPv6) destination = destination.MapToIPv4();
        if (source.AddressFamily != destination.AddressFamily) return (source.MapToIPv6(), destination.MapToIPv6());
        return (source, destination);
    }

    private static byte[] WriteV1(IPAddress source, int sourcePort, IPAddress destination, int destinationPort)
    {
        var family = source.AddressFamily == AddressFamily.InterNetwork ? "TCP4" : "TCP6";
        // ScopeId-free text: the spec's address forms have no "%zone".
        var line = string.Create(CultureInfo.InvariantCulture,
            $"PROXY {family} {Text(source)} {Text(destination)} {sourcePort} {destinationPort}\r\n");
        return Encoding.ASCII.GetBytes(line);

        static string Text(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 && a.ScopeId != 0 ? new IPAddress(a.GetAddressBytes()).ToString() : a.ToString();
    }

    private static byte[] WriteV2(IPAddress source, int sourcePort, IPAddress destination, int destinationPort)
    {
        var v4 = source.AddressFamily == AddressFamily.InterNetwork;
        var addressLength = v4 ? 4 : 16;
        var length = 2 * addressLength + 4;
        var header = new byte[16 + length];
        V2Signature.CopyTo(header);
        header[12] = 0x21;               // version 2, command PROXY
        header[13] = v4 ? (byte)0x11 : (byte)0x21; // AF_INET or AF_INET6, over STREAM
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)length);
        source.TryWriteBytes(header.AsSpan(16, addressLength), out _);
        destination.TryWriteBytes(header.AsSpan(16 + addressLength, addressLength), out _);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(16 + 2 * addressLength), (ushort)sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(18 + 2 * addressLength), (ushort)destinationPort);
        return header;
    }
}
