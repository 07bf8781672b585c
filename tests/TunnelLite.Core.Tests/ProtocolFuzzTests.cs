using System.Buffers;
using System.Buffers.Binary;
using FsCheck.Fluent;
using TunnelLite.Protocol;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Property-based fuzzing of the frame decoder: random, truncated, oversized, lying and glued-together input raises
/// nothing but <see cref="ProtocolException"/>, never reads past a frame, never allocates in proportion to a claimed length,
/// and valid frames round-trip exactly. Bounded for CI; see FUZZING.md for longer runs and replaying a seed.</summary>
public sealed class ProtocolFuzzTests
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

    private static byte[] Header(uint claim, FrameType type)
    {
        var h = new byte[ProtocolConstants.FrameHeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(h, claim);
        h[4] = (byte)type;
        return h;
    }
}
