# Shared by the fault tests and the soak: TOML files with short heartbeats, child hosts that can be killed, polling, and
# raw HTTP downloads that can be left hanging mid-transfer.
Set-StrictMode -Version Latest

Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1')   # Start-ChildPwsh, Start-DeferredChildPwsh, Resume-ChildPwsh, Read-ChildLine

function Protect-ConfigFile([string] $Path) {
    # The files hold the token: owner-only, as TunnelLite asks (readable by others is a warning, writable an error).
    if (-not $IsWindows) { [IO.File]::SetUnixFileMode($Path, [IO.UnixFileMode]'UserRead, UserWrite') }
}

function New-FaultServerConfig {
    # Writes a server TOML file (frps keys) into Directory and returns its path. Transport: more [transport] keys, in
    # order, e.g. [ordered]@{ userConnectionTimeout = 2; maxConnectionsPerTunnel = 100000 }; they win over the ones above
    # (strings are quoted, booleans written true/false, numbers as they are).
    param([Parameter(Mandatory)] [string] $Directory, [Parameter(Mandatory)] [string] $Token, [int] $ControlPort = 0,
        [int] $HeartbeatInterval = 1, [int] $HeartbeatTimeout = 3, [System.Collections.IDictionary] $Transport = @{})
    $path = Join-Path $Directory "server-$([guid]::NewGuid().ToString('N')).toml"
    $keys = [ordered]@{ heartbeatInterval = $HeartbeatInterval; heartbeatTimeout = $HeartbeatTimeout; userConnectionTimeout = 10 }
    foreach ($k in $Transport.Keys) { $keys[$k] = $Transport[$k] }
    $lines = foreach ($k in $keys.Keys) {
        $v = $keys[$k]
        $text = if ($v -is [bool]) { "$v".ToLowerInvariant() } elseif ($v -is [string]) { '"' + $v + '"' } else { [string]::Format([cultureinfo]::InvariantCulture, '{0}', $v) }
        "$k = $text"
    }
    @"
bindAddr = "127.0.0.1"
bindPort = $(if ($ControlPort -gt 0) { $ControlPort } else { 7000 })
auth.token = "$Token"

[transport]
$($lines -join "`n")
"@ | Set-Content -LiteralPath $path -Encoding utf8NoBOM
    Protect-ConfigFile $path
    $path
}

function New-FaultClientConfig {
    # Writes a client TOML file (frpc keys) with one tunnel into Directory and returns its path.
    param([Parameter(Mandatory)] [string] $Directory, [Parameter(Mandatory)] [string] $Token, [Parameter(Mandatory)] [int] $ServerPort,
        [Parameter(Mandatory)] [string] $Name, [Parameter(Mandatory)] [int] $LocalPort, [int] $RemotePort = 0, [int] $PoolCount = 4,
        [int] $HeartbeatInterval = 1, [int] $HeartbeatTimeout = 3)
    $path = Join-Path $Directory "client-$([guid]::NewGuid().ToString('N')).toml"
    @"
serverAddr = "127.0.0.1"
serverPort = $ServerPort
auth.token = "$Token"

[transport]
poolCount = $PoolCount
heartbeatInterval = $HeartbeatInterval
heartbeatTimeout = $HeartbeatTimeout

[[proxies]]
name = "$Name"
type = "tcp"
localIP = "127.0.0.1"
localPort = $LocalPort
remotePort = $RemotePort
"@ | Set-Content -LiteralPath $path -Encoding utf8NoBOM
    Protect-ConfigFile $path
    $path
}

function Start-FaultServer {
    # A server child from ConfigPath (Run-FaultServer.ps1); returns @{ Process; Pid; ControlPort }. Wrapper: see Start-ChildPwsh
    # (e.g. @('prlimit', '--nofile=4096:4096', '--')).
    param([Parameter(Mandatory)] [string] $ConfigPath, [int] $ControlPort = -1, [string[]] $Wrapper = @())
    $proc = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Run-FaultServer.ps1') -ArgumentList @('-ConfigPath', $ConfigPath, '-ControlPort', "$ControlPort") -Wrapper $Wrapper
    $childPid = [int](Read-ChildLine -Process $proc -Pattern '^PID=(\d+)')
    $port = [int](Read-ChildLine -Process $proc -Pattern '^CONTROLPORT=(\d+)')
    [pscustomobject]@{ Process = $proc; Pid = $childPid; ControlPort = $port }
}

