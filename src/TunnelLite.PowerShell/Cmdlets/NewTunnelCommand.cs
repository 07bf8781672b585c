using System.Management.Automation;
using System.Security;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;
using TunnelLite.Protocol;
using TunnelLite.Security;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>New-Tunnel: connects to a TunnelLite server and exposes a local port on it; returns a job per tunnel once the server confirmed it.</summary>
[Cmdlet(VerbsCommon.New, "Tunnel", DefaultParameterSetName = ParametersSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(TunnelJob))]
public sealed class NewTunnelCommand : EngineCmdletBase
{
    private const string ParametersSet = "Parameters";
    private const string CredentialSet = "Credential";
    private const string ConfigSet = "Config";

    /// <summary>The server's control endpoint, 'host:port' (port 7000 when omitted; IPv6 as '[::1]:7000'). Several servers
    /// (-Server a:7000,b:7000, or one string "a:7000,b:7000") carry the same tunnels at once, each over its own control
    /// connection; then -RemotePort is required, the same on each server.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ParametersSet)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = CredentialSet)]
    [Parameter(ParameterSetName = ConfigSet)]
    [ValidateNotNullOrEmpty]
    [ValidateCount(1, TunnelClientOptions.MaxServers)]
    public string[]? Server { get; set; }

    /// <summary>The server's shared secret. A SecureString, or a plain string that is converted.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = ConfigSet)]
    [SecureStringTransformation]
    [ValidateNotNull]
    public SecureString? Token { get; set; }

    /// <summary>The client's account and token in one: the user name is the client name (its <c>[[clients]]</c> entry on
    /// the server), the password the token. Instead of -Token and -ClientName, e.g. from Get-Credential or Get-Secret.</summary>
    [Parameter(Mandatory = true, ParameterSetName = CredentialSet)]
    [Parameter(ParameterSetName = ConfigSet)]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    /// <summary>Port of the local service to expose.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ParametersSet)]
    [Parameter(Mandatory = true, ParameterSetName = CredentialSet)]
    [ValidateRange(1, 65535)]
    public int LocalPort { get; set; }

    /// <summary>Address of the local service, as seen from this machine. Default 127.0.0.1.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateNotNullOrEmpty]
    public string LocalAddress { get; set; } = "127.0.0.1";

    /// <summary>The public port on the server; 0 (the default) lets the server pick one from its allowed ports.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateRange(0, 65535)]
    public int RemotePort { get; set; }

    /// <summary>Writes a PROXY protocol header (V1, the text line, or V2, the binary form) to the local service ahead of
    /// each user's bytes, so that it sees the user's real address instead of this machine's: for services that read it
    /// (HAProxy accept-proxy, nginx proxy_protocol, Postfix, Dovecot). A service that does not expect it sees garbage.
    /// Default None (frp's transport.proxyProtocolVersion in a config file).</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    public ProxyProtocolVersion ProxyProtocol { get; set; }

    /// <summary>The bandwidth the tunnel may use in each direction, in frp's form: a number and KB or MB per second, where
    /// KB is 1024 bytes ("512KB", "10MB", "1.5MB"). -BandwidthLimitIn and -BandwidthLimitOut set one direction and win over
    /// it. Enforced by this client, or with -BandwidthLimitMode Server by the server. Default: none.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateNotNullOrEmpty]
    public string? BandwidthLimit { get; set; }

    /// <summary>The bandwidth toward the local service (what users upload), in frp's form ("512KB", "10MB").</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateNotNullOrEmpty]
    public string? BandwidthLimitIn { get; set; }

    /// <summary>The bandwidth toward the users (what they download), in frp's form ("512KB", "10MB").</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateNotNullOrEmpty]
    public string? BandwidthLimitOut { get; set; }

    /// <summary>Which end enforces the bandwidth limit: Client (this client, the default, as in frp) or Server (the server
    /// does, and applies the stricter of it and the limit its operator set for this client's account).</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    public BandwidthLimitMode BandwidthLimitMode { get; set; }

    /// <summary>Name of the tunnel, unique on its server. Default 'MACHINE-LOCALPORT'.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateNotNullOrEmpty]
    [ValidateLength(1, 128)]
    public string? Name { get; set; }

    /// <summary>Addresses or networks (CIDR, IPv4 or IPv6: 203.0.113.7, 10.0.0.0/8, 2001:db8::/32) that users of the tunnel
    /// may come from; others are reset at once by the server. Default: every address the server allows. The server's own
    /// lists still apply: this narrows them, never widens them.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateNotNullOrEmpty]
    public string[]? AllowSource { get; set; }

