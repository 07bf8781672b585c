namespace TunnelLite.Forwarding;

/// <summary>How bytes are moved between the two sockets of a connection.</summary>
public enum ForwardingMode
{
    /// <summary>Zero-copy where the platform allows it, buffered copy elsewhere.</summary>
    Auto,
    /// <summary>Buffered copy through user space with pooled buffers.</summary>
    Copy,
    /// <summary>Linux splice(2): socket to pipe to socket, bytes never enter user space.</summary>
    Splice,
}
