using TunnelLite.Config;
using TunnelLite.Protocol;

namespace TunnelLite.Client;

/// <summary>Splits a client's tunnels into Register frames that fit: a server reads at most <see cref="MaxTunnels"/>
/// tunnels of a frame, and a frame holds at most <see cref="ProtocolConstants.MaxFrameSize"/> bytes, which a few tunnels
/// with long source lists could pass (256 IPv6 networks a list are some 12 KiB of JSON).</summary>
internal static class RegistrationBatches
{
    /// <summary>The most tunnels a server reads from one Register frame.</summary>
    public const int MaxTunnels = 64;

    // A bound on a batch's JSON, well below the frame's: each estimate below errs high.
    private const int MaxBytes = ProtocolConstants.MaxFrameSize / 2;

    /// <summary>The tunnels, in order, in batches of at most <see cref="MaxTunnels"/> and about half a frame of JSON.</summary>
    public static IEnumerable<List<ClientTunnel>> Split(IReadOnlyList<ClientTunnel> tunnels)
    {
        var batch = new List<ClientTunnel>();
        var bytes = 0;
        foreach (var t in tunnels)
        {
            var size = EstimatedSize(t.Definition);
            if (batch.Count > 0 && (batch.Count == MaxTunnels || bytes + size > MaxBytes))
            {
                yield return batch;
                batch = new List<ClientTunnel>();
                bytes = 0;
            }
            batch.Add(t);
            bytes += size;
        }
        if (batch.Count > 0) yield return batch;
    }

    /// <summary>The networks as the request carries them; null (left out of the frame) when there are none.</summary>
    public static List<string>? Texts(IReadOnlyList<SourceNetwork> networks) =>
        networks.Count == 0 ? null : networks.Select(n => n.ToString()).ToList();

    // Field names and punctuation, a name escaped at worst 6 bytes a character, a network at most 49 characters and quotes.
    private static int EstimatedSize(TunnelDefinition d) =>
        128 + 6 * d.Name.Length + 56 * (d.AllowSources.Count + d.DenySources.Count);
}
