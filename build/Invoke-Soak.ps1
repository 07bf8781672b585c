<#
.SYNOPSIS
    Soak test (build.ps1 Soak): mixed load through a server and a client in separate pwsh processes for -Minutes, with the
    client killed (SIGKILL) and started again every ~60 s (once stopped gracefully instead); then checks that the server
    process's open file descriptors and threads are back at their baseline, and that no byte arrived wrong.
.DESCRIPTION
    Linux only (reads /proc/PID). Prints a table baseline vs end (fds, threads, RSS) and the load totals; exits 1 when fds
    or threads stay above baseline + tolerance, or when any hash or echo reply mismatched. Failed connections while the
    client restarts are expected and only counted.
#>
[CmdletBinding()]
param(
    [double] $Minutes = 10,
    # Folder that holds the built module folder TunnelLite/ (out/).
    [Parameter(Mandatory)] [string] $ModuleRoot,
    [int] $FdTolerance = 8,
    [int] $ThreadTolerance = 6
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
if (-not $IsLinux) { throw 'The soak reads /proc: Linux only.' }

$repo = Split-Path -Parent $PSScriptRoot
# The children import the module just built.
$env:PSModulePath = $ModuleRoot + [IO.Path]::PathSeparator + $env:PSModulePath
Add-Type -Path (Join-Path $PSScriptRoot 'LocalHttpService.cs'), (Join-Path $PSScriptRoot 'SoakLoad.cs')
Import-Module (Join-Path $repo 'tests/Support/TestHelpers.psm1') -Force
Import-Module (Join-Path $repo 'tests/Support/FaultHelpers.psm1') -Force

function Write-Soak([string] $Message) { Write-Host "[$([DateTime]::Now.ToString('HH:mm:ss'))] $Message" }

function Get-ProcessFigures([int] $ProcessId) {
    # Open fds, threads and resident memory of a process, from /proc.
    $status = Get-Content -LiteralPath "/proc/$ProcessId/status"
    # What the fds are: sockets (connections, listeners), pipes (the splice pool keeps some), the rest (files, eventfds).
    $targets = @(Get-ChildItem -LiteralPath "/proc/$ProcessId/fd" -ErrorAction SilentlyContinue | ForEach-Object { $_.LinkTarget })
    [pscustomobject]@{
        Fds     = $targets.Count
        Sockets = @($targets | Where-Object { $_ -like 'socket:*' }).Count
        Pipes   = @($targets | Where-Object { $_ -like 'pipe:*' }).Count
        Threads = [int](($status | Where-Object { $_ -match '^Threads:' }) -replace '\D', '')
        RssKiB  = [long](($status | Where-Object { $_ -match '^VmRSS:' }) -replace '\D', '')
    }
}

function Get-SettledFigures($Server, [int] $SettleSec) {
    # Lets connections close and idle threads retire, runs a full GC in the server, then reads /proc.
    Start-Sleep -Seconds $SettleSec
    $Server.Process.StandardInput.WriteLine('gc')
    $null = Read-ChildLine -Process $Server.Process -Pattern '^(GC=done)$' -TimeoutSec 30
    Start-Sleep -Seconds 2
    Get-ProcessFigures $Server.Pid
}

function Start-SoakClient([string] $ConfigPath) {
    $c = Start-FaultTunnel -ConfigPath $ConfigPath
    Write-Soak "client started (PID $($c.Pid))"
    $c
}

$dir = Join-Path ([IO.Path]::GetTempPath()) "tunnellite-soak-$([guid]::NewGuid().ToString('N'))"
$null = New-Item -ItemType Directory -Path $dir
$token = "soak-$([guid]::NewGuid())"
$http = [TunnelLite.Demo.LocalHttpService]::new(0)
$echo = [TunnelLite.Soak.EchoService]::new()
$server = $null; $client = $null; $stop = $null; $exit = 1
try {
    $server = Start-FaultServer -ConfigPath (New-FaultServerConfig -Directory $dir -Token $token -HeartbeatInterval 2 -HeartbeatTimeout 6) -ControlPort 0
    Write-Soak "server started (PID $($server.Pid), control port $($server.ControlPort))"
    # Fixed public ports, so that the load keeps its targets across client restarts.
    $httpPort = Get-FreeTcpPort
    $echoPort = Get-FreeTcpPort
    $clientConfig = New-FaultClientConfig -Directory $dir -Token $token -ServerPort $server.ControlPort -Name 'soak-http' -LocalPort $http.Port -RemotePort $httpPort -PoolCount 8 -HeartbeatInterval 2 -HeartbeatTimeout 6
    Add-Content -LiteralPath $clientConfig -Value @"

[[proxies]]
name = "soak-echo"
type = "tcp"
localIP = "127.0.0.1"
localPort = $($echo.Port)
remotePort = $echoPort
"@
    $client = Start-SoakClient $clientConfig

    # Warm-up: JIT, thread pool and buffer pools reach their working size before the baseline is taken.
    $warmup = [TunnelLite.Soak.SoakLoad]::new($httpPort, $echoPort)
    $stop = [Threading.CancellationTokenSource]::new()
    $run = $warmup.Run($stop.Token)
    Start-Sleep -Seconds ([Math]::Min(20, [Math]::Max(5, $Minutes * 60 / 10)))
    $stop.Cancel()
    if (-not $run.Wait(60000)) { throw 'The warm-up load did not stop within 60 s.' }
    Write-Soak "warm-up: $($warmup.Connections) connections, $($warmup.Failures) failures, $($warmup.Mismatches) mismatches"
    $baseline = Get-SettledFigures $server 10
    Write-Soak "baseline: $($baseline.Fds) fds ($($baseline.Sockets) sockets, $($baseline.Pipes) pipes), $($baseline.Threads) threads, $([Math]::Round($baseline.RssKiB / 1024)) MiB RSS"

    $load = [TunnelLite.Soak.SoakLoad]::new($httpPort, $echoPort)
    $stop = [Threading.CancellationTokenSource]::new()
    $run = $load.Run($stop.Token)
    $clock = [Diagnostics.Stopwatch]::StartNew()
    $restartEvery = [Math]::Min(60, [Math]::Max(10, $Minutes * 60 / 4))
    $restarts = 0; $graceful = 0
    while ($clock.Elapsed.TotalMinutes -lt $Minutes) {
        Start-Sleep -Seconds ([Math]::Max(1, [Math]::Min($restartEvery, $Minutes * 60 - $clock.Elapsed.TotalSeconds)))
        $f = Get-ProcessFigures $server.Pid
        Write-Soak ("load: {0} connections, {1:N0} MiB, {2} failures, {3} mismatches; server {4} fds, {5} threads, {6} MiB RSS" -f
            $load.Connections, ($load.Bytes / 1MB), $load.Failures, $load.Mismatches, $f.Fds, $f.Threads, [Math]::Round($f.RssKiB / 1024))
        # No restart in the last seconds: the end reading should see a client that has settled, as the baseline did.
        if ($clock.Elapsed.TotalSeconds -ge $Minutes * 60 - 5) { break }
        if ($restarts -eq 1) {
            $client.Process.StandardInput.WriteLine('stop')
            $null = Read-ChildLine -Process $client.Process -Pattern '^(STOPPED)$' -TimeoutSec 30
            $null = $client.Process.WaitForExit(10000)
            $graceful++
            Write-Soak 'client stopped gracefully'
        }
        else {
            Stop-ChildHard $client.Process
            Write-Soak 'client killed (SIGKILL)'
        }
        $client.Process.Dispose()
        $restarts++
        # A dead client's tunnels stay registered until the server's heartbeat timeout; the new client waits for them.
        $client = $null
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while (-not $client) {
            try { $client = Start-SoakClient $clientConfig }
            catch { if ([DateTime]::UtcNow -gt $deadline) { throw }; Write-Soak "client restart refused, retrying: $($_.Exception.Message.Split([Environment]::NewLine)[0])"; Start-Sleep -Seconds 1 }
        }
    }
    $stop.Cancel()
    if (-not $run.Wait(60000)) { throw 'The load did not stop within 60 s.' }
    $end = Get-SettledFigures $server 20
    $serverStats = Get-ChildStats $server.Process | Where-Object Role -EQ 'Server'

    $rows = @(
        [pscustomobject]@{ Figure = 'Open fds'; Baseline = $baseline.Fds; End = $end.Fds; Limit = $baseline.Fds + $FdTolerance }
        [pscustomobject]@{ Figure = '  of them sockets'; Baseline = $baseline.Sockets; End = $end.Sockets; Limit = '(reported)' }
        [pscustomobject]@{ Figure = '  of them pipes'; Baseline = $baseline.Pipes; End = $end.Pipes; Limit = '(reported)' }
        [pscustomobject]@{ Figure = 'Threads'; Baseline = $baseline.Threads; End = $end.Threads; Limit = $baseline.Threads + $ThreadTolerance }
        [pscustomobject]@{ Figure = 'RSS (MiB)'; Baseline = [Math]::Round($baseline.RssKiB / 1024, 1); End = [Math]::Round($end.RssKiB / 1024, 1); Limit = '(reported)' }
    )
    Write-Host ''
    Write-Host "Soak: $Minutes minute(s), server PID $($server.Pid); client restarts: $restarts ($($restarts - $graceful) SIGKILL, $graceful graceful)"
    Write-Host ($rows | Format-Table -AutoSize | Out-String).TrimEnd()
    Write-Host ''
    Write-Host ("Load: {0} connections ({1} bulk downloads, {2} short requests, {3} keep-alive round trips), {4:N0} MiB checked" -f
        $load.Connections, $load.BulkDownloads, $load.ShortRequests, $load.RoundTrips, ($load.Bytes / 1MB))
    Write-Host "Failures (connections cut or refused while the client restarted): $($load.Failures)$(if ($load.Failures) { "; last: $($load.LastFailure)" })"
    Write-Host "Hash/echo mismatches: $($load.Mismatches)"
    Write-Host "Server totals: $($serverStats.TotalConnections) connections, $($serverStats.FailedConnections) failed, $($serverStats.Clients) client(s), $($serverStats.Tunnels) tunnel(s)"

    $problems = @()
    if ($end.Fds -gt $baseline.Fds + $FdTolerance) { $problems += "open fds did not return to baseline ($($baseline.Fds) -> $($end.Fds))" }
    if ($end.Threads -gt $baseline.Threads + $ThreadTolerance) { $problems += "threads did not return to baseline ($($baseline.Threads) -> $($end.Threads))" }
    if ($load.Mismatches -gt 0) { $problems += "$($load.Mismatches) mismatch(es): $($load.LastFailure)" }
    if ($load.BulkDownloads -eq 0 -or $load.RoundTrips -eq 0) { $problems += 'no load got through' }
    if ($problems) { Write-Host "SOAK FAILED: $($problems -join '; ')"; $exit = 1 }
    else { Write-Host 'SOAK PASSED'; $exit = 0 }
}
finally {
    if ($stop) { $stop.Cancel() }
    if ($client) { Stop-ChildPwsh $client.Process }
    if ($server) { Stop-ChildPwsh $server.Process }
    $http.Dispose()
    $echo.Dispose()
    Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction SilentlyContinue
}
exit $exit
