using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Parameters;
using TunnelLite.Forwarding;
using TunnelLite.Statistics;

namespace TunnelLite.Benchmarks;

/// <summary>The forwarding pumps over real loopback TCP on 127.0.0.1.
/// Topology per invocation: <c>userClient → [userAccepted | pump | serviceAccepted] → serviceClient</c>.
/// The benchmark writes <see cref="SizeMiB"/> MiB into <c>userClient</c>, half-closes it, and reads <c>serviceClient</c>
/// to the end: the pump must pass the FIN on. The reader then half-closes its side too, so the pump's idle direction ends,
/// and the invocation completes when the pump (which disposes both accepted sockets) has returned.
/// The four sockets are made in <see cref="IterationSetup"/>, so connect and accept are not measured; hence one invocation
/// per iteration.</summary>
[MemoryDiagnoser]
[InvocationCount(1, unrollFactor: 1)]
[Config(typeof(Config))]
public class PumpBenchmarks
{
    private const int MiB = 1024 * 1024;
    private const int ChunkSize = 256 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Omits the splice benchmarks where splice(2) cannot be used (the Splice pumps require it).</summary>
    private sealed class Config : ManualConfig
    {
        public Config() => AddFilter(new SimpleFilter(SpliceAvailableFor));
    }

    private Socket _userListener = null!, _serviceListener = null!;
    private Socket _userClient = null!, _userAccepted = null!, _serviceAccepted = null!, _serviceClient = null!;
    private TrafficCounters _counters = null!;
    private CancellationTokenSource _timeout = null!;
    private readonly byte[] _sendBuffer = new byte[ChunkSize];
    private readonly byte[] _receiveBuffer = new byte[ChunkSize];

    /// <summary>Payload pushed from the user side to the service side per invocation, in MiB.</summary>
    [Params(256)]
    public int SizeMiB { get; set; }

    /// <summary>Bytes each invocation moves (for the MB/s and Alloc/MB columns).</summary>
    public static long BytesPerOperation(ParameterInstances parameters) => Convert.ToInt64(parameters[nameof(SizeMiB)]) * MiB;

    internal static bool SpliceAvailableFor(BenchmarkDotNet.Running.BenchmarkCase benchmarkCase) =>
        benchmarkCase.Descriptor.Type != typeof(PumpBenchmarks)
        || !benchmarkCase.Descriptor.WorkloadMethod.Name.StartsWith("Splice", StringComparison.Ordinal)
        || SplicePump.IsSupported;

    [GlobalSetup]
    public void GlobalSetup()
    {
        new Random(42).NextBytes(_sendBuffer);
        _userListener = Listen();
        _serviceListener = Listen();
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        _userListener.Dispose();
        _serviceListener.Dispose();
    }

    [IterationSetup]
    public void IterationSetup()
    {
        (_userClient, _userAccepted) = ConnectedPair(_userListener);
        (_serviceClient, _serviceAccepted) = ConnectedPair(_serviceListener);
        _counters = new TrafficCounters();
        _timeout = new CancellationTokenSource(Timeout);
    }

    [IterationCleanup]
    public void IterationCleanup()
    {
        // The pumps have disposed the accepted ends already; disposing twice is harmless.
        _userClient.Dispose();
        _userAccepted.Dispose();
        _serviceAccepted.Dispose();
        _serviceClient.Dispose();
        _timeout.Dispose();
    }

    /// <summary>The naive relay: <see cref="NetworkStream.CopyToAsync(Stream, CancellationToken)"/> user → service
    /// (carrying the payload) and, for the FIN coming back, service → user; each ends with a half-close of its destination.</summary>
    [Benchmark(Baseline = true, Description = "NetworkStream.CopyToAsync")]
    public Task<long> CopyToAsyncRelay() => TransferAsync(RelayAsync(_userAccepted, _serviceAccepted, _timeout.Token));

    [Benchmark(Description = "BufferedPump")]
    public Task<long> Buffered() => TransferAsync(BufferedPump.Instance.RunAsync(_userAccepted, _serviceAccepted, _counters, _timeout.Token));

    [Benchmark(Description = "SplicePump.Auto")]
    public Task<long> SpliceAuto() => TransferAsync(SplicePump.Auto.RunAsync(_userAccepted, _serviceAccepted, _counters, _timeout.Token));

    [Benchmark(Description = "SplicePump.Always")]
    public Task<long> SpliceAlways() => TransferAsync(SplicePump.Always.RunAsync(_userAccepted, _serviceAccepted, _counters, _timeout.Token));

    /// <summary>Pushes the payload through <paramref name="relay"/> and waits for the FIN at the far end and for the relay to finish.</summary>
    private async Task<long> TransferAsync(Task relay)
    {
        var token = _timeout.Token;
        var expected = (long)SizeMiB * MiB;
        var send = SendAsync(expected, token);
        var received = await ReceiveToEndAsync(token).ConfigureAwait(false);
        await send.ConfigureAwait(false);
        // The reader is done: its FIN ends the pump's other direction.
        _serviceClient.Shutdown(SocketShutdown.Send);
        await relay.ConfigureAwait(false);
        if (received != expected)
            throw new InvalidOperationException($"Received {received} bytes, expected {expected}.");
        return received;
    }

    private async Task SendAsync(long count, CancellationToken token)
    {
        var left = count;
        while (left > 0)
        {
            var n = (int)Math.Min(left, _sendBuffer.Length);
            var sent = 0;
            while (sent < n)
                sent += await _userClient.SendAsync(_sendBuffer.AsMemory(sent, n - sent), SocketFlags.None, token).ConfigureAwait(false);
            left -= n;
        }
        _userClient.Shutdown(SocketShutdown.Send);
    }

    private async Task<long> ReceiveToEndAsync(CancellationToken token)
    {
        long total = 0;
        int n;
        while ((n = await _serviceClient.ReceiveAsync(_receiveBuffer, SocketFlags.None, token).ConfigureAwait(false)) > 0)
            total += n;
        return total;
    }

    private static async Task RelayAsync(Socket user, Socket service, CancellationToken token)
    {
        using var userStream = new NetworkStream(user, ownsSocket: true);
        using var serviceStream = new NetworkStream(service, ownsSocket: true);
        await Task.WhenAll(
            CopyThenFinAsync(userStream, serviceStream, service, token),
            CopyThenFinAsync(serviceStream, userStream, user, token)).ConfigureAwait(false);
    }

    private static async Task CopyThenFinAsync(Stream from, Stream to, Socket toSocket, CancellationToken token)
    {
        await from.CopyToAsync(to, token).ConfigureAwait(false);
        toSocket.Shutdown(SocketShutdown.Send);
    }

    private static Socket Listen()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        return listener;
    }

    private static (Socket Client, Socket Accepted) ConnectedPair(Socket listener)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        var accepted = listener.Accept();
        return (client, accepted);
    }
}
