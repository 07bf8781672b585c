namespace TunnelLite.Server;

/// <summary>What one owner's source lists (<see cref="SourceFilter"/>) say of a user's address.</summary>
internal enum SourceVerdict
{
    /// <summary>The user may connect: in the allow list (or there is none) and not in the deny list.</summary>
    Passes,

    /// <summary>The address is in the deny list (which wins over the allow list).</summary>
    Denied,

    /// <summary>There is an allow list and the address is not in it (or the address is unknown).</summary>
    NotAllowed,
}
