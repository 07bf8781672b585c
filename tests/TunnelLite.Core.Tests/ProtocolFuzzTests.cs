using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using FsCheck.Fluent;
using Xunit.Abstractions;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Protocol;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Property-based fuzzing of the frame decoder: random, truncated, oversized, lying and glued-together input raises
/// nothing but <see cref="ProtocolException"/>, never reads past a frame, never allocates in proportion to a claimed length,
/// and valid frames round-trip exactly; and fuzzed conversations on a live server's control port get an error or a close in
/// time while its tunnels keep serving (<see cref="ProtocolFuzzTests"/>). Bounded for CI; see FUZZING.md for longer runs
/// and replaying a seed.</summary>
public sealed class ProtocolFuzzDecoderTests
{
    [Fact]
    public void TryDecode_of_any_input_needs_more_data_or_yields_a_frame_inside_the_buffer_or_raises_only_the_protocol_error()
    {
        FuzzRun.Check(FrameGen.AnyInput, 3000, input =>
        {
            // Decode the whole buffer frame by frame, as a reader over a growing buffer would.
            var offset = 0;
            while (true)
            {
                var rest = input.AsSpan(offset);
                OperationStatus status;
                Frame frame;
                int consumed;
                try
                {
                    status = FrameCodec.TryDecode(rest, out frame, out consumed);
                }
                catch (ProtocolException)
                {
                    return;
                }
                Assert.True(status is OperationStatus.Done or OperationStatus.NeedMoreData or OperationStatus.InvalidData, $"status {status}");
                if (status != OperationStatus.Done)
                {
                    Assert.Equal(0, consumed);
                    return;
                }
                Assert.InRange(consumed, ProtocolConstants.FrameHeaderSize, rest.Length);
                Assert.Equal(consumed - ProtocolConstants.FrameHeaderSize, frame.Payload.Length);
                Assert.True(frame.Payload.Span.SequenceEqual(rest.Slice(ProtocolConstants.FrameHeaderSize, frame.Payload.Length)));
                Assert.True(Enum.IsDefined(frame.Type));
                offset += consumed;
            }
        });
    }

    [Fact]
    public void ReadAsync_over_a_chunked_stream_of_any_input_raises_only_the_protocol_error_and_never_reads_past_a_frame()
    {
        var gen = from input in FrameGen.AnyInput
                  from chunkSeed in Gen.Choose(0, int.MaxValue)
                  select (input, chunkSeed);
        FuzzRun.Check(gen, 2000, c =>
        {
            var stream = new ChunkedStream(c.input, c.chunkSeed);
            var position = 0L;
            while (true)
            {
                Frame? frame;
                try
                {
                    // Completes synchronously: the stream never waits.
                    frame = FrameCodec.ReadAsync(stream, default).AsTask().GetAwaiter().GetResult();
                }
                catch (ProtocolException)
                {
                    return;
                }
                if (frame is null)
                {
                    Assert.Equal(c.input.Length, stream.Position);
                    return;
                }
                // Exactly one frame was taken: raw bytes after it stay in the socket for the pump.
                Assert.Equal(position + ProtocolConstants.FrameHeaderSize + frame.Value.Payload.Length, stream.Position);
                Assert.Equal(OperationStatus.Done, FrameCodec.TryDecode(c.input.AsSpan((int)position), out var same, out _));
                Assert.Equal(same.Type, frame.Value.Type);
                Assert.True(same.Payload.Span.SequenceEqual(frame.Value.Payload.Span));
                position = stream.Position;
            }
        });
    }

    [Fact]
    public void Every_cut_of_a_valid_frame_needs_more_data_and_on_a_stream_raises_the_protocol_error()
    {
        FuzzRun.Check(FrameGen.ValidFrame(256), 300, f =>
        {
            for (var cut = 0; cut < f.Encoded.Length; cut++)
            {
                Assert.Equal(OperationStatus.NeedMoreData, FrameCodec.TryDecode(f.Encoded.AsSpan(0, cut), out _, out var consumed));
                Assert.Equal(0, consumed);
                var stream = new ChunkedStream(f.Encoded[..cut], cut);
                if (cut == 0)
                    Assert.Null(FrameCodec.ReadAsync(stream, default).AsTask().GetAwaiter().GetResult());
                else
                    Assert.Throws<ProtocolException>(() => FrameCodec.ReadAsync(stream, default).AsTask().GetAwaiter().GetResult());
            }
        });
    }