    /// <summary>Addresses or networks that users of the tunnel may not come from; wins over -AllowSource.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateNotNullOrEmpty]
    public string[]? DenySource { get; set; }

    /// <summary>The load-balancing group the tunnel joins (frp's loadBalancer.group): tunnels of several clients with the
    /// same group, key and -RemotePort share that public port, and the server spreads users over them. Needs -GroupKey.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateNotNullOrEmpty]
    [ValidateLength(1, 128)]
    public string? Group { get; set; }

    /// <summary>The group's key (frp's loadBalancer.groupKey): it proves that the tunnel may join -Group. A secret, like -Token.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    public SecureString? GroupKey { get; set; }

    /// <summary>How the group spreads users: RoundRobin (the default) or LeastConnections. The group's first member sets it.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    public LoadBalancingStrategy LoadBalancing { get; set; }

    /// <summary>Turns on a TCP health check of the local service every this many seconds (frp's healthCheck.intervalSeconds):
    /// while it fails, the tunnel gets no users (its group's other members get them; alone, users are reset and the port
    /// stays bound).</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateRange(1, 3600)]
    public int HealthCheckIntervalSec { get; set; }

    /// <summary>How long a health check's connect may take (healthCheck.timeoutSeconds); default 3.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateRange(1, 60)]
    public int HealthCheckTimeoutSec { get; set; } = 3;

    /// <summary>Failed health checks in a row that withdraw the tunnel (healthCheck.maxFailed); default 1.</summary>
    [Parameter(ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = CredentialSet)]
    [ValidateRange(1, 100)]
    public int HealthCheckMaxFailed { get; set; } = 1;

    /// <summary>The client's name on the server; default the host name. A server's <c>[[clients]]</c> account: -Token is
    /// that account's own token, and the server checks only that one. Any other name: the server checks the token as
    /// without a name, and shows the name as ClientName of a shared-token client's tunnels (Get-TunnelStats -PerTunnel).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateLength(1, 128)]
    public string? ClientName { get; set; }

    /// <summary>Idle data connections kept ready, so that a user connection starts without a round trip. Default 4.</summary>
    [Parameter]
    [ValidateRange(0, 1000)]
    public int PoolSize { get; set; } = 4;

    /// <summary>Seconds to wait for the server to accept and confirm the tunnel. Default 10.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSec { get; set; } = 10;

    /// <summary>How tunnel bytes move between the data connection and the local service: Auto (splice what streams, copy
    /// small messages), Splice (always splice(2)) or Copy (buffered). Without splice(2) (not Linux) every mode copies.
    /// Default: the config's transport.forwardingMode, else the TUNNELLITE_FORWARDING_MODE environment variable, else Auto.</summary>
    [Parameter]
    public ForwardingMode ForwardingMode { get; set; }

    /// <summary>What drives the sockets of each data connection paired with its connection to the local service: Auto
    /// (event loops on Linux, the async plane elsewhere), EventLoops (a few threads, each with its own epoll; Linux only)
    /// or Async (the runtime's async sockets). TLS data connections always run on the async plane. Default: the config's
    /// transport.dataPlane, else the TUNNELLITE_DATA_PLANE environment variable, else Auto.</summary>
    [Parameter]
    public DataPlaneKind DataPlane { get; set; }

    /// <summary>Threads of the event-loop plane; 0 means one per core. Default: the config's transport.eventLoops, else 0.</summary>
    [Parameter]
    [ValidateRange(0, PumpSelector.MaxEventLoops)]
    public int EventLoops { get; set; }

    /// <summary>Speak TLS to the server (control and data connections); the server must run with -Tls. The server is trusted
    /// by -CertificateFingerprint, else by -TrustedCaPath, else by the system's trusted roots. Default: the config's
    /// transport.tls.enable, else off.</summary>
    [Parameter]
    public SwitchParameter Tls { get; set; }

    /// <summary>The SHA-256 fingerprint of the server's certificate, as Start-TunnelServer -Tls shows it (its job's
    /// CertificateFingerprint); hex, with or without colons. Implies -Tls.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CertificateFingerprint { get; set; }

    /// <summary>A PEM file with the CA certificate(s) that signed the server's certificate; trusted instead of the system's
    /// roots. The certificate must name the server address. Implies -Tls.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TrustedCaPath { get; set; }

