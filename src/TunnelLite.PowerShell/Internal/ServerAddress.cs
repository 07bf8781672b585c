using TunnelLite.Config;

namespace TunnelLite.PowerShell.Internal;

/// <summary>Parses "host:port", "[::1]:7000" or "host" (port 7000): the engine's <see cref="ServerEndpoint.Parse"/>.</summary>
internal static class ServerAddress
{
    public const int DefaultPort = ServerEndpoint.DefaultPort;

    public static (string Host, int Port) Parse(string text)
    {
        var e = ServerEndpoint.Parse(text);
        return (e.Host, e.Port);
    }
}