    [Fact]
    public void Valid_frames_round_trip_exactly_through_TryDecode_and_through_ReadAsync_fed_in_random_chunks()
    {
        var gen = from frames in Gen.ArrayOf(FrameGen.ValidFrame(), 3)
                  from trailing in FrameGen.Bytes(0, 16)
                  from chunkSeed in Gen.Choose(0, int.MaxValue)
                  from maxChunk in Gen.Elements(1, 3, 7, 64, 4096)
                  select (frames, trailing, chunkSeed, maxChunk);
        FuzzRun.Check(gen, 400, c =>
        {
            foreach (var f in c.frames)
            {
                // Bytes after a frame (the next frame, or raw data) do not change what is decoded.
                var withTail = f.Encoded.Concat(c.trailing).ToArray();
                Assert.Equal(OperationStatus.Done, FrameCodec.TryDecode(withTail, out var frame, out var consumed));
                Assert.Equal(f.Encoded.Length, consumed);
                Assert.Equal(f.Type, frame.Type);
                Assert.Equal(f.Payload, frame.Payload.ToArray());
            }
            var all = c.frames.SelectMany(f => f.Encoded).ToArray();
            var stream = new ChunkedStream(all, c.chunkSeed, c.maxChunk);
            foreach (var f in c.frames)
            {
                var read = FrameCodec.ReadAsync(stream, default).AsTask().GetAwaiter().GetResult();
                Assert.NotNull(read);
                Assert.Equal(f.Type, read.Value.Type);
                Assert.Equal(f.Payload, read.Value.Payload.ToArray());
            }
            Assert.Null(FrameCodec.ReadAsync(stream, default).AsTask().GetAwaiter().GetResult());
        });
    }

    [Fact]
    public void A_claim_over_the_cap_is_refused_before_the_payload_and_allocates_nothing_in_proportion_to_it()
    {
        var gen = from claim in Gen.Choose(ProtocolConstants.MaxFrameSize + 1, int.MaxValue).Select(n => (uint)n)
                      .Or(Gen.Elements(0x80000000u, 0xFFFFFFFFu, (uint)ProtocolConstants.MaxFrameSize + 1))
                  from type in FrameGen.Type
                  from behind in FrameGen.Bytes(0, 32)
                  select (claim, type, behind);
        FuzzRun.Check(gen, 500, c =>
        {
            var bytes = Header(c.claim, c.type).Concat(c.behind).ToArray();
            var stream = new ChunkedStream(bytes, (int)c.claim, stallAtEnd: true);
            var before = GC.GetAllocatedBytesForCurrentThread();
            // The stream never ends, so only a refusal of the header itself can finish this read.
            var read = FrameCodec.ReadAsync(stream, default);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(read.IsCompleted, "the decoder waited for the payload of a frame over the cap");
            var e = Assert.Throws<ProtocolException>(() => read.AsTask().GetAwaiter().GetResult());
            Assert.Contains("exceeds", e.Message);
            Assert.Equal(ProtocolConstants.FrameHeaderSize, stream.Position);
            Assert.True(allocated < 16 * 1024, $"refusing a {c.claim}-byte claim allocated {allocated} bytes");
        });
    }

