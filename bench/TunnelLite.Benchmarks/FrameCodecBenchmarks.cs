using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Parameters;
using TunnelLite.Protocol;

namespace TunnelLite.Benchmarks;

/// <summary>The frame kinds measured.</summary>
public enum FrameKind
{
    /// <summary>A control frame: a Register message as the client sends it, about 100 bytes of JSON.</summary>
    Control,
    /// <summary>A frame with the largest payload the protocol allows (<see cref="ProtocolConstants.MaxFrameSize"/>).</summary>
    Max,
}

/// <summary><see cref="FrameCodec.Encode"/> and <see cref="FrameCodec.TryDecode"/> on one complete frame in memory.</summary>
[MemoryDiagnoser]
public class FrameCodecBenchmarks
{
    private FrameType _type;
    private byte[] _payload = null!;
    private byte[] _frame = null!;

    [Params(FrameKind.Control, FrameKind.Max)]
    public FrameKind Frame { get; set; }

    /// <summary>The frame's type and payload; the control payload is the real JSON of a Register message.</summary>
    public static (FrameType Type, byte[] Payload) Build(FrameKind kind)
    {
        if (kind == FrameKind.Control)
        {
            var message = new RegisterMessage
            {
                RequestId = 7,
                Tunnels =
                {
                    new TunnelRequest { Name = "web", RemotePort = 8080 },
                    new TunnelRequest { Name = "ssh", RemotePort = 2222 },
                },
            };
            var frame = MessageSerializer.ToFrame(message);
            return (FrameType.Register, frame[ProtocolConstants.FrameHeaderSize..]);
        }
        var payload = new byte[ProtocolConstants.MaxFrameSize];
        new Random(42).NextBytes(payload);
        return (FrameType.Register, payload);
    }

    /// <summary>Encoded frame size (header and payload): the bytes each operation handles.</summary>
    public static long BytesPerOperation(ParameterInstances parameters) =>
        ProtocolConstants.FrameHeaderSize + Build((FrameKind)parameters[nameof(Frame)]).Payload.Length;

    [GlobalSetup]
    public void GlobalSetup()
    {
        (_type, _payload) = Build(Frame);
        _frame = FrameCodec.Encode(_type, _payload);
        if (FrameCodec.TryDecode(_frame, out var decoded, out var consumed) != OperationStatus.Done
            || consumed != _frame.Length || !decoded.Payload.Span.SequenceEqual(_payload))
            throw new InvalidOperationException("The frame does not round-trip.");
    }

    [Benchmark]
    public byte[] Encode() => FrameCodec.Encode(_type, _payload);

    [Benchmark]
    public Frame TryDecode()
    {
        if (FrameCodec.TryDecode(_frame, out var frame, out _) != OperationStatus.Done)
            throw new InvalidOperationException("Incomplete frame.");
        return frame;
    }
}
