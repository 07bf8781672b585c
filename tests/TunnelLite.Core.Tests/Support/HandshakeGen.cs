using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using TunnelLite.Protocol;

namespace TunnelLite.Tests.Support;

/// <summary>FsCheck generators of control-port conversations: a right or wrong opening, then frames in any order with valid
/// JSON, JSON with wrong, missing or null fields, random bytes, lies about the length and truncations.</summary>
public static class HandshakeGen
{
    private static readonly string[] FieldNames =
    {
        "version", "software", "proof", "clientId", "clientName", "poolCount", "sessionId", "nonce", "requestId",
        "tunnels", "name", "remotePort", "tunnel", "message", "reason", "code", "results",
    };

    /// <summary>A JSON value of any kind, biased to the ones a careless deserializer trips on (null, wrong type, extremes).</summary>
    public static Gen<string> JsonValue => Gen.Elements(
        "null", "0", "-1", "1", "2147483647", "-2147483648", "1e400", "1.5", "true", "\"\"", "\"x\"", "\"AAAA\"",
        "\"not base64!\"", "\"\\u0000\\u0001\"", "[]", "[null]", "{}", "[1,2]", "{\"a\":{}}",
        "\"" + new string('z', 300) + "\"");

    private static Gen<string> Field(string name, Gen<string> value) =>
        Gen.Frequency((1, Gen.Constant("")), (4, value.Select(v => $"\"{name}\":{v}")));

    private static Gen<string> Object(params Gen<string>[] fields) =>
        from parts in Gen.CollectToArray(fields)
        from extra in Gen.Frequency((3, Gen.Constant("")), (1, from n in Gen.Elements(FieldNames) from v in JsonValue select $"\"{n}\":{v}"))
        select "{" + string.Join(",", parts.Append(extra).Where(p => p.Length > 0)) + "}";

    /// <summary>A payload for <paramref name="type"/>: a plausible object with fuzzed fields, any JSON, or random bytes.</summary>
    public static Gen<byte[]> Payload(FrameType type) => Gen.Frequency(
        (6, PlausibleJson(type).Select(Encoding.UTF8.GetBytes)),
        (1, JsonValue.Select(Encoding.UTF8.GetBytes)),
        (1, FrameGen.Bytes(0, 200)));

    private static Gen<string> TunnelName => Gen.Elements("null", "\"\"", "\" \"", "\"fz1\"", "\"fz2\"", "\"a\\u0001b\"", "5", "\"" + new string('n', 200) + "\"");
    private static Gen<string> Port => Gen.Elements("0", "-1", "70000", "2147483647", "null", "\"80\"");

    private static Gen<string> PlausibleJson(FrameType type) => type switch
    {
        FrameType.Hello => Object(Field("version", Gen.Elements("2", "2", "1", "0", "3", "-1", "null", "\"2\"")), Field("software", JsonValue), Field("nonce", JsonValue), Field("account", JsonValue)),
        FrameType.Auth => Object(Field("proof", JsonValue), Field("clientId", JsonValue), Field("poolCount", JsonValue)),
        FrameType.DataHello => Object(Field("version", Gen.Elements("1", "2")), Field("sessionId", JsonValue), Field("counter", JsonValue), Field("proof", JsonValue)),
        FrameType.Register => Object(Field("requestId", JsonValue), Field("tunnels", Tunnels)),
        FrameType.Unregister => Object(Field("name", TunnelName)),
        FrameType.WorkFailed => Object(Field("tunnel", TunnelName), Field("message", JsonValue)),
        FrameType.Goodbye => Object(Field("reason", JsonValue)),
        FrameType.Error => Object(Field("code", Gen.Elements("\"ProtocolError\"", "\"Nope\"", "3", "null")), Field("message", JsonValue), Field("requestId", JsonValue)),
        _ => Object(Field("nonce", JsonValue), Field("sessionId", JsonValue), Field("tunnel", JsonValue)),
    };

    private static Gen<string> Tunnels => Gen.Frequency(
        (1, JsonValue),
        (4, from n in Gen.Choose(0, 3)
            from ts in Gen.ArrayOf(Gen.Frequency((1, Gen.Constant("null")), (1, JsonValue), (6, Object(Field("name", TunnelName), Field("remotePort", Port)))), n)
            select "[" + string.Join(",", ts) + "]"));

    private static byte[] Frame(FrameType type, byte[] payload) => FrameCodec.Encode(type, payload);

    private static HandshakeStep Raw(string label, byte[] bytes, int chunks = 1) => new(HandshakeStepKind.Raw, label, bytes, Chunks: chunks);

    /// <summary>The client nonce of every hello the fuzzer sends, so that the probe can compute a valid proof over it.</summary>
    public static readonly byte[] ClientNonce = Enumerable.Repeat((byte)0x42, ProtocolConstants.NonceSize).ToArray();