    [Fact]
    public void A_claim_within_the_cap_with_few_bytes_behind_it_allocates_at_most_the_cap()
    {
        // ReadAsync allocates the announced payload before it arrives; the cap is what bounds that allocation.
        var gen = from claim in Gen.Choose(1, ProtocolConstants.MaxFrameSize)
                  from type in FrameGen.Type
                  from behind in Gen.Choose(0, 16)
                  select (claim, type, behind: Math.Min(behind, claim - 1));
        FuzzRun.Check(gen, 300, c =>
        {
            var bytes = Header((uint)c.claim, c.type).Concat(new byte[c.behind]).ToArray();
            using var cts = new CancellationTokenSource();
            var stream = new ChunkedStream(bytes, c.claim, stallAtEnd: true);
            var before = GC.GetAllocatedBytesForCurrentThread();
            var read = FrameCodec.ReadAsync(stream, cts.Token);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.False(read.IsCompleted);
            Assert.True(allocated < ProtocolConstants.MaxFrameSize + 16 * 1024, $"waiting for a {c.claim}-byte frame allocated {allocated} bytes");
            cts.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => read.AsTask().GetAwaiter().GetResult());

            // A stream that ends instead of stalling gives the protocol error.
            var ended = new ChunkedStream(bytes, c.claim);
            var e = Assert.Throws<ProtocolException>(() => FrameCodec.ReadAsync(ended, default).AsTask().GetAwaiter().GetResult());
            Assert.Contains("ended inside", e.Message);
        });
    }

    [Fact]
    public void Any_payload_decodes_to_a_message_that_keeps_its_promises_or_raises_only_the_protocol_error()
    {
        var gen = from type in FrameGen.Type
                  from payload in HandshakeGen.Payload(type)
                  select (type, payload);
        FuzzRun.Check(gen, 3000, c =>
        {
            var messageType = typeof(HelloMessage).Assembly.GetType($"TunnelLite.Protocol.{c.type}Message")!;
            var read = typeof(MessageSerializer).GetMethod(nameof(MessageSerializer.Read))!.MakeGenericMethod(messageType);
            object message;
            try
            {
                message = read.Invoke(null, new object[] { new Frame(c.type, c.payload) })!;
            }
            catch (System.Reflection.TargetInvocationException e) when (e.InnerException is ProtocolException)
            {
                return;
            }
            // What the handlers rely on: no null where the message type says there is none (in lists too).
            Assert.Null(NullWherePromised(message, messageType.Name));
        });
    }

    private static readonly System.Reflection.NullabilityInfoContext Nullability = new();

    private static string? NullWherePromised(object value, string path)
    {
        foreach (var p in value.GetType().GetProperties())
        {
            if (p.PropertyType.IsValueType) continue;
            var v = p.GetValue(value);
            var info = Nullability.Create(p);
            if (v is null)
            {
                if (info.ReadState == System.Reflection.NullabilityState.NotNull) return $"{path}.{p.Name}";
                continue;
            }
            if (v is System.Collections.IList list && p.PropertyType.IsGenericType)
            {
                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is null) return $"{path}.{p.Name}[{i}]";
                    if (NullWherePromised(list[i]!, $"{path}.{p.Name}[{i}]") is { } inner) return inner;
                }
            }
        }
        return null;
    }

    private static byte[] Header(uint claim, FrameType type)
    {
        var h = new byte[ProtocolConstants.FrameHeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(h, claim);
        h[4] = (byte)type;
        return h;
    }
}

/// <summary>Fuzzed conversations on a live server's control port, with a tunnel in use all along. Run per pump, since
/// the tunnel must serve whichever pump moves its bytes; the full count of conversations in the default mode on the
/// default plane only (no conversation carries a user's bytes itself), fewer of the same seed in the others. On the
/// default plane in every mode; on the async plane in Auto only, as are the other limit, account, control-port and fuzz
/// suites: what they check is kept before and around the pump, which the data-path suites run on both planes in every
/// mode, and a run per mode and plane would cost the 2-core CI machine about 10 s for nothing the Auto run does not
/// check.</summary>
public abstract class ProtocolFuzzTests : DataPathSuite
{
    private readonly ITestOutputHelper _output;

    protected ProtocolFuzzTests(ITestOutputHelper output) => _output = output;

