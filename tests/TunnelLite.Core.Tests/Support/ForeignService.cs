using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TunnelLite.Tests.Support;

/// <summary>A service on 127.0.0.1 that is not TunnelLite, for a client pointed at the wrong port: it behaves as the real
/// ones do on the first bytes of a connection.</summary>
internal sealed class ForeignService : LoopbackService
{
    /// <summary>How the service treats a connection.</summary>
    public enum Kind
    {
        /// <summary>Like python's http.server: reads a request line (up to a line end), then answers 400 and closes.</summary>
        HttpAfterRequestLine,
        /// <summary>Like nginx: the first bytes are no method, so it answers 400 at once and closes.</summary>
        HttpAtOnce,
        /// <summary>Like OpenSSH: sends its banner as soon as it accepts, before it reads anything.</summary>
        Ssh,
        /// <summary>A TLS server: answers bytes that are not a ClientHello with an alert record.</summary>
        Tls,
        /// <summary>Accepts and reads, says nothing.</summary>
        Silent,
    }

    public const string SshBanner = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3";

    private readonly Kind _kind;

    public ForeignService(Kind kind, IPAddress? address = null) : base(address, backlog: 64)
    {
        _kind = kind;
        Start();
    }

    protected override async Task ServeAsync(Socket s)
    {
        // Held open until the service ends, as the real ones do while they answer: closing with unread bytes would reset
        // the connection and could lose the answer before the client reads it.
        Keep(s);
        var buffer = new byte[4096];
        try
        {
            switch (_kind)
            {
                case Kind.Ssh:
                    await s.SendAsync(Encoding.ASCII.GetBytes(SshBanner + "\r\n"), SocketFlags.None, Stopping);
                    await DrainAsync(s, buffer);
                    break;
                case Kind.HttpAtOnce:
                    if (await s.ReceiveAsync(buffer, SocketFlags.None, Stopping) > 0)
                        await AnswerAndCloseAsync(s, "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    break;
                case Kind.HttpAfterRequestLine:
                    var seen = new List<byte>();
                    while (!seen.Contains((byte)'\n'))
                    {
                        var n = await s.ReceiveAsync(buffer, SocketFlags.None, Stopping);
                        if (n == 0) return;
                        seen.AddRange(buffer.AsSpan(0, n).ToArray());
                    }
                    await AnswerAndCloseAsync(s, "HTTP/1.0 400 Bad request syntax\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nConnection: close\r\n\r\n");
                    break;
                case Kind.Tls:
                    if (await s.ReceiveAsync(buffer, SocketFlags.None, Stopping) > 0)
                    {
                        // Alert record, TLS 1.2, fatal (2) protocol_version (70).
                        await s.SendAsync(new byte[] { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46 }, SocketFlags.None, Stopping);
                        s.Shutdown(SocketShutdown.Send);
                    }
                    break;
                case Kind.Silent:
                    await DrainAsync(s, buffer);
                    break;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task AnswerAndCloseAsync(Socket s, string answer)
    {
        await s.SendAsync(Encoding.ASCII.GetBytes(answer), SocketFlags.None, Stopping);
        s.Shutdown(SocketShutdown.Send);
    }

    private async Task DrainAsync(Socket s, byte[] buffer)
    {
        while (await s.ReceiveAsync(buffer, SocketFlags.None, Stopping) > 0) { }
    }
}
