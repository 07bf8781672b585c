namespace TunnelLite.PowerShell.Internal;

/// <summary>A public end that Test-Tunnel probes: a tunnel's name (null for an endpoint given by host and port), and the
/// host and port where its users connect.</summary>
internal sealed record ProbeTarget(string? Name, string Host, int Port);
