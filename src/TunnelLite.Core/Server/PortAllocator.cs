using System.Net;
using System.Net.Sockets;
using TunnelLite.Config;

namespace TunnelLite.Server;

/// <summary>Checks a requested public port against the allowed ranges and binds it, or picks a free allowed port for a request of 0.</summary>
internal sealed class PortAllocator
{
    // Enough tries to get past a crowded range without scanning 60,000 ports on every request.
    private const int MaxAttempts = 4096;
    private readonly IPAddress _address;
    private readonly IReadOnlyList<PortRange> _allowed;
    private readonly Func<int, bool> _reserved;

    public PortAllocator(IPAddress address, IReadOnlyList<PortRange> allowed, Func<int, bool> reserved)
    {
        _address = address;
        _allowed = allowed;
        _reserved = reserved;
    }

    /// <summary>True when clients may bind <paramref name="port"/>: the server allows it, and so do the client's own ranges
    /// (<paramref name="own"/>, empty for a client without any).</summary>
    public bool IsAllowed(int port, IReadOnlyList<PortRange>? own = null) =>
        (_allowed.Count == 0 || _allowed.Any(r => r.Contains(port))) && (own is not { Count: > 0 } || own.Any(r => r.Contains(port)));

    /// <summary>Binds <paramref name="requested"/> (or a free allowed port when 0), within the server's ranges and, when
    /// given, the client's own.</summary>
    /// <exception cref="TunnelException">PortNotAllowed, PortInUse or AddressNotAvailable, with a message for the user.</exception>
    public Socket Bind(int requested, IReadOnlyList<PortRange>? own = null)
    {
        if (requested < 0 || requested > 65535)
            throw new TunnelException(TunnelErrorCode.BadRequest, $"{requested} is not a port (0-65535).");
        if (requested != 0)
        {
            if (!IsAllowed(requested, own))
                throw new TunnelException(TunnelErrorCode.PortNotAllowed, $"Port {requested} is not allowed {(own is { Count: > 0 } ? $"for this client; its ports: {Describe(own)}" : $"on this server; allowed: {Describe(_allowed)}")}. Ask for an allowed port, or 0 to let the server pick one.");
            if (_reserved(requested))
                throw new TunnelException(TunnelErrorCode.PortInUse, $"Port {requested} is already in use on the server. Choose another port, or 0 to let the server pick one.");
            try
            {
                return Listen(requested);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new TunnelException(TunnelErrorCode.PortInUse, $"Port {requested} is already in use on the server. Choose another port, or 0 to let the server pick one.", e);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
            {
                throw new TunnelException(TunnelErrorCode.PortNotAllowed, $"The server may not bind port {requested} ({e.Message}).", e);
            }
        }
        // The client's own ranges, when it has some, are where to look (each port still checked against the server's).
        var ranges = own is { Count: > 0 } ? own : _allowed;
        if (ranges.Count == 0) return Listen(0);
        var total = ranges.Sum(r => (long)r.Count);
        var start = Random.Shared.NextInt64(total);
        var attempts = (int)Math.Min(total, MaxAttempts);
        for (var i = 0; i < attempts; i++)
        {
            var port = PortAt(ranges, (start + i) % total);
            if (_reserved(port) || !IsAllowed(port, own)) continue;
            try
            {
                return Listen(port);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
            {
            }
        }
        throw new TunnelException(TunnelErrorCode.PortInUse, $"No free port is left in the allowed ranges ({Describe(ranges)}).");
    }

    /// <summary>Binds <paramref name="port"/> on the server's address. An address this host no longer has (an interface that
    /// went down since the server started) fails every port alike, so it is an error of its own, not a port to skip.</summary>
    /// <exception cref="TunnelException">AddressNotAvailable.</exception>
    private Socket Listen(int port)
    {
        try
        {
            return SocketListener.Listen(_address, port);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            throw new TunnelException(TunnelErrorCode.AddressNotAvailable,
                $"The server cannot open port {port} on {_address}: this host does not have that address (any more). The server's operator must restart it on an address the host has.", e);
        }
    }

    private static int PortAt(IReadOnlyList<PortRange> ranges, long index)
    {
        foreach (var r in ranges)
        {
            if (index < r.Count) return r.Start + (int)index;
            index -= r.Count;
        }
        throw new InvalidOperationException("Port index out of range.");
    }

    private static string Describe(IReadOnlyList<PortRange> ranges) => ranges.Count == 0 ? "any" : string.Join(", ", ranges);
}