    /// <summary>A client TOML file (frpc.toml keys): one job per [[proxies]] entry. Parameters given on the command line win over it.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ConfigSet)]
    [ValidateNotNullOrEmpty]
    public string? ConfigPath { get; set; }

    /// <summary>Runs the tunnels in the foreground, as a service does: writes their events to the host as they happen, one line
    /// each, until Ctrl+C or SIGTERM stops them gracefully; writes no object. A client that ends without being stopped is a
    /// terminating error (EndedUnexpectedly), so that the process exits non-zero.</summary>
    [Parameter]
    public SwitchParameter Wait { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var options = BuildOptions();
        var target = string.Join(", ", options.EffectiveServers);
        var what = string.Join(", ", options.Tunnels.Select(t => $"{t.Name} (:{(t.RemotePort == 0 ? "auto" : t.RemotePort.ToString())} -> {t.LocalAddress}:{t.LocalPort})"));
        if (!ShouldProcess(target, $"Open tunnel {what}")) return;

        var logger = new JobStreamLogger();
        options.LoggerFactory = logger;
        MultiServerClient client;
        try
        {
            client = new MultiServerClient(options);
        }
        catch (ArgumentException e)
        {
            ThrowTerminatingError(TunnelErrors.InvalidOptions("InvalidTunnelOptions", e, target));
            return;
        }
        catch (TunnelException e)
        {
            ThrowTerminatingError(TunnelErrors.From(e, TrustedCaPath ?? target));
            return;
        }
        WriteVerbose($"Connecting to {target} to open {what}.");
        try
        {
            Call.Run(client.StartAsync);
        }
        catch (TunnelException e)
        {
            ThrowTerminatingError(TunnelErrors.From(e, target));
            return;
        }
        catch (OperationCanceledException)
        {
            client.StopAsync().GetAwaiter().GetResult();
            return;
        }
        WriteAdminVerbose(client.Admin);
        var shared = new SharedClient(client, logger);
        // The job's Command describes the tunnel rather than quoting the input line, which may hold a plain-text token.
        var jobs = client.Clients[0].Tunnels.Select(t => new TunnelJob(t.Name, $"New-Tunnel {t.Name} -> {t.LocalEndpoint} via {target}", shared)).ToList();
        foreach (var job in jobs)
        {
            job.Start();
            TunnelJobSourceAdapter.Register(this, job);
            WriteVerbose($"Tunnel '{job.Name}' is open: {job.Location}.");
            if (!Wait) WriteObject(job);
        }
        if (Wait) RunInForeground(jobs);
    }

    /// <summary>-BandwidthLimit, -BandwidthLimitIn and -BandwidthLimitOut as one limit; an InvalidBandwidthLimit error when
    /// one is not in frp's form.</summary>
    private Config.BandwidthLimit ParseBandwidthLimit()
    {
        long Rate(string? text, string parameter)
        {
            if (text is null) return -1;
            try
            {
                return Config.BandwidthLimit.ParseRate(text);
            }
            catch (FormatException e)
            {
                ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidBandwidthLimit", $"-{parameter}: {e.Message}", text));
                return 0;
            }
        }
        var both = Math.Max(0, Rate(BandwidthLimit, nameof(BandwidthLimit)));
        var inward = Rate(BandwidthLimitIn, nameof(BandwidthLimitIn));
        var outward = Rate(BandwidthLimitOut, nameof(BandwidthLimitOut));
        return new Config.BandwidthLimit(inward >= 0 ? inward : both, outward >= 0 ? outward : both);
    }

