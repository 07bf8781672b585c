using TunnelLite.Admin;
using TunnelLite.Security;

namespace TunnelLite.Config;

/// <summary>
/// The admin endpoint's keys, the same in frps.toml (frp's dashboard) and frpc.toml (frp's admin UI): frp's
/// <c>webServer.addr</c>, <c>port</c>, <c>user</c>, <c>password</c>, <c>tls.certFile</c>, <c>tls.keyFile</c> and
/// <c>enablePrometheus</c>, and TunnelLite's <c>webServer.allowedHosts</c> and <c>webServer.tls.enable</c>. As in frp,
/// <c>webServer.port</c> turns the endpoint on (0 keeps it off); unlike frp's dashboard it listens on 127.0.0.1 unless
/// <c>webServer.addr</c> says otherwise. Rules that need no line of their own are <see cref="AdminOptions.Validate"/>'s.
/// </summary>
internal static class AdminConfigKeys
{
    /// <summary>Option property (ArgumentException.ParamName from <see cref="AdminOptions.Validate"/>) → key, so that the
    /// loader reports Validate's errors at the key's line.</summary>
    public static readonly IReadOnlyDictionary<string, string> OptionKeys = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [nameof(AdminOptions.Address)] = "webServer.addr",
        [nameof(AdminOptions.Port)] = "webServer.port",
        [nameof(AdminOptions.User)] = "webServer.user",
        [nameof(AdminOptions.Password)] = "webServer.password",
    };

    /// <summary>The keys of webServer, besides port and tls, that configure the endpoint.</summary>
    private static readonly string[] Settings = ["addr", "user", "password", "allowedHosts"];

    /// <summary>Reads the keys of <paramref name="root"/>; the options are off when the file has no webServer.port.</summary>
    public static AdminOptions Read(TomlConfigTable root)
    {
        var options = new AdminOptions();
        // /metrics is always served with the endpoint; frps' enablePrometheus = false is how a file turns it off.
        if (root.GetBool("enablePrometheus") is { } metrics) options.Metrics = metrics;
        if (root.GetTable("webServer") is not { } web) return options;

        var address = web.GetString("addr");
        var port = web.GetPort("port", allowZero: true);
        options.User = web.GetString("user");
        options.Password = web.GetString("password", allowEmpty: true) is { } password ? Secret.From(password) : Secret.Empty;
        if (web.GetArray("allowedHosts") is { } hosts) options.AllowedHosts = ReadHosts(web, hosts);
        var tls = web.GetTable("tls");
        var tlsEnable = tls is null ? null : ReadTls(tls, options);

        if (port is null)
        {
            // frp serves nothing without a port either; but a file that sets an address or a password surely means to serve.
            // (frp's keys that TunnelLite ignores or refuses, and unknown ones, are judged after binding, key by key.)
            if (Settings.Any(k => web.Peek(k) is not null) || tlsEnable is not null || options.CertificateFile is not null || options.KeyFile is not null)
                throw web.MissingError("port", "the admin endpoint is on only with a port: add webServer.port = 7500 (0 keeps it off), or remove the webServer keys");
            return options;
        }
        if (port == 0) return options;
        options.Address = address ?? "127.0.0.1";
        options.Port = port.Value;
        if (tlsEnable is false && !options.IsLoopback)
            throw tls!.ValueError(tls.Find("enable")!,
                $"the admin endpoint on {options.Address} always uses TLS, since basic auth over plain HTTP would show the password to anyone on the path; remove enable = false, or listen on 127.0.0.1");
        return options;
    }

    /// <summary><c>webServer.tls</c>: enable, certFile and keyFile; returns enable as written (null when absent).</summary>
    private static bool? ReadTls(TomlConfigTable tls, AdminOptions options)
    {
        var enable = tls.GetBool("enable");
        options.CertificateFile = TlsConfigKeys.ReadFile(tls, "certFile");
        options.KeyFile = TlsConfigKeys.ReadFile(tls, "keyFile");
        if (options.KeyFile is not null && options.CertificateFile is null)
            throw tls.ValueError(tls.Find("keyFile")!, "keyFile needs certFile, the certificate it belongs to");
        if (options.CertificateFile is not null && enable is false)
            throw tls.ValueError(tls.Find("enable")!, "enable = false contradicts certFile, which turns TLS on; keep one");
        options.Tls = enable ?? false;
        return enable;
    }

    /// <summary><c>webServer.allowedHosts = ["dash.example.net"]</c>: DNS names the Host header may carry (IP addresses and
    /// localhost always may).</summary>
    private static List<string> ReadHosts(TomlConfigTable web, TomlConfigArray array)
    {
        var hosts = new List<string>(array.Items.Count);
        foreach (var item in array.Items)
        {
            if (item is not TomlConfigValue { Value: string host })
                throw web.ValueError(item, $"expected a host name such as \"dash.example.net\", found {item.Description}");
            if (Uri.CheckHostName(host) != UriHostNameType.Dns)
                throw web.ValueError(item, $"\"{Logging.PeerText.Escape(host, 64)}\" is not a host name; write names such as \"dash.example.net\" (IP addresses and localhost are always allowed)");
            hosts.Add(host);
        }
        return hosts;
    }
}
