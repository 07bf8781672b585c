using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Config;

/// <summary>A network that users of a public port may come from, or may not: an IPv4 or IPv6 address and a prefix length
/// ("10.0.0.0/8", "2001:db8::/32"); a bare address is the one host (/32, /128). An IPv4-mapped IPv6 network
/// (::ffff:10.0.0.0/104) is the IPv4 network it maps. A plain value: matching an address against it allocates nothing.</summary>
public readonly record struct SourceNetwork
{
    /// <summary>The longest text <see cref="Parse"/> reads ("ffff:...:255.255.255.255/128" is 49 characters); a peer cannot
    /// make the server parse more.</summary>
    public const int MaxLength = 64;

    // The network's bits: IPv4 in the low 32 bits. The mask has the prefix's bits set, in the same place.
    private readonly UInt128 _bits;
    private readonly UInt128 _mask;

    private SourceNetwork(bool isIPv4, UInt128 bits, int prefixLength)
    {
        IsIPv4 = isIPv4;
        PrefixLength = prefixLength;
        _mask = MaskOf(isIPv4, prefixLength);
        _bits = bits;
    }

    /// <summary>True for an IPv4 network, false for IPv6.</summary>
    public bool IsIPv4 { get; }

    /// <summary>The prefix length: 0-32 for IPv4, 0-128 for IPv6.</summary>
    public int PrefixLength { get; }

    /// <summary>The network's first address.</summary>
    public IPAddress Address
    {
        get
        {
            Span<byte> bytes = stackalloc byte[16];
            if (IsIPv4)
            {
                BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)_bits);
                return new IPAddress(bytes[..4]);
            }
            BinaryPrimitives.WriteUInt128BigEndian(bytes, _bits);
            return new IPAddress(bytes);
        }
    }

    /// <summary>Parses "10.0.0.0/8", "2001:db8::/32", or a bare address (one host). Host bits set below the prefix
    /// ("10.0.0.1/8") are an error rather than masked away: such a typo in a security list would otherwise quietly mean a
    /// whole network, or a host where a network was meant. Surrounding blanks are ignored.</summary>
    /// <exception cref="FormatException">The text is not a network; the message says why, for the user as it is.</exception>
    public static SourceNetwork Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var network, out var error) ? network : throw new FormatException(error);
    }

    /// <summary>Parses like <see cref="Parse"/>; false with the reason in <paramref name="error"/> when the text is not a network.</summary>
    public static bool TryParse(string? text, out SourceNetwork network, out string? error)
    {
        network = default;
        error = null;
        var t = (text ?? "").Trim();
        if (t.Length == 0)
        {
            error = "An empty string is not a network; write an address such as 203.0.113.7 or a network such as 10.0.0.0/8 or 2001:db8::/32.";
            return false;
        }
        if (t.Length > MaxLength)
        {
            error = $"'{t[..20]}...' is longer than {MaxLength} characters: not a network.";
            return false;
        }
        var slash = t.IndexOf('/');
        var addressText = slash < 0 ? t : t[..slash];
        // IPAddress.TryParse also takes "10", "10.1" (0.0.0.10, 10.0.0.1), octal parts and "%scope": all of them
        // too surprising for an access list. IPv4 must be four dotted decimals, IPv6 must have a colon and no scope.
        var isIPv6Text = addressText.Contains(':');
        if (addressText.Contains('%') || (!isIPv6Text && !IsDottedQuad(addressText)) || !IPAddress.TryParse(addressText, out var address))
        {
            error = $"'{t}' is not a network: '{addressText}' is not an IPv4 or IPv6 address. Write an address such as 203.0.113.7 or a network such as 10.0.0.0/8 or 2001:db8::/32.";
            return false;
        }
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var written);
        var isIPv4 = written == 4;
        var bits = isIPv4 ? BinaryPrimitives.ReadUInt32BigEndian(bytes) : BinaryPrimitives.ReadUInt128BigEndian(bytes);
        var maxPrefix = isIPv4 ? 32 : 128;
        var prefix = maxPrefix;
        if (slash >= 0)
        {
            var prefixText = t[(slash + 1)..];
            if (!int.TryParse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > maxPrefix || prefixText.Length > 3)
            {
                error = $"'{t}' is not a network: the prefix length after '/' must be a number from 0 to {maxPrefix} for an {(isIPv4 ? "IPv4" : "IPv6")} address.";
                return false;
            }
        }
        // ::ffff:a.b.c.d/96+n is the IPv4 network a.b.c.d/n: users of a dual-stack port are matched as IPv4.
        if (!isIPv4 && prefix >= 96 && bits >> 32 == 0xFFFF)
        {
            isIPv4 = true;
            bits = (uint)bits;
            prefix -= 96;
        }
        var candidate = new SourceNetwork(isIPv4, bits, prefix);
        if ((bits & ~candidate._mask) != 0)
        {
            var masked = new SourceNetwork(isIPv4, bits & candidate._mask, prefix);
            var host = new SourceNetwork(isIPv4, bits, isIPv4 ? 32 : 128);
            error = $"'{t}' has bits set beyond its /{prefix} prefix: write the network {masked}, or the one address {host}.";
            return false;
        }
        network = candidate;
        return true;
    }

    /// <summary>True when <paramref name="address"/> lies in this network; an IPv4-mapped IPv6 address (how a dual-stack
    /// socket shows an IPv4 user) counts as its IPv4 address. False for null.</summary>
    public bool Contains(IPAddress? address) => TryRead(address, out var isIPv4, out var bits) && Contains(isIPv4, bits);

    /// <summary>The matching itself, on an address read by <see cref="TryRead"/>.</summary>
    internal bool Contains(bool isIPv4, UInt128 bits) => isIPv4 == IsIPv4 && ((bits ^ _bits) & _mask) == 0;

    /// <summary>Reads <paramref name="address"/> as the networks hold it, without allocating: IPv4 (also when mapped into
    /// IPv6) in the low 32 bits of <paramref name="bits"/>. False for null or an address of another family.</summary>
    internal static bool TryRead(IPAddress? address, out bool isIPv4, out UInt128 bits)
    {
        isIPv4 = false;
        bits = 0;
        if (address is null) return false;
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written)) return false;
        if (address.AddressFamily == AddressFamily.InterNetwork && written == 4)
        {
            isIPv4 = true;
            bits = BinaryPrimitives.ReadUInt32BigEndian(bytes);
            return true;
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6 || written != 16) return false;
        bits = BinaryPrimitives.ReadUInt128BigEndian(bytes);
        if (bits >> 32 == 0xFFFF)
        {
            isIPv4 = true;
            bits = (uint)bits;
        }
        return true;
    }

    /// <summary>"10.0.0.0/8", "2001:db8::/32", "203.0.113.7/32".</summary>
    public override string ToString() => Address + "/" + PrefixLength.ToString(CultureInfo.InvariantCulture);

    private static UInt128 MaskOf(bool isIPv4, int prefixLength)
    {
        if (prefixLength == 0) return 0;
        return isIPv4 ? (uint.MaxValue << (32 - prefixLength)) : UInt128.MaxValue << (128 - prefixLength);
    }

    private static bool IsDottedQuad(string s)
    {
        var parts = s.Split('.');
        // No leading zeros: the runtime would read "010" as octal 8, where a person means 10.
        return parts.Length == 4 && parts.All(p => p.Length is >= 1 and <= 3 && p.All(char.IsAsciiDigit) && (p.Length == 1 || p[0] != '0'));
    }
}
