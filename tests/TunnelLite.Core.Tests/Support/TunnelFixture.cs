using System.Net;
using System.Net.Sockets;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Server;

namespace TunnelLite.Tests.Support;

/// <summary>Builds a server and a client on loopback with short timeouts, and cleans both up.</summary>
public sealed class TunnelFixture : IAsyncDisposable
{
    public const string Token = "correct horse battery staple";
    private readonly List<IAsyncDisposable> _owned = new();
    private readonly ForwardingMode _mode;
    private readonly DataPlaneKind _plane;

    /// <summary>A fixture whose servers and clients use <paramref name="mode"/> and <paramref name="plane"/> unless their
    /// options say otherwise; with <paramref name="tls"/> its servers use TLS with <see cref="SharedCertificate"/> (clients
    /// follow their server).</summary>
    public TunnelFixture(ForwardingMode mode = ForwardingMode.Auto, bool tls = false, DataPlaneKind plane = DataPlaneKind.Auto)
    {
        _mode = mode;
        _plane = plane;
        Tls = tls;
    }

    public ForwardingMode Mode => _mode;

    public DataPlaneKind Plane => _plane;

    public bool Tls { get; }

    /// <summary>One certificate for every TLS server of the run, so that a restarted server keeps its fingerprint.</summary>
    public static TestCertificates SharedCertificate => SharedCertificateLazy.Value;

    private static readonly Lazy<TestCertificates> SharedCertificateLazy = new(() =>
    {
        var certs = new TestCertificates();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => certs.Dispose();
        return certs;
    });

    private static bool UsesSharedCertificate(TunnelServer server) =>
        server.Options.Tls.Enabled && SharedCertificateLazy.IsValueCreated && server.Options.Tls.CertificateFile == SharedCertificate.CertFile;

    /// <summary>Engine log of everything this fixture started.</summary>
    public static readonly TestLog Log = new();

    /// <summary>Loopback server options with short timeouts; with <paramref name="tls"/>, TLS with <see cref="SharedCertificate"/>.</summary>
    public static TunnelServerOptions ServerOptions(string bind = "127.0.0.1", bool tls = false) => new()
    {
        Tls = tls ? new ServerTlsOptions { Enabled = true, CertificateFile = SharedCertificate.CertFile, KeyFile = SharedCertificate.KeyFile } : new(),
        BindAddress = bind,
        ControlPort = 0,
        Token = Token,
        // Short enough for the drop tests, long enough not to trip while the 2-core machine is saturated by parallel tests.
        HeartbeatInterval = TimeSpan.FromMilliseconds(500),
        HeartbeatTimeout = TimeSpan.FromSeconds(4),
        HandshakeTimeout = TimeSpan.FromSeconds(2),
        UserConnectionTimeout = TimeSpan.FromSeconds(5),
        DrainTimeout = TimeSpan.FromSeconds(1),
        LoggerFactory = Log,
    };

    /// <summary>Client options for <paramref name="server"/>. For a server of a TLS fixture (one with <see cref="SharedCertificate"/>)
    /// they use TLS pinned to it, so that suites run unchanged over TLS; for any other server the test sets TLS itself.</summary>
    public static TunnelClientOptions ClientOptions(TunnelServer server, string address = "127.0.0.1", string token = Token) => new()
    {
        Tls = UsesSharedCertificate(server) ? new ClientTlsOptions { Enabled = true, ServerFingerprint = server.CertificateFingerprint } : new(),
        ServerAddress = address,
        ServerPort = server.ControlEndpoint!.Port,
        Token = token,
        PoolCount = 4,
        HeartbeatInterval = TimeSpan.FromMilliseconds(500),
        HeartbeatTimeout = TimeSpan.FromSeconds(4),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        LocalConnectTimeout = TimeSpan.FromSeconds(2),
        LoggerFactory = Log,
    };

    public async Task<TunnelServer> StartServerAsync(TunnelServerOptions? options = null)
    {
        options ??= ServerOptions(tls: Tls);
        Apply(options);
        var server = new TunnelServer(options);
        await server.StartAsync();
        _owned.Add(server);
        return server;
    }

    /// <summary>Gives <paramref name="options"/> this fixture's mode and plane where they leave them at Auto: for a server
    /// that a test constructs itself (to restart it on the same port, say) rather than through <see cref="StartServerAsync"/>.</summary>
    public TunnelServerOptions Apply(TunnelServerOptions options)
    {
        if (options.ForwardingMode == ForwardingMode.Auto) options.ForwardingMode = _mode;
        if (options.DataPlane == DataPlaneKind.Auto) options.DataPlane = _plane;
        return options;
    }

    /// <inheritdoc cref="Apply(TunnelServerOptions)"/>
    public TunnelClientOptions Apply(TunnelClientOptions options)
    {
        if (options.ForwardingMode == ForwardingMode.Auto) options.ForwardingMode = _mode;
        if (options.DataPlane == DataPlaneKind.Auto) options.DataPlane = _plane;
        return options;
    }

    public async Task<TunnelClient> StartClientAsync(TunnelClientOptions options)
    {
        Apply(options);
        var client = new TunnelClient(options);
        _owned.Add(client);
        await client.StartAsync();
        return client;
    }

    /// <summary>A server and a client with one tunnel "echo" to <paramref name="echo"/>; both owned by the fixture.</summary>
    public async Task<(TunnelServer Server, TunnelClient Client)> StartEchoTunnelAsync(EchoService echo, Action<TunnelClientOptions>? configure = null)
    {
        var server = await StartServerAsync();
        var options = ClientOptions(server);
        options.Tunnels.Add(new TunnelDefinition { Name = "echo", LocalPort = echo.Port });
        configure?.Invoke(options);
        return (server, await StartClientAsync(options));
    }

    public T Own<T>(T disposable) where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    public static async Task<Socket> ConnectAsync(int port, IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        var s = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync(new IPEndPoint(address, port));
        return s;
    }

    /// <summary>Polls until <paramref name="condition"/> holds or the timeout passes.</summary>
    public static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (condition()) return true;
            await Task.Delay(20);
        }
        return condition();
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
            await _owned[i].DisposeAsync();
    }
}
