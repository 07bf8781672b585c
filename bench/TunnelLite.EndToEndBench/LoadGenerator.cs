using System.Diagnostics;
using System.Net.Sockets;

namespace TunnelLite.Bench;

/// <summary>The loads, each against a port that is either the sink itself (direct) or a tunnel's public port.</summary>
internal static class LoadGenerator
{
    /// <summary>One download of <paramref name="bytes"/> through one connection; returns the seconds it took.</summary>
    public static async Task<double> BulkAsync(int port, long bytes)
    {
        using var s = await Net.ConnectAsync(port);
        var head = new byte[9];
        head[0] = (byte)'D';
        BitConverter.TryWriteBytes(head.AsSpan(1), bytes);
        var sw = Stopwatch.StartNew();
        await s.SendAsync(head, SocketFlags.None);
        var buf = new byte[256 * 1024];
        long got = 0;
        int n;
        while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0) got += n;
        var seconds = sw.Elapsed.TotalSeconds;
        if (got != bytes) throw new IOException($"bulk: received {got} of {bytes} bytes");
        return seconds;
    }

    /// <summary>New connections, each with one small request and reply, from <paramref name="workers"/> loops for
    /// <paramref name="duration"/>; returns the count, failures and each connection's latency (connect to reply) in ms.</summary>
    public static async Task<RunResult> ConnectionsAsync(int port, int workers, TimeSpan duration)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var lat = new List<double>[workers];
        var failures = 0;
        var started = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
        {
            var mine = lat[w] = new List<double>(8192);
            var req = new byte[1 + Sink.RequestSize];
            req[0] = (byte)'C';
            var reply = new byte[Sink.ReplySize];
            while (Stopwatch.GetTimestamp() < end)
            {
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    using var s = await Net.ConnectAsync(port);
                    await s.SendAsync(req, SocketFlags.None);
                    if (!await Net.ReadExactlyAsync(s, reply)) throw new IOException("no reply");
                    mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    // Close only after the sink has closed, so that TIME_WAIT stays on the serving side, as with HTTP/1.0.
                    await s.ReceiveAsync(reply, SocketFlags.None);
                }
                catch (Exception e) when (e is SocketException or IOException)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }));
        return new RunResult(lat.Sum(l => l.Count), failures, started.Elapsed.TotalSeconds, lat.SelectMany(l => l).ToArray());
    }

    /// <summary>Keep-alive request/reply on <paramref name="connections"/> connections for <paramref name="duration"/>.</summary>
    public static async Task<RunResult> RequestReplyAsync(int port, int connections, TimeSpan duration)
    {
        var sockets = await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
        {
            var s = await Net.ConnectAsync(port);
            await s.SendAsync(new[] { (byte)'R' }, SocketFlags.None);
            return s;
        }));
        try
        {
            var req = new byte[Sink.RequestSize];
            // Warm-up: one exchange on each connection, so the pairing through the tunnel is not timed.
            await Task.WhenAll(sockets.Select(async s => { await s.SendAsync(req, SocketFlags.None); await Net.ReadExactlyAsync(s, new byte[Sink.ReplySize]); }));
            var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            var lat = new List<double>[connections];
            var started = Stopwatch.StartNew();
            await Task.WhenAll(sockets.Select(async (s, i) =>
            {
                var mine = lat[i] = new List<double>(65536);
                var reply = new byte[Sink.ReplySize];
                while (Stopwatch.GetTimestamp() < end)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    await s.SendAsync(req, SocketFlags.None);
                    await Net.ReadExactlyAsync(s, reply);
                    mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
            }));
            return new RunResult(lat.Sum(l => l.Count), 0, started.Elapsed.TotalSeconds, lat.SelectMany(l => l).ToArray());
        }
        finally
        {
            foreach (var s in sockets) s.Dispose();
        }
    }

    /// <summary>Opens <paramref name="count"/> connections, each with one exchange so that it is paired end to end, and
    /// returns them open.</summary>
    public static async Task<Socket[]> OpenIdleAsync(int port, int count)
    {
        var result = new Socket[count];
        using var gate = new SemaphoreSlim(50);
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                var s = await Net.ConnectAsync(port);
                var req = new byte[1 + Sink.RequestSize];
                req[0] = (byte)'R';
                await s.SendAsync(req, SocketFlags.None);
                await Net.ReadExactlyAsync(s, new byte[Sink.ReplySize]);
                result[i] = s;
            }
            finally
            {
                gate.Release();
            }
        }));
        return result;
    }

    /// <summary>Opens <paramref name="count"/> connections, <paramref name="batch"/> at a time (a batch is done before the
    /// next starts), each asking the sink to echo ('E') and sending one request that must come back byte for byte; returns
    /// those that passed, still open, and what failed.</summary>
    public static async Task<CheckedConnections> OpenCheckedAsync(int port, int count, int batch, TimeSpan timeout)
    {
        var open = new Socket?[count];
        var result = new CheckedConnections();
        for (var first = 0; first < count; first += batch)
        {
            await Task.WhenAll(Enumerable.Range(first, Math.Min(batch, count - first)).Select(async i =>
            {
                Socket s;
                try
                {
                    s = await Net.ConnectAsync(port);
                }
                catch (SocketException e)
                {
                    result.Fail($"connect: {e.SocketErrorCode}");
                    return;
                }
                result.Connected();
                if (await ExchangeAsync(s, i, 0, timeout, first: true, result)) open[i] = s;
                else s.Dispose();
            }));
        }
        result.Open.AddRange(open.Select((s, i) => (i, s)).Where(x => x.s is not null).Select(x => (x.i, x.s!)));
        result.Verified = result.Open.Count;
        return result;
    }

    /// <summary>One more checked exchange on each of <paramref name="open"/>, <paramref name="batch"/> at a time: are they
    /// all still carrying their own bytes? Returns how many passed.</summary>
    public static async Task<int> RecheckAsync(CheckedConnections open, int batch, TimeSpan timeout)
    {
        var passed = 0;
        var again = new CheckedConnections();
        foreach (var chunk in open.Open.Chunk(batch))
            await Task.WhenAll(chunk.Select(async c =>
            {
                if (await ExchangeAsync(c.Socket, c.Index, 1, timeout, first: false, again)) Interlocked.Increment(ref passed);
            }));
        open.RecheckErrors = again.Errors;
        return passed;
    }

    /// <summary>Sends connection <paramref name="index"/>'s request of <paramref name="round"/> (its own bytes: the index, the
    /// round and a pseudo-random fill seeded by both) and checks the echo byte for byte.</summary>
    private static async Task<bool> ExchangeAsync(Socket s, int index, byte round, TimeSpan timeout, bool first, CheckedConnections result)
    {
        var request = new byte[(first ? 1 : 0) + Sink.RequestSize];
        var body = request.AsSpan(first ? 1 : 0);
        new Random(index * 2 + round).NextBytes(body);
        BitConverter.TryWriteBytes(body, index);
        body[4] = round;
        if (first) request[0] = (byte)'E';
        var reply = new byte[Sink.RequestSize];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await s.SendAsync(request, SocketFlags.None, cts.Token);
            if (!await Net.ReadExactlyAsync(s, reply, cts.Token))
            {
                result.Fail("closed before the reply");
                return false;
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            result.Fail(e is OperationCanceledException ? $"no reply within {timeout.TotalSeconds:0} s" : e.Message);
            return false;
        }
        if (!reply.AsSpan().SequenceEqual(request.AsSpan(first ? 1 : 0)))
        {
            result.Fail("the reply differs from the request");
            return false;
        }
        return true;
    }
}

/// <summary>Connections opened and checked by <see cref="LoadGenerator.OpenCheckedAsync"/>: the ones that passed, still open
/// (with their index, which seeds their bytes), and counts of what failed, by reason.</summary>
internal sealed class CheckedConnections : IDisposable
{
    private int _opened;

    /// <summary>Connections that connected (checked or not).</summary>
    public int Opened => Volatile.Read(ref _opened);
    public int Verified { get; set; }
    public List<(int Index, Socket Socket)> Open { get; } = new();
    public Dictionary<string, int> Errors { get; } = new();
    public Dictionary<string, int> RecheckErrors { get; set; } = new();
    public int Failed { get { lock (Errors) return Errors.Values.Sum(); } }

    public void Connected() => Interlocked.Increment(ref _opened);

    public void Fail(string why)
    {
        lock (Errors) Errors[why] = Errors.GetValueOrDefault(why) + 1;
    }

    public void Dispose()
    {
        foreach (var (_, s) in Open) s.Dispose();
        Open.Clear();
    }
}

/// <summary>Operations done, failed, over how long, and each one's latency in ms.</summary>
internal sealed record RunResult(int Count, int Failures, double Seconds, double[] LatenciesMs)
{
    public double Rate => Count / Seconds;
}
