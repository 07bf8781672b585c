using System.Diagnostics;
using System.Net.Sockets;

namespace TunnelLite.Bench;

/// <summary>The other reference of issue 13: <c>ssh -R</c>, what many run instead of a tunnel server. An sshd of the bench's
/// own on 127.0.0.1 at a free port (its own config, host key and authorized key in a temporary folder; no password, no
/// PAM; the system's sshd config and service untouched), and <c>ssh -N -R</c> to it as the current user, forwarding the
/// remote port to the sink: users → sshd → ssh → sink, as users → server → client → sink through a tunnel.</summary>
internal sealed class SshReverse : IAsyncDisposable
{
    private const string SshdPath = "/usr/sbin/sshd";
    private const string PrivilegeSeparationDirectory = "/run/sshd";
    private readonly string _folder = Directory.CreateTempSubdirectory("tunnellite-bench-ssh-").FullName;
    private Process? _sshd;
    private Process? _ssh;
    private bool _madePrivsepDirectory;

    private SshReverse()
    {
    }

    /// <summary>Why there is no ssh -R row on this machine, or null when sshd, ssh and ssh-keygen are installed.</summary>
    public static string? Unavailable { get; } =
        !File.Exists(SshdPath) ? $"{SshdPath} is not installed (package openssh-server; build.ps1 Bench installs it where it may)"
        : Which("ssh") is null ? "ssh is not installed (package openssh-client; build.ps1 Bench installs it where it may)"
        : Which("ssh-keygen") is null ? "ssh-keygen is not installed (package openssh-client)"
        : null;

    /// <summary>Where users connect: the port sshd listens on for the forwarding (-R).</summary>
    public int Port { get; private set; }

    /// <summary>The sshd listener and the processes it forked for the session, measured as one.</summary>
    public IMeasuredProcess Server { get; private set; } = null!;

    /// <summary>The ssh client, which connects to the sink for each forwarded connection.</summary>
    public IMeasuredProcess Client { get; private set; } = null!;

    /// <summary>OpenSSH's version line (ssh -V), for the report.</summary>
    public string Version { get; private set; } = "";

    /// <summary>Starts sshd and ssh -R in front of <paramref name="sinkPort"/>; returns once the remote port accepts.</summary>
    public static async Task<SshReverse> StartAsync(int sinkPort)
    {
        var r = new SshReverse();
        try
        {
            await r.StartCoreAsync(sinkPort);
            return r;
        }
        catch
        {
            await r.DisposeAsync();
            throw;
        }
    }

