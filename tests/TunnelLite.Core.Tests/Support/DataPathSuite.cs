using TunnelLite.Config;
using TunnelLite.Forwarding;

namespace TunnelLite.Tests.Support;

/// <summary>Base of a suite that runs once per way the bytes of a user connection can be moved: each sealed subclass
/// picks <see cref="Mode"/> (and <see cref="Tls"/>), and the tests get their servers and clients only through
/// <see cref="NewFixture"/> and <see cref="ServerOptions"/>, which apply the choice. A further axis (the data plane) is
/// one more property here, applied in those two, and one more subclass per combination a suite runs in.</summary>
public abstract class DataPathSuite
{
    protected abstract ForwardingMode Mode { get; }

    /// <summary>TLS on control and data connections: the stream pump then carries the bytes, whatever the mode.</summary>
    protected virtual bool Tls => false;

    /// <summary>True in the one run that carries a suite's full load. A load that mostly exercises what no pump touches
    /// (thousands of refused users, hundreds of fuzzed handshakes) runs in full once, in the default mode, and smaller in
    /// the others: each run still crosses the pump, and the 2-core CI machine does not pay the whole load per mode.</summary>
    protected bool FullLoad => Mode == ForwardingMode.Auto && !Tls;

    protected TunnelFixture NewFixture() => new(Mode, Tls);

    /// <summary>Loopback server options of this run (TLS or not); the fixture applies the mode when it starts the server.</summary>
    protected TunnelServerOptions ServerOptions() => TunnelFixture.ServerOptions(tls: Tls);
}
