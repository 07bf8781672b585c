using System.Net;
using TunnelLite.Security;

namespace TunnelLite.Admin;

/// <summary>Where and how a server or client serves its admin endpoint (metrics, health, JSON API, dashboard): frp's
/// webServer.* keys, -AdminEndpoint and -AdminCredential. Off unless <see cref="Address"/> is set.</summary>
public sealed class AdminOptions
{
    /// <summary>The address to listen on ("127.0.0.1", "::1", "0.0.0.0"...); null turns the endpoint off.</summary>
    public string? Address { get; set; }

    /// <summary>The port; 0 picks a free one (tests).</summary>
    public int Port { get; set; } = 7500;

    /// <summary>Basic-auth user (webServer.user). With a password, every request but /healthz and /ready needs them.</summary>
    public string? User { get; set; }

    /// <summary>Basic-auth password (webServer.password).</summary>
    public Secret Password { get; set; } = Secret.Empty;

    /// <summary>Host names (besides IP literals and localhost) that requests may name in their Host header, for a
    /// dashboard reached through a DNS name; anything else is refused, so that DNS rebinding cannot reach the API.</summary>
    public List<string> AllowedHosts { get; set; } = new();

    /// <summary>TLS on the admin endpoint (webServer.tls.enable). Forced on off loopback and by <see cref="CertificateFile"/>;
    /// the certificate is that file's, else the server's when it has one, else a self-signed one (its fingerprint is logged
    /// at start).</summary>
    public bool Tls { get; set; }

    /// <summary>A PEM certificate (chain) for the endpoint's TLS, for a dashboard reached by a name that a CA vouches for
    /// (frp's webServer.tls.certFile). Turns TLS on.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>The PEM private key of <see cref="CertificateFile"/> (webServer.tls.keyFile), unless that file holds it.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Whether <c>/metrics</c> is served (frp's enablePrometheus). On by default; off, it answers 404.</summary>
    public bool Metrics { get; set; } = true;

    /// <summary>Bounds on connections and requests.</summary>
    public AdminLimits Limits { get; set; } = new();

    /// <summary>How long a client disconnected through the admin endpoint stays out by default.</summary>
    public TimeSpan DefaultBan { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>True when an address is set.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Address);

    /// <summary>True when a user and password are both set.</summary>
    public bool HasCredentials => !string.IsNullOrEmpty(User) && !Password.IsEmpty;

    /// <summary>Whether the endpoint speaks HTTPS: asked for (<see cref="Tls"/>, <see cref="CertificateFile"/>), or off
    /// loopback, where basic auth over plain HTTP would give the password to anyone on the path.</summary>
    public bool UsesTls => Tls || CertificateFile is not null || !IsLoopback;

    /// <summary>True when the address is a loopback address (127.0.0.0/8, ::1) or "localhost".</summary>
    public bool IsLoopback => Address is { } a && IsLoopbackHost(a);

    /// <summary>Whether <paramref name="host"/> is "localhost" or a loopback address (brackets allowed around IPv6).</summary>
    public static bool IsLoopbackHost(string host) => host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>Parses "host:port", "[v6]:port" or ":port" (all addresses) into <see cref="Address"/> and <see cref="Port"/>.</summary>
    /// <exception cref="ArgumentException">The text is not an endpoint.</exception>
    public static (string Address, int Port) ParseEndpoint(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var t = text.Trim();
        var colon = t.LastIndexOf(':');
        if (colon < 0 || (t.StartsWith('[') && !t[..colon].EndsWith(']')) || (!t.StartsWith('[') && t.IndexOf(':') != colon))
            throw new ArgumentException($"'{text}' is not an admin endpoint: give address:port, for example 127.0.0.1:7500 or [::1]:7500.");
        if (!int.TryParse(t[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 0 or > 65535)
            throw new ArgumentException($"'{text}' has no valid port: give address:port with a port from 1 to 65535.");
        var host = t[..colon].Trim('[', ']');
        return (host.Length == 0 ? "0.0.0.0" : host, port);
    }

    /// <summary>Checks the combination: off loopback, credentials and TLS are required.</summary>
    /// <exception cref="ArgumentException">The options are unsafe or invalid; its ParamName is the property at fault, which
    /// the configuration loader turns into the key's line.</exception>
    public void Validate()
    {
        if (!Enabled) return;
        Limits.Validate();
        if (Port is < 0 or > 65535) throw new ArgumentException("The admin endpoint's port must be 0-65535 (webServer.port).", nameof(Port));
        if (!string.IsNullOrEmpty(User) != !Password.IsEmpty)
            throw new ArgumentException("The admin endpoint needs both a user and a password (webServer.user and webServer.password, or -AdminCredential), or neither.",
                string.IsNullOrEmpty(User) ? nameof(Password) : nameof(User));
        if (!IsLoopback && !HasCredentials)
            throw new ArgumentException($"The admin endpoint on {Address} is reachable from other hosts, so it needs credentials: set webServer.user and webServer.password (or -AdminCredential), or listen on 127.0.0.1.", nameof(Address));
        if (User is { } u && (u.Contains(':') || u.Any(char.IsControl)))
            throw new ArgumentException("The admin endpoint's user may not contain ':' or control characters.", nameof(User));
        // No ParamName: the loader's table maps KeyFile to transport.tls.keyFile, and the binder checks webServer.tls itself.
        if (KeyFile is not null && CertificateFile is null)
            throw new ArgumentException("The admin endpoint's key file needs its certificate file (webServer.tls.certFile).");
        if (DefaultBan < TimeSpan.Zero || DefaultBan > TimeSpan.FromDays(7))
            throw new ArgumentException("The default ban must be 0 to 7 days.");
    }
}
