using System.Net;
using TunnelLite.Statistics;

namespace TunnelLite.DataPlane;

/// <summary>Where a client's data connection goes once paired: its tunnel's local service (an IP address; host names
/// are resolved off the loops), the connect deadline, the tunnel's counters, how a connect failure is described
/// (from its errno) when it is counted, and the bytes written to the service as soon as it is connected, ahead of the
/// user's (a PROXY protocol header), if any.</summary>
internal sealed record WorkTarget(IPEndPoint Service, TimeSpan Timeout, TrafficCounters Counters, Func<int, string> DescribeFailure, byte[]? Preamble = null);
