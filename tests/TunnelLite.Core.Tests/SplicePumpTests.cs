using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using TunnelLite.Forwarding;
using TunnelLite.Statistics;

namespace TunnelLite.Tests;

/// <summary>A fact that is skipped where splice(2) is not available (not Linux, or no pipes).</summary>
public sealed class SpliceFactAttribute : FactAttribute
{
    public SpliceFactAttribute()
    {
        if (!SplicePump.IsSupported) Skip = "splice(2) is not available on this platform";
    }
}

/// <summary>The pump tests saturate both cores of a small machine (hundreds of connections, slow readers, pool contention):
/// they run on their own, after the parallel tests, so as not to starve the timing-sensitive heartbeat tests.</summary>
[CollectionDefinition(nameof(SplicePumpTests), DisableParallelization = true)]
public sealed class SplicePumpTestsCollection
{
}

/// <summary>The pumps driven directly over loopback socket pairs, without the tunnel around them. Each connection is a
/// "user" pair (A ↔ A') and a "service" pair (B' ↔ B); the pump runs between A' and B' and the test drives A and B.
/// Theories run for "copy" (<see cref="BufferedPump"/>), "splice" (<see cref="SplicePump"/> splicing every burst) and
/// "auto" (splicing bursts of at least <see cref="SplicePump.SpliceThreshold"/>); the splice forms only where splice(2)
/// exists. Every splice pump here has a pool of its own, so that pipe counts can be checked exactly.
/// Every wait is bounded: a hang fails the test instead of the run.</summary>
[Collection(nameof(SplicePumpTests))]
public sealed class SplicePumpTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PumpEnd = TimeSpan.FromSeconds(10);
    private const int KiB = 1024;
    private const int MiB = 1024 * 1024;

    /// <summary>The pumps to run a theory with: the splice forms only where splice(2) exists.</summary>
    private static string[] PumpKinds => SplicePump.IsSupported ? ["copy", "splice", "auto"] : ["copy"];

    public static TheoryData<string> Pumps => new(PumpKinds);

    public static TheoryData<string, string> PumpsAndResetSides
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var pump in PumpKinds)
            {
                data.Add(pump, "service");
                data.Add(pump, "user");
            }
            return data;
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 1. Back-pressure: a slow reader fills the destination, so the pump must wait for it (in splice, EAGAIN on the
    //    pipe → socket side, then the awaited send of the pipe head) without losing, duplicating or reordering a byte.
    // ---------------------------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Pumps))]
    public async Task Slow_reader_gets_every_byte_in_order(string kind)
    {
        await using var h = new Harness(kind);
        // Small, fixed buffers toward B: the destination is full most of the time.
        var c = await h.OpenAsync(x => { SmallBuffers(x.ServiceSide); SmallBuffers(x.B); });
        const long size = 8 * MiB;
        var send = SendRandomAsync(c.A, size, seed: 1, h.Token);

        // B does not read yet: the pump must stall on the full destination rather than run ahead.
        Assert.True(await WaitUntilAsync(() => h.Counters.BytesIn > 0, PumpEnd), "the pump moved nothing");
        await Task.Delay(200);
        Assert.InRange(h.Counters.BytesIn, 1, size / 4);
        Assert.False(c.Pump.IsCompleted);

        var received = await ReceiveToEndAsync(c.B, h.Token, chunk: 4 * KiB, pauseEvery: 64).WaitAsync(Limit);
        var sentHash = await send.WaitAsync(Limit);
        Assert.Equal(size, received.Bytes);
        Assert.Equal(sentHash, received.Hash);

        c.B.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, (await ReceiveToEndAsync(c.A, h.Token).WaitAsync(Limit)).Bytes);
        await c.Pump.WaitAsync(PumpEnd);
        Assert.Equal(size, h.Counters.BytesIn);
        Assert.Equal(0, h.Counters.BytesOut);
        h.AssertModeCounts(1);
        h.AssertNoPipeInUse();
    }

    [Theory]
    [MemberData(nameof(Pumps))]
    public async Task Slow_readers_on_both_ends_get_every_byte_in_order(string kind)
    {
        await using var h = new Harness(kind);
        var c = await h.OpenAsync(x => { SmallBuffers(x.A); SmallBuffers(x.UserSide); SmallBuffers(x.ServiceSide); SmallBuffers(x.B); });
        const long size = 6 * MiB;
        var sendUp = SendRandomAsync(c.A, size, seed: 2, h.Token);
        var sendDown = SendRandomAsync(c.B, size, seed: 3, h.Token);
        await Task.Delay(200);
        Assert.InRange(h.Counters.BytesIn, 0, size / 4);
        Assert.InRange(h.Counters.BytesOut, 0, size / 4);

        var recvUp = ReceiveToEndAsync(c.B, h.Token, chunk: 4 * KiB, pauseEvery: 64);
        var recvDown = ReceiveToEndAsync(c.A, h.Token, chunk: 4 * KiB, pauseEvery: 64);
        await Task.WhenAll(sendUp, sendDown, recvUp, recvDown).WaitAsync(Limit);
        var (upBytes, upHash) = await recvUp;
        var (downBytes, downHash) = await recvDown;
        Assert.Equal(size, upBytes);
        Assert.Equal(await sendUp, upHash);
        Assert.Equal(size, downBytes);
        Assert.Equal(await sendDown, downHash);

        await c.Pump.WaitAsync(PumpEnd);
        Assert.Equal(size, h.Counters.BytesIn);
        Assert.Equal(size, h.Counters.BytesOut);
        h.AssertModeCounts(1);
        h.AssertNoPipeInUse();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 2. A reset on one side, mid-transfer, reaches the other peer promptly and ends the pump.
    // ---------------------------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(PumpsAndResetSides))]
    public async Task Reset_mid_transfer_resets_the_other_peer_and_ends_the_pump(string kind, string resetSide)
    {
        await using var h = new Harness(kind);
        var c = await h.OpenAsync();
        // The streaming peer sends until it fails; the reading peer reads a while, then resets.
        var (streamer, resetter) = resetSide == "service" ? (c.A, c.B) : (c.B, c.A);
        var sent = 0L;
        SocketError? sendError = null, receiveError = null;
        var sender = Task.Run(async () =>
        {
            var buf = new byte[64 * KiB];
            new Random(4).NextBytes(buf);
            try
            {
                while (true) sent += await streamer.SendAsync(buf, SocketFlags.None, h.Token);
            }
            catch (SocketException e) { sendError = e.SocketErrorCode; }
        });
        var receiver = Task.Run(async () =>
        {
            // Nothing flows toward the streamer; this receive ends with the connection.
            try
            {
                var n = await streamer.ReceiveAsync(new byte[1], SocketFlags.None, h.Token);
                Assert.Equal(0, n);
            }
            catch (SocketException e) { receiveError = e.SocketErrorCode; }
        });

        var buf = new byte[64 * KiB];
        var read = 0L;
        while (read < 2 * MiB)
        {
            var n = await resetter.ReceiveAsync(buf, SocketFlags.None, h.Token).AsTask().WaitAsync(Limit);
            Assert.NotEqual(0, n);
            read += n;
        }
        resetter.LingerState = new LingerOption(true, 0);
        resetter.Dispose();

        await Task.WhenAll(sender, receiver).WaitAsync(TimeSpan.FromSeconds(5));
        // The streaming peer's connection ended at once, both ways. Not necessarily as a reset: Linux reports a reset once,
        // to the first call that asks, and when that is a send in the middle of a buffer it partly sent, .NET keeps the
        // bytes it sent and drops the error; the peer then sees a broken pipe and a plain end although the pump reset it
        // (as DataPathLifecycleTests judge it). What the pump did is checked below: it ended, and counted what it carried.
        Assert.True(sendError is SocketError.ConnectionReset or SocketError.Shutdown,
            $"the streaming peer's send ended with {sendError?.ToString() ?? "nothing"} (receive with {receiveError?.ToString() ?? "EOF"})");
        await c.Pump.WaitAsync(PumpEnd);

        var carried = resetSide == "service" ? h.Counters.BytesIn : h.Counters.BytesOut;
        Assert.InRange(carried, read, Volatile.Read(ref sent));
        Assert.Equal(0, resetSide == "service" ? h.Counters.BytesOut : h.Counters.BytesIn);
        h.AssertModeCounts(1);
        h.AssertNoPipeInUse();
    }

    [Theory]
    [MemberData(nameof(Pumps))]
    public async Task Cancelling_the_pump_resets_both_peers(string kind)
    {
        await using var h = new Harness(kind);
        using var cancel = new CancellationTokenSource();
        var c = await h.OpenAsync(pumpToken: cancel.Token);
        await ExchangeAsync(c, 64 * KiB, 64 * KiB, seed: 5, h.Token, shutdown: false).WaitAsync(Limit);
        cancel.Cancel();
        await c.Pump.WaitAsync(PumpEnd);
        foreach (var peer in new[] { c.A, c.B })
        {
            var e = await Assert.ThrowsAsync<SocketException>(() => peer.ReceiveAsync(new byte[1], SocketFlags.None, h.Token).AsTask().WaitAsync(Limit));
            Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
        }
        Assert.Equal(64 * KiB, h.Counters.BytesIn);
        Assert.Equal(64 * KiB, h.Counters.BytesOut);
        h.AssertModeCounts(1);
        h.AssertNoPipeInUse();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 3. Pipe exhaustion: without a pipe a connection copies, and says so in the counters; the pool never exceeds its cap.
    // ---------------------------------------------------------------------------------------------------------------

    [SpliceFact]
    public async Task Without_pipes_every_connection_falls_back_to_copy()
    {
        var pool = new SplicePipePool(maxPipes: 0, maxIdle: 0, SplicePump.PipeSize);
        await using var h = new Harness(new SplicePump(true, pool), pool);
        using var watch = PoolWatch.Start(pool);
        const int connections = 4;
        var conns = new List<Conn>();
        for (var i = 0; i < connections; i++) conns.Add(await h.OpenAsync());
        await Task.WhenAll(conns.Select((c, i) => ExchangeAsync(c, MiB, MiB, seed: 10 + i, h.Token))).WaitAsync(Limit);
        await Task.WhenAll(conns.Select(c => c.Pump)).WaitAsync(PumpEnd);

        Assert.Equal(connections, h.Counters.CopiedConnections);
        Assert.Equal(0, h.Counters.SplicedConnections);
        Assert.Equal(connections, h.Counters.SpliceFallbacks);
        Assert.Equal((long)connections * MiB, h.Counters.BytesIn);
        Assert.Equal((long)connections * MiB, h.Counters.BytesOut);
        Assert.Equal(0, pool.Total);
        Assert.Equal(0, watch.Max);
    }

    [SpliceFact]
    public async Task One_pipe_for_several_connections_the_holder_splices_and_the_others_fall_back()
    {
        var pool = new SplicePipePool(maxPipes: 1, maxIdle: 1, SplicePump.PipeSize);
        await using var h = new Harness(new SplicePump(true, pool), pool);
        using var watch = PoolWatch.Start(pool);

        // The first connection takes the only pipe and keeps it: B does not read, so the pump is stuck draining the
        // pipe into a full destination while A still has bytes for it.
        var first = await h.OpenAsync(x => { SmallBuffers(x.ServiceSide); SmallBuffers(x.B); });
        const long firstSize = 4 * MiB;
        var firstSend = SendRandomAsync(first.A, firstSize, seed: 20, h.Token);
        Assert.True(await WaitUntilStableAsync(() => h.Counters.BytesIn, TimeSpan.FromMilliseconds(200), PumpEnd), "the first connection never stalled");
        Assert.InRange(h.Counters.BytesIn, 1, firstSize / 4);
        Assert.Equal(1, pool.Total);

        // Meanwhile the others find no pipe: they copy, each counted once as a fallback.
        const int others = 4;
        var conns = new List<Conn>();
        for (var i = 0; i < others; i++) conns.Add(await h.OpenAsync());
        await Task.WhenAll(conns.Select((c, i) => ExchangeAsync(c, 256 * KiB, 256 * KiB, seed: 21 + i, h.Token))).WaitAsync(Limit);
        await Task.WhenAll(conns.Select(c => c.Pump)).WaitAsync(PumpEnd);
        Assert.Equal(others, h.Counters.CopiedConnections);
        Assert.Equal(others, h.Counters.SpliceFallbacks);
        Assert.Equal(0, h.Counters.SplicedConnections);
        Assert.False(first.Pump.IsCompleted);

        // Now let the first one finish: every byte arrives, and it counts as spliced.
        var received = await ReceiveToEndAsync(first.B, h.Token).WaitAsync(Limit);
        Assert.Equal(firstSize, received.Bytes);
        Assert.Equal(await firstSend.WaitAsync(Limit), received.Hash);
        first.B.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, (await ReceiveToEndAsync(first.A, h.Token).WaitAsync(Limit)).Bytes);
        await first.Pump.WaitAsync(PumpEnd);

        Assert.Equal(1, h.Counters.SplicedConnections);
        Assert.Equal(others + 1, h.Counters.SplicedConnections + h.Counters.CopiedConnections);
        // The first connection's reverse direction may or may not have found the pipe free when B's FIN came.
        Assert.InRange(h.Counters.SpliceFallbacks, others, others + 1);
        Assert.Equal(firstSize + others * 256L * KiB, h.Counters.BytesIn);
        Assert.Equal(others * 256L * KiB, h.Counters.BytesOut);
        Assert.InRange(pool.Total, 0, pool.MaxIdle);
        Assert.InRange(watch.Max, 1, pool.MaxPipes);
    }

    [SpliceFact]
    public async Task One_pipe_under_contention_moves_every_byte_and_never_exceeds_the_cap()
    {
        var pool = new SplicePipePool(maxPipes: 1, maxIdle: 1, SplicePump.PipeSize);
        await using var h = new Harness(new SplicePump(true, pool), pool);
        using var watch = PoolWatch.Start(pool);
        const int connections = 8;
        var conns = new List<Conn>();
        for (var i = 0; i < connections; i++) conns.Add(await h.OpenAsync());
        await Task.WhenAll(conns.Select((c, i) => ExchangeAsync(c, MiB, MiB, seed: 30 + i, h.Token))).WaitAsync(Limit);
        await Task.WhenAll(conns.Select(c => c.Pump)).WaitAsync(PumpEnd);

        Assert.Equal(connections, h.Counters.SplicedConnections + h.Counters.CopiedConnections);
        Assert.InRange(h.Counters.SpliceFallbacks, 0, connections);
        Assert.Equal((long)connections * MiB, h.Counters.BytesIn);
        Assert.Equal((long)connections * MiB, h.Counters.BytesOut);
        Assert.InRange(pool.Total, 0, pool.MaxIdle);
        Assert.InRange(watch.Max, 0, pool.MaxPipes);
    }

    /// <summary>Total is documented as the pipes in existence; callers that find the pool full must not even briefly
    /// count a pipe they never made (that over-count also turns a concurrent caller away while a slot is still free).
    /// Dedicated threads, not the thread pool: two spinning pool threads would starve everything else in the process.</summary>
    [SpliceFact]
    public async Task Pool_total_never_exceeds_the_cap_while_callers_are_turned_away()
    {
        var pool = new SplicePipePool(maxPipes: 1, maxIdle: 1, pipeSize: 4096);
        var held = pool.TryRent();
        Assert.NotNull(held);
        var refused = 0L;
        var handedOut = 0L;
        var max = 0;
        try
        {
            var deadline = Stopwatch.StartNew();
            var duration = TimeSpan.FromMilliseconds(150);
            var caller = RunOnThread(() =>
            {
                while (deadline.Elapsed < duration)
                {
                    var p = pool.TryRent();
                    if (p is null) refused++;
                    else
                    {
                        handedOut++;
                        pool.Return(p);
                    }
                }
            });
            var sampler = RunOnThread(() =>
            {
                while (deadline.Elapsed < duration) max = Math.Max(max, pool.Total);
            });
            await Task.WhenAll(caller, sampler).WaitAsync(Limit);
        }
        finally
        {
            pool.Return(held!);
        }
        Assert.True(refused > 0, "the caller was never turned away");
        Assert.Equal(0, handedOut);
        Assert.Equal(1, max);
        Assert.Equal(1, pool.Total); // the returned pipe waits idle in the pool
    }

    private static Task RunOnThread(Action action)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                action();
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }) { IsBackground = true }.Start();
        return done.Task;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 4. Many concurrent connections through one pump instance.
    // ---------------------------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Pumps))]
    public async Task Two_hundred_concurrent_connections_through_one_pump_move_every_byte(string kind)
    {
        await using var h = new Harness(kind);
        const int connections = 200;
        const int size = 256 * KiB;
        var conns = new List<Conn>();
        for (var i = 0; i < connections; i++) conns.Add(await h.OpenAsync().WaitAsync(Limit));
        await Task.WhenAll(conns.Select((c, i) => ExchangeAsync(c, size, size, seed: 1000 + i, h.Token))).WaitAsync(Limit);
        await Task.WhenAll(conns.Select(c => c.Pump)).WaitAsync(PumpEnd);

        Assert.Equal((long)connections * size, h.Counters.BytesIn);
        Assert.Equal((long)connections * size, h.Counters.BytesOut);
        h.AssertModeCounts(connections);
        h.AssertNoPipeInUse();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 5. Half-close: the end of one direction passes on as a FIN and the other direction keeps flowing.
    // ---------------------------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Pumps))]
    public async Task Half_close_passes_the_FIN_on_and_the_reply_still_flows(string kind)
    {
        await using var h = new Harness(kind);
        var c = await h.OpenAsync();
        const long requestSize = MiB + 12345, replySize = 2 * MiB + 321;

        var request = SendRandomAsync(c.A, requestSize, seed: 40, h.Token, shutdown: true);
        var atB = await ReceiveToEndAsync(c.B, h.Token).WaitAsync(Limit);
        Assert.Equal(requestSize, atB.Bytes);
        Assert.Equal(await request.WaitAsync(Limit), atB.Hash);
        // B has seen the FIN; the connection is half open and the pump must still be running for the reply.
        Assert.False(c.Pump.IsCompleted);

        var reply = SendRandomAsync(c.B, replySize, seed: 41, h.Token, shutdown: true);
        var atA = await ReceiveToEndAsync(c.A, h.Token).WaitAsync(Limit);
        Assert.Equal(replySize, atA.Bytes);
        Assert.Equal(await reply.WaitAsync(Limit), atA.Hash);
        await c.Pump.WaitAsync(PumpEnd);

        // Both directions ended cleanly, so the pump closed both sides cleanly: no reset for either peer.
        Assert.Equal(0, await c.A.ReceiveAsync(new byte[1], SocketFlags.None, h.Token).AsTask().WaitAsync(Limit));
        Assert.Equal(0, await c.B.ReceiveAsync(new byte[1], SocketFlags.None, h.Token).AsTask().WaitAsync(Limit));
        Assert.Equal(requestSize, h.Counters.BytesIn);
        Assert.Equal(replySize, h.Counters.BytesOut);
        h.AssertModeCounts(1);
        h.AssertNoPipeInUse();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 6. Idle connections hold no pipes: a pipe is held only while a burst moves.
    // ---------------------------------------------------------------------------------------------------------------

    [SpliceFact]
    public async Task Idle_connections_hold_no_pipes()
    {
        // Far fewer pipes than connections: if a connection kept its pipe between bursts, later ones would fall back.
        var pool = new SplicePipePool(maxPipes: 8, maxIdle: 2, SplicePump.PipeSize);
        await using var h = new Harness(new SplicePump(true, pool), pool);
        using var watch = PoolWatch.Start(pool);
        const int connections = 50;
        const int size = 4 * KiB;
        var conns = new List<Conn>();
        for (var i = 0; i < connections; i++) conns.Add(await h.OpenAsync());
        for (var i = 0; i < conns.Count; i++)
        {
            var c = conns[i];
            await RoundTripAsync(c.A, c.B, size, seed: 2 * i, h.Token).WaitAsync(Limit);
            await RoundTripAsync(c.B, c.A, size, seed: 2 * i + 1, h.Token).WaitAsync(Limit);
        }

        // All 50 are open and idle now; at most the idle pipes of the pool remain.
        Assert.True(await WaitUntilAsync(() => pool.Total <= pool.MaxIdle, TimeSpan.FromSeconds(5)), $"{pool.Total} pipes exist with every connection idle");
        Assert.Equal(0, h.Counters.SpliceFallbacks);
        Assert.All(conns, c => Assert.False(c.Pump.IsCompleted));

        foreach (var c in conns)
        {
            c.A.Shutdown(SocketShutdown.Send);
            c.B.Shutdown(SocketShutdown.Send);
        }
        await Task.WhenAll(conns.Select(c => c.Pump)).WaitAsync(PumpEnd);
        Assert.Equal(connections, h.Counters.SplicedConnections);
        Assert.Equal(0, h.Counters.CopiedConnections);
        Assert.Equal(0, h.Counters.SpliceFallbacks);
        Assert.Equal((long)connections * size, h.Counters.BytesIn);
        Assert.Equal((long)connections * size, h.Counters.BytesOut);
        Assert.InRange(pool.Total, 0, pool.MaxIdle);
        Assert.InRange(watch.Max, 1, pool.MaxPipes);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>Fixed small buffers (the kernel doubles them), so that a destination fills up after a few hundred KiB.</summary>
    private static void SmallBuffers(Socket s)
    {
        s.SendBufferSize = 32 * KiB;
        s.ReceiveBufferSize = 32 * KiB;
    }

    /// <summary>Both directions at once: A→B and B→A, each ending with a FIN (unless <paramref name="shutdown"/> is false,
    /// when exactly the given sizes are read), every byte checked by hash.</summary>
    private static async Task ExchangeAsync(Conn c, long up, long down, int seed, CancellationToken token, bool shutdown = true)
    {
        if (!shutdown)
        {
            await Task.WhenAll(RoundTripAsync(c.A, c.B, (int)up, seed, token), RoundTripAsync(c.B, c.A, (int)down, seed + 7919, token));
            return;
        }
        var sendUp = SendRandomAsync(c.A, up, seed, token);
        var sendDown = SendRandomAsync(c.B, down, seed + 7919, token);
        var recvUp = ReceiveToEndAsync(c.B, token);
        var recvDown = ReceiveToEndAsync(c.A, token);
        await Task.WhenAll(sendUp, sendDown, recvUp, recvDown);
        var (upBytes, upHash) = await recvUp;
        var (downBytes, downHash) = await recvDown;
        Assert.Equal(up, upBytes);
        Assert.Equal(await sendUp, upHash);
        Assert.Equal(down, downBytes);
        Assert.Equal(await sendDown, downHash);
    }

    /// <summary>Sends <paramref name="size"/> seeded random bytes from one end and reads exactly as many at the other, keeping the connection open.</summary>
    private static async Task RoundTripAsync(Socket from, Socket to, int size, int seed, CancellationToken token)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        var send = SendAllAsync(from, data, token);
        var got = new byte[size];
        var off = 0;
        while (off < size)
        {
            var n = await to.ReceiveAsync(got.AsMemory(off), SocketFlags.None, token);
            Assert.NotEqual(0, n);
            off += n;
        }
        await send;
        Assert.Equal(data, got);
    }

    private static async Task SendAllAsync(Socket s, ReadOnlyMemory<byte> data, CancellationToken token)
    {
        var off = 0;
        while (off < data.Length) off += await s.SendAsync(data[off..], SocketFlags.None, token);
    }

    /// <summary>Sends <paramref name="total"/> bytes of a seeded random stream, then (by default) a FIN; returns the SHA-256 of what was sent.</summary>
    private static Task<string> SendRandomAsync(Socket s, long total, int seed, CancellationToken token, bool shutdown = true) => Task.Run(async () =>
    {
        var random = new Random(seed);
        var buf = new byte[64 * KiB];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var sent = 0L;
        while (sent < total)
        {
            var n = (int)Math.Min(buf.Length, total - sent);
            random.NextBytes(buf.AsSpan(0, n));
            hash.AppendData(buf, 0, n);
            await SendAllAsync(s, buf.AsMemory(0, n), token);
            sent += n;
        }
        if (shutdown) s.Shutdown(SocketShutdown.Send);
        return Convert.ToHexString(hash.GetHashAndReset());
    }, token);

    /// <summary>Reads until EOF; returns the count and SHA-256 of the bytes. A slow reader reads small chunks and pauses
    /// every <paramref name="pauseEvery"/> reads.</summary>
    private static Task<(long Bytes, string Hash)> ReceiveToEndAsync(Socket s, CancellationToken token, int chunk = 64 * KiB, int pauseEvery = 0) => Task.Run(async () =>
    {
        var buf = new byte[chunk];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var total = 0L;
        var reads = 0;
        while (true)
        {
            var n = await s.ReceiveAsync(buf, SocketFlags.None, token);
            if (n == 0) break;
            hash.AppendData(buf, 0, n);
            total += n;
            if (pauseEvery > 0 && ++reads % pauseEvery == 0) await Task.Delay(1, token);
        }
        return (total, Convert.ToHexString(hash.GetHashAndReset()));
    }, token);

    private static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (condition()) return true;
            await Task.Delay(10);
        }
        return condition();
    }

    /// <summary>Waits until <paramref name="value"/> is non-zero and has not changed for <paramref name="quiet"/>.</summary>
    private static async Task<bool> WaitUntilStableAsync(Func<long> value, TimeSpan quiet, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = value();
        var since = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            var now = value();
            if (now != last || now == 0)
            {
                last = now;
                since = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - since >= quiet) return true;
        }
        return false;
    }

    /// <summary>One pumped connection: A ↔ A' (user pair) and B' ↔ B (service pair); the pump runs between A' and B'.</summary>
    private sealed class Conn
    {
        public required Socket A { get; init; }
        public required Socket UserSide { get; init; }
        public required Socket ServiceSide { get; init; }
        public required Socket B { get; init; }
        public Task Pump { get; set; } = Task.CompletedTask;
    }

    /// <summary>Samples the pool's Total until disposed and keeps the largest value seen.</summary>
    private sealed class PoolWatch : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private int _max;

        private PoolWatch(SplicePipePool pool)
        {
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    var t = pool.Total;
                    if (t > Volatile.Read(ref _max)) Volatile.Write(ref _max, t);
                    try { await Task.Delay(1, _stop.Token); } catch (OperationCanceledException) { }
                }
            });
        }

        public static PoolWatch Start(SplicePipePool pool) => new(pool);

        public int Max => Volatile.Read(ref _max);

        public void Dispose()
        {
            _stop.Cancel();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }

    /// <summary>One pump, one listener on 127.0.0.1 and the connections of one test. Disposal cancels the pumps and closes
    /// the test's ends; it closes the pump's ends only of pumps that have ended (Socket.Dispose spins while a splice pump
    /// still holds a reference to the handle), and never throws, so that it cannot hide the test's own failure.</summary>
    private sealed class Harness : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new(Limit);
        private readonly Socket _listener;
        private readonly IPEndPoint _endpoint;
        private readonly SemaphoreSlim _opening = new(1, 1);
        private readonly List<Conn> _conns = new();
        private readonly string _kind;

        public Harness(string kind)
            : this(kind, kind == "copy" ? null : new SplicePipePool(maxPipes: 1024, maxIdle: 16, SplicePump.PipeSize), null)
        {
        }

        public Harness(SplicePump pump, SplicePipePool pool)
            : this(pump.Mode == ForwardingMode.Splice ? "splice" : "auto", pool, pump)
        {
        }

        private Harness(string kind, SplicePipePool? pool, IForwardingPump? pump)
        {
            _kind = kind;
            Pool = pool;
            Pump = pump ?? kind switch
            {
                "copy" => BufferedPump.Instance,
                "splice" => new SplicePump(true, pool!),
                "auto" => new SplicePump(false, pool!),
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
            };
            _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(512);
            _endpoint = (IPEndPoint)_listener.LocalEndPoint!;
        }

        public IForwardingPump Pump { get; }
        public SplicePipePool? Pool { get; }
        public TrafficCounters Counters { get; } = new();

        /// <summary>Cancelled when the test overruns <see cref="Limit"/>.</summary>
        public CancellationToken Token => _cts.Token;

        /// <summary>Opens both pairs, lets <paramref name="configure"/> set socket options, then starts the pump.</summary>
        public async Task<Conn> OpenAsync(Action<Conn>? configure = null, CancellationToken? pumpToken = null)
        {
            await _opening.WaitAsync(Token);
            try
            {
                var (a, userSide) = await ConnectPairAsync();
                var (serviceSide, b) = await ConnectPairAsync();
                var c = new Conn { A = a, UserSide = userSide, ServiceSide = serviceSide, B = b };
                lock (_conns) _conns.Add(c);
                configure?.Invoke(c);
                var token = pumpToken is { } t ? CancellationTokenSource.CreateLinkedTokenSource(t, Token).Token : Token;
                c.Pump = Pump.RunAsync(userSide, serviceSide, Counters, token);
                return c;
            }
            finally
            {
                _opening.Release();
            }
        }

        private async Task<(Socket Connecting, Socket Accepted)> ConnectPairAsync()
        {
            var connecting = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                var accept = _listener.AcceptAsync(Token).AsTask();
                await connecting.ConnectAsync(_endpoint, Token);
                var accepted = await accept.WaitAsync(Limit);
                Assert.Equal(((IPEndPoint)connecting.LocalEndPoint!).Port, ((IPEndPoint)accepted.RemoteEndPoint!).Port);
                return (connecting, accepted);
            }
            catch
            {
                connecting.Dispose();
                throw;
            }
        }

        /// <summary>The connection counts of <paramref name="connections"/> ended connections, as this pump must report them.</summary>
        public void AssertModeCounts(int connections)
        {
            switch (_kind)
            {
                case "copy":
                    Assert.Equal(connections, Counters.CopiedConnections);
                    Assert.Equal(0, Counters.SplicedConnections);
                    break;
                case "splice":
                    Assert.Equal(connections, Counters.SplicedConnections);
                    Assert.Equal(0, Counters.CopiedConnections);
                    break;
                default:
                    // Auto splices only the bursts that find enough bytes waiting, which depends on timing.
                    Assert.Equal(connections, Counters.SplicedConnections + Counters.CopiedConnections);
                    break;
            }
            Assert.Equal(0, Counters.SpliceFallbacks);
        }

        /// <summary>Once the pumps have ended, only idle pipes may remain.</summary>
        public void AssertNoPipeInUse()
        {
            if (Pool is not null) Assert.InRange(Pool.Total, 0, Pool.MaxIdle);
        }

        public async ValueTask DisposeAsync()
        {
            _cts.Cancel();
            Conn[] conns;
            lock (_conns) conns = _conns.ToArray();
            foreach (var c in conns)
            {
                c.A.Dispose();
                c.B.Dispose();
            }
            try { await Task.WhenAll(conns.Select(c => c.Pump)).WaitAsync(PumpEnd); }
            catch (Exception) { /* the test reports what went wrong */ }
            foreach (var c in conns)
            {
                if (!c.Pump.IsCompleted) continue;
                c.UserSide.Dispose();
                c.ServiceSide.Dispose();
            }
            _listener.Dispose();
            _cts.Dispose();
        }
    }
}
