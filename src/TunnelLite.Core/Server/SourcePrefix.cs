using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Server;

/// <summary>The unit a stranger's share is counted in (admission slots, login throttle, sessions, log summaries): its IPv4 address, or its IPv6 /64 (one host usually has a whole /64, so
/// counting per address would let it spread its events over countless addresses). Loopback and link-local IPv6 addresses
/// stay whole. A plain value, so that counting allocates nothing.</summary>
internal readonly record struct SourcePrefix
{
    // Bits: the address (IPv4 in the low 32 bits), or the /64 prefix; PrefixLength: 32 for IPv4, 128 for a whole IPv6
    // address, 64 for an IPv6 prefix, 0 when the address is unknown.
    private readonly UInt128 _bits;
    private readonly byte _prefixLength;

    private SourcePrefix(UInt128 bits, byte prefixLength)
    {
        _bits = bits;
        _prefixLength = prefixLength;
    }

    /// <summary>A source whose address is not known (no endpoint, or not an IP one).</summary>
    public static SourcePrefix Unknown => default;

    /// <summary>The source of a connection from <paramref name="remote"/>.</summary>
    public static SourcePrefix Of(EndPoint? remote) => remote is IPEndPoint ip ? Of(ip.Address) : Unknown;

    /// <summary>The source of <paramref name="address"/>: an IPv4 address seen through a dual-stack socket counts as IPv4.</summary>
    public static SourcePrefix Of(IPAddress? address)
    {
        if (address is null) return Unknown;
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written)) return Unknown;
        if (address.AddressFamily == AddressFamily.InterNetwork && written == 4)
            return new SourcePrefix(BinaryPrimitives.ReadUInt32BigEndian(bytes), 32);
        if (address.AddressFamily != AddressFamily.InterNetworkV6 || written != 16) return Unknown;
        var bits = BinaryPrimitives.ReadUInt128BigEndian(bytes);
        if (address.IsIPv4MappedToIPv6) return new SourcePrefix((uint)bits, 32);
        if (address.IsIPv6LinkLocal || bits == UInt128.One) return new SourcePrefix(bits, 128);
        return new SourcePrefix(bits & ~(UInt128)ulong.MaxValue, 64);
    }

    /// <summary>The address, the prefix with its length, or "an unknown address".</summary>
    public override string ToString()
    {
        switch (_prefixLength)
        {
            case 32:
                Span<byte> v4 = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(v4, (uint)_bits);
                return new IPAddress(v4).ToString();
            case 64:
            case 128:
                Span<byte> v6 = stackalloc byte[16];
                BinaryPrimitives.WriteUInt128BigEndian(v6, _bits);
                var text = new IPAddress(v6).ToString();
                return _prefixLength == 64 ? text + "/64" : text;
            default:
                return "an unknown address";
        }
    }
}
