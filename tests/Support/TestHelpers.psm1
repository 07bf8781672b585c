# Shared by the Pester suites: the module under test, a local HTTP service, free ports and child pwsh processes.
Set-StrictMode -Version Latest

$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path

function Import-TunnelLiteUnderTest {
    # build.ps1 Test puts out/ first on PSModulePath; fall back to the built folder for a direct Invoke-Pester.
    $built = Join-Path $script:RepoRoot 'out/TunnelLite/TunnelLite.psd1'
    Import-Module -Name $built -Force -Global
}

function Initialize-LocalHttpService {
    if (-not ('TunnelLite.Demo.LocalHttpService' -as [type])) {
        Add-Type -Path (Join-Path $script:RepoRoot 'build/LocalHttpService.cs')
    }
}

function New-LocalHttpService {
    Initialize-LocalHttpService
    [TunnelLite.Demo.LocalHttpService]::new(0)
}

function Get-ExpectedPayloadHash([int] $Size) {
    Initialize-LocalHttpService
    $sha = [System.Security.Cryptography.SHA256]::HashData([TunnelLite.Demo.LocalHttpService]::Payload($Size))
    [Convert]::ToHexString($sha)
}

function Invoke-Later {
    # Calls StopJob() on a job after a delay, from a thread pool thread (a script block there has no runspace).
    param([Parameter(Mandatory)] [System.Management.Automation.Job] $Job, [int] $Milliseconds = 500)
    if (-not ('TunnelLite.Tests.Later' -as [type])) {
        Add-Type -TypeDefinition @'
namespace TunnelLite.Tests {
    public static class Later {
        public static void StopJob(System.Management.Automation.Job job, int ms) {
            System.Threading.Tasks.Task.Delay(ms).ContinueWith(_ => job.StopJob());
        }
    }
}
'@
    }
    [TunnelLite.Tests.Later]::StopJob($Job, $Milliseconds)
}

function New-BannerService {
    # A local service on 127.0.0.1 that speaks first, as an SSH server does: it sends a banner line as soon as it accepts,
    # then holds the connection until the peer closes it. Dispose() stops it.
    param([string] $Banner = 'SSH-2.0-TunnelLite_Pester')
    if (-not ('TunnelLite.Tests.BannerService' -as [type])) {
        Add-Type -TypeDefinition @'
namespace TunnelLite.Tests {
    using System.Net;
    using System.Net.Sockets;
    using System.Text;
    using System.Threading.Tasks;
    public sealed class BannerService : System.IDisposable {
        private readonly TcpListener _listener = new TcpListener(IPAddress.Loopback, 0);
        private readonly byte[] _banner;
        public BannerService(string banner) {
            _banner = Encoding.ASCII.GetBytes(banner + "\r\n");
            _listener.Start(64);
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = AcceptLoop();
        }
        public int Port { get; }
        private async Task AcceptLoop() {
            while (true) {
                Socket s;
                try { s = await _listener.AcceptSocketAsync(); } catch (System.Exception) { return; }
                _ = Serve(s);
            }
        }
        private async Task Serve(Socket s) {
            using (s) {
                try {
                    await s.SendAsync(_banner, SocketFlags.None);
                    var buf = new byte[4096];
                    while (await s.ReceiveAsync(buf, SocketFlags.None) > 0) { }
                } catch (System.Exception) { }
            }
        }
        public void Dispose() { _listener.Stop(); }
    }
}
'@
    }
    [TunnelLite.Tests.BannerService]::new($Banner)
}

function Get-FreeTcpPort {
    $l = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, 0)
    $l.Start()
    try { $l.LocalEndpoint.Port } finally { $l.Stop() }
}

function Get-BindableTcpPort([int] $From, [int] $To) {
    # A port in From..To that 127.0.0.1 can listen on now. Fixed ports lie in the ephemeral range, where a connection
    # of an earlier test may still hold one in TIME_WAIT for a minute; that makes the bind fail.
    foreach ($port in $From..$To) {
        $l = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, $port)
        try { $l.Start(); return $port } catch [System.Net.Sockets.SocketException] { } finally { $l.Stop() }
    }
    throw "No port in $From..$To can be bound."
}