    /// <summary>Starts a client, trying up to three times when the server cut its login (ServerUnreachable): the server's
    /// 1 s handshake deadline is there to end the fuzzers' conversations quickly, and a real client's login can take longer
    /// while the whole suite starts on the 2-core machine; a real client would try again too.</summary>
    private async Task<TunnelClient> StartClientPatientlyAsync(TunnelFixture f, TunnelClientOptions options)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await f.StartClientAsync(options);
            }
            catch (TunnelException e) when (e.Code == TunnelErrorCode.ServerUnreachable && attempt < 3)
            {
                _output.WriteLine($"login attempt {attempt} cut: {e.Message}");
            }
        }
    }

    [Fact]
    public async Task Fuzzed_conversations_on_the_control_port_get_an_error_or_a_close_in_time_and_the_tunnels_keep_serving()
    {
        var log = new TestLog();
        await using var f = NewFixture();
        await using var echo = new EchoService();
        var so = ServerOptions();
        so.HandshakeTimeout = TimeSpan.FromSeconds(1);
        so.MaxPendingHandshakes = 64;
        so.LoggerFactory = log;
        var server = await f.StartServerAsync(so);
        var port = server.ControlEndpoint!.Port;
        var beforeOptions = TunnelFixture.ClientOptions(server);
        beforeOptions.Tunnels.Add(new TunnelDefinition { Name = "before", LocalPort = echo.Port });
        var before = await StartClientPatientlyAsync(f, beforeOptions);
        var beforePort = before.Tunnels.Single().RemotePort;

        // A tunnel in use all through the fuzzing: every round trip must come back intact.
        using var fuzzing = new CancellationTokenSource();
        var traffic = Task.Run(async () =>
        {
            var rounds = 0;
            while (!fuzzing.IsCancellationRequested)
            {
                using var user = await TunnelFixture.ConnectAsync(beforePort);
                var r = await Transfer.EchoRoundTripAsync(user, 16 * 1024, rounds).WaitAsync(TimeSpan.FromSeconds(15));
                Assert.Equal(r.Sent, r.Received);
                rounds++;
                await Task.Delay(25); // steady use, not load: the rest of the suite runs alongside
            }
            return rounds;
        });

        var conversations = FuzzRun.Sample(HandshakeGen.Conversation, FuzzRun.Count(FullLoad ? 200 : 50));
        var deadline = so.HandshakeTimeout + TimeSpan.FromSeconds(4);
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var results = new System.Collections.Concurrent.ConcurrentBag<HandshakeProbe.Result>();
        using var slots = new SemaphoreSlim(8);
        await Task.WhenAll(conversations.Select((steps, i) => Task.Run(async () =>
        {
            await slots.WaitAsync();
            try
            {
                var result = await HandshakeProbe.RunAsync(port, steps, TunnelFixture.Token, deadline).WaitAsync(TimeSpan.FromSeconds(30));
                results.Add(result);
                if (result.Problem is not null) failures.Add($"#{i} {string.Join(" ", steps.Select(s => s.Describe()))}: {result.Problem}");
            }
            catch (Exception e)
            {
                failures.Add($"#{i} {string.Join(" ", steps.Select(s => s.Describe()))}: {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                slots.Release();
            }
        }))).WaitAsync(TimeSpan.FromSeconds(120));
        fuzzing.Cancel();
        var rounds = await traffic.WaitAsync(TimeSpan.FromSeconds(20));
        _output.WriteLine($"{conversations.Length} conversations ({FuzzRun.ReplayHint}): {results.Count(r => r.Authenticated)} authenticated, " +
            $"{results.Count(r => r.Elapsed > so.HandshakeTimeout)} ran into the handshake timeout, longest {results.Max(r => r.Elapsed).TotalSeconds:F1} s; " +
            $"{rounds} echo round trips through the tunnel meanwhile.");

        var context = $"replay with {FuzzRun.ReplayHint}\n{log.Tail(30)}";
        Assert.True(failures.IsEmpty, $"{failures.Count} conversations went wrong ({context}):\n{string.Join("\n", failures.Take(10))}");
        // The server logs at Error level only what escaped its handling of a peer: anything but the protocol's own error.
        Assert.True(log.Errors.Count == 0, $"unexpected failures on the server ({FuzzRun.ReplayHint}):\n{string.Join("\n", log.Errors.Take(5))}");
        Assert.True(rounds > 0);

        // Every handshake slot has come back (a client's data connection may hold one for a moment).
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetStatistics().PendingHandshakes == 0, TimeSpan.FromSeconds(5)),
            $"{server.GetStatistics().PendingHandshakes} handshake slots are still held after the fuzzing");
        // The fuzzers' sessions are gone; the client that was there before is still the same session on the same port.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.ClientCount == 1, TimeSpan.FromSeconds(10)), $"clients left: {server.ClientCount}");
        Assert.Equal(new[] { "before" }, server.GetTunnelStatistics().Select(t => t.Name));
        Assert.Equal(beforePort, before.Tunnels.Single().RemotePort);

        var afterOptions = TunnelFixture.ClientOptions(server);
        afterOptions.Tunnels.Add(new TunnelDefinition { Name = "after", LocalPort = echo.Port });
        var after = await StartClientPatientlyAsync(f, afterOptions);
        foreach (var tunnelPort in new[] { beforePort, after.Tunnels.Single().RemotePort })
        {
            using var user = await TunnelFixture.ConnectAsync(tunnelPort);
            var r = await Transfer.EchoRoundTripAsync(user, 1 << 20, tunnelPort).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(r.Sent, r.Received);
        }
    }
}

public sealed class ProtocolFuzzCopyTests(ITestOutputHelper output) : ProtocolFuzzTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Copy;
}

public sealed class ProtocolFuzzSpliceTests(ITestOutputHelper output) : ProtocolFuzzTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Splice;
}

public sealed class ProtocolFuzzAutoTests(ITestOutputHelper output) : ProtocolFuzzTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
}

/// <summary>The runtime's async sockets, in the default mode only (see the suite).</summary>
public sealed class ProtocolFuzzAsyncAutoTests(ITestOutputHelper output) : ProtocolFuzzTests(output)
{
    protected override ForwardingMode Mode => ForwardingMode.Auto;
    protected override DataPlaneKind Plane => DataPlaneKind.Async;
}