    private static byte[] HelloV1 => MessageSerializer.ToFrame(new HelloMessage { Version = ProtocolConstants.Version, Software = "fuzz", Nonce = ClientNonce });

    /// <summary>A frame of any defined type (or an undefined type byte) with a fuzzed payload.</summary>
    public static Gen<HandshakeStep> AnyFrame =>
        from type in Gen.Frequency((8, FrameGen.Type.Select(t => (byte)t)), (1, Gen.Choose(0, 255).Select(b => (byte)b)))
        from payload in Payload((FrameType)type)
        select Raw($"{(Enum.IsDefined((FrameType)type) ? ((FrameType)type).ToString() : $"type{type}")}", WithType(Frame(FrameType.Heartbeat, payload), type));

    private static byte[] WithType(byte[] frame, byte type)
    {
        frame[4] = type;
        return frame;
    }

    /// <summary>What a connection opens with.</summary>
    public static Gen<HandshakeStep[]> Opening => Gen.Frequency(
        (6, Gen.Constant(new[] { Raw("preamble", "TNLT"u8.ToArray()), Raw("Hello(1)", HelloV1) })),
        // A proper login, so that what follows fuzzes the open session rather than the handshake.
        (6, from id in Gen.Elements("fuzz-a", "fuzz-b", "fuzz-c")
            from pool in Gen.Elements(0, 1, 3)
            select new[]
            {
                Raw("preamble", "TNLT"u8.ToArray()), Raw("Hello(1)", HelloV1),
                new HandshakeStep(HandshakeStepKind.AuthWithProof, "Auth", Array.Empty<byte>(), $",\"clientId\":\"{id}\",\"poolCount\":{pool}"),
            }),
        (2, Gen.Constant(new[] { Raw("preamble+Hello(1) bytewise", "TNLT"u8.ToArray().Concat(HelloV1).ToArray(), chunks: 4 + HelloV1.Length) })),
        (2, from f in AnyFrame select new[] { Raw("preamble", "TNLT"u8.ToArray()), f }),
        (1, from b in FrameGen.Bytes(1, 64) select new[] { Raw("junk", b) }),
        (1, Gen.Elements(new[] { Raw("http", "GET / HTTP/1.1\r\n\r\n"u8.ToArray()) }, new[] { Raw("tls", new byte[] { 0x16, 3, 1, 0, 5 }) }, new[] { Raw("TNL", "TNL"u8.ToArray()) })),
        (1, Gen.Constant(Array.Empty<HandshakeStep>())));

    /// <summary>Any later step, valid or not, in any order.</summary>
    public static Gen<HandshakeStep> Step => Gen.Frequency(
        (5, from id in Gen.Elements("\"fuzz-a\"", "\"fuzz-b\"", "\"fuzz-a\"", "null", "\"\"", "7", "\"" + new string('c', 65) + "\"")
            from name in Gen.Elements("", ",\"account\":null", ",\"account\":\"n\"", ",\"account\":\"" + new string('m', 129) + "\"")
            from pool in Gen.Elements("", ",\"poolCount\":0", ",\"poolCount\":2", ",\"poolCount\":-5", ",\"poolCount\":2147483647")
            select new HandshakeStep(HandshakeStepKind.AuthWithProof, "Auth", Array.Empty<byte>(), $",\"clientId\":{id}{name}{pool}")),
        (2, Payload(FrameType.Register).Select(p => Raw("Register", Frame(FrameType.Register, p)))),
        (6, AnyFrame),
        (1, Gen.Constant(Raw("Hello(1) again", HelloV1))),
        (1, Gen.Constant(new HandshakeStep(HandshakeStepKind.DataHelloForSession, "DataHello(session)", Array.Empty<byte>()))),
        (1, from claim in FrameGen.ClaimedLength
            from type in FrameGen.Type
            from behind in FrameGen.Bytes(0, 64)
            select Raw($"claim {claim}", Header(claim, (byte)type).Concat(behind).ToArray())),
        (1, FrameGen.TruncatedFrame.Select(b => Raw("truncated", b))),
        (1, FrameGen.Bytes(1, 300).Select(b => Raw("random", b))),
        (1, Gen.Constant(new HandshakeStep(HandshakeStepKind.Pause, "pause", Array.Empty<byte>()))));

    private static byte[] Header(uint claim, byte type)
    {
        var h = new byte[ProtocolConstants.FrameHeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(h, claim);
        h[4] = type;
        return h;
    }

    /// <summary>A whole conversation: an opening and up to six more steps.</summary>
    public static Gen<HandshakeStep[]> Conversation =>
        from opening in Opening
        from n in Gen.Choose(0, 6)
        from rest in Gen.ArrayOf(Step, n)
        select opening.Concat(rest).ToArray();
}