    private TunnelClientOptions BuildOptions()
    {
        if (Token is not null && Credential is not null)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("TokenAndCredential", "Give the token once: -Token or -Credential, not both.", null));
        RejectEmptyToken(Token ?? Credential?.Password);
        TunnelClientOptions options;
        if (ConfigPath is not null)
        {
            options = LoadConfig<TunnelClientOptions>(ConfigPath, "client", Token, TunnelConfigLoader.LoadClient);
            if (options.Tunnels.Count == 0)
                ThrowTerminatingError(TunnelErrors.InvalidArgument("NoTunnels", $"{ConfigPath} has no [[proxies]] entry; add one per tunnel.", ConfigPath));
        }
        else
        {
            options = new TunnelClientOptions();
            options.Tunnels.Add(new TunnelDefinition
            {
                Name = Name ?? $"{Environment.MachineName.ToLowerInvariant()}-{LocalPort}",
                LocalAddress = LocalAddress,
                LocalPort = LocalPort,
                RemotePort = RemotePort,
                ProxyProtocol = ProxyProtocol,
                BandwidthLimit = ParseBandwidthLimit(),
                BandwidthLimitMode = BandwidthLimitMode,
                AllowSources = AllowSource is null ? Array.Empty<SourceNetwork>() : ParseSourceNetworks(AllowSource, nameof(AllowSource), TunnelDefinition.MaxSourceNetworks),
                DenySources = DenySource is null ? Array.Empty<SourceNetwork>() : ParseSourceNetworks(DenySource, nameof(DenySource), TunnelDefinition.MaxSourceNetworks),
                Group = Group,
                GroupKey = GroupKey is null ? null : Secret.From(GroupKey),
                Strategy = LoadBalancing,
                HealthCheck = HealthCheckIntervalSec == 0 ? null : new HealthCheck
                {
                    Interval = TimeSpan.FromSeconds(HealthCheckIntervalSec),
                    Timeout = TimeSpan.FromSeconds(HealthCheckTimeoutSec),
                    MaxFailed = HealthCheckMaxFailed,
                },
            });
            if ((Group is null) != (GroupKey is null))
                ThrowTerminatingError(TunnelErrors.InvalidArgument("GroupWithoutKey", "Give -Group and -GroupKey together: the key proves that the tunnel may join the group.", Group));
        }
        var bound = MyInvocation.BoundParameters;
        if (Server is not null)
        {
            // A comma inside one string lists servers too ("a:7000,b:7000" from a variable); no host holds a comma.
            var servers = new List<ServerEndpoint>();
            foreach (var text in Server.SelectMany(s => s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
            {
                try
                {
                    servers.Add(ServerEndpoint.Parse(text));
                }
                catch (FormatException e)
                {
                    ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidServerAddress", e.Message, text));
                }
            }
            if (servers.Count == 0) ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidServerAddress", "-Server lists no server; use 'host:port'.", null));
            // The command line wins over the config's serverAddr or serverAddrs.
            (options.ServerAddress, options.ServerPort) = (servers[0].Host, servers[0].Port);
            options.Servers = servers.Count > 1 ? servers : new();
        }
        if (Token is not null) options.Token = Secret.From(Token);
        if (Credential is not null)
        {
            options.Token = Secret.From(Credential.Password);
            var user = Credential.UserName?.TrimStart('\\');
            if (!string.IsNullOrEmpty(user))
            {
                if (ClientName is not null && ClientName != user)
                    ThrowTerminatingError(TunnelErrors.InvalidArgument("ClientNameMismatch", $"-ClientName '{ClientName}' and the user name of -Credential '{user}' differ; the user name is the client name.", ClientName));
                options.ClientName = user;
            }
        }
        if (bound.ContainsKey(nameof(ForwardingMode))) options.ForwardingMode = ForwardingMode;
        if (bound.ContainsKey(nameof(DataPlane))) options.DataPlane = DataPlane;
        if (bound.ContainsKey(nameof(EventLoops))) options.EventLoops = EventLoops;
        if (bound.ContainsKey(nameof(Tls))) options.Tls.Enabled = Tls.IsPresent;
        if (CertificateFingerprint is not null || TrustedCaPath is not null)
        {
            if (bound.ContainsKey(nameof(Tls)) && !Tls.IsPresent)
                ThrowTerminatingError(TunnelErrors.InvalidArgument("TlsRequired", "-CertificateFingerprint and -TrustedCaPath need TLS; drop -Tls:$false.", null));
            options.Tls.Enabled = true;
        }
        if (CertificateFingerprint is not null)
        {
            if (!Security.CertificateFingerprint.TryNormalize(CertificateFingerprint, out _))
                ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidCertificateFingerprint",
                    $"'{CertificateFingerprint}' is not a SHA-256 fingerprint: expected the 64 hex digits the server showed, colons allowed.", CertificateFingerprint));
            options.Tls.ServerFingerprint = CertificateFingerprint;
        }
        if (TrustedCaPath is not null) options.Tls.TrustedCaFile = GetUnresolvedProviderPathFromPSPath(TrustedCaPath);
        ApplyAdmin(options.Admin);
        if (ClientName is not null) options.ClientName = ClientName;
        if (ConfigPath is null || bound.ContainsKey(nameof(PoolSize))) options.PoolCount = PoolSize;
        if (ConfigPath is null || bound.ContainsKey(nameof(TimeoutSec))) options.ConnectTimeout = TimeSpan.FromSeconds(TimeoutSec);
        RequireToken(options.Token, ConfigPath);
        return options;
    }
}
