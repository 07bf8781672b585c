using System.Net;
using System.Net.Sockets;
using System.Reflection;
using TunnelLite.Admin;
using TunnelLite.Client;
using TunnelLite.Config;
using TunnelLite.Server;
using TunnelLite.Tests.Support;

namespace TunnelLite.Tests;

/// <summary>Live reload of a server's configuration (issue 14, part 4): real servers and clients on 127.0.0.1, bytes checked
/// by hash. What is live changes without dropping a connection; a fixed key or a bad file changes nothing.</summary>
public sealed class ReloadTests
{
    private const string AliceToken = "reload-alice-Vb7cLy4gHdZ3kPq8WnR5xT2m";
    private const string BobToken = "reload-bob-N3dSa9QwM4nBv8CxZ2lKj6Hg";
    private const string CarolToken = "reload-carol-P4tKw8sNf3hJ6Q7vYc2LmX9R";
    private const long KiB = 1 << 10, MiB = 1 << 20;

    /// <summary>Options of the running test servers, with alice and bob as accounts; <paramref name="change"/> makes the
    /// variant a reload gives. A reload always gets a new object, as a file read again would.</summary>
    private static TunnelServerOptions Options(TestLog log, Action<TunnelServerOptions>? change = null)
    {
        var so = TunnelFixture.ServerOptions();
        so.LoggerFactory = log;
        so.Token = "";
        // Clients refused after a reload reconnect; no throttle, so that they see AuthenticationFailed rather than a wait.
        so.AuthFailureDelay = TimeSpan.Zero;
        so.MaxAuthFailureDelay = TimeSpan.Zero;
        so.Clients.Add(new ClientAccount { Name = "alice", Token = AliceToken });
        so.Clients.Add(new ClientAccount { Name = "bob", Token = BobToken });
        change?.Invoke(so);
        return so;
    }

    private static ClientAccount Account(TunnelServerOptions so, string name) => so.Clients.Single(c => c.Name == name);

    private static async Task<TunnelClient> ClientAsync(TunnelFixture f, TunnelServer server, string token, EchoService echo, params TunnelDefinition[] tunnels)
    {
        var o = TunnelFixture.ClientOptions(server, token: token);
        foreach (var t in tunnels) o.Tunnels.Add(t with { LocalPort = echo.Port });
        return await f.StartClientAsync(o);
    }

    private static TunnelDefinition Tunnel(string name, int remotePort = 0) => new() { Name = name, LocalPort = 1, RemotePort = remotePort };

    private static async Task AssertEchoAsync(int port, int seed, int size = 256 * 1024)
    {
        using var user = await TunnelFixture.ConnectAsync(port);
        var r = await Transfer.EchoRoundTripAsync(user, size, seed);
        Assert.Equal(r.Sent, r.Received);
        Assert.Equal(size, r.ReceivedBytes);
    }

    private static async Task AssertRefusedAsync(int port)
    {
        var e = await Assert.ThrowsAsync<SocketException>(() => TunnelFixture.ConnectAsync(port));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }

    private static void AssertNoTokenIn(TestLog log)
    {
        foreach (var l in log.Lines)
            foreach (var t in new[] { AliceToken, BobToken, CarolToken, "reload-alice", "reload-bob", "reload-carol" })
                Assert.DoesNotContain(t, l, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_transfer_running_during_a_reload_completes_intact_and_a_client_added_by_it_logs_in()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        // 1 MB/s for alice: the 4 MiB each way take about 4 s, long enough to reload in the middle.
        var server = await f.StartServerAsync(Options(log, so => Account(so, "alice").BandwidthLimit = BandwidthLimit.Both(MiB)));
        var alice = await ClientAsync(f, server, AliceToken, echo, Tunnel("alice-web"));
        var port = alice.Tunnels.Single().RemotePort;
        var sessionBefore = server.GetClients().Single().Id;

        using var user = await TunnelFixture.ConnectAsync(port);
        var transfer = Transfer.EchoRoundTripAsync(user, 4 << 20, seed: 41);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetStatistics().BytesIn > 512 * KiB, TimeSpan.FromSeconds(10)));
        Assert.False(transfer.IsCompleted);

