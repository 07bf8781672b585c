using System.Buffers;
using System.Buffers.Binary;
using TunnelLite.Protocol;

namespace TunnelLite.Tests;

public sealed class FrameCodecTests
{
    [Fact]
    public void Encoded_frames_decode_to_the_same_message()
    {
        var msg = new RegisterMessage { RequestId = 7, Tunnels = { new TunnelRequest { Name = "web", RemotePort = 8080 } } };
        var bytes = MessageSerializer.ToFrame(msg);
        Assert.Equal(OperationStatus.Done, FrameCodec.TryDecode(bytes, out var frame, out var used));
        Assert.Equal(bytes.Length, used);
        var back = MessageSerializer.Read<RegisterMessage>(frame);
        Assert.Equal(7, back.RequestId);
        Assert.Equal("web", back.Tunnels.Single().Name);
        Assert.Equal(8080, back.Tunnels.Single().RemotePort);
    }

    [Fact]
    public void Oversized_length_is_refused_before_allocation()
    {
        var header = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header, uint.MaxValue);
        header[4] = (byte)FrameType.Register;
        var e = Assert.Throws<ProtocolException>(() => FrameCodec.TryDecode(header, out _, out _));
        Assert.Contains("exceeds", e.Message);
        BinaryPrimitives.WriteUInt32BigEndian(header, ProtocolConstants.MaxFrameSize + 1);
        Assert.Throws<ProtocolException>(() => FrameCodec.TryDecode(header, out _, out _));
    }

    [Fact]
    public async Task Oversized_length_on_a_stream_is_refused_without_reading_the_payload()
    {
        var header = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header, 1u << 30);
        header[4] = (byte)FrameType.Hello;
        var before = GC.GetAllocatedBytesForCurrentThread();
        await Assert.ThrowsAsync<ProtocolException>(async () => await FrameCodec.ReadAsync(new MemoryStream(header), default));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the decoder allocated in proportion to the claimed length");
    }

    [Fact]
    public void Unknown_type_is_refused()
    {
        var bytes = FrameCodec.Encode(FrameType.Heartbeat, "{}"u8);
        bytes[4] = 200;
        Assert.Throws<ProtocolException>(() => FrameCodec.TryDecode(bytes, out _, out _));
    }

    [Fact]
    public async Task Truncated_frames_need_more_data_or_raise_the_protocol_error_on_a_stream()
    {
        var bytes = MessageSerializer.ToFrame(new HelloMessage { Version = 1 });
        for (var cut = 1; cut < bytes.Length; cut++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, FrameCodec.TryDecode(bytes.AsSpan(0, cut), out _, out _));
            var e = await Assert.ThrowsAsync<ProtocolException>(async () => await FrameCodec.ReadAsync(new MemoryStream(bytes, 0, cut), default));
            Assert.Contains("ended inside", e.Message);
        }
        Assert.Null(await FrameCodec.ReadAsync(new MemoryStream(), default));
    }

    [Fact]
    public void Malformed_payloads_raise_only_the_protocol_error()
    {
        var cases = new (string Json, Action<Frame> Read)[]
        {
            ("", f => MessageSerializer.Read<RegisterMessage>(f)),
            ("null", f => MessageSerializer.Read<RegisterMessage>(f)),
            ("{", f => MessageSerializer.Read<RegisterMessage>(f)),
            ("[]", f => MessageSerializer.Read<RegisterMessage>(f)),
            ("\u0000\u0001", f => MessageSerializer.Read<RegisterMessage>(f)),
            ("{\"tunnels\":[{\"name\":5}]}", f => MessageSerializer.Read<RegisterMessage>(f)),
            ("{\"version\":\"x\"}", f => MessageSerializer.Read<HelloMessage>(f with { Type = FrameType.Hello })),
            // A code by a name this build does not know is Unknown (AddressNotAvailableTests); one that is no name is malformed.
            ("{\"code\":true}", f => MessageSerializer.Read<ErrorMessage>(f with { Type = FrameType.Error })),
            ("{\"nonce\":\"not base64!\"}", f => MessageSerializer.Read<ChallengeMessage>(f with { Type = FrameType.Challenge })),
        };
        foreach (var (json, read) in cases)
        {
            var frame = new Frame(FrameType.Register, System.Text.Encoding.UTF8.GetBytes(json));
            Assert.Throws<ProtocolException>(() => read(frame));
        }
        var wrongType = new Frame(FrameType.Hello, "{}"u8.ToArray());
        Assert.Throws<ProtocolException>(() => MessageSerializer.Read<AuthMessage>(wrongType));
    }

    [Fact]
    public void Random_input_never_raises_anything_but_the_protocol_error()
    {
        var rng = new Random(12345);
        var types = Enum.GetValues<FrameType>();
        for (var i = 0; i < 20_000; i++)
        {
            var len = rng.Next(0, 200);
            var buf = new byte[len];
            rng.NextBytes(buf);
            if (len >= 5 && rng.Next(2) == 0)
            {
                // Half the time make the header plausible so that payload decoding gets exercised too.
                BinaryPrimitives.WriteUInt32BigEndian(buf, (uint)(len - 5));
                buf[4] = (byte)types[rng.Next(types.Length)];
            }
            try
            {
                if (FrameCodec.TryDecode(buf, out var frame, out _) == OperationStatus.Done)
                    DecodeAny(frame);
            }
            catch (ProtocolException)
            {
            }
        }
    }

    private static void DecodeAny(Frame f)
    {
        switch (f.Type)
        {
            case FrameType.Hello: MessageSerializer.Read<HelloMessage>(f); break;
            case FrameType.Challenge: MessageSerializer.Read<ChallengeMessage>(f); break;
            case FrameType.Auth: MessageSerializer.Read<AuthMessage>(f); break;
            case FrameType.AuthOk: MessageSerializer.Read<AuthOkMessage>(f); break;
            case FrameType.Error: MessageSerializer.Read<ErrorMessage>(f); break;
            case FrameType.Register: MessageSerializer.Read<RegisterMessage>(f); break;
            case FrameType.RegisterResult: MessageSerializer.Read<RegisterResultMessage>(f); break;
            case FrameType.Unregister: MessageSerializer.Read<UnregisterMessage>(f); break;
            case FrameType.Heartbeat: MessageSerializer.Read<HeartbeatMessage>(f); break;
            case FrameType.RequestWorkConn: MessageSerializer.Read<RequestWorkConnMessage>(f); break;
            case FrameType.DataHello: MessageSerializer.Read<DataHelloMessage>(f); break;
            case FrameType.StartWork: MessageSerializer.Read<StartWorkMessage>(f); break;
            case FrameType.WorkFailed: MessageSerializer.Read<WorkFailedMessage>(f); break;
            case FrameType.Goodbye: MessageSerializer.Read<GoodbyeMessage>(f); break;
        }
    }

    [Fact]
    public void Token_proofs_differ_by_token_nonce_and_purpose()
    {
        var cn = TokenProof.NewNonce();
        var sn = TokenProof.NewNonce();
        var a = TokenProof.ForClient("t1", cn, sn);
        Assert.True(TokenProof.Matches(a, TokenProof.ForClient("t1", cn, sn)));
        Assert.False(TokenProof.Matches(a, TokenProof.ForClient("t2", cn, sn)));
        Assert.False(TokenProof.Matches(a, TokenProof.ForClient("t1", TokenProof.NewNonce(), sn)));
        Assert.False(TokenProof.Matches(a, TokenProof.ForClient("t1", cn, TokenProof.NewNonce())));
        // The server's proof is not the client's, nor the session key: a client proof cannot be reflected back as the server's.
        Assert.False(TokenProof.Matches(a, TokenProof.ForServer("t1", cn, sn, Array.Empty<byte>())));
        Assert.False(TokenProof.Matches(a, TokenProof.SessionKey("t1", cn, sn)));
        var key = TokenProof.SessionKey("t1", cn, sn);
        Assert.False(TokenProof.Matches(TokenProof.ForData(key, cn, 1), TokenProof.ForData(key, cn, 2)));
        Assert.False(TokenProof.Matches(TokenProof.ForData(key, cn, 1), TokenProof.ForData(TokenProof.SessionKey("t2", cn, sn), cn, 1)));
        Assert.False(TokenProof.Matches(a, a.AsSpan(0, 16)));
        Assert.False(TokenProof.Matches(a, Array.Empty<byte>()));
    }
}
