using System.Net;
using TunnelLite.Server;

namespace TunnelLite.Tests;

/// <summary>Which pending connection makes room at a cap: silent ones before logins, the oldest first, a source's own
/// before anyone else's.</summary>
public sealed class HandshakeAdmissionTests
{
    private static readonly SourcePrefix A = SourcePrefix.Of(IPAddress.Parse("192.0.2.1"));
    private static readonly SourcePrefix B = SourcePrefix.Of(IPAddress.Parse("192.0.2.2"));

    [Fact]
    public void At_the_global_cap_the_oldest_silent_connection_is_evicted_before_any_login()
    {
        var adm = new HandshakeAdmission(maxPending: 3, maxPendingPerSource: 10);
        var login = adm.Admit(A);
        adm.SaidHello(login);
        var silent1 = adm.Admit(B);
        var silent2 = adm.Admit(B);
        var newcomer = adm.Admit(A);
        Assert.True(silent1.Evicted.IsCancellationRequested);
        Assert.False(login.Evicted.IsCancellationRequested);
        Assert.False(silent2.Evicted.IsCancellationRequested);
        Assert.Equal(3, adm.Pending);
        Assert.Equal(1, adm.EvictedGlobal);
        // With only logins left, the oldest login makes room.
        adm.SaidHello(silent2);
        adm.SaidHello(newcomer);
        adm.Admit(B);
        Assert.True(login.Evicted.IsCancellationRequested);
        Assert.Contains("oldest login", login.EvictionReason);
    }

    [Fact]
    public void At_a_sources_cap_only_that_source_gives_way_its_silent_ones_first()
    {
        var adm = new HandshakeAdmission(maxPending: 100, maxPendingPerSource: 2);
        var other = adm.Admit(B);
        var aLogin = adm.Admit(A);
        adm.SaidHello(aLogin);
        var aSilent = adm.Admit(A);
        adm.Admit(A);
        Assert.True(aSilent.Evicted.IsCancellationRequested);
        Assert.False(aLogin.Evicted.IsCancellationRequested);
        Assert.False(other.Evicted.IsCancellationRequested);
        Assert.Equal(1, adm.EvictedPerSource);
        Assert.Contains("maxPendingHandshakesPerSource", aSilent.EvictionReason);
    }

    [Fact]
    public void Released_slots_come_back_and_release_is_idempotent()
    {
        var adm = new HandshakeAdmission(maxPending: 2, maxPendingPerSource: 2);
        var t1 = adm.Admit(A);
        var t2 = adm.Admit(A);
        adm.Release(t1);
        adm.Release(t1);
        adm.SaidHello(t1); // after release: nothing to move
        Assert.Equal(1, adm.Pending);
        adm.Admit(B);
        Assert.False(t2.Evicted.IsCancellationRequested);
        adm.Release(t2);
        Assert.Equal(1, adm.Pending);
        Assert.Equal(1, adm.Sources);
    }
}
