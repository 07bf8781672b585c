namespace TunnelLite.Tests.Support;

/// <summary>A read-only stream over fixed bytes that hands them out in small chunks of random sizes, completing synchronously,
/// like a socket under load. Position says exactly how much a reader took. With <c>stallAtEnd</c> it never ends: once the
/// bytes are out, a read waits until it is cancelled, like a peer that claimed more than it sends.</summary>
public sealed class ChunkedStream : Stream
{
    private readonly byte[] _data;
    private readonly Random _chunks;
    private readonly int _maxChunk;
    private readonly bool _stallAtEnd;
    private int _pos;

    public ChunkedStream(byte[] data, int chunkSeed, int maxChunk = 7, bool stallAtEnd = false)
    {
        _stallAtEnd = stallAtEnd;
        _data = data;
        _chunks = new Random(chunkSeed);
        _maxChunk = maxChunk;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _data.Length;
    public override long Position { get => _pos; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = Math.Min(Math.Min(buffer.Length, _data.Length - _pos), _chunks.Next(1, _maxChunk + 1));
        _data.AsSpan(_pos, n).CopyTo(buffer);
        _pos += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_stallAtEnd && _pos == _data.Length && buffer.Length > 0)
            await Task.Delay(Timeout.Infinite, cancellationToken);
        return Read(buffer.Span);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
