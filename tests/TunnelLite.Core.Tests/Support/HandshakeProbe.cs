using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using TunnelLite.Protocol;

namespace TunnelLite.Tests.Support;

/// <summary>Plays one fuzzed conversation against a server's control port and judges the server's side of it: every byte it
/// sends is a valid frame of a type a server may send, and it closes a connection that has not authenticated within the
/// handshake timeout (plus slack for a loaded machine).</summary>
public static class HandshakeProbe
{
    /// <summary>What happened: <see cref="Problem"/> is null when the server behaved.</summary>
    public sealed record Result(string? Problem, bool Authenticated, TimeSpan Elapsed);

    private static readonly FrameType[] ServerTypes =
    {
        FrameType.Challenge, FrameType.AuthOk, FrameType.Error, FrameType.RegisterResult, FrameType.Heartbeat,
        FrameType.RequestWorkConn, FrameType.Goodbye,
    };

    /// <summary>Runs <paramref name="steps"/> on a fresh connection to <paramref name="port"/>.</summary>
    public static async Task<Result> RunAsync(int port, HandshakeStep[] steps, string token, TimeSpan closeDeadline)
    {
        var clock = Stopwatch.StartNew();
        using var socket = await TunnelFixture.ConnectAsync(port).WaitAsync(TimeSpan.FromSeconds(5));
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var stop = new CancellationTokenSource();
        var received = new ConcurrentQueue<Frame>();
        var reader = ReadAllAsync(stream, received, stop.Token);
        string? problem = null;
        foreach (var step in steps)
        {
            if (reader.IsCompleted) break; // the server has closed; nothing more to say
            try
            {
                switch (step.Kind)
                {
                    case HandshakeStepKind.Raw:
                        await SendInChunksAsync(socket, step.Bytes, step.Chunks);
                        break;
                    case HandshakeStepKind.AuthWithProof:
                        var challenge = await WaitForAsync(received, reader, FrameType.Challenge, TimeSpan.FromSeconds(3));
                        var nonce = challenge is null ? TokenProof.NewNonce() : MessageSerializer.Read<ChallengeMessage>(challenge.Value).Nonce;
                        var json = $"{{\"proof\":\"{Convert.ToBase64String(TokenProof.ForClient(token, HandshakeGen.ClientNonce, nonce))}\"{step.Json}}}";
                        await socket.SendAsync(FrameCodec.Encode(FrameType.Auth, Encoding.UTF8.GetBytes(json)), SocketFlags.None);
                        break;
                    case HandshakeStepKind.DataHelloForSession:
                        var ok = await WaitForAsync(received, reader, FrameType.AuthOk, TimeSpan.FromMilliseconds(500));
                        var session = ok is null ? TokenProof.NewNonce() : MessageSerializer.Read<AuthOkMessage>(ok.Value).SessionId;
                        problem ??= await ForgedDataConnectionAsync(port, session, closeDeadline);
                        break;
                    case HandshakeStepKind.Pause:
                        await Task.Delay(20);
                        break;
                }
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                break; // the server closed while we were still talking: allowed
            }
        }
        // The answer to an Auth just sent may still be on its way.
        var authenticated = steps.Any(s => s.Kind == HandshakeStepKind.AuthWithProof)
            && await WaitForAsync(received, reader, FrameType.AuthOk, TimeSpan.FromSeconds(2)) is not null;
        // An open session may stay open; give the server a moment to answer what followed the handshake, then hang up.
        var wait = authenticated ? TimeSpan.FromMilliseconds(200) : closeDeadline - clock.Elapsed;
        var closed = await Task.WhenAny(reader, Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero)) == reader;
        stop.Cancel();
        var readerProblem = await reader.WaitAsync(TimeSpan.FromSeconds(5));
        problem ??= readerProblem;
        if (problem is null && !closed && !authenticated)
            problem = $"the server kept an unauthenticated connection open for {clock.Elapsed.TotalSeconds:F1} s";
        return new Result(problem is null ? null : $"{problem}; server sent [{string.Join(",", received.Select(f => f.Type))}]", authenticated, clock.Elapsed);
    }

    /// <summary>A second connection that claims the session with a made-up nonce and proof: it must be refused.</summary>
    private static async Task<string?> ForgedDataConnectionAsync(int port, byte[] session, TimeSpan closeDeadline)
    {
        using var s = await TunnelFixture.ConnectAsync(port).WaitAsync(TimeSpan.FromSeconds(5));
        using var c = new FrameConnection(s);
        try
        {
            await c.SendAsync(new DataHelloMessage { Version = ProtocolConstants.Version, SessionId = session, Counter = 1, Proof = TokenProof.NewNonce() }, default, withPreamble: true);
            using var cts = new CancellationTokenSource(closeDeadline);
            var f = await c.ReadAsync(cts.Token);
            if (f is null) return null;
            if (f.Value.Type != FrameType.Error) return $"a forged data connection got {f.Value.Type}";
            var err = MessageSerializer.Read<ErrorMessage>(f.Value);
            return err.Code == TunnelErrorCode.AuthenticationFailed ? null : $"a forged data connection got error {err.Code}";
        }
        catch (OperationCanceledException)
        {
            return "a forged data connection was neither refused nor closed in time";
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            return null;
        }
    }

    private static async Task SendInChunksAsync(Socket socket, byte[] bytes, int chunks)
    {
        chunks = Math.Clamp(chunks, 1, Math.Max(1, bytes.Length));
        var size = (bytes.Length + chunks - 1) / Math.Max(1, chunks);
        for (var off = 0; off < bytes.Length; off += size)
            await socket.SendAsync(bytes.AsMemory(off, Math.Min(size, bytes.Length - off)), SocketFlags.None);
    }

    private static async Task<Frame?> WaitForAsync(ConcurrentQueue<Frame> received, Task reader, FrameType type, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            foreach (var f in received)
                if (f.Type == type) return f;
            if (reader.IsCompleted || deadline.Elapsed > timeout) return null;
            await Task.Delay(5);
        }
    }

    /// <summary>Reads the server's frames until it closes; returns a problem if it sent anything a server must not.</summary>
    private static async Task<string?> ReadAllAsync(Stream stream, ConcurrentQueue<Frame> received, CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                var f = await FrameCodec.ReadAsync(stream, cancellationToken);
                if (f is null) return null;
                if (!ServerTypes.Contains(f.Value.Type)) return $"the server sent a {f.Value.Type} frame";
                if (f.Value.Type == FrameType.Error) MessageSerializer.Read<ErrorMessage>(f.Value);
                received.Enqueue(f.Value);
            }
        }
        catch (ProtocolException e)
        {
            return $"the server sent something that is not a valid frame: {e.Message}";
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            return null;
        }
    }
}
