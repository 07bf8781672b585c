namespace TunnelLite.Config;

/// <summary>
/// Something in a configuration file that was ignored rather than refused, such as one of frp's keys that TunnelLite
/// lacks but can do without (<c>log.level</c>), or a file holding a secret that others may read. Returned rather than
/// logged so that the host decides where it goes.
/// </summary>
/// <param name="FilePath">The configuration file, as in <see cref="TunnelConfigException.FilePath"/>; null when unknown.</param>
/// <param name="Line">1-based line of the key.</param>
/// <param name="Key">Full dotted path of the key, e.g. <c>transport.tcpMux</c>.</param>
/// <param name="Message">A complete, human-readable line including file, line and key, ready to log as is.</param>
public sealed record ConfigWarning(string? FilePath, int Line, string Key, string Message);
