using System.Management.Automation;
using System.Security;
using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.PowerShell.Internal;
using TunnelLite.PowerShell.Jobs;
using TunnelLite.Security;
using TunnelLite.Server;

namespace TunnelLite.PowerShell.Cmdlets;

/// <summary>Start-TunnelServer: starts a TunnelLite server in this process as a job, and returns once it listens.</summary>
[Cmdlet(VerbsLifecycle.Start, "TunnelServer", DefaultParameterSetName = ParametersSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(TunnelServerJob))]
public sealed class StartTunnelServerCommand : EngineCmdletBase
{
    private const string ParametersSet = "Parameters";
    private const string ConfigSet = "Config";

    /// <summary>Address to listen on. Default 0.0.0.0 (all IPv4); '::' for IPv4 and IPv6.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string BindAddress { get; set; } = "0.0.0.0";

    /// <summary>The control port clients connect to. Default 7000; 0 picks a free port.</summary>
    [Parameter]
    [ValidateRange(0, 65535)]
    public int ControlPort { get; set; } = 7000;

    /// <summary>The shared secret clients must prove. A SecureString, or a plain string that is converted.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ParametersSet)]
    [Parameter(ParameterSetName = ConfigSet)]
    [SecureStringTransformation]
    [ValidateNotNull]
    public SecureString? Token { get; set; }

    /// <summary>Ports clients may bind, as ranges ('20000-20100') or single ports ('8080'). Default: any.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? AllowPorts { get; set; }

    /// <summary>Addresses or networks (CIDR, IPv4 or IPv6: 203.0.113.7, 10.0.0.0/8, 2001:db8::/32) that users of every
    /// tunnel may come from; others are reset at once. Replaces the file's allowSources. Default: every address.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? AllowSource { get; set; }

    /// <summary>Addresses or networks that users of every tunnel may not come from; wins over every allow list. Replaces
    /// the file's denySources.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? DenySource { get; set; }

    /// <summary>A server TOML file (frps.toml keys); parameters given on the command line win over it.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ConfigSet)]
    [ValidateNotNullOrEmpty]
    public string? ConfigPath { get; set; }

    /// <summary>How tunnel bytes move: Auto (splice what streams, copy small messages), Splice (always splice(2)) or Copy
    /// (buffered). Without splice(2) (not Linux) every mode copies. Default: the config's transport.forwardingMode, else the
    /// TUNNELLITE_FORWARDING_MODE environment variable, else Auto.</summary>
    [Parameter]
    public ForwardingMode ForwardingMode { get; set; }

    /// <summary>What drives the sockets of the public ports and of each user connection paired with a data connection: Auto
    /// (event loops on Linux, the async plane elsewhere), EventLoops (a few threads, each with its own epoll; Linux only)
    /// or Async (the runtime's async sockets). TLS data connections always run on the async plane. Default: the config's
    /// transport.dataPlane, else the TUNNELLITE_DATA_PLANE environment variable, else Auto.</summary>
    [Parameter]
    public DataPlaneKind DataPlane { get; set; }

    /// <summary>Threads of the event-loop plane; 0 means one per core. Default: the config's transport.eventLoops, else 0.</summary>
    [Parameter]
    [ValidateRange(0, PumpSelector.MaxEventLoops)]
    public int EventLoops { get; set; }

    /// <summary>Require TLS on the control port (control and data connections). Without -CertificatePath the server makes a
    /// self-signed certificate at start and shows its SHA-256 fingerprint (the job's CertificateFingerprint) for clients to pin.
    /// Default: the config's transport.tls.enable, else off.</summary>
    [Parameter]
    public SwitchParameter Tls { get; set; }

    /// <summary>The server's certificate for -Tls: a PEM file (with -CertificateKeyPath, unless it holds the key too) or a
    /// PFX/PKCS#12 file (.pfx, .p12; with -CertificatePassword if it has one).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of a PEM -CertificatePath.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CertificateKeyPath { get; set; }

    /// <summary>The password of a PFX -CertificatePath. A SecureString, or a plain string that is converted.</summary>
    [Parameter]
    [SecureStringTransformation]
    [ValidateNotNull]
    public SecureString? CertificatePassword { get; set; }

    /// <summary>Name of the job. Default 'server-PORT'.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>Runs the server in the foreground, as a service does: writes its events to the host as they happen, one line
    /// each, until Ctrl+C or SIGTERM stops it gracefully; writes no object. A server that ends without being stopped is a
    /// terminating error (EndedUnexpectedly), so that the process exits non-zero.</summary>
    [Parameter]
    public SwitchParameter Wait { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var (options, overrides, path) = BuildOptions();
        var target = $"{options.BindAddress}:{options.ControlPort}";
        if (!ShouldProcess(target, "Start tunnel server")) return;

        // The job is made once the server listens, so that it is named after the real port; the logger keeps what came before.
        var logger = new JobStreamLogger();
        options.LoggerFactory = logger;
        TunnelServer server;
        try
        {
            server = new TunnelServer(options);
        }
        catch (ArgumentException e)
        {
            ThrowTerminatingError(TunnelErrors.InvalidOptions("InvalidServerOptions", e, target));
            return;
        }
        // A reload reads the file again and applies these same parameters over it: they keep winning over the file.
        server.ConfigSource = new ServerConfigSource(path, overrides.Token, overrides.Apply);
        WriteVerbose($"Binding the control port {target}.");
        try
        {
            Call.Run(server.StartAsync);
        }
        catch (TunnelException e)
        {
            ThrowTerminatingError(TunnelErrors.From(e, target));
            return;
        }
        if (server.CertificateFingerprint is { } fingerprint)
            WriteVerbose($"TLS is on; certificate SHA-256 fingerprint {fingerprint}.");
        WriteAdminVerbose(server.Admin);
        // The job's Command describes the server rather than quoting the input line, which may hold a plain-text token.
        var job = new TunnelServerJob(Name ?? $"server-{server.ControlEndpoint!.Port}", $"Start-TunnelServer on {server.ControlEndpoint}", logger);
        job.Attach(server);
        TunnelJobSourceAdapter.Register(this, job);
        WriteVerbose($"Tunnel server '{job.Name}' listens on {server.ControlEndpoint}; allowed ports: {(options.AllowPorts.Count == 0 ? "any" : string.Join(", ", options.AllowPorts))}.");
        if (Wait) RunInForeground(new[] { job });
        else WriteObject(job);
    }

