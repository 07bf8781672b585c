using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using TunnelLite.Protocol;

namespace TunnelLite.Tests.Support;

/// <summary>FsCheck generators of wire bytes: valid frames, and the ways a peer can get them wrong (random, truncated,
/// lying about the length, glued together).</summary>
public static class FrameGen
{
    /// <summary>Random bytes of a length in [min, max]; filled from a generated seed so that large arrays stay cheap.</summary>
    public static Gen<byte[]> Bytes(int min, int max) =>
        from len in Gen.Choose(min, max)
        from seed in Gen.Choose(0, int.MaxValue)
        select Fill(len, seed);

    private static byte[] Fill(int len, int seed)
    {
        var b = new byte[len];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Any defined frame type.</summary>
    public static Gen<FrameType> Type => Gen.Elements(Enum.GetValues<FrameType>());

    /// <summary>Payload sizes that matter: empty, small, medium, and the cap itself.</summary>
    public static Gen<byte[]> Payload(int max = ProtocolConstants.MaxFrameSize) => Gen.Frequency(
        (2, Gen.Constant(Array.Empty<byte>())),
        (10, Bytes(1, Math.Min(64, max))),
        (4, Bytes(1, Math.Min(4096, max))),
        (1, Bytes(max, max)),
        (1, Bytes(Math.Max(0, max - 1), max)));

    /// <summary>A valid frame: its type, payload and encoding.</summary>
    public static Gen<(FrameType Type, byte[] Payload, byte[] Encoded)> ValidFrame(int maxPayload = ProtocolConstants.MaxFrameSize) =>
        from t in Type
        from p in Payload(maxPayload)
        select (t, p, FrameCodec.Encode(t, p));

    /// <summary>A length field a lying peer might send: over the cap (up to 4 GiB-1, and "negative" as an int), zero, at the cap, or any.</summary>
    public static Gen<uint> ClaimedLength => Gen.OneOf(
        Gen.Elements(0u, 1u, (uint)ProtocolConstants.MaxFrameSize, (uint)ProtocolConstants.MaxFrameSize + 1, 60u * 1024, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu),
        Gen.Choose(ProtocolConstants.MaxFrameSize + 1, int.MaxValue).Select(n => (uint)n),
        Gen.Choose(int.MinValue, -1).Select(n => unchecked((uint)n)),
        Gen.Choose(0, ProtocolConstants.MaxFrameSize).Select(n => (uint)n));

    /// <summary>A valid frame with its length field replaced (and sometimes its type byte too).</summary>
    public static Gen<byte[]> LyingFrame =>
        from f in ValidFrame(512)
        from claim in ClaimedLength
        from badType in Gen.Frequency((3, Gen.Constant<int?>(null)), (1, Gen.Choose(0, 255).Select(b => (int?)b)))
        select WithHeader(f.Encoded, claim, badType);

    private static byte[] WithHeader(byte[] encoded, uint claim, int? type)
    {
        var b = (byte[])encoded.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(b, claim);
        if (type is { } t) b[4] = (byte)t;
        return b;
    }

    /// <summary>A valid frame cut short somewhere.</summary>
    public static Gen<byte[]> TruncatedFrame =>
        from f in ValidFrame(2048)
        from cut in Gen.Choose(0, f.Encoded.Length - 1)
        select f.Encoded[..cut];

    /// <summary>One piece of a stream: valid, random, lying or truncated.</summary>
    public static Gen<byte[]> Piece => Gen.Frequency(
        (4, ValidFrame(2048).Select(f => f.Encoded)),
        (2, Bytes(0, 300)),
        (2, LyingFrame),
        (2, TruncatedFrame));

    /// <summary>Whatever a peer could send: one piece or several glued together.</summary>
    public static Gen<byte[]> AnyInput => Gen.Frequency(
        (1, Piece),
        (1, from n in Gen.Choose(2, 5)
            from pieces in Gen.ArrayOf(Piece, n)
            select pieces.SelectMany(p => p).ToArray()));
}
