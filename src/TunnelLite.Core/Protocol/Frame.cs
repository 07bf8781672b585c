namespace TunnelLite.Protocol;

/// <summary>One decoded frame: its type and payload bytes.</summary>
public readonly record struct Frame(FrameType Type, ReadOnlyMemory<byte> Payload);