    /// <summary>The options: the file's (or the defaults) with the parameters over them, by <see cref="ServerOverrides.Apply"/>,
    /// the one merge that a reload repeats; and the file's full path (null without one).</summary>
    private (TunnelServerOptions Options, ServerOverrides Overrides, string? Path) BuildOptions()
    {
        RejectEmptyToken(Token);
        var bound = MyInvocation.BoundParameters;
        var overrides = new ServerOverrides
        {
            // Without a file, the address and port are the parameters' (or their defaults), and stay so over a file given later.
            BindAddress = ConfigPath is null || bound.ContainsKey(nameof(BindAddress)) ? BindAddress : null,
            ControlPort = ConfigPath is null || bound.ContainsKey(nameof(ControlPort)) ? ControlPort : null,
            Token = Token is null ? null : Secret.From(Token),
            ForwardingMode = bound.ContainsKey(nameof(ForwardingMode)) ? ForwardingMode : null,
            DataPlane = bound.ContainsKey(nameof(DataPlane)) ? DataPlane : null,
            EventLoops = bound.ContainsKey(nameof(EventLoops)) ? EventLoops : null,
            Tls = bound.ContainsKey(nameof(Tls)) ? Tls.IsPresent : null,
            Certificate = ParseCertificate(),
            AdminEndpoint = ParseAdminEndpoint(),
            AdminCredential = AdminCredential is null ? null : AdminConnection.Split(AdminCredential),
            AllowPorts = AllowPorts is null ? null : ParsePorts(AllowPorts),
            AllowSources = AllowSource is null ? null : ParseSourceNetworks(AllowSource, nameof(AllowSource), TunnelServerOptions.MaxSourceNetworks),
            DenySources = DenySource is null ? null : ParseSourceNetworks(DenySource, nameof(DenySource), TunnelServerOptions.MaxSourceNetworks),
        };
        var path = ConfigPath is null ? null : GetUnresolvedProviderPathFromPSPath(ConfigPath);
        var options = path is not null ? LoadConfig<TunnelServerOptions>(path, "server", Token, TunnelConfigLoader.LoadServer) : new TunnelServerOptions();
        overrides.Apply(options);
        if (overrides.Certificate is not null && !options.Tls.Enabled)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("TlsRequired", "-CertificatePath is used only with -Tls (or transport.tls.enable = true).", CertificatePath));
        RequireAdminEndpoint(options.Admin);
        // A file that gives every client a token of its own ([[clients]]) needs no shared one.
        if (options.Clients.Count == 0) RequireToken(options.Token, ConfigPath);
        return (options, overrides, path);
    }

    private List<PortRange> ParsePorts(string[] values)
    {
        var ranges = new List<PortRange>();
        foreach (var text in values.SelectMany(a => a.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            try
            {
                ranges.Add(PortRange.Parse(text));
            }
            catch (FormatException e)
            {
                ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidPortRange", e.Message, text));
            }
        }
        return ranges;
    }

    /// <summary>The certificate parameters, checked among themselves; null without -CertificatePath. A certificate given here
    /// replaces the config's.</summary>
    private (string?, string?, string?, Secret?)? ParseCertificate()
    {
        if ((CertificateKeyPath is not null || CertificatePassword is not null) && CertificatePath is null)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("CertificatePathRequired", "-CertificateKeyPath and -CertificatePassword belong to a -CertificatePath.", null));
        if (CertificatePath is null) return null;
        var path = GetUnresolvedProviderPathFromPSPath(CertificatePath);
        var isPfx = Path.GetExtension(path).ToLowerInvariant() is ".pfx" or ".p12";
        if (isPfx && CertificateKeyPath is not null)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidCertificateOptions", "A PFX file holds its key; -CertificateKeyPath is for a PEM certificate.", CertificateKeyPath));
        if (!isPfx && CertificatePassword is not null)
            ThrowTerminatingError(TunnelErrors.InvalidArgument("InvalidCertificateOptions", "-CertificatePassword is for a PFX file (.pfx, .p12); a PEM key must not be encrypted.", CertificatePath));
        return (isPfx ? null : path,
            isPfx || CertificateKeyPath is null ? null : GetUnresolvedProviderPathFromPSPath(CertificateKeyPath),
            isPfx ? path : null,
            isPfx && CertificatePassword is not null ? Secret.From(CertificatePassword) : null);
    }
}