function Start-FaultTunnel {
    # A client child from ConfigPath (Run-FaultTunnel.ps1) with one tunnel; returns @{ Process; Pid; RemotePort }. Child: a
    # child of Start-FaultTunnelChild, already loaded while the server started, that runs the tunnel instead of a new one.
    param([Parameter(Mandatory)] [string] $ConfigPath, [System.Diagnostics.Process] $Child)
    $proc = if ($Child) { Resume-ChildPwsh -Process $Child -Parameters @{ ConfigPath = $ConfigPath }; $Child }
    else { Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Run-FaultTunnel.ps1') -ArgumentList @('-ConfigPath', $ConfigPath) }
    $childPid = [int](Read-ChildLine -Process $proc -Pattern '^PID=(\d+)')
    $port = [int](Read-ChildLine -Process $proc -Pattern '^REMOTEPORT=[^:]+:(\d+)')
    [pscustomobject]@{ Process = $proc; Pid = $childPid; RemotePort = $port }
}

function Start-FaultTunnelChild {
    # A deferred child for Start-FaultTunnel -Child (see Start-DeferredChildPwsh): it loads pwsh while the server starts, so
    # that a client costs the server's start-up time, not its own on top; returns the Process.
    Start-DeferredChildPwsh -Script (Join-Path $PSScriptRoot 'Run-FaultTunnel.ps1')
}

function Get-ChildStats {
    # Asks a Run-Fault* child for its Get-TunnelStats; returns the objects.
    param([Parameter(Mandatory)] [System.Diagnostics.Process] $Process)
    $Process.StandardInput.WriteLine('stats')
    $Process.StandardInput.Flush()
    @(Read-ChildLine -Process $Process -Pattern '^STATS=(.*)$' -TimeoutSec 20 | ConvertFrom-Json)
}

function Initialize-ControlPortAttacker {
    # Compiles ControlPortAttacker.cs (ControlPortAttacker, IdleTcpService, UserDownloads) once per process.
    if (-not ('TunnelLite.Tests.ControlPortAttacker' -as [type])) { Add-Type -Path (Join-Path $PSScriptRoot 'ControlPortAttacker.cs') }
}

function New-ControlPortAttacker {
    # A ControlPortAttacker (not started): holds up to Hold silent connections to 127.0.0.1:Port from SourceAddress
    # (round-robin), opening at most PerSecond a second, for DurationSec (0: until StopAsync); MaxAttempts caps the connects
    # in all (0: reopen what the server closes), CloseDeadlineSec closes and counts connections the server keeps longer.
    param([Parameter(Mandatory)] [int] $Port, [Parameter(Mandatory)] [string[]] $SourceAddress, [Parameter(Mandatory)] [int] $Hold,
        [Parameter(Mandatory)] [double] $PerSecond, [double] $DurationSec = 0, [long] $MaxAttempts = 0, [double] $CloseDeadlineSec = 0)
    Initialize-ControlPortAttacker
    $attacker = [TunnelLite.Tests.ControlPortAttacker]::new($Port, [string[]]$SourceAddress, $Hold, $PerSecond, $DurationSec)
    $attacker.MaxAttempts = $MaxAttempts
    $attacker.CloseDeadlineSeconds = $CloseDeadlineSec
    $attacker
}

function Stop-ControlPortAttacker {
    # Stops the attacker, resets what it holds, disposes it; returns its final AttackerStats.
    param([Parameter(Mandatory)] [TunnelLite.Tests.ControlPortAttacker] $Attacker)
    try { $Attacker.StopAsync().GetAwaiter().GetResult() } finally { $Attacker.Dispose() }
}

function Stop-ChildHard {
    # SIGKILL (Process.Kill on Linux) of the child itself; waits until it is gone.
    param([Parameter(Mandatory)] [System.Diagnostics.Process] $Process)
    if (-not $Process.HasExited) { $Process.Kill() }
    if (-not $Process.WaitForExit(10000)) { throw "Child $($Process.Id) did not die within 10 s of SIGKILL." }
}

function Wait-Until {
    # Polls Condition every 100 ms; returns $true once it holds, $false after TimeoutSec.
    param([Parameter(Mandatory)] [scriptblock] $Condition, [double] $TimeoutSec = 10)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
    while ([DateTime]::UtcNow -lt $deadline) {
        if (& $Condition) { return $true }
        Start-Sleep -Milliseconds 100
    }
    [bool](& $Condition)
}

function Test-TcpPortFree {
    # True when a listener can bind 127.0.0.1:Port, i.e. nobody listens there any more.
    param([Parameter(Mandatory)] [int] $Port)
    $l = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, $Port)
    try { $l.Start(); $true } catch { $false } finally { $l.Stop() }
}

