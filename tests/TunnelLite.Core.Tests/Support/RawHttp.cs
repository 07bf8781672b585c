using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TunnelLite.Tests.Support;

/// <summary>HTTP/1.1 by hand, byte for byte, for the admin endpoint's tests: what a browser sends, and what no browser does.</summary>
public sealed class RawHttp : IDisposable
{
    private readonly Socket _socket;
    private readonly List<byte> _pending = new();

    private RawHttp(Socket socket) => _socket = socket;

    public static async Task<RawHttp> ConnectAsync(IPEndPoint endpoint)
    {
        var s = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync(endpoint);
        return new RawHttp(s);
    }

    public Socket Socket => _socket;

    public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes) => await _socket.SendAsync(bytes, SocketFlags.None);

    /// <summary>Reads one response (head and Content-Length body); null when the connection closed first.</summary>
    public async Task<Response?> ReadAsync(bool headOnly = false, int timeoutMs = 10_000)
    {
        using var cts = new CancellationTokenSource(timeoutMs);
        var buf = new byte[16 * 1024];
        while (true)
        {
            var text = Encoding.Latin1.GetString(_pending.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                var head = text[..end];
                var lines = head.Split("\r\n");
                var status = int.Parse(lines[0].Split(' ')[1]);
                var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
                var length = headOnly ? 0 : int.Parse(headers.GetValueOrDefault("Content-Length", "0"));
                if (_pending.Count >= end + 4 + length)
                {
                    var body = _pending.Skip(end + 4).Take(length).ToArray();
                    _pending.RemoveRange(0, end + 4 + length);
                    return new Response(status, headers, Encoding.UTF8.GetString(body));
                }
            }
            int n;
            try
            {
                n = await _socket.ReceiveAsync(buf, SocketFlags.None, cts.Token);
            }
            catch (SocketException)
            {
                return null;
            }
            if (n == 0) return null;
            _pending.AddRange(buf.AsSpan(0, n).ToArray());
        }
    }

    /// <summary>Whether the server closed the connection (EOF or reset) within the timeout.</summary>
    public async Task<bool> ClosedWithinAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buf = new byte[4096];
        try
        {
            while (true)
                if (await _socket.ReceiveAsync(buf, SocketFlags.None, cts.Token) == 0) return true;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One GET (or other method) on a fresh connection, with Host set to the endpoint.</summary>
    public static async Task<Response> RequestAsync(IPEndPoint endpoint, string method, string path, string? authorization = null, string? host = null)
    {
        using var http = await ConnectAsync(endpoint);
        await http.SendAsync($"{method} {path} HTTP/1.1\r\nHost: {host ?? endpoint.ToString()}\r\n{(authorization is null ? "" : $"Authorization: {authorization}\r\n")}Connection: close\r\n\r\n");
        return await http.ReadAsync(headOnly: method == "HEAD") ?? throw new IOException("The admin endpoint closed without an answer.");
    }

    public static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    public void Dispose() => _socket.Dispose();

    public sealed record Response(int Status, IReadOnlyDictionary<string, string> Headers, string Body);
}
