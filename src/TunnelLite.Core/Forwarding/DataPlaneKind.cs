namespace TunnelLite.Forwarding;

/// <summary>What drives the sockets of user connections once they are paired: the runtime's async socket engine, or
/// TunnelLite's own event loops (Linux). Chosen like <see cref="ForwardingMode"/>: a setting, a config key
/// (<c>transport.dataPlane</c>) and an environment variable (<see cref="PumpSelector.DataPlaneEnvironmentVariable"/>).</summary>
public enum DataPlaneKind
{
    /// <summary>Event loops where they exist (Linux), the async plane elsewhere.</summary>
    Auto,
    /// <summary>A few threads, each with its own epoll instance, own the connections' sockets: edge-triggered, non-blocking,
    /// direct system calls, no task or allocation per message. Linux only; elsewhere the async plane runs instead.</summary>
    EventLoops,
    /// <summary>The runtime's async sockets (<c>System.Net.Sockets</c>): portable, one thread-pool hop per readiness event.</summary>
    Async,
}
