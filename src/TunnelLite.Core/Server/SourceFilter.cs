using System.Net;
using TunnelLite.Config;

namespace TunnelLite.Server;

/// <summary>One owner's lists of the networks users of a public port may come from (allow) and may not (deny): the
/// server's, an account's or a client's. An empty allow list allows every address; the deny list wins over the allow
/// list. Judging an address allocates nothing: users are admitted on the event loops' threads.</summary>
internal sealed class SourceFilter
{
    private readonly SourceNetwork[] _allow;
    private readonly SourceNetwork[] _deny;

    /// <summary>A filter of <paramref name="allow"/> and <paramref name="deny"/> (copied).</summary>
    public SourceFilter(IEnumerable<SourceNetwork>? allow, IEnumerable<SourceNetwork>? deny)
    {
        _allow = allow?.Distinct().ToArray() ?? [];
        _deny = deny?.Distinct().ToArray() ?? [];
    }

    /// <summary>The filter a client asked for in its registration (<see cref="Protocol.TunnelRequest"/>): at most
    /// <see cref="TunnelDefinition.MaxSourceNetworks"/> entries a list, each a network.</summary>
    /// <exception cref="TunnelException">BadRequest, naming the list and the entry, when one is not.</exception>
    public static SourceFilter FromRequest(IReadOnlyList<string?>? allow, IReadOnlyList<string?>? deny) =>
        new(ReadRequested(allow, "allowSources"), ReadRequested(deny, "denySources"));

    private static List<SourceNetwork> ReadRequested(IReadOnlyList<string?>? texts, string key)
    {
        if (texts is null || texts.Count == 0) return [];
        if (texts.Count > TunnelDefinition.MaxSourceNetworks)
            throw new TunnelException(TunnelErrorCode.BadRequest, $"{key} holds {texts.Count} networks; a tunnel may list at most {TunnelDefinition.MaxSourceNetworks}.");
        var networks = new List<SourceNetwork>(texts.Count);
        for (var i = 0; i < texts.Count; i++)
        {
            // The peer's text goes into the message escaped; TryParse quotes at most MaxLength characters of it.
            if (!SourceNetwork.TryParse(texts[i], out var network, out var error))
                throw new TunnelException(TunnelErrorCode.BadRequest, $"{key}[{i}]: {Logging.PeerText.Escape(error, 300)}");
            networks.Add(network);
        }
        return networks;
    }

    /// <summary>True when neither list has an entry: the filter passes everyone, and need not be asked.</summary>
    public bool IsEmpty => _allow.Length == 0 && _deny.Length == 0;

    /// <summary>The verdict on an address read by <see cref="SourceNetwork.TryRead"/>; <paramref name="known"/> false (no IP
    /// address) passes a filter without an allow list only.</summary>
    public SourceVerdict Judge(bool known, bool isIPv4, UInt128 bits)
    {
        if (!known) return _allow.Length == 0 ? SourceVerdict.Passes : SourceVerdict.NotAllowed;
        foreach (var n in _deny)
            if (n.Contains(isIPv4, bits)) return SourceVerdict.Denied;
        if (_allow.Length == 0) return SourceVerdict.Passes;
        foreach (var n in _allow)
            if (n.Contains(isIPv4, bits)) return SourceVerdict.Passes;
        return SourceVerdict.NotAllowed;
    }

    /// <summary>The verdict on <paramref name="address"/> (for tests and callers off the hot path).</summary>
    public SourceVerdict Judge(IPAddress? address)
    {
        var known = SourceNetwork.TryRead(address, out var isIPv4, out var bits);
        return Judge(known, isIPv4, bits);
    }
}
