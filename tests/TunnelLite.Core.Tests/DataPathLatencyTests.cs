using System.Diagnostics;
using System.Net.Sockets;
using TunnelLite.Forwarding;
using TunnelLite.Tests.Support;
using Xunit.Abstractions;

namespace TunnelLite.Tests;

/// <summary>Small request/replies on one tunneled keep-alive connection come back at once: no round trip waits on Nagle and a
/// delayed ACK (about 40 ms on Linux). Timed, so run alone and judged by the median, with room for a loaded 2-core machine.</summary>
[Collection(DataPathMeasurementCollection.Name)]
public abstract class DataPathLatencyTests : DataPathTests
{
    private const int RequestSize = 32;
    private const int ReplySize = 128;
    private readonly ITestOutputHelper _output;

    protected DataPathLatencyTests(ForwardingMode mode, bool tls, ITestOutputHelper output, DataPlaneKind plane = DataPlaneKind.Auto)
        : base(mode, tls, plane) => _output = output;

    // Would fail if a tunnel socket left Nagle on (the second half of a message waits for the delayed ACK of the first:
    // 40 ms or more each way), or if a pump held small messages back to coalesce them, or woke late for them.
    [Fact]
    public async Task Small_request_replies_on_a_keep_alive_connection_are_not_delayed()
    {
        const int warmUp = 20;
        const int rounds = warmUp + 200;
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (_, _, port) = await StartTunnelAsync(f, service.Port);
        var (user, end) = await OpenAsync(f, port, service);

        // Each message goes out in two writes a moment apart, as a protocol that writes a header and then a body does: the
        // tunnel forwards the first half alone, and with Nagle on would hold the second until the first is acknowledged.
        // What is timed is the way of the second half, from its write to the whole message's arrival, each way (one clock:
        // both ends are in this process), so that the moment in between does not count. The two ends run on threads of
        // their own with blocking calls, as other processes would: a moment slept on a pool thread, or spun, takes from the
        // tunnel the time it needs to forward the first half alone, and halves that travel together hide Nagle.
        var requestSent = new long[rounds];
        var requestArrived = new long[rounds];
        var replySent = new long[rounds];
        var replyArrived = new long[rounds];
        user.ReceiveTimeout = end.ReceiveTimeout = (int)Prompt.TotalMilliseconds;
        var answering = OnThread(() =>
        {
            var request = new byte[RequestSize];
            var reply = new byte[ReplySize];
            for (var i = 0; i < rounds; i++)
            {
                DelayAcks(end);
                ReceiveExactly(end, request);
                requestArrived[i] = Stopwatch.GetTimestamp();
                end.Send(reply.AsSpan(0, ReplySize / 2));
                Thread.Sleep(1);
                replySent[i] = Stopwatch.GetTimestamp();
                end.Send(reply.AsSpan(ReplySize / 2));
            }
        });
        var asking = OnThread(() =>
        {
            var request = new byte[RequestSize];
            var reply = new byte[ReplySize];
            for (var i = 0; i < rounds; i++)
            {
                user.Send(request.AsSpan(0, RequestSize / 2));
                Thread.Sleep(1);
                requestSent[i] = Stopwatch.GetTimestamp();
                user.Send(request.AsSpan(RequestSize / 2));
                DelayAcks(user);
                ReceiveExactly(user, reply);
                replyArrived[i] = Stopwatch.GetTimestamp();
            }
        });
        await Task.WhenAll(asking, answering).WaitAsync(TimeSpan.FromSeconds(60));

        var times = Enumerable.Range(warmUp, rounds - warmUp)
            .Select(i => Stopwatch.GetElapsedTime(requestSent[i], requestArrived[i]).TotalMilliseconds + Stopwatch.GetElapsedTime(replySent[i], replyArrived[i]).TotalMilliseconds)
            .Order().ToList();
        var p50 = times[times.Count / 2];
        var p90 = times[times.Count * 9 / 10];
        var stalled = times.Count(t => t >= 40);
        _output.WriteLine($"{times.Count} round trips, both ways: p50 {p50:0.000} ms, p90 {p90:0.000} ms, max {times[^1]:0.000} ms, {stalled} at 40 ms or more");
        Assert.True(p50 < 10, $"the median round trip took {p50:0.0} ms");
        Assert.True(stalled <= times.Count / 20, $"{stalled} of {times.Count} round trips took 40 ms or more");
    }

    private static Task OnThread(Action body) => Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static void ReceiveExactly(Socket s, byte[] buf)
    {
        for (var got = 0; got < buf.Length;)
        {
            var n = s.Receive(buf.AsSpan(got));
            Assert.True(n > 0, $"the connection ended after {got} of {buf.Length} bytes");
            got += n;
        }
    }

    /// <summary>Makes <paramref name="s"/> delay its next ACKs (Linux: TCP_QUICKACK off, which lasts until a delayed ACK
    /// goes out), as a busy peer does: then a tunnel socket with Nagle on holds the second half of each message for the
    /// delayed ACK of the first, every time rather than when the kernel happens to delay it. A no-op elsewhere.</summary>
    private static void DelayAcks(Socket s)
    {
        if (OperatingSystem.IsLinux()) s.SetRawSocketOption(6 /* IPPROTO_TCP */, 12 /* TCP_QUICKACK */, BitConverter.GetBytes(0));
    }
}

public sealed class DataPathLatencyCopyTests(ITestOutputHelper output) : DataPathLatencyTests(ForwardingMode.Copy, tls: false, output);

public sealed class DataPathLatencySpliceTests(ITestOutputHelper output) : DataPathLatencyTests(ForwardingMode.Splice, tls: false, output);

public sealed class DataPathLatencyAutoTests(ITestOutputHelper output) : DataPathLatencyTests(ForwardingMode.Auto, tls: false, output);

public sealed class DataPathLatencyAsyncCopyTests(ITestOutputHelper output) : DataPathLatencyTests(ForwardingMode.Copy, tls: false, output, DataPlaneKind.Async);

public sealed class DataPathLatencyAsyncSpliceTests(ITestOutputHelper output) : DataPathLatencyTests(ForwardingMode.Splice, tls: false, output, DataPlaneKind.Async);

public sealed class DataPathLatencyAsyncAutoTests(ITestOutputHelper output) : DataPathLatencyTests(ForwardingMode.Auto, tls: false, output, DataPlaneKind.Async);

public sealed class DataPathLatencyTlsTests(ITestOutputHelper output) : DataPathLatencyTests(ForwardingMode.Splice, tls: true, output);
