namespace TunnelLite.Bench;

/// <summary>How one TunnelLite path runs both its ends: a forwarding mode, and a data plane and loop count when the path
/// sets them (null: the module's default, as users get it).</summary>
/// <param name="Mode">-ForwardingMode: Copy, Splice or Auto.</param>
/// <param name="DataPlane">-DataPlane: EventLoops or Async; null leaves it out.</param>
/// <param name="EventLoops">-EventLoops (0 = one per core); null leaves it out.</param>
internal sealed record EndSettings(string Mode, string? DataPlane = null, int? EventLoops = null);

/// <summary>One way to the sink: direct, a reference (HAProxy, ssh -R), or through a TunnelLite tunnel in one plane and mode;
/// with everything measured on it.</summary>
internal sealed class TunnelPath(string name, EndSettings? settings = null)
{
    public string Name { get; } = name;

    /// <summary>How the tunnel's ends run; null for direct and the references.</summary>
    public EndSettings? Settings { get; } = settings;

    /// <summary>A TunnelLite tunnel (its ends are <see cref="HostProcess"/>es), not direct or a reference.</summary>
    public bool IsTunnelLite => Settings is not null;

    /// <summary>On the event-loop plane: the targets of issue 13 are judged on these paths.</summary>
    public bool OnEventLoops => Settings?.DataPlane == "EventLoops";

    /// <summary>The process users reach first (a tunnel's server, HAProxy's first hop, sshd), and the one next to the sink
    /// (a tunnel's client, HAProxy's second hop, ssh).</summary>
    public IMeasuredProcess? Server { get; set; }

    /// <inheritdoc cref="Server"/>
    public IMeasuredProcess? Client { get; set; }

    /// <summary>Where users connect when it is not a tunnel client's public port (direct, HAProxy, ssh -R).</summary>
    public int DirectPort { get; init; }

    /// <summary>Where users connect.</summary>
    public int Port => DirectPort != 0 ? DirectPort : ((HostProcess)Client!).Port;

    public List<double> BulkMBps { get; } = new();
    public double ServerCpu { get; set; }
    public double ClientCpu { get; set; }
    public long BulkBytes { get; set; }
    public List<RunResult> Connections { get; } = new();
    public double ConnectionCpu { get; set; }
    public List<RunResult> RequestReply { get; } = new();
    public long IdleServerGrowth { get; set; }
    public long IdleClientGrowth { get; set; }

    /// <summary>Whether the idle test ran on this path (not on direct and the twins of auto).</summary>
    public bool IdleMeasured { get; set; }

    public HostStats? ServerStats { get; set; }
    public HostStats? ClientStats { get; set; }

    /// <summary>The unscraped twin of auto, whose ratio to auto measures the noise.</summary>
    public bool Control { get; init; }

    /// <summary>Admin endpoint ports of the server and client (0: none).</summary>
    public (int Server, int Client) AdminPorts { get; init; }

    /// <summary>The scraped twin of auto.</summary>
    public bool Scraped => AdminPorts.Server != 0;

    /// <summary>A twin of auto (scraped or control), which the chart and the idle test leave out: they would repeat auto.</summary>
    public bool IsTwin => Scraped || Control;
}