function Invoke-HttpDownload([int] $Port, [string] $Path = '/', [string] $Address = '127.0.0.1') {
    # Returns the body bytes fetched from Address:Port (127.0.0.1 unless told).
    $http = [System.Net.Http.HttpClient]::new()
    $http.Timeout = [TimeSpan]::FromSeconds(30)
    try { $http.GetByteArrayAsync("http://$($Address):$Port$Path").GetAwaiter().GetResult() }
    finally { $http.Dispose() }
}

function Start-ChildPwsh {
    # Starts 'pwsh -File script args' as a separate process with redirected output; returns the Process.
    # Wrapper: a command that execs the rest of its arguments in its own process (so the Process and the child's $PID stay
    # the same), e.g. @('prlimit', '--nofile=4096:4096', '--') to start the child with a lower descriptor limit.
    param([Parameter(Mandatory)] [string] $Script, [string[]] $ArgumentList = @(), [string[]] $Wrapper = @())
    if ($Wrapper.Count -gt 0) {
        $psi = [System.Diagnostics.ProcessStartInfo]::new($Wrapper[0])
        foreach ($w in @($Wrapper | Select-Object -Skip 1) + @('dotnet')) { $psi.ArgumentList.Add($w) }
    }
    else { $psi = [System.Diagnostics.ProcessStartInfo]::new('dotnet') }
    $psi.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll'))
    foreach ($a in @('-NoProfile', '-NonInteractive', '-File', $Script) + $ArgumentList) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardInput = $true
    $psi.UseShellExecute = $false
    $psi.Environment['PSModulePath'] = $env:PSModulePath
    $psi.Environment['NO_COLOR'] = '1'   # plain error text: test reports are XML and refuse escape characters
    [System.Diagnostics.Process]::Start($psi)
}

function Start-DeferredChildPwsh {
    # Starts a child (Run-Deferred.ps1) that loads pwsh and TunnelLite now, prints READY, and runs Script only when
    # Resume-ChildPwsh gives it its parameters; returns the Process. Loading takes seconds on a loaded machine, so children
    # whose parameters are not known yet (a server's port) load side by side with what they wait for. Wrapper: see Start-ChildPwsh.
    param([Parameter(Mandatory)] [string] $Script, [string[]] $Wrapper = @())
    Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Run-Deferred.ps1') -ArgumentList @('-Script', $Script) -Wrapper $Wrapper
}

function Resume-ChildPwsh {
    # Gives a Start-DeferredChildPwsh child the parameters of its script (names and values, sent as one line of JSON on its
    # stdin, not on a command line); the child runs the script as soon as it has loaded. Its READY line, when nobody has read
    # it, is skipped by Read-ChildLine like any line that does not match.
    param([Parameter(Mandatory)] [System.Diagnostics.Process] $Process, [Parameter(Mandatory)] [System.Collections.IDictionary] $Parameters)
    $Process.StandardInput.WriteLine((ConvertTo-Json -InputObject $Parameters -Compress))
    $Process.StandardInput.Flush()
}

function Read-ChildLine {
    # Reads stdout lines of a child until one matches Pattern; returns the match's first group.
    param([Parameter(Mandatory)] [System.Diagnostics.Process] $Process, [Parameter(Mandatory)] [string] $Pattern, [int] $TimeoutSec = 60)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
    $seen = [System.Collections.Generic.List[string]]::new()
    while ([DateTime]::UtcNow -lt $deadline) {
        $task = $Process.StandardOutput.ReadLineAsync()
        if (-not $task.Wait([Math]::Max(1, ($deadline - [DateTime]::UtcNow).TotalMilliseconds))) { break }
        $line = $task.Result
        if ($null -eq $line) { break }
        $seen.Add($line)
        if ($line -match $Pattern) { return $Matches[1] }
    }
    $err = if ($Process.HasExited) { $Process.StandardError.ReadToEnd() } else { '' }
    throw "Child process did not print '$Pattern'. Output: $($seen -join ' | ') $err"
}

function Stop-ChildPwsh([System.Diagnostics.Process[]] $Process) {
    # Tells every child to stop first, then waits for each (10 s, then kills it): several children stop side by side.
    $children = @($Process | Where-Object { $null -ne $_ })
    foreach ($child in $children) {
        try { if (-not $child.HasExited) { $child.StandardInput.WriteLine('stop') } } catch { }
    }
    foreach ($child in $children) {
        try { if (-not $child.HasExited -and -not $child.WaitForExit(10000)) { $child.Kill($true) } } catch { }
        $child.Dispose()
    }
}

Export-ModuleMember -Function *
