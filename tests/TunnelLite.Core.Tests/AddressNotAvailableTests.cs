using System.Net;
using System.Text;
using TunnelLite.Config;
using TunnelLite.Protocol;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>An address the host does not have is an error of its own (AddressNotAvailable), for the control port and for a
/// tunnel's port, and the code crosses the wire; a code a peer does not know yet reads as Unknown, not as a broken frame.</summary>
public sealed class AddressNotAvailableTests
{
    // TEST-NET-1 (RFC 5737): documentation only, never an address of this host.
    private const string Foreign = "192.0.2.1";

    [Fact]
    public async Task A_server_on_an_address_the_host_does_not_have_fails_with_AddressNotAvailable()
    {
        var o = TunnelFixture.ServerOptions(bind: Foreign);
        await using var server = new TunnelServer(o);
        var e = await Assert.ThrowsAsync<TunnelException>(() => server.StartAsync());
        Assert.Equal(TunnelErrorCode.AddressNotAvailable, e.Code);
        Assert.Contains($"this host has no address {Foreign}", e.Message);
        Assert.Contains("0.0.0.0", e.Message);
        Assert.Equal("Stopped", server.State);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(24700)]
    public void A_tunnel_port_on_an_address_the_host_no_longer_has_fails_with_AddressNotAvailable(int requested)
    {
        var ports = new PortAllocator(IPAddress.Parse(Foreign), new List<PortRange> { new(24700, 24710) }, _ => false);
        var e = Assert.Throws<TunnelException>(() => ports.Bind(requested));
        Assert.Equal(TunnelErrorCode.AddressNotAvailable, e.Code);
        Assert.Contains("does not have that address", e.Message);
    }

    [Fact]
    public void The_code_crosses_the_wire_by_name_and_an_unknown_name_reads_as_Unknown()
    {
        var result = new RegisterResultMessage { RequestId = 1 };
        result.Results.Add(new TunnelResult { Name = "web", Error = TunnelErrorCode.AddressNotAvailable, Message = "gone" });
        var frame = MessageSerializer.ToFrame(result);
        Assert.Contains("\"AddressNotAvailable\"", Encoding.UTF8.GetString(frame));
        var decoded = FrameCodec.TryDecode(frame, out var f, out _);
        Assert.Equal(System.Buffers.OperationStatus.Done, decoded);
        Assert.Equal(TunnelErrorCode.AddressNotAvailable, MessageSerializer.Read<RegisterResultMessage>(f).Results.Single().Error);

        // A newer peer's code: still a failure with its message, not a malformed frame.
        var newer = FrameCodec.Encode(FrameType.Error, Encoding.UTF8.GetBytes("{\"code\":\"SomethingAddedLater\",\"message\":\"m\"}"));
        FrameCodec.TryDecode(newer, out var g, out _);
        var error = MessageSerializer.Read<ErrorMessage>(g);
        Assert.Equal(TunnelErrorCode.Unknown, error.Code);
        Assert.Equal("m", error.Message);
        // A number is read too, as the enum converter did; what is neither is still malformed.
        FrameCodec.TryDecode(FrameCodec.Encode(FrameType.Error, Encoding.UTF8.GetBytes("{\"code\":3,\"message\":\"m\"}")), out var h, out _);
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, MessageSerializer.Read<ErrorMessage>(h).Code);
        FrameCodec.TryDecode(FrameCodec.Encode(FrameType.Error, Encoding.UTF8.GetBytes("{\"code\":{},\"message\":\"m\"}")), out var i, out _);
        Assert.Throws<ProtocolException>(() => MessageSerializer.Read<ErrorMessage>(i));
    }
}
