using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Server;

/// <summary>The unit a stranger's share is counted in: an IPv4 address (/32), or an IPv6 /64 (one site gets a /64, so
/// per-address limits on IPv6 would let it take 2^64 shares). An IPv4 address seen through a dual-stack socket is the
/// same source as over IPv4.</summary>
internal readonly record struct SourcePrefix(ulong Bits, bool IsV6)
{
    /// <summary>The prefix of <paramref name="address"/>.</summary>
    public static SourcePrefix Of(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out var n);
        return address.AddressFamily == AddressFamily.InterNetwork
            ? new SourcePrefix(BinaryPrimitives.ReadUInt32BigEndian(b), false)
            : new SourcePrefix(n >= 8 ? BinaryPrimitives.ReadUInt64BigEndian(b) : 0, true);
    }

    /// <summary>For connections whose peer address is unknown (they share one prefix).</summary>
    public static readonly SourcePrefix Unknown = new(ulong.MaxValue, true);

    /// <summary>"203.0.113.7" or "2001:db8:1:2::/64".</summary>
    public override string ToString()
    {
        if (this == Unknown) return "an unknown address";
        if (!IsV6)
        {
            Span<byte> v4 = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(v4, (uint)Bits);
            return new IPAddress(v4).ToString();
        }
        var v6 = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(v6, Bits);
        return new IPAddress(v6) + "/64";
    }
}