function Open-HttpDownload {
    # Connects to 127.0.0.1:Port, asks for /bytes/Size and reads until at least MinBytes have arrived; returns the socket
    # and the count, leaving the rest of the download in flight (nobody reads it until Receive-HttpRest). With -KeepBody the
    # bytes are kept, so that Receive-HttpRest can check the body by SHA-256.
    param([Parameter(Mandatory)] [int] $Port, [Parameter(Mandatory)] [int] $Size, [int] $MinBytes = 1MB, [switch] $KeepBody)
    $s = [System.Net.Sockets.Socket]::new([System.Net.Sockets.SocketType]::Stream, [System.Net.Sockets.ProtocolType]::Tcp)
    $s.Connect([ipaddress]::Loopback, $Port)
    $null = $s.Send([Text.Encoding]::ASCII.GetBytes("GET /bytes/$Size HTTP/1.1`r`nHost: 127.0.0.1`r`n`r`n"))
    $s.ReceiveTimeout = 10000
    $data = if ($KeepBody) { [System.IO.MemoryStream]::new() } else { $null }
    $buf = [byte[]]::new(256KB)
    $total = 0
    while ($total -lt $MinBytes) {
        $n = $s.Receive($buf)
        if ($n -eq 0) { throw "The download through port $Port ended after $total bytes, before $MinBytes." }
        $total += $n
        if ($data) { $data.Write($buf, 0, $n) }
    }
    [pscustomobject]@{ Socket = $s; Received = [long]$total; Data = $data; Size = $Size; ReceivedAtOpen = [long]$total }
}

function Receive-HttpRest {
    # Reads the rest of an Open-HttpDownload until EOF, a reset or TimeoutSec; returns the total and how it ended
    # (Eof, Reset or Timeout), and, when the body was kept (-KeepBody), its length and SHA-256 (hex), the HTTP header left out.
    param([Parameter(Mandatory)] $Download, [double] $TimeoutSec = 10)
    $s = $Download.Socket
    $buf = [byte[]]::new(256KB)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
    $end = 'Timeout'
    try {
        while ([DateTime]::UtcNow -lt $deadline) {
            $task = $s.ReceiveAsync([ArraySegment[byte]]::new($buf), [System.Net.Sockets.SocketFlags]::None)
            if (-not $task.Wait([Math]::Max(1, [int]($deadline - [DateTime]::UtcNow).TotalMilliseconds))) { break }
            if ($task.Result -eq 0) { $end = 'Eof'; break }
            $Download.Received += $task.Result
            if ($Download.Data) { $Download.Data.Write($buf, 0, $task.Result) }
        }
    }
    catch { $end = 'Reset' }
    finally { $s.Dispose() }
    $result = [pscustomobject]@{ Received = $Download.Received; End = $end; BodyLength = $null; Hash = $null }
    if ($Download.Data) {
        $all = $Download.Data.ToArray()
        $headerEnd = -1
        for ($i = 0; $i -le [Math]::Min($all.Length, 64KB) - 4; $i++) {
            if ($all[$i] -eq 13 -and $all[$i + 1] -eq 10 -and $all[$i + 2] -eq 13 -and $all[$i + 3] -eq 10) { $headerEnd = $i + 4; break }
        }
        $result.BodyLength = if ($headerEnd -ge 0) { $all.Length - $headerEnd } else { 0 }
        $sha = [System.Security.Cryptography.SHA256]::Create()
        try { $result.Hash = [Convert]::ToHexString($sha.ComputeHash($all, [Math]::Max(0, $headerEnd), $result.BodyLength)) } finally { $sha.Dispose() }
    }
    $result
}

function Start-HttpDownloadTask {
    # Starts a download of /bytes/Size from 127.0.0.1:Port without waiting; returns @{ Client; Task } (Task gives the body).
    param([Parameter(Mandatory)] [int] $Port, [Parameter(Mandatory)] [int] $Size)
    $http = [System.Net.Http.HttpClient]::new()
    $http.Timeout = [TimeSpan]::FromSeconds(30)
    [pscustomobject]@{ Client = $http; Task = $http.GetByteArrayAsync("http://127.0.0.1:$Port/bytes/$Size") }
}

function Get-Sha256Hex([byte[]] $Bytes) { [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($Bytes)) }

Export-ModuleMember -Function *
