using TunnelLite.Config;
using TunnelLite.Forwarding;
using TunnelLite.Security;

namespace TunnelLite.PowerShell.Internal;

/// <summary>What Start-TunnelServer was given besides its configuration file, already parsed and checked: applied over the
/// file's options at start, and again over the file each time the server reloads it (Update-TunnelServer, the admin
/// endpoint's reload, SIGHUP), so that parameters given at start still win. A null member was not given.</summary>
internal sealed class ServerOverrides
{
    public string? BindAddress { get; init; }
    public int? ControlPort { get; init; }
    public Secret? Token { get; init; }
    public ForwardingMode? ForwardingMode { get; init; }
    public DataPlaneKind? DataPlane { get; init; }
    public int? EventLoops { get; init; }
    public bool? Tls { get; init; }

    /// <summary>-CertificatePath and the rest: a certificate given here replaces the file's, PEM or PFX.</summary>
    public (string? CertificateFile, string? KeyFile, string? PfxFile, Secret? PfxPassword)? Certificate { get; init; }

    public (string Address, int Port)? AdminEndpoint { get; init; }
    public (string User, Secret Password)? AdminCredential { get; init; }
    public IReadOnlyList<PortRange>? AllowPorts { get; init; }
    public IReadOnlyList<SourceNetwork>? AllowSources { get; init; }
    public IReadOnlyList<SourceNetwork>? DenySources { get; init; }

    /// <summary>Applies what was given over <paramref name="options"/> (the file's, or the defaults without a file). Lists
    /// are copied, so that no two options share one.</summary>
    public void Apply(TunnelServerOptions options)
    {
        if (BindAddress is not null) options.BindAddress = BindAddress;
        if (ControlPort is { } port) options.ControlPort = port;
        if (Token is not null) options.Token = Token;
        if (ForwardingMode is { } mode) options.ForwardingMode = mode;
        if (DataPlane is { } plane) options.DataPlane = plane;
        if (EventLoops is { } loops) options.EventLoops = loops;
        if (Tls is { } tls) options.Tls.Enabled = tls;
        if (Certificate is { } c)
            (options.Tls.CertificateFile, options.Tls.KeyFile, options.Tls.PfxFile, options.Tls.PfxPassword) = (c.CertificateFile, c.KeyFile, c.PfxFile, c.PfxPassword);
        if (AdminEndpoint is { } admin) (options.Admin.Address, options.Admin.Port) = admin;
        if (AdminCredential is { } login && options.Admin.Enabled) (options.Admin.User, options.Admin.Password) = login;
        if (AllowPorts is not null) options.AllowPorts = AllowPorts.ToList();
        if (AllowSources is not null) options.AllowSources = AllowSources.ToList();
        if (DenySources is not null) options.DenySources = DenySources.ToList();
    }
}
