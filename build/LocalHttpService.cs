// A tiny HTTP/1.1 service on loopback for the demo and the Pester tests: GET / answers a small page,
// GET /bytes/N answers N deterministic pseudo-random bytes (so a download can be checked by hash).
// Compiled at run time with Add-Type; it is not part of the module.
using System;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace TunnelLite.Demo
{
    public sealed class LocalHttpService : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _cts = new CancellationTokenSource();
        private int _requests;

        public LocalHttpService(int port = 0)
        {
            _listener = new TcpListener(IPAddress.Loopback, port);
            _listener.Start(256);
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = AcceptLoop();
        }

        public int Port { get; }
        public int Requests => Volatile.Read(ref _requests);

        /// <summary>The body GET /bytes/N returns: a fixed seed makes it reproducible by the checker.</summary>
        public static byte[] Payload(int size)
        {
            var data = new byte[size];
            new Random(20261126).NextBytes(data);
            return data;
        }

        private async Task AcceptLoop()
        {
            while (!_cts.IsCancellationRequested)
            {
                TcpClient c;
                try { c = await _listener.AcceptTcpClientAsync(_cts.Token); }
                catch (Exception) { return; }
                _ = Serve(c);
            }
        }

        private async Task Serve(TcpClient client)
        {
            using (client)
            {
                try
                {
                    var stream = client.GetStream();
                    var buf = new byte[8192];
                    var head = new StringBuilder();
                    while (!head.ToString().Contains("\r\n\r\n"))
                    {
                        var n = await stream.ReadAsync(buf, 0, buf.Length, _cts.Token);
                        if (n == 0) return;
                        head.Append(Encoding.ASCII.GetString(buf, 0, n));
                        if (head.Length > 65536) return;
                    }
                    Interlocked.Increment(ref _requests);
                    var path = head.ToString().Split(' ')[1];
                    byte[] body;
                    string type;
                    if (path.StartsWith("/bytes/") && int.TryParse(path.Substring(7), out var size) && size >= 0 && size <= 256 * 1024 * 1024)
                    {
                        body = Payload(size);
                        type = "application/octet-stream";
                    }
                    else
                    {
                        body = Encoding.UTF8.GetBytes("<html><body><h1>Hello from behind the NAT</h1><p>Served by a local service through a TunnelLite tunnel.</p></body></html>\n");
                        type = "text/html; charset=utf-8";
                    }
                    var header = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: {type}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
                    await stream.WriteAsync(header, 0, header.Length, _cts.Token);
                    await stream.WriteAsync(body, 0, body.Length, _cts.Token);
                    client.Client.Shutdown(SocketShutdown.Send);
                }
                catch (Exception)
                {
                    // A broken client must not stop the service.
                }
            }
        }

        public void Dispose()
        {
            _cts.Cancel();
            _listener.Stop();
        }
    }
}
