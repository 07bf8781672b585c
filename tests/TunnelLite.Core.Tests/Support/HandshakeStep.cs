namespace TunnelLite.Tests.Support;

/// <summary>What a fuzzing peer does next on a control connection.</summary>
public enum HandshakeStepKind
{
    /// <summary>Send <see cref="HandshakeStep.Bytes"/> as they are, in <see cref="HandshakeStep.Chunks"/> writes.</summary>
    Raw,
    /// <summary>Send an Auth frame whose proof answers the server's challenge; <see cref="HandshakeStep.Json"/> holds the other fields.</summary>
    AuthWithProof,
    /// <summary>Send a DataHello naming the session the server opened (or a made-up one), with a made-up nonce.</summary>
    DataHelloForSession,
    /// <summary>Wait a little, so that the server's reads see the stream in pieces.</summary>
    Pause,
}

/// <summary>One action of a fuzzing peer. <see cref="Describe"/> makes a failing sequence readable.</summary>
public sealed record HandshakeStep(HandshakeStepKind Kind, string Label, byte[] Bytes, string Json = "", int Chunks = 1)
{
    public string Describe() => Kind switch
    {
        HandshakeStepKind.Raw => $"{Label}[{Bytes.Length} B{(Chunks > 1 ? $" in {Chunks} writes" : "")}]",
        HandshakeStepKind.AuthWithProof => $"Auth+proof{Json}",
        _ => Label,
    };
}
