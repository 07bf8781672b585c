// The soak's load generator (build/Invoke-Soak.ps1): mixed traffic through tunnels, every byte checked.
// Compiled at run time with Add-Type together with LocalHttpService.cs; it is not part of the module.
//   bulk       HTTP GET /bytes/N of 1-16 MiB, body checked by SHA-256
//   short      a new connection per small HTTP GET (1000 bytes), checked by SHA-256
//   keep-alive one connection, many request/reply round trips of 1-4 KiB through an echo service, each reply compared
// A connection cut by a client restart is a failure (expected, counted); a complete answer with wrong bytes is a mismatch.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace TunnelLite.Soak
{
    /// <summary>A loopback service that echoes every byte back until the peer closes.</summary>
    public sealed class EchoService : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _cts = new CancellationTokenSource();

        public EchoService()
        {
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start(512);
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = AcceptLoop();
        }

        public int Port { get; }

        private async Task AcceptLoop()
        {
            while (!_cts.IsCancellationRequested)
            {
                Socket s;
                try { s = await _listener.AcceptSocketAsync(_cts.Token); }
                catch (Exception) { return; }
                _ = Echo(s);
            }
        }

        private async Task Echo(Socket s)
        {
            using (s)
            {
                var buf = new byte[16384];
                try
                {
                    while (true)
                    {
                        var n = await s.ReceiveAsync(buf, SocketFlags.None, _cts.Token);
                        if (n == 0) break;
                        await s.SendAsync(buf.AsMemory(0, n), SocketFlags.None, _cts.Token);
                    }
                    s.Shutdown(SocketShutdown.Send);
                }
                catch (Exception) { }
            }
        }

        public void Dispose() { _cts.Cancel(); _listener.Stop(); }
    }

    /// <summary>Runs the mixed load against a public HTTP port and a public echo port until cancelled; counts everything.</summary>
    public sealed class SoakLoad
    {
        private static readonly int[] BulkSizes = { 1 << 20, 4 << 20, 16 << 20 };
        private const int ShortSize = 1000;
        private static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(30);
        private readonly Dictionary<int, string> _hashes = new Dictionary<int, string>();
        private readonly int _httpPort;
        private readonly int _echoPort;
        private long _connections, _bytes, _failures, _mismatches, _bulk, _short, _roundTrips;
        private string _lastFailure = "";

        public SoakLoad(int httpPort, int echoPort)
        {
            _httpPort = httpPort;
            _echoPort = echoPort;
            foreach (var size in BulkSizes) _hashes[size] = Hash(TunnelLite.Demo.LocalHttpService.Payload(size));
            _hashes[ShortSize] = Hash(TunnelLite.Demo.LocalHttpService.Payload(ShortSize));
        }

        public long Connections => Interlocked.Read(ref _connections);
        public long Bytes => Interlocked.Read(ref _bytes);
        public long Failures => Interlocked.Read(ref _failures);
        public long Mismatches => Interlocked.Read(ref _mismatches);
        public long BulkDownloads => Interlocked.Read(ref _bulk);
        public long ShortRequests => Interlocked.Read(ref _short);
        public long RoundTrips => Interlocked.Read(ref _roundTrips);
        public string LastFailure => Volatile.Read(ref _lastFailure);

        /// <summary>Starts the workers; the task ends once <paramref name="stop"/> is cancelled and they have finished.</summary>
        public Task Run(CancellationToken stop, int bulkWorkers = 2, int shortWorkers = 4, int keepAliveWorkers = 4)
        {
            var workers = new List<Task>();
            for (var i = 0; i < bulkWorkers; i++) { var seed = i; workers.Add(Task.Run(() => Loop(stop, r => Bulk(r, stop), seed))); }
            for (var i = 0; i < shortWorkers; i++) { var seed = 100 + i; workers.Add(Task.Run(() => Loop(stop, r => Short(stop), seed))); }
            for (var i = 0; i < keepAliveWorkers; i++) { var seed = 200 + i; workers.Add(Task.Run(() => Loop(stop, r => KeepAlive(r, stop), seed))); }
            return Task.WhenAll(workers);
        }

        private async Task Loop(CancellationToken stop, Func<Random, Task> work, int seed)
        {
            var random = new Random(seed);
            while (!stop.IsCancellationRequested)
            {
                try { await work(random); }
                catch (Exception e) when (!stop.IsCancellationRequested)
                {
                    // The tunnel is down while its client restarts: count it, breathe, go on.
                    Interlocked.Increment(ref _failures);
                    Volatile.Write(ref _lastFailure, e.GetType().Name + ": " + e.Message);
                    try { await Task.Delay(200, stop); } catch (OperationCanceledException) { }
                }
                catch (Exception) { }
            }
        }

        private async Task Bulk(Random random, CancellationToken stop)
        {
            await Download(BulkSizes[random.Next(BulkSizes.Length)], stop);
            Interlocked.Increment(ref _bulk);
        }

        private async Task Short(CancellationToken stop)
        {
            await Download(ShortSize, stop);
            Interlocked.Increment(ref _short);
        }

        private async Task Download(int size, CancellationToken stop)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
            cts.CancelAfter(OperationTimeout);
            using var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _httpPort), cts.Token);
            Interlocked.Increment(ref _connections);
            await s.SendAsync(Encoding.ASCII.GetBytes($"GET /bytes/{size} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), SocketFlags.None, cts.Token);
            var buf = new byte[65536];
            var head = new List<byte>();
            int bodyStart = -1, got = 0;
            while (bodyStart < 0)
            {
                got = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
                if (got == 0) throw new IOException($"connection closed before the response header ({head.Count} bytes)");
                var before = head.Count;
                for (var i = 0; i < got; i++) head.Add(buf[i]);
                for (var i = Math.Max(0, before - 3); i + 3 < head.Count; i++)
                    if (head[i] == '\r' && head[i + 1] == '\n' && head[i + 2] == '\r' && head[i + 3] == '\n') { bodyStart = i + 4; break; }
            }
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var headBytes = head.ToArray();
            long body = headBytes.Length - bodyStart;
            hash.AppendData(headBytes, bodyStart, (int)body);
            while (body < size)
            {
                var n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
                if (n == 0) throw new IOException($"download of {size} bytes cut after {body}");
                hash.AppendData(buf, 0, n);
                body += n;
            }
            Interlocked.Add(ref _bytes, body);
            if (body != size || Convert.ToHexString(hash.GetHashAndReset()) != _hashes[size])
            {
                Interlocked.Increment(ref _mismatches);
                Volatile.Write(ref _lastFailure, $"MISMATCH: /bytes/{size} gave {body} bytes with another hash");
            }
        }

        private async Task KeepAlive(Random random, CancellationToken stop)
        {
            using var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(stop))
            {
                connect.CancelAfter(OperationTimeout);
                await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _echoPort), connect.Token);
            }
            Interlocked.Increment(ref _connections);
            var reply = new byte[4096];
            for (var round = 0; round < 200 && !stop.IsCancellationRequested; round++)
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
                cts.CancelAfter(OperationTimeout);
                var request = new byte[random.Next(1024, 4097)];
                random.NextBytes(request);
                await s.SendAsync(request, SocketFlags.None, cts.Token);
                var got = 0;
                while (got < request.Length)
                {
                    var n = await s.ReceiveAsync(reply.AsMemory(got, request.Length - got), SocketFlags.None, cts.Token);
                    if (n == 0) throw new IOException($"echo connection closed after {round} round trips");
                    got += n;
                }
                Interlocked.Add(ref _bytes, 2L * request.Length);
                Interlocked.Increment(ref _roundTrips);
                if (!reply.AsSpan(0, got).SequenceEqual(request))
                {
                    Interlocked.Increment(ref _mismatches);
                    Volatile.Write(ref _lastFailure, $"MISMATCH: echo reply {round} differs from its request");
                    return;
                }
            }
        }

        private static string Hash(byte[] data) => Convert.ToHexString(SHA256.HashData(data));
    }
}
