using TunnelLite.Config;
using TunnelLite.Forwarding;

namespace TunnelLite.Tests.Support;

/// <summary>Base of a suite that runs once per way the bytes of a user connection can be moved: each sealed subclass
/// picks <see cref="Mode"/>, <see cref="Tls"/> and <see cref="Plane"/>, and the tests get their servers and clients only
/// through <see cref="NewFixture"/> and <see cref="ServerOptions"/>, which apply the choice. A further axis is one more
/// property here, applied in those two, and one more subclass per combination a suite runs in.
/// <para>Subclasses that leave <see cref="Plane"/> at Auto run on the plane a default install runs on (event loops on
/// Linux, once they exist); the subclasses named <c>...Async{Mode}Tests</c> pin the runtime's async sockets, so that
/// both planes stay covered wherever the suite runs. There are no TLS × Async subclasses: TLS data connections always
/// take the async plane's stream pump, so the TLS subclasses already run there.</para></summary>
public abstract class DataPathSuite
{
    protected abstract ForwardingMode Mode { get; }

    /// <summary>TLS on control and data connections: the stream pump then carries the bytes, whatever the mode.</summary>
    protected virtual bool Tls => false;

    /// <summary>The data plane asked of the fixture's servers and clients: Auto (the platform's default, or
    /// TUNNELLITE_DATA_PLANE) unless the subclass pins one.</summary>
    protected virtual DataPlaneKind Plane => DataPlaneKind.Auto;

    /// <summary>True in the one run that carries a suite's full load. A load that mostly exercises what no pump touches
    /// (thousands of refused users, hundreds of fuzzed handshakes) runs in full once, in the default mode on the default
    /// plane, and smaller in the others: each run still crosses the pump, and the 2-core CI machine does not pay the whole
    /// load per mode and plane.</summary>
    protected bool FullLoad => Mode == ForwardingMode.Auto && !Tls && Plane == DataPlaneKind.Auto;

    protected TunnelFixture NewFixture() => new(Mode, Tls, Plane);

    /// <summary>Loopback server options of this run (TLS or not); the fixture applies the mode and the plane when it starts
    /// the server.</summary>
    protected TunnelServerOptions ServerOptions() => TunnelFixture.ServerOptions(tls: Tls);
}
