namespace TunnelLite;

/// <summary>An event of a tunnel or server job (connected, reconnected, client registered...), as Receive-Job returns it.</summary>
/// <param name="Time">When it happened.</param>
/// <param name="Source">The job's name.</param>
/// <param name="Message">What happened.</param>
public sealed record TunnelEvent(DateTimeOffset Time, string Source, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"[{Time:HH:mm:ss}] {Source}: {Message}";
}