        var result = await server.ReloadAsync(Options(log, so =>
        {
            Account(so, "alice").BandwidthLimit = BandwidthLimit.Both(MiB);
            Account(so, "bob").MaxTunnels = 3;
            so.Clients.Add(new ClientAccount { Name = "carol", Token = CarolToken });
            so.MaxTunnelsPerClient = 7;
        }));
        Assert.Equal(1, server.GetStatistics().ActiveConnections);
        Assert.Equal(["carol"], result.ClientsAdded);
        Assert.Equal(["bob"], result.ClientsChanged);
        Assert.Empty(result.ClientsRemoved);
        Assert.Contains("transport.maxTunnelsPerClient", result.ChangedKeys);
        Assert.Empty(result.SessionsEnded);
        Assert.Empty(result.TunnelsClosed);

        var (sent, received, bytes) = await transfer;
        Assert.Equal(sent, received);
        Assert.Equal(4 << 20, bytes);
        Assert.Equal(sessionBefore, server.GetClients().Single().Id);
        Assert.Equal(7, server.Options.MaxTunnelsPerClient);

        var carol = await ClientAsync(f, server, CarolToken, echo, Tunnel("carol-web"));
        await AssertEchoAsync(carol.Tunnels.Single().RemotePort, 42);
        Assert.Contains(log.Lines, l => l.Contains("Configuration reloaded: ", StringComparison.Ordinal) && l.Contains("clients added: carol", StringComparison.Ordinal));
        AssertNoTokenIn(log);
    }

    [Fact]
    public async Task A_client_removed_by_a_reload_loses_its_session_and_its_port_and_is_refused_after()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var server = await f.StartServerAsync(Options(log));
        var alice = await ClientAsync(f, server, AliceToken, echo, Tunnel("alice-web"));
        var bob = await ClientAsync(f, server, BobToken, echo, Tunnel("bob-web"));
        var bobPort = bob.Tunnels.Single().RemotePort;
        await AssertEchoAsync(bobPort, 1);

        var result = await server.ReloadAsync(Options(log, so => so.Clients.RemoveAll(c => c.Name == "bob")));
        Assert.Equal(["bob"], result.ClientsRemoved);
        Assert.Single(result.SessionsEnded);
        Assert.Contains("client 'bob' was removed from the server's configuration", result.SessionsEnded[0], StringComparison.Ordinal);

        Assert.Equal("alice", server.GetClients().Single().Account);
        Assert.DoesNotContain(server.GetTunnelStatistics(), t => t.Name == "bob-web");
        await AssertRefusedAsync(bobPort);
        // bob's client reconnects by itself and is refused: its account is gone.
        Assert.True(await TunnelFixture.WaitUntilAsync(() => bob.LastError?.Code == TunnelErrorCode.AuthenticationFailed, TimeSpan.FromSeconds(15)), log.Tail());
        await AssertEchoAsync(alice.Tunnels.Single().RemotePort, 2);
        Assert.Contains(log.Lines, l => l.Contains("client 'bob' was removed from the server's configuration; ending its session and freeing its ports", StringComparison.Ordinal));
        AssertNoTokenIn(log);
    }

    [Fact]
    public async Task A_changed_token_ends_the_sessions_of_the_old_one_unless_it_becomes_the_previous_token()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var server = await f.StartServerAsync(Options(log));
        var alice = await ClientAsync(f, server, AliceToken, echo, Tunnel("alice-web"));
        var bob = await ClientAsync(f, server, BobToken, echo, Tunnel("bob-web"));
        var alicePort = alice.Tunnels.Single().RemotePort;

        // alice rotates with an overlap: her session stays, now on her previous token, until it expires.
        var expires = DateTimeOffset.UtcNow.AddHours(1);
        var rotated = await server.ReloadAsync(Options(log, so =>
        {
            var a = Account(so, "alice");
            (a.Token, a.PreviousToken, a.PreviousTokenExpires) = (CarolToken, AliceToken, expires);
        }));
        Assert.Equal(["alice"], rotated.ClientsChanged);
        Assert.Empty(rotated.SessionsEnded);
        var onAlice = server.GetClients().Single(c => c.Account == "alice");
        Assert.Equal((TokenKind.Previous, expires), (onAlice.Token, onAlice.TokenExpires));
        await AssertEchoAsync(alicePort, 3);

        // bob's token changes without an overlap: his session ends, and the new token logs in.
        var changed = await server.ReloadAsync(Options(log, so =>
        {
            var a = Account(so, "alice");
            (a.Token, a.PreviousToken, a.PreviousTokenExpires) = (CarolToken, AliceToken, expires);
            Account(so, "bob").Token = BobToken + "-new";
        }));
        Assert.Equal(["bob"], changed.ClientsChanged);
        Assert.Contains("the token of client 'bob' it proved is no longer accepted", Assert.Single(changed.SessionsEnded), StringComparison.Ordinal);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => bob.LastError?.Code == TunnelErrorCode.AuthenticationFailed, TimeSpan.FromSeconds(15)), log.Tail());
        var newBob = await ClientAsync(f, server, BobToken + "-new", echo, Tunnel("bob-web-2"));
        await AssertEchoAsync(newBob.Tunnels.Single().RemotePort, 4);
        await AssertEchoAsync(alicePort, 5);
        AssertNoTokenIn(log);
    }

    [Fact]
    public async Task A_port_that_leaves_allowPorts_closes_its_tunnel_and_tells_its_client_while_the_session_and_the_other_tunnel_stay()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var server = await f.StartServerAsync(Options(log, so => so.AllowPorts.Add(new PortRange(30000, 39999))));
        var alice = await ClientAsync(f, server, AliceToken, echo, Tunnel("kept"), Tunnel("dropped"));
        var closedByServer = new TaskCompletionSource<(ClientTunnel, TunnelException)>(TaskCreationOptions.RunContinuationsAsynchronously);
        alice.TunnelClosed += (t, e) => closedByServer.TrySetResult((t, e));
        var kept = alice.FindTunnel("kept")!.RemotePort;
        var dropped = alice.FindTunnel("dropped")!.RemotePort;
        var session = server.GetClients().Single().Id;

        var result = await server.ReloadAsync(Options(log, so => so.AllowPorts.Add(new PortRange(kept, kept))));
        Assert.Equal(["allowPorts"], result.ChangedKeys);
        Assert.Equal([$"dropped (port {dropped})"], result.TunnelsClosed);

        await AssertRefusedAsync(dropped);
        var (tunnel, why) = await closedByServer.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("dropped", tunnel.Name);
        Assert.Equal(TunnelErrorCode.PortNotAllowed, why.Code);
        Assert.Contains($"port {dropped} is no longer allowed on this server (allowPorts)", why.Message, StringComparison.Ordinal);
        Assert.Null(alice.FindTunnel("dropped"));
        Assert.Equal(session, server.GetClients().Single().Id);
        Assert.Equal(ClientState.Connected, alice.State);
        await AssertEchoAsync(kept, 6);
        Assert.Contains(log.Lines, l => l.Contains($"Tunnel dropped of client", StringComparison.Ordinal) && l.Contains($"port {dropped} is no longer allowed", StringComparison.Ordinal));

        // An account's own ports count too; and a port allowed again may be registered again.
        await server.ReloadAsync(Options(log, so =>
        {
            so.AllowPorts.Add(new PortRange(30000, 39999));
            Account(so, "alice").AllowPorts.Add(new PortRange(dropped, dropped));
        }));
        Assert.True(await TunnelFixture.WaitUntilAsync(() => alice.FindTunnel("kept") is null, TimeSpan.FromSeconds(10)));
        var again = await alice.AddTunnelAsync(new TunnelDefinition { Name = "again", LocalPort = echo.Port, RemotePort = dropped });
        await AssertEchoAsync(again.RemotePort, 7);
    }

    /// <summary>A client older than the server's Unregister (its AuthMessage does not say it hears one) would take the frame
    /// for a protocol error and lose every tunnel: it is not sent one, and keeps its session.</summary>
    [Fact]
    public async Task A_client_that_does_not_hear_tunnel_closes_is_not_sent_one_and_keeps_its_session()
    {
        await using var f = new TunnelFixture();
        var log = new TestLog();
        var server = await f.StartServerAsync(Options(log, so => so.AllowPorts.Add(new PortRange(30000, 39999))));
        var (control, port) = await RawControlClient.RegisterAsync(server, AliceToken, "older-client", "old");
        using (control)
        {
            var result = await server.ReloadAsync(Options(log, so => so.AllowPorts.Add(new PortRange(port == 30000 ? 30001 : 30000, port == 30000 ? 30001 : 30000))));
            Assert.Equal([$"old (port {port})"], result.TunnelsClosed);
            await AssertRefusedAsync(port);
            // Whatever the server sends in the next second (requests for data connections, heartbeats), no Unregister.
            using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                while (true) Assert.NotEqual(Protocol.FrameType.Unregister, (await control.ReadRequiredAsync(quiet.Token)).Type);
            }
            catch (OperationCanceledException)
            {
            }
            Assert.Single(server.GetClients());
        }
    }

    [Fact]
    public async Task A_bandwidth_limit_changed_by_a_reload_applies_to_a_connection_open_now()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        // 64 KB/s each way: 4 MiB would take over a minute.
        var server = await f.StartServerAsync(Options(log, so => Account(so, "alice").BandwidthLimit = BandwidthLimit.Both(64 * KiB)));
        var alice = await ClientAsync(f, server, AliceToken, echo, Tunnel("alice-web"));
        using var user = await TunnelFixture.ConnectAsync(alice.Tunnels.Single().RemotePort);
        var transfer = Transfer.EchoRoundTripAsync(user, 4 << 20, seed: 8);
        Assert.True(await TunnelFixture.WaitUntilAsync(() => server.GetTunnelStatistics().Single().ThrottledTime > TimeSpan.Zero, TimeSpan.FromSeconds(10)));

        var result = await server.ReloadAsync(Options(log, so => Account(so, "alice").BandwidthLimit = BandwidthLimit.Both(256 * MiB)));
        Assert.Equal(["alice"], result.ClientsChanged);
        Assert.Equal(1, result.TunnelsUpdated);
        var stats = server.GetTunnelStatistics().Single();
        Assert.Equal((256 * MiB, 256 * MiB), (stats.BandwidthLimitIn, stats.BandwidthLimitOut));
        // At the old rate the rest would take a minute; at the new one it is done in moments.
        var (sent, received, bytes) = await transfer.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(sent, received);
        Assert.Equal(4 << 20, bytes);

        // No limit any more: the tunnel's connections from now on take no bucket.
        await server.ReloadAsync(Options(log));
        Assert.Equal(0, server.GetTunnelStatistics().Single().BandwidthLimitIn);
        await AssertEchoAsync(alice.Tunnels.Single().RemotePort, 9, 4 << 20);
    }

    [Fact]
    public async Task A_source_list_changed_by_a_reload_applies_to_the_tunnels_open_now()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var server = await f.StartServerAsync(Options(log));
        var alice = await ClientAsync(f, server, AliceToken, echo,
            Tunnel("narrowed") with { DenySources = [SourceNetwork.Parse("127.0.0.3")] });
        var port = alice.Tunnels.Single().RemotePort;
        await SourceListTests.AssertPassesAsync("127.0.0.2", port, 10);

        var result = await server.ReloadAsync(Options(log, so => so.DenySources.Add(SourceNetwork.Parse("127.0.0.2"))));
        Assert.Equal(["denySources"], result.ChangedKeys);
        await SourceListTests.AssertResetAsync("127.0.0.2", port);
        await SourceListTests.AssertResetAsync("127.0.0.3", port); // the client's own list still holds
        await SourceListTests.AssertPassesAsync("127.0.0.1", port, 11);

        // The account's list instead: only 127.0.0.2 may come.
        await server.ReloadAsync(Options(log, so => Account(so, "alice").AllowSources.Add(SourceNetwork.Parse("127.0.0.2"))));
        await SourceListTests.AssertPassesAsync("127.0.0.2", port, 12);
        await SourceListTests.AssertResetAsync("127.0.0.1", port);
        Assert.Contains(log.Lines, l => l.Contains("not in the allowSources of client account alice", StringComparison.Ordinal));
    }

    public static TheoryData<string, Action<TunnelServerOptions>> FixedChanges() => new()
    {
        { "bindAddr", so => so.BindAddress = "0.0.0.0" },
        { "bindPort", so => so.ControlPort = 7000 },
        { "transport.tls.enable", so => so.Tls.Enabled = true },
        { "transport.eventLoops", so => so.EventLoops = 3 },
        { "transport.dataPlane", so => so.DataPlane = Forwarding.DataPlaneKind.Async },
        { "transport.forwardingMode", so => so.ForwardingMode = Forwarding.ForwardingMode.Copy },
        { "webServer.addr", so => so.Admin = new AdminOptions { Address = "127.0.0.1", Port = 7500 } },
        { "transport.authFailureDelay", so => (so.AuthFailureDelay, so.MaxAuthFailureDelay) = (TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60)) },
    };

    [Theory]
    [MemberData(nameof(FixedChanges))]
    public async Task A_key_that_cannot_change_live_refuses_the_reload_naming_it_and_nothing_changes(string key, Action<TunnelServerOptions> change)
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var server = await f.StartServerAsync(Options(log));
        var bob = await ClientAsync(f, server, BobToken, echo, Tunnel("bob-web"));
        var before = server.Options;

        var refused = await Assert.ThrowsAsync<TunnelException>(() => server.ReloadAsync(Options(log, so =>
        {
            so.Clients.RemoveAll(c => c.Name == "bob");
            so.Clients.Add(new ClientAccount { Name = "carol", Token = CarolToken });
            change(so);
        })));
        Assert.Equal(TunnelErrorCode.ReloadRefused, refused.Code);
        Assert.StartsWith($"{key} cannot change while the server runs", refused.Message, StringComparison.Ordinal);
        Assert.Contains(log.Lines, l => l.Contains("Reload refused, the running configuration stays: " + key, StringComparison.Ordinal));

        // Nothing of the refused file was applied: bob still carries bytes, carol is not let in.
        Assert.Same(before, server.Options);
        await AssertEchoAsync(bob.Tunnels.Single().RemotePort, 13);
        var carol = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(TunnelFixture.ClientOptions(server, token: CarolToken)).StartAsync());
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, carol.Code);
    }

    [Fact]
    public async Task A_file_with_an_error_is_refused_whole_and_a_server_without_a_file_needs_one()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var server = await f.StartServerAsync(Options(log));
        var bob = await ClientAsync(f, server, BobToken, echo, Tunnel("bob-web"));

        var none = await Assert.ThrowsAsync<TunnelException>(() => server.ReloadFromConfigAsync());
        Assert.Equal(TunnelErrorCode.ReloadRefused, none.Code);
        Assert.Contains("started without a configuration file", none.Message, StringComparison.Ordinal);

        using var file = new ConfigTests.TempFile(ValidFile(withCarol: true) + "\n[transport]\nmaxPoolCount = 5000\n");
        var path = file.Path;
        // The start's parameters win over the file, as Start-TunnelServer's do: here the address and port it runs on.
        server.ConfigSource = new ServerConfigSource(null, null, so => (so.BindAddress, so.ControlPort, so.AuthFailureDelay, so.MaxAuthFailureDelay) = ("127.0.0.1", 0, TimeSpan.Zero, TimeSpan.Zero));
        var bad = await Assert.ThrowsAsync<TunnelConfigException>(() => server.ReloadFromConfigAsync(path));
        Assert.Equal("transport.maxPoolCount", bad.Key);
        Assert.Contains(log.Lines, l => l.Contains("Reload refused, the running configuration stays: ", StringComparison.Ordinal) && l.Contains("transport.maxPoolCount", StringComparison.Ordinal));
        Assert.Null(server.ConfigSource.Path); // a refused file does not become the server's
        Assert.Equal(2, server.Options.Clients.Count);
        var carol = await Assert.ThrowsAsync<TunnelException>(() => new TunnelClient(TunnelFixture.ClientOptions(server, token: CarolToken)).StartAsync());
        Assert.Equal(TunnelErrorCode.AuthenticationFailed, carol.Code);
        await AssertEchoAsync(bob.Tunnels.Single().RemotePort, 14);

        // Fixed, the same file applies in full, and becomes the server's file for the next reload.
        File.WriteAllText(path, ValidFile(withCarol: true));
        var result = await server.ReloadFromConfigAsync(path);
        Assert.Equal(path, result.ConfigPath);
        Assert.Equal(["carol"], result.ClientsAdded);
        Assert.Equal(path, server.ConfigSource!.Path);
        var carolClient = await ClientAsync(f, server, CarolToken, echo, Tunnel("carol-web"));
        await AssertEchoAsync(carolClient.Tunnels.Single().RemotePort, 15);
        File.WriteAllText(path, ValidFile(withCarol: false));
        Assert.Equal(["carol"], (await server.ReloadFromConfigAsync()).ClientsRemoved);
        AssertNoTokenIn(log);
    }

    private static string ValidFile(bool withCarol) => $"""
        [[clients]]
        name = "alice"
        token = "{AliceToken}"

        [[clients]]
        name = "bob"
        token = "{BobToken}"
        {(withCarol ? $"\n[[clients]]\nname = \"carol\"\ntoken = \"{CarolToken}\"\n" : "")}
        """;

    [Fact]
    public async Task The_admin_endpoint_reloads_the_servers_own_file_for_its_authenticated_operator_only()
    {
        await using var f = new TunnelFixture();
        await using var echo = new EchoService();
        var log = new TestLog();
        var admin = new AdminOptions { Address = "127.0.0.1", Port = 0, User = "ops", Password = "admin password for the reload tests" };
        var server = await f.StartServerAsync(Options(log, so => so.Admin = admin));
        using var file = new ConfigTests.TempFile(ValidFile(withCarol: true));
        var path = file.Path;
        server.ConfigSource = new ServerConfigSource(path, null, so =>
        {
            (so.BindAddress, so.ControlPort, so.AuthFailureDelay, so.MaxAuthFailureDelay) = ("127.0.0.1", 0, TimeSpan.Zero, TimeSpan.Zero);
            (so.Admin.Address, so.Admin.Port, so.Admin.User, so.Admin.Password) = ("127.0.0.1", 0, "ops", "admin password for the reload tests");
        });
        var endpoint = server.Admin!.Endpoint!;

        Assert.Equal(401, (await RawHttp.RequestAsync(endpoint, "POST", "/api/v1/reload")).Status);
        Assert.Equal(401, (await RawHttp.RequestAsync(endpoint, "POST", "/api/v1/reload", RawHttp.Basic("ops", "wrong"))).Status);
        Assert.Equal(405, (await RawHttp.RequestAsync(endpoint, "GET", "/api/v1/reload", RawHttp.Basic("ops", "admin password for the reload tests"))).Status);
        Assert.Equal(2, server.Options.Clients.Count); // none of these reloaded

        using var api = new AdminClient(endpoint.ToString(), "ops", "admin password for the reload tests");
        var result = await api.ReloadAsync();
        Assert.Equal(["carol"], result.ClientsAdded);
        Assert.Equal(path, result.ConfigPath);
        var carol = await ClientAsync(f, server, CarolToken, echo, Tunnel("carol-web"));
        await AssertEchoAsync(carol.Tunnels.Single().RemotePort, 16);

        // A bad file comes back as the file's error, with its key; a fixed key as ReloadRefused. Neither changes anything.
        File.WriteAllText(path, "allowPort = 1\n" + ValidFile(withCarol: false));
        var bad = await Assert.ThrowsAsync<TunnelConfigException>(() => api.ReloadAsync());
        Assert.Equal("allowPort", bad.Key);
        Assert.Equal(path, bad.FilePath);
        File.WriteAllText(path, "bindPort = 7001\n" + ValidFile(withCarol: false));
        server.ConfigSource = new ServerConfigSource(path, null, so =>
        {
            (so.BindAddress, so.AuthFailureDelay, so.MaxAuthFailureDelay) = ("127.0.0.1", TimeSpan.Zero, TimeSpan.Zero);
            (so.Admin.Address, so.Admin.Port, so.Admin.User, so.Admin.Password) = ("127.0.0.1", 0, "ops", "admin password for the reload tests");
        });
        var refused = await Assert.ThrowsAsync<TunnelException>(() => api.ReloadAsync());
        Assert.Equal(TunnelErrorCode.ReloadRefused, refused.Code);
        Assert.Contains("bindPort cannot change while the server runs", refused.Message, StringComparison.Ordinal);
        Assert.Equal(3, server.Options.Clients.Count);
        AssertNoTokenIn(log);
    }

    [Fact]
    public async Task An_admin_endpoint_without_credentials_refuses_a_reload()
    {
        await using var f = new TunnelFixture();
        var log = new TestLog();
        var server = await f.StartServerAsync(Options(log, so => so.Admin = new AdminOptions { Address = "127.0.0.1", Port = 0 }));
        using var file = new ConfigTests.TempFile(ValidFile(withCarol: true));
        server.ConfigSource = new ServerConfigSource(file.Path);
        var r = await RawHttp.RequestAsync(server.Admin!.Endpoint!, "POST", "/api/v1/reload");
        Assert.Equal(403, r.Status);
        Assert.Contains("need credentials", r.Body, StringComparison.Ordinal);
        Assert.Equal(2, server.Options.Clients.Count);
    }

    [Fact]
    public void Every_setting_of_the_server_is_classified_live_or_fixed()
    {
        static IEnumerable<string> Settable(Type t, string prefix) => t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite).Select(p => prefix + p.Name);
        var classified = ServerReloadKeys.All.Select(k => k.Property).Concat(ServerReloadKeys.NotKeys).ToHashSet(StringComparer.Ordinal);
        var settings = Settable(typeof(TunnelServerOptions), "").Where(p => p is not ("Tls" or "Admin"))
            .Concat(Settable(typeof(ServerTlsOptions), "Tls."))
            .Concat(Settable(typeof(AdminOptions), "Admin."));
        Assert.All(settings, s => Assert.Contains(s, classified));
    }

    [Fact]
    public void A_token_bucket_takes_a_new_rate_and_keeps_at_most_100_ms_of_it()
    {
        var bucket = new Forwarding.TokenBucket(10 * MiB);
        bucket.SetRate(100 * KiB);
        Assert.Equal(100 * KiB, bucket.BytesPerSecond);
        // Full at the old rate (1 MiB), cut to 100 ms of the new one.
        Assert.Equal((int)(10 * KiB), bucket.Take(1 << 20));
        Assert.Equal(0, bucket.Take(1 << 20));
    }
}
