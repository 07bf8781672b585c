// Attack tools of tests/TunnelLite.Attacks.Tests.ps1, compiled at run time with Add-Type (like build/LocalHttpService.cs);
// not part of the module. Loopback only: every address they connect to or bind is given by the caller (127.0.0.0/8).
//   ControlPortAttacker  holds up to N connections that send nothing, reopening at a paced rate those the server closes;
//                        counts connects, failures, closes by the server, and how long the server let each one live
//   IdleTcpService       a local service that accepts connections and never answers (a tunnel whose users all stay idle)
//   UserDownloads        users downloading /bytes/N of LocalHttpService through a tunnel, each body checked by SHA-256
// C#, because PowerShell cannot open hundreds of connections a second: everything here is async, no thread per connection.
#nullable enable
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace TunnelLite.Tests
{
    /// <summary>What a <see cref="ControlPortAttacker"/> saw. Lifetimes: from the connect to the server's close.</summary>
    public sealed class AttackerStats
    {
        public string Target { get; set; } = "";
        public int Sources { get; set; }
        public double ElapsedSeconds { get; set; }
        public long Attempted { get; set; }
        /// <summary>Connects that completed.</summary>
        public long Succeeded { get; set; }
        /// <summary>Connects that failed other than by a reset: refused, timed out (1 s), out of ports.</summary>
        public long Failed { get; set; }
        public long FailedRefused { get; set; }
        public long FailedTimeout { get; set; }
        public long FailedOther { get; set; }
        /// <summary>Connects that failed with a reset: on loopback only an accepted connection is reset (a closed port
        /// refuses), so these are connections the server accepted and reset at once, before the connect was seen to
        /// complete. Counted in <see cref="ClosedByServer"/> and <see cref="ClosedByServerReset"/> too, with a lifetime of 0.</summary>
        public long ResetAtConnect { get; set; }
        /// <summary>Connections the server ended (EOF or reset), including <see cref="ResetAtConnect"/>.</summary>
        public long ClosedByServer { get; set; }
        public long ClosedByServerEof { get; set; }
        public long ClosedByServerReset { get; set; }
        /// <summary>Connections the server had not closed within <see cref="ControlPortAttacker.CloseDeadlineSeconds"/>.</summary>
        public long NotClosedInTime { get; set; }
        public long BytesReceived { get; set; }
        public int MaxHeld { get; set; }
        public int Held { get; set; }
        public int Connecting { get; set; }
        public double LifetimeMinMs { get; set; }
        public double LifetimeP50Ms { get; set; }
        public double LifetimeP99Ms { get; set; }
        public double LifetimeMaxMs { get; set; }
        /// <summary>Socket errors by name, e.g. "connect:TimedOut=12; receive:ConnectionReset=300".</summary>
        public string Errors { get; set; } = "";
    }

    /// <summary>How one <see cref="ControlPortAttacker.ProbeAsync"/> connection ended.</summary>
    public sealed class ProbeResult
    {
        /// <summary>Eof or Reset (the server closed it), Open (still open after the wait), ConnectTimeout, ConnectRefused,
        /// ConnectFailed:error.</summary>
        public string Outcome { get; set; } = "";
        public double ConnectMs { get; set; }
        /// <summary>From the end of the connect to the EOF or reset; -1 when there was none. A reset that arrives before the
        /// connect is seen to complete (the server accepted and reset at once) counts from the start of the connect.</summary>
        public double ClosedAfterMs { get; set; } = -1;
        public override string ToString() => ClosedAfterMs >= 0 ? $"{Outcome} after {ClosedAfterMs:0.0} ms" : $"{Outcome} (connect {ConnectMs:0.0} ms)";
    }

    /// <summary>Holds up to <c>hold</c> TCP connections to 127.x:port that send nothing. Each socket is bound to one of the
    /// source addresses (round-robin, port 0) before it connects; connects are paced by a token bucket on a dedicated thread
    /// (at most <c>perSecond</c>, bursts of 1/20 s), each bounded by <see cref="ConnectTimeoutSeconds"/>. A pending receive
    /// on every held socket sees the server's EOF or reset; the slot is then reopened at the paced rate, for
    /// <c>durationSeconds</c> (0: until stopped) or until <see cref="MaxAttempts"/> connects were tried.</summary>
    public sealed class ControlPortAttacker : IDisposable
    {
        private readonly IPEndPoint _target;
        private readonly IPAddress[] _sources;
        private readonly int _hold;
        private readonly double _perSecond;
        private readonly double _durationSeconds;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly AutoResetEvent _wake = new AutoResetEvent(false);
        private readonly ManualResetEventSlim _pacingDone = new ManualResetEventSlim(false);
        private readonly ConcurrentDictionary<Socket, byte> _held = new ConcurrentDictionary<Socket, byte>();
        private readonly ConcurrentDictionary<string, int> _errors = new ConcurrentDictionary<string, int>();
        private readonly List<double> _lifetimes = new List<double>();
        private readonly Stopwatch _clock = new Stopwatch();
        private Thread? _pacer;
        private double _stoppedAt = -1;
        private int _open, _heldCount, _maxHeld;
        private long _attempted, _succeeded, _failedRefused, _resetAtConnect, _failedTimeout, _failedOther;
        private long _closedEof, _closedReset, _notClosedInTime, _bytesReceived;

        public ControlPortAttacker(int port, string[] sourceAddresses, int hold, double perSecond, double durationSeconds, string targetAddress = "127.0.0.1")
        {
            if (sourceAddresses == null || sourceAddresses.Length == 0) throw new ArgumentException("At least one source address is needed.", nameof(sourceAddresses));
            if (hold < 1 || perSecond <= 0) throw new ArgumentException("hold and perSecond must be positive.");
            _target = new IPEndPoint(IPAddress.Parse(targetAddress), port);
            _sources = sourceAddresses.Select(IPAddress.Parse).ToArray();
            foreach (var a in _sources.Append(_target.Address))
                if (!IPAddress.IsLoopback(a)) throw new ArgumentException($"{a} is not a loopback address: the attacker stays on 127.0.0.0/8.");
            _hold = hold;
            _perSecond = perSecond;
            _durationSeconds = durationSeconds;
        }

        /// <summary>0: no cap; otherwise at most this many connects in all (so closed connections are not reopened past it).</summary>
        public long MaxAttempts { get; set; }

        /// <summary>0: hold each connection until the server closes it or the attacker stops; otherwise close it after this many
        /// seconds and count it in <see cref="AttackerStats.NotClosedInTime"/>.</summary>
        public double CloseDeadlineSeconds { get; set; }

        public double ConnectTimeoutSeconds { get; set; } = 1;

        public int Held => Volatile.Read(ref _heldCount);
        public int Open => Volatile.Read(ref _open);
        public long Attempted => Interlocked.Read(ref _attempted);
        /// <summary>Seconds since <see cref="Start"/>.</summary>
        public double Elapsed => _clock.Elapsed.TotalSeconds;
        /// <summary>True once the pacing has ended: duration over, attempts spent, or stopped.</summary>
        public bool PacingDone => _pacingDone.IsSet;

        public void Start()
        {
            if (_pacer != null) throw new InvalidOperationException("Already started.");
            _clock.Start();
            _pacer = new Thread(Pace) { IsBackground = true, Name = "ControlPortAttacker pacer" };
            _pacer.Start();
        }

        /// <summary>Waits for the end of the pacing (duration or attempts); false after the timeout.</summary>
        public bool WaitPacing(int timeoutMs) => _pacingDone.Wait(timeoutMs);

        /// <summary>Stops pacing, closes every held connection with a reset, waits (at most 10 s) until all have ended.</summary>
        public async Task<AttackerStats> StopAsync()
        {
            var heldAtStop = Held;
            if (_stoppedAt < 0) _stoppedAt = _clock.Elapsed.TotalSeconds;
            _stop.Cancel();
            _wake.Set();
            await Task.Run(() => _pacingDone.Wait(5000)).ConfigureAwait(false);
            foreach (var s in _held.Keys) Abort(s);
            var deadline = Environment.TickCount64 + 10000;
            while (Open > 0 && Environment.TickCount64 < deadline) await Task.Delay(10).ConfigureAwait(false);
            var stats = Snapshot();
            stats.Held = heldAtStop;
            return stats;
        }

        public AttackerStats Snapshot()
        {
            double[] lifetimes;
            lock (_lifetimes) lifetimes = _lifetimes.ToArray();
            Array.Sort(lifetimes);
            var failedRefused = Interlocked.Read(ref _failedRefused);
            var failedTimeout = Interlocked.Read(ref _failedTimeout);
            var failedOther = Interlocked.Read(ref _failedOther);
            var resetAtConnect = Interlocked.Read(ref _resetAtConnect);
            var eof = Interlocked.Read(ref _closedEof);
            var reset = Interlocked.Read(ref _closedReset) + resetAtConnect;
            return new AttackerStats
            {
                Target = _target.ToString(),
                Sources = _sources.Length,
                ElapsedSeconds = Math.Round(_stoppedAt >= 0 ? _stoppedAt : _clock.Elapsed.TotalSeconds, 2),
                Attempted = Interlocked.Read(ref _attempted),
                Succeeded = Interlocked.Read(ref _succeeded),
                Failed = failedRefused + failedTimeout + failedOther,
                FailedRefused = failedRefused,
                FailedTimeout = failedTimeout,
                FailedOther = failedOther,
                ResetAtConnect = resetAtConnect,
                ClosedByServer = eof + reset,
                ClosedByServerEof = eof,
                ClosedByServerReset = reset,
                NotClosedInTime = Interlocked.Read(ref _notClosedInTime),
                BytesReceived = Interlocked.Read(ref _bytesReceived),
                MaxHeld = Volatile.Read(ref _maxHeld),
                Held = Held,
                Connecting = Math.Max(0, Open - Held),
                LifetimeMinMs = lifetimes.Length > 0 ? Math.Round(lifetimes[0], 1) : -1,
                LifetimeP50Ms = Math.Round(Percentile(lifetimes, 0.50), 1),
                LifetimeP99Ms = Math.Round(Percentile(lifetimes, 0.99), 1),
                LifetimeMaxMs = lifetimes.Length > 0 ? Math.Round(lifetimes[lifetimes.Length - 1], 1) : -1,
                Errors = string.Join("; ", _errors.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}")),
            };
        }

        public void Dispose()
        {
            if (!_stop.IsCancellationRequested) StopAsync().GetAwaiter().GetResult();
            _wake.Dispose();
        }

        /// <summary>The p-quantile (nearest rank) of sorted values; -1 when there are none.</summary>
        internal static double Percentile(double[] sorted, double p) =>
            sorted.Length == 0 ? -1 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

        /// <summary>One connection from <paramref name="source"/> to 127.0.0.1:port that sends nothing: how long until the
        /// server closes it (EOF or reset), waiting at most <paramref name="waitMs"/>.</summary>
        public static async Task<ProbeResult> ProbeAsync(int port, string source = "127.0.0.1", int connectTimeoutMs = 1000, int waitMs = 2000)
        {
            var result = new ProbeResult();
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var clock = Stopwatch.StartNew();
            try
            {
                s.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                using (var connect = new CancellationTokenSource(connectTimeoutMs))
                    await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), connect.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { result.Outcome = "ConnectTimeout"; result.ConnectMs = clock.Elapsed.TotalMilliseconds; return result; }
            catch (SocketException e)
            {
                result.ConnectMs = clock.Elapsed.TotalMilliseconds;
                if (e.SocketErrorCode == SocketError.ConnectionReset) { result.Outcome = "Reset"; result.ClosedAfterMs = result.ConnectMs; }
                else result.Outcome = e.SocketErrorCode == SocketError.ConnectionRefused ? "ConnectRefused" : "ConnectFailed:" + e.SocketErrorCode;
                return result;
            }
            result.ConnectMs = clock.Elapsed.TotalMilliseconds;
            var connected = Stopwatch.StartNew();
            var buf = new byte[256];
            try
            {
                using var wait = new CancellationTokenSource(waitMs);
                while (true)
                {
                    var n = await s.ReceiveAsync(buf.AsMemory(), SocketFlags.None, wait.Token).ConfigureAwait(false);
                    if (n == 0) { result.Outcome = "Eof"; break; }
                }
                result.ClosedAfterMs = connected.Elapsed.TotalMilliseconds;
            }
            catch (OperationCanceledException) { result.Outcome = "Open"; }
            catch (SocketException) { result.Outcome = "Reset"; result.ClosedAfterMs = connected.Elapsed.TotalMilliseconds; }
            Abort(s);
            return result;
        }

        /// <summary><paramref name="count"/> probes (see <see cref="ProbeAsync"/>), one started every <paramref name="intervalMs"/>,
        /// so that a server that never closes them still costs only about connect timeout + wait in all.</summary>
        public static async Task<ProbeResult[]> ProbeManyAsync(int port, int count, int intervalMs = 50, string source = "127.0.0.1", int connectTimeoutMs = 1000, int waitMs = 1000)
        {
            var probes = new List<Task<ProbeResult>>(count);
            for (var i = 0; i < count; i++)
            {
                if (i > 0) await Task.Delay(intervalMs).ConfigureAwait(false);
                probes.Add(ProbeAsync(port, source, connectTimeoutMs, waitMs));
            }
            return await Task.WhenAll(probes).ConfigureAwait(false);
        }

        private void Pace()
        {
            try
            {
                var burst = Math.Max(1.0, _perSecond / 20);
                double tokens = 1, last = 0;
                var next = 0;
                while (!_stop.IsCancellationRequested)
                {
                    var now = _clock.Elapsed.TotalSeconds;
                    if (_durationSeconds > 0 && now >= _durationSeconds) break;
                    if (MaxAttempts > 0 && Attempted >= MaxAttempts) break;
                    tokens = Math.Min(burst, tokens + (now - last) * _perSecond);
                    last = now;
                    while (tokens >= 1 && Open < _hold && (MaxAttempts <= 0 || Attempted < MaxAttempts) && !_stop.IsCancellationRequested)
                    {
                        tokens -= 1;
                        Interlocked.Increment(ref _open);
                        Interlocked.Increment(ref _attempted);
                        _ = RunOneAsync(_sources[next++ % _sources.Length]);
                    }
                    // Full: wait for a close (or 50 ms). Otherwise sleep until the next token.
                    var waitMs = Open >= _hold ? 50 : Math.Max(1, (int)Math.Ceiling((1 - tokens) / _perSecond * 1000));
                    _wake.WaitOne(waitMs);
                }
            }
            finally
            {
                if (_stoppedAt < 0 && _stop.IsCancellationRequested) _stoppedAt = _clock.Elapsed.TotalSeconds;
                _pacingDone.Set();
            }
        }

        private async Task RunOneAsync(IPAddress source)
        {
            Socket? s = null;
            var isHeld = false;
            try
            {
                s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                // IP_BIND_ADDRESS_NO_PORT (Linux): choose the port at connect time, by the whole 4-tuple, so that a few
                // thousand sockets bound to one source address do not run out of ephemeral ports.
                try { s.SetRawSocketOption(0, 24, BitConverter.GetBytes(1)); } catch (Exception) { }
                s.Bind(new IPEndPoint(source, 0));
                using (var connect = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
                {
                    connect.CancelAfter(TimeSpan.FromSeconds(ConnectTimeoutSeconds));
                    try
                    {
                        await s.ConnectAsync(_target, connect.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        if (!_stop.IsCancellationRequested) { Interlocked.Increment(ref _failedTimeout); Count("connect:Timeout"); }
                        return;
                    }
                    catch (SocketException e)
                    {
                        switch (e.SocketErrorCode)
                        {
                            case SocketError.ConnectionRefused: Interlocked.Increment(ref _failedRefused); break;
                            case SocketError.ConnectionReset:
                                Interlocked.Increment(ref _resetAtConnect);
                                lock (_lifetimes) _lifetimes.Add(0);
                                break;
                            case SocketError.TimedOut: Interlocked.Increment(ref _failedTimeout); break;
                            default: Interlocked.Increment(ref _failedOther); break;
                        }
                        Count("connect:" + e.SocketErrorCode);
                        return;
                    }
                }
                Interlocked.Increment(ref _succeeded);
                _held.TryAdd(s, 0);
                isHeld = true;
                var held = Interlocked.Increment(ref _heldCount);
                int max;
                while (held > (max = Volatile.Read(ref _maxHeld)) && Interlocked.CompareExchange(ref _maxHeld, held, max) != max) { }
                var connectedAt = Stopwatch.GetTimestamp();
                var buf = new byte[256];
                using var receive = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                if (CloseDeadlineSeconds > 0) receive.CancelAfter(TimeSpan.FromSeconds(CloseDeadlineSeconds));
                try
                {
                    while (true)
                    {
                        var n = await s.ReceiveAsync(buf.AsMemory(), SocketFlags.None, receive.Token).ConfigureAwait(false);
                        if (n == 0)
                        {
                            Interlocked.Increment(ref _closedEof);
                            Lifetime(connectedAt);
                            break;
                        }
                        Interlocked.Add(ref _bytesReceived, n);
                    }
                }
                catch (OperationCanceledException)
                {
                    if (!_stop.IsCancellationRequested) { Interlocked.Increment(ref _notClosedInTime); Count("receive:NotClosedInTime"); }
                }
                catch (SocketException e) when (!_stop.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _closedReset);
                    Lifetime(connectedAt);
                    Count("receive:" + e.SocketErrorCode);
                }
            }
            catch (SocketException e) when (!_stop.IsCancellationRequested)
            {
                // Bind failed (out of ports on that address) or similar.
                Interlocked.Increment(ref _failedOther);
                Count("bind:" + e.SocketErrorCode);
            }
            catch (Exception e) when (e is ObjectDisposedException || e is SocketException || e is OperationCanceledException)
            {
                // Closed by StopAsync.
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref _failedOther);
                Count("unexpected:" + e.GetType().Name);
            }
            finally
            {
                if (s != null)
                {
                    if (isHeld)
                    {
                        _held.TryRemove(s, out _);
                        Interlocked.Decrement(ref _heldCount);
                    }
                    Abort(s);
                }
                Interlocked.Decrement(ref _open);
                try { _wake.Set(); } catch (ObjectDisposedException) { }
            }
        }

        private void Lifetime(long connectedAt)
        {
            var ms = (Stopwatch.GetTimestamp() - connectedAt) * 1000.0 / Stopwatch.Frequency;
            lock (_lifetimes) _lifetimes.Add(ms);
        }

        private void Count(string key) => _errors.AddOrUpdate(key, 1, (_, n) => n + 1);

        /// <summary>Closes with linger 0: a reset, so neither end keeps the connection in TIME_WAIT.</summary>
        internal static void Abort(Socket s)
        {
            try { s.LingerState = new LingerOption(true, 0); } catch (Exception) { }
            try { s.Dispose(); } catch (Exception) { }
        }
    }

    /// <summary>A local TCP service on 127.0.0.1 that accepts every connection, reads and drops what arrives, and never
    /// answers or closes: a local service whose users all stay idle. Dispose resets what it holds.</summary>
    public sealed class IdleTcpService : IDisposable
    {
        private readonly Socket _listener;
        private readonly CancellationTokenSource _cts = new CancellationTokenSource();
        private readonly ConcurrentDictionary<Socket, byte> _held = new ConcurrentDictionary<Socket, byte>();
        private long _accepted, _closedByPeer;

        public IdleTcpService()
        {
            _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(4096);
            Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
            _ = AcceptLoop();
        }

        public int Port { get; }
        public long Accepted => Interlocked.Read(ref _accepted);
        public long ClosedByPeer => Interlocked.Read(ref _closedByPeer);
        public int Held => _held.Count;

        private async Task AcceptLoop()
        {
            while (!_cts.IsCancellationRequested)
            {
                Socket s;
                try { s = await _listener.AcceptAsync(_cts.Token).ConfigureAwait(false); }
                catch (SocketException) { await Task.Delay(50).ConfigureAwait(false); continue; }
                catch (Exception) { return; }
                Interlocked.Increment(ref _accepted);
                _held.TryAdd(s, 0);
                _ = Hold(s);
            }
        }

        private async Task Hold(Socket s)
        {
            var buf = new byte[256];
            try
            {
                while (await s.ReceiveAsync(buf.AsMemory(), SocketFlags.None, _cts.Token).ConfigureAwait(false) > 0) { }
                Interlocked.Increment(ref _closedByPeer);
            }
            catch (Exception) when (!_cts.IsCancellationRequested)
            {
                Interlocked.Increment(ref _closedByPeer);
            }
            catch (Exception) { }
            finally
            {
                _held.TryRemove(s, out _);
                ControlPortAttacker.Abort(s);
            }
        }

        public void Dispose()
        {
            _cts.Cancel();
            _listener.Dispose();
            foreach (var s in _held.Keys) ControlPortAttacker.Abort(s);
        }
    }

    /// <summary>One download through a tunnel.</summary>
    public sealed class DownloadResult
    {
        public bool Ok { get; set; }
        public double Ms { get; set; }
        public long Received { get; set; }
        public string Error { get; set; } = "";
        public override string ToString() => Ok ? $"ok in {Ms:0} ms" : $"failed after {Ms:0} ms: {Error}";
    }

    /// <summary>A batch of downloads through a tunnel.</summary>
    public sealed class DownloadStats
    {
        public int Count { get; set; }
        public int Ok { get; set; }
        public int Failed { get; set; }
        public double ElapsedSeconds { get; set; }
        public double P50Ms { get; set; }
        public double P99Ms { get; set; }
        public double MaxMs { get; set; }
        /// <summary>The failures by kind, e.g. "reset before the response header=12".</summary>
        public string Errors { get; set; } = "";
    }

    /// <summary>Users of a tunnel in front of LocalHttpService: each opens its own connection to 127.0.0.1:port, asks for
    /// /bytes/size, reads to EOF and checks the body by SHA-256; bounded by a timeout each.</summary>
    public static class UserDownloads
    {
        /// <summary><paramref name="count"/> downloads, at most <paramref name="concurrency"/> at once, started at most
        /// <paramref name="perSecond"/> a second (0: as fast as the concurrency allows), each within <paramref name="timeoutMs"/>.
        /// Downloads not started within <paramref name="deadlineMs"/> (0: no deadline) fail as "not started before the deadline",
        /// so a batch against a server that times every one out still ends in bounded time.</summary>
        public static async Task<DownloadStats> RunAsync(int port, int count, int concurrency, double perSecond, int size, string expectedSha256Hex, int timeoutMs, int deadlineMs = 0)
        {
            var clock = Stopwatch.StartNew();
            var results = new DownloadResult[count];
            using var slots = new SemaphoreSlim(concurrency, concurrency);
            var tasks = new List<Task>(count);
            for (var i = 0; i < count; i++)
            {
                if (perSecond > 0)
                {
                    var due = TimeSpan.FromSeconds(i / perSecond) - clock.Elapsed;
                    if (due > TimeSpan.Zero) await Task.Delay(due).ConfigureAwait(false);
                }
                var left = deadlineMs > 0 ? Math.Max(0, deadlineMs - (int)clock.ElapsedMilliseconds) : Timeout.Infinite;
                if (left == 0 || !await slots.WaitAsync(left).ConfigureAwait(false))
                {
                    for (var j = i; j < count; j++) results[j] = new DownloadResult { Error = "not started before the deadline" };
                    break;
                }
                var index = i;
                tasks.Add(Task.Run(async () =>
                {
                    try { results[index] = await DownloadAsync(port, size, expectedSha256Hex, timeoutMs).ConfigureAwait(false); }
                    finally { slots.Release(); }
                }));
            }
            await Task.WhenAll(tasks).ConfigureAwait(false);
            var times = results.Where(r => r.Ok).Select(r => r.Ms).OrderBy(m => m).ToArray();
            return new DownloadStats
            {
                Count = count,
                Ok = results.Count(r => r.Ok),
                Failed = results.Count(r => !r.Ok),
                ElapsedSeconds = Math.Round(clock.Elapsed.TotalSeconds, 2),
                P50Ms = Math.Round(ControlPortAttacker.Percentile(times, 0.50), 1),
                P99Ms = Math.Round(ControlPortAttacker.Percentile(times, 0.99), 1),
                MaxMs = times.Length > 0 ? Math.Round(times[times.Length - 1], 1) : -1,
                Errors = string.Join("; ", results.Where(r => !r.Ok).GroupBy(r => r.Error).OrderByDescending(g => g.Count()).Select(g => $"{g.Key}={g.Count()}")),
            };
        }

        public static DownloadResult Download(int port, int size, string expectedSha256Hex, int timeoutMs) =>
            DownloadAsync(port, size, expectedSha256Hex, timeoutMs).GetAwaiter().GetResult();

        public static async Task<DownloadResult> DownloadAsync(int port, int size, string expectedSha256Hex, int timeoutMs)
        {
            var result = new DownloadResult();
            var clock = Stopwatch.StartNew();
            var data = new MemoryStream();
            var stage = "connect";
            try
            {
                using var cts = new CancellationTokenSource(timeoutMs);
                using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token).ConfigureAwait(false);
                stage = "request";
                await s.SendAsync(Encoding.ASCII.GetBytes($"GET /bytes/{size} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"), SocketFlags.None, cts.Token).ConfigureAwait(false);
                stage = "response";
                var buf = new byte[65536];
                while (true)
                {
                    var n = await s.ReceiveAsync(buf.AsMemory(), SocketFlags.None, cts.Token).ConfigureAwait(false);
                    if (n == 0) break;
                    data.Write(buf, 0, n);
                    if (data.Length > size + 65536L) throw new IOException("more bytes than asked for");
                }
                result.Received = data.Length;
                var all = data.GetBuffer();
                var headEnd = IndexOfHeaderEnd(all, (int)data.Length);
                if (headEnd < 0) { result.Error = data.Length == 0 ? "EOF before the response header" : "no complete response header"; return result; }
                var status = Encoding.ASCII.GetString(all, 0, Math.Min(headEnd, 64)).Split('\r')[0];
                if (!status.StartsWith("HTTP/1.1 200", StringComparison.Ordinal)) { result.Error = "status " + status; return result; }
                var body = (int)data.Length - headEnd;
                if (body != size) { result.Error = $"body cut: {body} of {size} bytes"; return result; }
                var hash = Convert.ToHexString(SHA256.HashData(new ReadOnlySpan<byte>(all, headEnd, body)));
                if (!string.Equals(hash, expectedSha256Hex, StringComparison.OrdinalIgnoreCase)) { result.Error = "SHA-256 mismatch"; return result; }
                result.Ok = true;
            }
            catch (OperationCanceledException) { result.Error = $"timeout ({timeoutMs} ms) at {stage}"; }
            catch (SocketException e) { result.Error = $"{e.SocketErrorCode} at {stage}"; }
            catch (IOException e) { result.Error = e.Message; }
            finally
            {
                result.Ms = clock.Elapsed.TotalMilliseconds;
                if (result.Received == 0) result.Received = data.Length;
            }
            return result;
        }

        private static int IndexOfHeaderEnd(byte[] b, int length)
        {
            for (var i = 0; i + 3 < length; i++)
                if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') return i + 4;
            return -1;
        }
    }
}
