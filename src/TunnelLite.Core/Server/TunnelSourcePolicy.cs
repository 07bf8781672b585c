using System.Net;
using TunnelLite.Config;
using TunnelLite.Logging;

namespace TunnelLite.Server;

/// <summary>Who may connect to one tunnel's public port: a user must pass every owner's <see cref="SourceFilter"/> — the
/// server's (allowSources and denySources at the top of its file), the client account's (the same keys under its
/// <c>[[clients]]</c> entry) and the client's own for this tunnel (New-Tunnel -AllowSource, -DenySource). The client's lists
/// can only narrow what the server's allow: they are one more filter to pass, never a replacement. Built once per tunnel,
/// with the reasons it logs, so that judging a user allocates nothing.</summary>
internal sealed class TunnelSourcePolicy
{
    private readonly Layer[] _layers;

    private sealed record Layer(SourceFilter Filter, string Denied, string NotAllowed);

    private TunnelSourcePolicy(Layer[] layers) => _layers = layers;

    /// <summary>The policy of tunnel <paramref name="tunnel"/>; null when no owner has a list (everyone passes).</summary>
    /// <param name="tunnel">The tunnel's name, for the log.</param>
    /// <param name="server">The server-wide lists.</param>
    /// <param name="account">The client account's lists, when the client logged in with an account.</param>
    /// <param name="accountName">The account's name, for the log.</param>
    /// <param name="client">The lists the client sent for this tunnel.</param>
    public static TunnelSourcePolicy? For(string tunnel, SourceFilter server, SourceFilter? account, string? accountName, SourceFilter client)
    {
        var name = PeerText.Escape(tunnel, 128);
        var who = PeerText.Escape(accountName, 128);
        var layers = new List<Layer>(3);
        if (!server.IsEmpty)
            layers.Add(new Layer(server, $"tunnel {name}: in the server's denySources", $"tunnel {name}: not in the server's allowSources"));
        if (account is { IsEmpty: false })
            layers.Add(new Layer(account, $"tunnel {name}: in the denySources of client account {who}", $"tunnel {name}: not in the allowSources of client account {who}"));
        if (!client.IsEmpty)
            layers.Add(new Layer(client, $"tunnel {name}: in the client's denySources for it", $"tunnel {name}: not in the client's allowSources for it"));
        return layers.Count == 0 ? null : new TunnelSourcePolicy(layers.ToArray());
    }

    /// <summary>Null when a user from <paramref name="remote"/> passes every filter; else why not, for the log.</summary>
    public string? Refusal(EndPoint? remote)
    {
        var known = SourceNetwork.TryRead((remote as IPEndPoint)?.Address, out var isIPv4, out var bits);
        foreach (var layer in _layers)
        {
            switch (layer.Filter.Judge(known, isIPv4, bits))
            {
                case SourceVerdict.Denied: return layer.Denied;
                case SourceVerdict.NotAllowed: return layer.NotAllowed;
            }
        }
        return null;
    }
}
