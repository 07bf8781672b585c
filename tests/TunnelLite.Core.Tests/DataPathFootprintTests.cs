using System.Net.Sockets;
using System.Security.Cryptography;
using TunnelLite.Forwarding;
using TunnelLite.Tests.Support;
using Xunit.Abstractions;

namespace TunnelLite.Tests;

/// <summary>What the tunnel holds for its connections: a slow reader makes it hold back, not buffer, the rest of a download;
/// an idle connection holds no buffer and no pipe. Measured on the whole process (managed heap, descriptors), so these
/// run alone.</summary>
[Collection(DataPathMeasurementCollection.Name)]
public abstract class DataPathFootprintTests : DataPathTests
{
    private const int KiB = 1024;
    private const int MiB = 1024 * KiB;
    private readonly ITestOutputHelper _output;

    protected DataPathFootprintTests(ForwardingMode mode, bool tls, ITestOutputHelper output, DataPlaneKind plane = DataPlaneKind.Auto)
        : base(mode, tls, plane) => _output = output;

    // Would fail if a pump read ahead of a slow destination into memory of its own (a queue of buffers instead of waiting
    // for the destination to take what it has), or lost, duplicated or reordered a byte while it waited.
    [Fact]
    public async Task A_slow_reader_gets_a_large_download_intact_while_the_tunnel_holds_back_the_rest()
    {
        const long size = 48 * MiB;
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (_, _, port) = await StartTunnelAsync(f, service.Port);
        // Fixed small buffers at the two real ends, so that the tunnel in between is what has to hold back.
        var (user, end) = await OpenAsync(f, port, service, receiveBuffer: 64 * KiB);
        end.SendBufferSize = 64 * KiB;
        var heapBefore = SettledHeap();

        long sent = 0;
        var sending = Transfer.SendSeededAsync(end, size, seed: 5, n => Interlocked.Add(ref sent, n));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[64 * KiB];
        long read = 0;
        // The slow reader: 64 KiB every 50 ms, long enough for every buffer on the way to fill.
        for (var i = 0; i < 12; i++)
        {
            var n = await user.ReceiveAsync(buf, SocketFlags.None);
            Assert.NotEqual(0, n);
            hash.AppendData(buf, 0, n);
            read += n;
            await Task.Delay(50);
        }
        var heapDuring = SettledHeap();
        // What the kernel's socket buffers hold on the way depends on their autotuning (here 10 to 40 MiB), so it is
        // shown, not judged; the managed heap is what the tunnel itself holds.
        var inFlight = Interlocked.Read(ref sent) - read;
        while (true)
        {
            var n = await user.ReceiveAsync(buf, SocketFlags.None);
            if (n == 0) break;
            hash.AppendData(buf, 0, n);
            read += n;
        }
        var sentHash = await sending.WaitAsync(Prompt);
        var growth = heapDuring - heapBefore;
        _output.WriteLine($"{inFlight:N0} bytes sent by the service and not yet read by the user; managed heap grew by {growth:N0} bytes meanwhile");
        Assert.Equal(size, read);
        Assert.Equal(sentHash, Convert.ToHexString(hash.GetHashAndReset()));
        Assert.True(growth < size / 16, $"the managed heap grew by {growth:N0} bytes while a {size:N0}-byte download waited for its reader");
    }

    // Would fail if a pump held a buffer (64 KiB in copy, a 16 KiB head in splice, TLS record buffers) or a splice pipe
    // while its connection is idle: from the start (the first bound), or from the first bytes on (the second, which leaves
    // out what every open connection costs: sockets, tasks, TLS state).
    [Fact]
    public async Task Idle_connections_hold_no_buffer_and_no_pipe()
    {
        const int connections = 300;
        await using var f = NewFixture();
        await using var service = new HandOffService();
        var (server, client, port) = await StartTunnelAsync(f, service.Port);
        // A first round of the same shape, so that what grows once per process (pools of buffers, pipes, threads; JIT) has
        // grown before the measure.
        await using (var warmUp = await IdleConnections.OpenAsync(f, port, service, connections))
            await warmUp.ExchangeAsync();
        await AssertSettledAsync(server, client);
        var heap0 = SettledHeap();
        var fds0 = Descriptors();

        await using var idle = await IdleConnections.OpenAsync(f, port, service, connections);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.Totals.ActiveConnections == connections && client.Totals.ActiveConnections == connections, Prompt),
            $"{server.Totals.ActiveConnections} connections on the server, {client.Totals.ActiveConnections} on the client");
        await Task.Delay(100); // the pumps reach their wait for data
        var opened = (SettledHeap() - heap0) / connections;
        await idle.ExchangeAsync();
        await Task.Delay(100); // ... and are back to it
        var heap2 = SettledHeap();
        var fds2 = Descriptors();
        var afterBytes = (heap2 - heap0) / connections - opened;
        var fdsEach = (fds2 - fds0) / (double)connections;
        _output.WriteLine($"per idle connection: {opened:N0} bytes of managed heap once open, {afterBytes:N0} more after an exchange; {fdsEach:0.00} descriptors");

        // Everything an open connection costs at both ends and in the test, sockets and TLS state included, is about 10 to 13 KiB.
        Assert.True(opened < 32 * KiB, $"an idle connection holds {opened:N0} bytes of managed heap");
        // The lazily made parts of the sockets that first send (about 2 KiB) and nothing else.
        Assert.True(afterBytes < 8 * KiB, $"an idle connection holds {afterBytes:N0} bytes more after its first bytes moved");
        // Six sockets a connection: the user's and the service's ends, and the tunnel's user, two data and local sockets. A
        // pipe held would add two.
        if (OperatingSystem.IsLinux()) Assert.True(fdsEach < 6.5, $"an idle connection holds {fdsEach:0.00} descriptors");
    }

    /// <summary>The managed heap after full collections with the finalizers run between them: what something still holds.</summary>
    private static long SettledHeap()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>Descriptors open in this process (Linux only; 0 elsewhere).</summary>
    private static int Descriptors() => OperatingSystem.IsLinux() ? Directory.GetFileSystemEntries("/proc/self/fd").Length : 0;
}

public sealed class DataPathFootprintCopyTests(ITestOutputHelper output) : DataPathFootprintTests(ForwardingMode.Copy, tls: false, output);

public sealed class DataPathFootprintSpliceTests(ITestOutputHelper output) : DataPathFootprintTests(ForwardingMode.Splice, tls: false, output);

public sealed class DataPathFootprintAutoTests(ITestOutputHelper output) : DataPathFootprintTests(ForwardingMode.Auto, tls: false, output);

public sealed class DataPathFootprintAsyncCopyTests(ITestOutputHelper output) : DataPathFootprintTests(ForwardingMode.Copy, tls: false, output, DataPlaneKind.Async);

public sealed class DataPathFootprintAsyncSpliceTests(ITestOutputHelper output) : DataPathFootprintTests(ForwardingMode.Splice, tls: false, output, DataPlaneKind.Async);

public sealed class DataPathFootprintAsyncAutoTests(ITestOutputHelper output) : DataPathFootprintTests(ForwardingMode.Auto, tls: false, output, DataPlaneKind.Async);

public sealed class DataPathFootprintTlsTests(ITestOutputHelper output) : DataPathFootprintTests(ForwardingMode.Splice, tls: true, output);
