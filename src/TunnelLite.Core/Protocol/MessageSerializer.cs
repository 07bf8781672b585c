using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace TunnelLite.Protocol;

/// <summary>Turns messages into frames and back. Any malformed payload becomes a <see cref="ProtocolException"/>.</summary>
public static class MessageSerializer
{
    private static readonly Dictionary<FrameType, Type> PayloadTypes = new()
    {
        [FrameType.Hello] = typeof(HelloMessage),
        [FrameType.Challenge] = typeof(ChallengeMessage),
        [FrameType.Auth] = typeof(AuthMessage),
        [FrameType.AuthOk] = typeof(AuthOkMessage),
        [FrameType.Error] = typeof(ErrorMessage),
        [FrameType.Register] = typeof(RegisterMessage),
        [FrameType.RegisterResult] = typeof(RegisterResultMessage),
        [FrameType.Unregister] = typeof(UnregisterMessage),
        [FrameType.Heartbeat] = typeof(HeartbeatMessage),
        [FrameType.RequestWorkConn] = typeof(RequestWorkConnMessage),
        [FrameType.DataHello] = typeof(DataHelloMessage),
        [FrameType.StartWork] = typeof(StartWorkMessage),
        [FrameType.WorkFailed] = typeof(WorkFailedMessage),
        [FrameType.Goodbye] = typeof(GoodbyeMessage),
        [FrameType.TunnelHealth] = typeof(TunnelHealthMessage),
    };

    /// <summary>The frame type that carries <typeparamref name="T"/>.</summary>
    public static FrameType FrameTypeOf<T>() => FrameTypeOf(typeof(T));

    private static FrameType FrameTypeOf(Type t)
    {
        foreach (var (k, v) in PayloadTypes)
            if (v == t) return k;
        throw new ArgumentException($"{t.Name} is not a protocol message.");
    }

    /// <summary>Encodes a message as a complete frame.</summary>
    public static byte[] ToFrame<T>(T message) where T : class
    {
        var info = (JsonTypeInfo<T>)ProtocolJsonContext.Default.GetTypeInfo(typeof(T))!;
        return FrameCodec.Encode(FrameTypeOf<T>(), JsonSerializer.SerializeToUtf8Bytes(message, info));
    }

    /// <summary>Encodes a message as the opening of a connection: the preamble, then the frame.</summary>
    public static byte[] ToOpeningFrame<T>(T message) where T : class
    {
        var frame = ToFrame(message);
        var both = new byte[ProtocolConstants.Preamble.Length + frame.Length];
        ProtocolConstants.Preamble.CopyTo(both);
        frame.CopyTo(both, ProtocolConstants.Preamble.Length);
        return both;
    }

    /// <summary>Decodes the payload of <paramref name="frame"/>, which must be of the type that carries <typeparamref name="T"/>.</summary>
    /// <exception cref="ProtocolException">Wrong frame type or malformed payload.</exception>
    public static T Read<T>(Frame frame) where T : class
    {
        var expected = FrameTypeOf<T>();
        if (frame.Type != expected)
            throw new ProtocolException($"Expected a {expected} frame, got {frame.Type}.");
        var info = (JsonTypeInfo<T>)ProtocolJsonContext.Default.GetTypeInfo(typeof(T))!;
        try
        {
            if (frame.Payload.IsEmpty) throw new ProtocolException($"The {frame.Type} frame is empty.");
            var message = JsonSerializer.Deserialize(frame.Payload.Span, info)
                ?? throw new ProtocolException($"The {frame.Type} frame holds null.");
            if (MissingField(message) is { } field)
                throw new ProtocolException($"Malformed {frame.Type} frame: {field} must not be null.");
            return message;
        }
        catch (JsonException e)
        {
            throw new ProtocolException($"Malformed {frame.Type} frame: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new ProtocolException($"Malformed {frame.Type} frame: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            throw new ProtocolException($"Malformed {frame.Type} frame: {e.Message}", e);
        }
    }

    // JSON may say null (or a list may hold null) where the message type promises an object; the handlers rely on the
    // promise, so a null there is a malformed frame, caught here once rather than as a NullReferenceException deep inside.
    private static string? MissingField(object message) => message switch
    {
        ChallengeMessage m when m.Nonce is null => "nonce",
        HelloMessage m when m.Nonce is null => "nonce",
        AuthMessage m when m.Proof is null => "proof",
        AuthMessage m when m.ClientId is null => "clientId",
        AuthOkMessage m when m.SessionId is null || m.Proof is null => "sessionId or proof",
        ErrorMessage m when m.Message is null => "message",
        RegisterMessage m when m.Tunnels is null || m.Tunnels.Any(t => t?.Name is null) => "tunnels, a tunnel or its name",
        RegisterResultMessage m when m.Results is null || m.Results.Any(r => r?.Name is null) => "results, a result or its name",
        UnregisterMessage m when m.Name is null => "name",
        DataHelloMessage m when m.SessionId is null || m.Proof is null => "sessionId or proof",
        StartWorkMessage m when m.Tunnel is null => "tunnel",
        WorkFailedMessage m when m.Tunnel is null || m.Message is null => "tunnel or message",
        _ => null,
    };
}