    private async Task StartCoreAsync(int sinkPort)
    {
        string F(string name) => Path.Combine(_folder, name);
        // Keys of this run only, without passphrases: nothing of the user's ~/.ssh is read or written.
        await RunAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tunnellite-bench-host", "-f", F("host_ed25519"));
        await RunAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tunnellite-bench-user", "-f", F("user_ed25519"));
        File.Copy(F("user_ed25519.pub"), F("authorized_keys"));
        var sshdPort = Scraper.FreePort();
        Port = Scraper.FreePort();
        // StrictModes no: the key files sit under /tmp, which is writable by all, and sshd would refuse them; the folder itself
        // is the user's alone (mode 700). No PAM, no passwords: the one key above is the only way in, and only from loopback.
        await File.WriteAllTextAsync(F("sshd_config"), $"""
            ListenAddress 127.0.0.1:{sshdPort}
            HostKey {F("host_ed25519")}
            AuthorizedKeysFile {F("authorized_keys")}
            PidFile none
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            StrictModes no
            AllowTcpForwarding remote
            GatewayPorts no
            AllowAgentForwarding no
            X11Forwarding no
            PermitTTY no
            PrintMotd no
            LogLevel ERROR

            """);
        await File.WriteAllTextAsync(F("known_hosts"), $"[127.0.0.1]:{sshdPort} {(await File.ReadAllTextAsync(F("host_ed25519.pub"))).Trim()}\n");
        // sshd run by root separates privileges into an empty directory that its service unit would make at start; make it
        // (and remove it at the end) when it is missing. As another user sshd does without it.
        if (OperatingSystem.IsLinux() && Environment.UserName == "root" && !Directory.Exists(PrivilegeSeparationDirectory))
        {
            Directory.CreateDirectory(PrivilegeSeparationDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            _madePrivsepDirectory = true;
        }
        // -D: in the foreground, a child of this process; -e: errors to stderr. sshd re-executes itself per connection,
        // which needs the absolute path.
        _sshd = Start(SshdPath, "-D", "-e", "-f", F("sshd_config"));
        var sshdErrors = _sshd.StandardError.ReadToEndAsync();
        await WaitForListenerAsync(sshdPort, _sshd, sshdErrors, "sshd");
        Server = new ProcessTree(_sshd.Id);

        // -F /dev/null: no system or user ssh config; BatchMode: fail rather than prompt; the host key pinned above.
        _ssh = Start("ssh", "-F", "/dev/null", "-N", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", $"UserKnownHostsFile={F("known_hosts")}", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ExitOnForwardFailure=yes",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", F("user_ed25519"), "-p", sshdPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-R", $"127.0.0.1:{Port}:127.0.0.1:{sinkPort}", $"{Environment.UserName}@127.0.0.1");
        var sshErrors = _ssh.StandardError.ReadToEndAsync();
        await WaitForListenerAsync(Port, _ssh, sshErrors, "ssh -R");
        Client = new ProcessTree(_ssh.Id);
        var version = Process.Start(new ProcessStartInfo("ssh", ["-V"]) { RedirectStandardError = true, UseShellExecute = false })!;
        Version = (await version.StandardError.ReadToEndAsync()).Trim();
        await version.WaitForExitAsync();
    }

    /// <summary>Ready once <paramref name="port"/> accepts; a connection to the forwarded port reaches the sink, which sees
    /// an empty request and drops it.</summary>
    private static async Task WaitForListenerAsync(int port, Process p, Task<string> errors, string name)
    {
        for (var i = 0; i < 200; i++)
        {
            if (p.HasExited) throw new InvalidOperationException($"{name} exited with {p.ExitCode}: {(await errors).Trim()}");
            try
            {
                using var s = await Net.ConnectAsync(port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        throw new TimeoutException($"{name} did not listen on {port} within 10 s");
    }

    private static Process Start(string file, params string[] args)
    {
        var p = Process.Start(new ProcessStartInfo(file, args)
        {
            RedirectStandardInput = true, // ssh reads nothing (-N), but must not share the bench's stdin
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException($"{file} did not start");
        _ = p.StandardOutput.ReadToEndAsync();
        return p;
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        using var p = Start(file, args);
        var errors = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed with {p.ExitCode}: {(await errors).Trim()}");
    }

    private static string? Which(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, command)).FirstOrDefault(File.Exists);

    public async ValueTask DisposeAsync()
    {
        // The client first, so that sshd sees the session end rather than its own listener die under it.
        foreach (var p in new[] { _ssh, _sshd })
        {
            if (p is null) continue;
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await p.WaitForExitAsync();
            p.Dispose();
        }
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
        if (_madePrivsepDirectory)
        {
            try { Directory.Delete(PrivilegeSeparationDirectory); } catch (IOException) { }
        }
    }

    /// <summary>A process and its descendants, measured as one: sshd serves each connection from processes it forks (the
    /// session's monitor and its child), whose CPU and memory belong to ssh -R as much as the listener's.</summary>
    private sealed class ProcessTree(int pid) : IMeasuredProcess
    {
        public int Pid { get; } = pid;

        public double CpuSeconds() => ProcStat.Sum(ProcStat.Tree(Pid), ProcStat.CpuSeconds);

        public long RssBytes() => ProcStat.Sum(ProcStat.Tree(Pid), ProcStat.RssBytes);
    }
}
