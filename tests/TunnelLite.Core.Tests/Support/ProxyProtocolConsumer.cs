using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TunnelLite.Tests.Support;

/// <summary>A real program that reads the PROXY protocol header in front of HTTP (Debian packages haproxy and nginx, which
/// build.ps1 Test installs with apt-get where it can), on 127.0.0.1, answering every request with the addresses it took from
/// the header: "source-address source-port destination-address destination-port". What a user puts behind a tunnel
/// with -ProxyProtocol.</summary>
public sealed class ProxyProtocolConsumer : IAsyncDisposable
{
    /// <summary>Why a HAProxy test skips (or, under CI=true, fails).</summary>
    public const string HaproxyMissing = "haproxy is not installed (apt-get install haproxy; build.ps1 Test installs it where it can)";

    /// <summary>Why an nginx test skips (or, under CI=true, fails).</summary>
    public const string NginxMissing = "nginx is not installed (apt-get install nginx-light; build.ps1 Test installs it where it can)";

    /// <summary>haproxy's path; null when it is missing.</summary>
    public static string? HaproxyPath { get; } = ExternalTool.Find("haproxy");

    /// <summary>nginx's path; null when it is missing.</summary>
    public static string? NginxPath { get; } = ExternalTool.Find("nginx");

    private readonly Process _process;
    private readonly string _folder;
    private readonly Task<string> _stderr;

    private ProxyProtocolConsumer(Process process, string folder, int port)
    {
        _process = process;
        _folder = folder;
        Port = port;
        _stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
    }

    /// <summary>The port it listens on, on 127.0.0.1; it expects a PROXY protocol header on every connection.</summary>
    public int Port { get; }

    /// <summary>HAProxy with <c>bind ... accept-proxy</c> (v1 and v2 alike), answering with <c>%[src] %[src_port] %[dst] %[dst_port]</c>.</summary>
    public static Task<ProxyProtocolConsumer> StartHaproxyAsync()
    {
        var folder = Directory.CreateTempSubdirectory("tunnellite-haproxy-").FullName;
        var port = LoopbackPort.Free();
        var config = Path.Combine(folder, "haproxy.cfg");
        File.WriteAllText(config, $"""
            global
              maxconn 100
            defaults
              mode http
              timeout connect 5s
              timeout client 10s
              timeout server 10s
            frontend proxied
              bind 127.0.0.1:{port} accept-proxy
              http-request return status 200 content-type text/plain lf-string "%[src] %[src_port] %[dst] %[dst_port]\n"

            """); // haproxy refuses a file whose last line has no LF
        return StartAsync(ExternalTool.Require(HaproxyPath, HaproxyMissing), ["-db", "-f", config], folder, port);
    }

    /// <summary>nginx with <c>listen ... proxy_protocol</c> (v1 and v2 alike), answering with
    /// <c>$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port</c>.</summary>
    public static Task<ProxyProtocolConsumer> StartNginxAsync()
    {
        var folder = Directory.CreateTempSubdirectory("tunnellite-nginx-").FullName;
        var port = LoopbackPort.Free();
        var config = Path.Combine(folder, "nginx.conf");
        // Everything nginx writes stays in the folder: its pid file, logs and temp paths, whoever runs the test.
        File.WriteAllText(config, $$"""
            daemon off;
            master_process off;
            worker_processes 1;
            pid {{folder}}/nginx.pid;
            error_log stderr warn;
            events { worker_connections 64; }
            http {
              access_log off;
              client_body_temp_path {{folder}}/body;
              proxy_temp_path {{folder}}/proxy;
              fastcgi_temp_path {{folder}}/fastcgi;
              uwsgi_temp_path {{folder}}/uwsgi;
              scgi_temp_path {{folder}}/scgi;
              server {
                listen 127.0.0.1:{{port}} proxy_protocol;
                default_type text/plain;
                location / { return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port\n"; }
              }
            }
            """);
        return StartAsync(ExternalTool.Require(NginxPath, NginxMissing), ["-p", folder, "-e", "stderr", "-c", config], folder, port);
    }

    private static async Task<ProxyProtocolConsumer> StartAsync(string program, string[] arguments, string folder, int port)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var consumer = new ProxyProtocolConsumer(Process.Start(start)!, folder, port);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (consumer._process.HasExited)
            {
                var error = await consumer._stderr;
                await consumer.DisposeAsync();
                throw new InvalidOperationException($"{Path.GetFileName(program)} exited: {error}");
            }
            try
            {
                // A bare connect and close: neither program minds a connection that never sends its header.
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await probe.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
                return consumer;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
        await consumer.DisposeAsync();
        throw new TimeoutException($"{Path.GetFileName(program)} did not listen on 127.0.0.1:{port} within 20 s");
    }

    public async ValueTask DisposeAsync()
    {
        try { _process.Kill(true); } catch (InvalidOperationException) { }
        await _process.WaitForExitAsync();
        _process.Dispose();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A test that needs a real HAProxy: skipped, saying why, where it is missing, except under CI=true.</summary>
public sealed class HaproxyFactAttribute : FactAttribute
{
    public HaproxyFactAttribute()
    {
        if (ProxyProtocolConsumer.HaproxyPath is null && !ExternalTool.MustRun) Skip = ProxyProtocolConsumer.HaproxyMissing;
    }
}

/// <summary>A test that needs a real nginx: skipped, saying why, where it is missing, except under CI=true.</summary>
public sealed class NginxFactAttribute : FactAttribute
{
    public NginxFactAttribute()
    {
        if (ProxyProtocolConsumer.NginxPath is null && !ExternalTool.MustRun) Skip = ProxyProtocolConsumer.NginxMissing;
    }
}
