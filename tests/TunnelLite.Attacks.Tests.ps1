# Attacks on the server, measured against real processes: the server and the clients each run in a pwsh child of their own
# (Run-FaultServer.ps1, Run-FaultTunnel.ps1); the attacker (Support/ControlPortAttacker.cs), the users and the local services
# run in this process, which may also log in itself (New-Tunnel) to time a login. Loopback only (127.0.0.0/8); every wait is
# bounded. What a test measures is printed (Write-Host) before it is asserted: attacker, users, logins, and the whole
# Get-TunnelStats of the children, so that the figures can be read off a failing run too.
#   silent connections  an unauthenticated peer holding 2,000 connections that send nothing, reopened at 500/s for 15 s, from
#                       one address and from 64, must not keep a legitimate client from logging in or its users from being served
#   frozen client       3,000 users of a tunnel whose client is stopped (SIGSTOP) are reset within userConnectionTimeout, and
#                       the tunnel serves again at once when the client resumes, without a reconnect
#   descriptors         users that a server under `prlimit --nofile=4096` cannot hold are reset at once, and its other tunnels,
#                       new logins and the server itself go on
# Heartbeats: the fault tests' short interval, but a timeout (20 s) long enough that a loaded 2-core machine drops no client,
# so a reconnect means the attack cost the client its session.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/FaultHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    Initialize-ControlPortAttacker
    $script:Http = New-LocalHttpService
    $script:Dir = Join-Path ([IO.Path]::GetTempPath()) "tunnellite-attacks-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory -Path $script:Dir
    $script:Token = "attacks-$([guid]::NewGuid())"
    $script:HeartbeatInterval = 1
    $script:HeartbeatTimeout = 20
    # A login (New-Tunnel: connect, hello, challenge, proof, register) must complete within this many seconds under attack.
    $script:LoginLimit = 2

    function Write-Figure([string] $Label, $Value) {
        Write-Host "  $Label $(if ($Value -is [string]) { $Value } else { ConvertTo-Json -InputObject $Value -Compress -Depth 4 })"
    }

    function New-AttackServerConfig([System.Collections.IDictionary] $Transport = @{}) {
        New-FaultServerConfig -Directory $script:Dir -Token $script:Token -HeartbeatInterval $script:HeartbeatInterval -HeartbeatTimeout $script:HeartbeatTimeout -Transport $Transport
    }

    function Start-AttackTunnel([int] $ControlPort, [string] $Name, [int] $LocalPort, [int] $PoolCount = 8, [System.Diagnostics.Process] $Child) {
        # Child: a Start-FaultTunnelChild started before the server, so that the two load side by side.
        Start-FaultTunnel -Child $Child -ConfigPath (New-FaultClientConfig -Directory $script:Dir -Token $script:Token -ServerPort $ControlPort `
                -Name "$Name-$([guid]::NewGuid().ToString('N'))" -LocalPort $LocalPort -PoolCount $PoolCount `
                -HeartbeatInterval $script:HeartbeatInterval -HeartbeatTimeout $script:HeartbeatTimeout)
    }

    function Get-RoleStats([System.Diagnostics.Process] $Process, [string] $Role) {
        # The child's Get-TunnelStats of that role, printed whole; $null (and the reason printed) when the child cannot answer.
        try {
            $all = Get-ChildStats $Process
            Write-Figure "$Role stats:" $all
            $all | Where-Object Role -EQ $Role | Select-Object -First 1
        }
        catch {
            Write-Figure "$Role stats:" "unavailable: $($_.Exception.Message)"
            $null
        }
    }

    function Measure-Login([int] $ControlPort, [string] $Label) {
        # A login in this process: New-Tunnel with a tunnel of its own, timed; then stopped. Bounded by New-Tunnel -TimeoutSec.
        $config = New-FaultClientConfig -Directory $script:Dir -Token $script:Token -ServerPort $ControlPort -Name "login-$Label-$([guid]::NewGuid().ToString('N'))" `
            -LocalPort $script:Http.Port -HeartbeatInterval $script:HeartbeatInterval -HeartbeatTimeout $script:HeartbeatTimeout
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $jobs = @(); $err = ''
        try { $jobs = @(New-Tunnel -ConfigPath $config -TimeoutSec 5 -ErrorAction Stop) }
        catch { $err = "$($_.FullyQualifiedErrorId): $($_.Exception.Message)" }
        $seconds = $clock.Elapsed.TotalSeconds
        foreach ($j in $jobs) { Stop-Tunnel -InputObject $j; Remove-Job -Job $j -Force }
        $login = [pscustomobject]@{ Label = $Label; Ok = $jobs.Count -eq 1; Seconds = [Math]::Round($seconds, 3); Error = $err }
        Write-Figure 'login:' $login
        $login
    }

    function Get-Download([int] $Port, [int] $Size, [double] $WithinSec) {
        # Downloads /bytes/Size through Port until one arrives intact, for at most WithinSec; returns the last attempt.
        $hash = Get-ExpectedPayloadHash $Size
        $clock = [Diagnostics.Stopwatch]::StartNew()
        do {
            $left = [Math]::Max(200, [int](($WithinSec - $clock.Elapsed.TotalSeconds) * 1000))
            $result = [TunnelLite.Tests.UserDownloads]::Download($Port, $Size, $hash, $left)
            if (-not $result.Ok) { Start-Sleep -Milliseconds 100 }
        } until ($result.Ok -or $clock.Elapsed.TotalSeconds -ge $WithinSec)
        $result | Add-Member -NotePropertyName AfterSeconds -NotePropertyValue ([Math]::Round($clock.Elapsed.TotalSeconds, 2)) -PassThru
    }
}

AfterAll {
    $script:Http.Dispose()
    Remove-Item -LiteralPath $script:Dir -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Attacks' {
    It 'serves logins and users while 2,000 silent connections from <Label> are held on the control port' -ForEach @(
        @{ Label = 'one address'; Sources = @('127.0.0.2') }
        @{ Label = '64 addresses'; Sources = @(10..73 | ForEach-Object { "127.0.0.$_" }) }
    ) {
        $server = $null; $clientChild = $null; $attacker = $null
        try {
            $clientChild = Start-FaultTunnelChild
            # The server's admission defaults (handshake and preamble timeouts, pending handshakes in all and per source):
            # what a server on the internet runs with.
            $server = Start-FaultServer -ConfigPath (New-AttackServerConfig) -ControlPort 0
            $client = Start-AttackTunnel -ControlPort $server.ControlPort -Name 'flood' -LocalPort $script:Http.Port -PoolCount 8 -Child $clientChild
            $size = 16KB
            $hash = Get-ExpectedPayloadHash $size
            (Get-Download -Port $client.RemotePort -Size $size -WithinSec 10).Ok | Should -BeTrue -Because 'the tunnel works before the attack'

            # 15 s: the preamble timeout (3 s) closes the silent connections and the attacker reopens them, 7,500 in all.
            $attackSeconds = 15
            $attacker = New-ControlPortAttacker -Port $server.ControlPort -SourceAddress $Sources -Hold 2000 -PerSecond 500 -DurationSec $attackSeconds
            $attacker.Start()
            Wait-Until { $attacker.Elapsed -ge 3 } -TimeoutSec 10 | Out-Null
            Write-Figure 'attacker after 3 s:' $attacker.Snapshot()
            # 250 users spread over the attack (about 23 a second, at most 32 at once), each checked by hash; whatever has
            # not started 12 s into the attack counts as failed, so that a server that times them all out ends the run in time.
            $users = [TunnelLite.Tests.UserDownloads]::RunAsync($client.RemotePort, 250, 32, 250 / 11, $size, $hash, 5000, 12000)
            $logins = foreach ($at in 3.5, 8, 12.5) {
                Wait-Until { $attacker.Elapsed -ge $at } -TimeoutSec 30 | Out-Null
                Measure-Login -ControlPort $server.ControlPort -Label "at-$($at)s"
            }
            $usersDone = $users.Wait(45000)
            $userStats = if ($usersDone) { $users.Result } else { $null }
            Write-Figure 'users:' $userStats
            $null = $attacker.WaitPacing(([int]$attackSeconds + 10) * 1000)
            $attack = Stop-ControlPortAttacker $attacker
            $attacker = $null
            Write-Figure 'attacker:' $attack

            $after = Get-Download -Port $client.RemotePort -Size $size -WithinSec 5
            Write-Figure 'download after the attack:' $after
            $serverStats = Get-RoleStats $server.Process 'Server'
            $clientStats = Get-RoleStats $client.Process 'Client'

            $attack.Attempted | Should -BeGreaterOrEqual 2000 -Because 'the attacker must really have opened its 2,000 connections'
            foreach ($login in $logins) {
                $login.Ok | Should -BeTrue -Because "a login during the attack ($($login.Label)) must succeed: $($login.Error)"
                $login.Seconds | Should -BeLessThan $script:LoginLimit -Because "a login during the attack ($($login.Label)) must take under $($script:LoginLimit) s"
            }
            $usersDone | Should -BeTrue -Because 'the 250 users end within their deadlines'
            $userStats.Failed | Should -Be 0 -Because "no user of the tunnel may fail during the attack ($($userStats.Failed) of $($userStats.Count) failed: $($userStats.Errors))"
            $after.Ok | Should -BeTrue -Because "the tunnel must serve within 5 s of the attack's end ($after)"
            $clientStats | Should -Not -BeNullOrEmpty -Because 'the client child answers stats'
            $clientStats.Reconnects | Should -Be 0 -Because 'the client must keep its session through the attack'
            $serverStats.Clients | Should -Be 1
            $serverStats.Tunnels | Should -Be 1
        }
        finally {
            if ($attacker) { $null = Stop-ControlPortAttacker $attacker }
            Stop-ChildPwsh $clientChild, $(if ($server) { $server.Process })
        }
    }

    It 'resets 3,000 users of a frozen client within userConnectionTimeout and serves again at once when it resumes' {
        $server = $null; $clientChild = $null; $client = $null; $attacker = $null
        try {
            $userTimeout = 2
            $pool = 8
            $clientChild = Start-FaultTunnelChild
            $server = Start-FaultServer -ConfigPath (New-AttackServerConfig -Transport ([ordered]@{ userConnectionTimeout = $userTimeout })) -ControlPort 0
            $client = Start-AttackTunnel -ControlPort $server.ControlPort -Name 'frozen' -LocalPort $script:Http.Port -PoolCount $pool -Child $clientChild
            (Get-Download -Port $client.RemotePort -Size 16KB -WithinSec 10).Ok | Should -BeTrue -Because 'the tunnel works before the freeze'

            # A stopped process keeps its sockets open and answers nothing: no data connection will come for these users. The
            # freeze (about 8 s: 3,000 users at 500/s, the last ones waiting 2 s) stays well within the heartbeat timeout (20 s).
            $slack = 3
            $attacker = New-ControlPortAttacker -Port $client.RemotePort -SourceAddress '127.0.0.1' -Hold 1000 -PerSecond 500 -MaxAttempts 3000 -CloseDeadlineSec ($userTimeout + $slack)
            & kill -STOP $client.Pid
            $frozen = [Diagnostics.Stopwatch]::StartNew()
            try {
                $attacker.Start()
                $null = $attacker.WaitPacing(20000)
                $null = Wait-Until { $attacker.Open -eq 0 } -TimeoutSec ($userTimeout + $slack + 5)
            }
            finally {
                & kill -CONT $client.Pid
            }
            $frozenSeconds = [Math]::Round($frozen.Elapsed.TotalSeconds, 1)
            $users = Stop-ControlPortAttacker $attacker
            $attacker = $null
            Write-Figure "users while frozen ($frozenSeconds s):" $users

            # Within 5 s of the resume: 20 downloads, 4 at a time, each checked by hash.
            $size = 64KB
            $resumed = [Diagnostics.Stopwatch]::StartNew()
            $downloads = [TunnelLite.Tests.UserDownloads]::RunAsync($client.RemotePort, 20, 4, 0, $size, (Get-ExpectedPayloadHash $size), 5000, 5000).GetAwaiter().GetResult()
            $resumedSeconds = [Math]::Round($resumed.Elapsed.TotalSeconds, 2)
            Write-Figure "downloads after the resume ($resumedSeconds s):" $downloads
            $serverStats = Get-RoleStats $server.Process 'Server'
            $clientStats = Get-RoleStats $client.Process 'Client'

            $frozenSeconds | Should -BeLessThan ($script:HeartbeatTimeout - 5) -Because 'the freeze must stay within the heartbeat timeout, or a drop would be legitimate'
            $users.Attempted | Should -Be 3000
            $users.Failed | Should -Be 0 -Because "the server accepts users of a tunnel whose client is frozen ($($users.Errors))"
            # The pooled data connections were open before the freeze; the (at most $pool) users paired with them wait on the
            # frozen client, not on the server. Every other user must be closed by the server.
            $users.ClosedByServer | Should -BeGreaterOrEqual (3000 - $pool) -Because "users waiting for a data connection must be reset or closed within userConnectionTimeout + $slack s ($($users.NotClosedInTime) were not; lifetimes p50 $($users.LifetimeP50Ms) ms, max $($users.LifetimeMaxMs) ms)"
            $downloads.Ok | Should -Be 20 -Because "the resumed client must serve at once ($($downloads.Failed) of 20 failed within 5 s: $($downloads.Errors))"
            $resumedSeconds | Should -BeLessOrEqual 5.5
            $clientStats | Should -Not -BeNullOrEmpty -Because 'the client child answers stats'
            $clientStats.Reconnects | Should -Be 0 -Because 'the client must keep its session through the freeze'
            $serverStats.Clients | Should -Be 1
        }
        finally {
            if ($client) { & kill -CONT $client.Pid 2>$null }
            if ($attacker) { $null = Stop-ControlPortAttacker $attacker }
            Stop-ChildPwsh $clientChild, $(if ($server) { $server.Process })
        }
    }

    It 'resets users beyond its descriptor budget at once, and keeps other tunnels, logins and itself alive (prlimit --nofile=4096)' -Skip:(-not $IsLinux) {
        $server = $null; $aChild = $null; $bChild = $null; $attacker = $null; $idle = $null
        try {
            # Tunnel A's local service accepts and never answers, so each of its users holds a descriptor pair in the
            # server (user and data connection) for good. Only the descriptor budget limits them (maxConnectionsPerTunnel is
            # far above 3,000): a server of 4,096 descriptors holds fewer than 2,048 such users.
            $idle = [TunnelLite.Tests.IdleTcpService]::new()
            $aChild = Start-FaultTunnelChild
            $bChild = Start-FaultTunnelChild
            $server = Start-FaultServer -ConfigPath (New-AttackServerConfig -Transport ([ordered]@{ maxConnectionsPerTunnel = 100000 })) -ControlPort 0 -Wrapper @('prlimit', '--nofile=4096:4096', '--')
            $limits = Get-Content -LiteralPath "/proc/$($server.Pid)/limits" | Where-Object { $_ -match '^Max open files' }
            Write-Figure 'server limits:' $limits
            $limits | Should -Match '^Max open files\s+4096\s+4096\b' -Because 'the server child must run under prlimit --nofile=4096:4096'
            $a = Start-AttackTunnel -ControlPort $server.ControlPort -Name 'idle-a' -LocalPort $idle.Port -PoolCount 8 -Child $aChild
            $b = Start-AttackTunnel -ControlPort $server.ControlPort -Name 'http-b' -LocalPort $script:Http.Port -PoolCount 8 -Child $bChild
            (Get-Download -Port $b.RemotePort -Size 16KB -WithinSec 10).Ok | Should -BeTrue -Because 'tunnel B works before the attack'

            $attacker = New-ControlPortAttacker -Port $a.RemotePort -SourceAddress '127.0.0.1' -Hold 3000 -PerSecond 500 -MaxAttempts 3000
            $attacker.Start()
            $null = $attacker.WaitPacing(20000)
            # Settled: every connect has ended one way or the other, and the server has paired every user it kept with a
            # connection to the idle service behind A (or had 2 s to pair or refuse them).
            $null = Wait-Until { $attacker.Open -eq $attacker.Held } -TimeoutSec 10
            $null = Wait-Until { $idle.Accepted -ge $attacker.Held } -TimeoutSec 2
            $flood = $attacker.Snapshot()
            Write-Figure 'users of A:' $flood
            Write-Figure 'idle service behind A:' ([pscustomobject]@{ Accepted = $idle.Accepted; Held = $idle.Held; ClosedByPeer = $idle.ClosedByPeer })
            $fds = try { @(Get-ChildItem -LiteralPath "/proc/$($server.Pid)/fd" -ErrorAction Stop).Count } catch { -1 }
            Write-Figure 'server open descriptors:' "$fds"

            # (a) tunnel B serves: 50 downloads, 25 at a time, each checked by hash.
            $size = 64KB
            $bDownloads = [TunnelLite.Tests.UserDownloads]::RunAsync($b.RemotePort, 50, 25, 0, $size, (Get-ExpectedPayloadHash $size), 5000, 15000).GetAwaiter().GetResult()
            Write-Figure 'downloads through B:' $bDownloads
            # (b) a new login.
            $login = Measure-Login -ControlPort $server.ControlPort -Label 'descriptors'
            # (c) fresh users of A beyond the budget: 20, one every 50 ms, each waiting at most 1 s for the server's reset.
            $probes = [TunnelLite.Tests.ControlPortAttacker]::ProbeManyAsync($a.RemotePort, 20, 50, '127.0.0.1', 1000, 1000).GetAwaiter().GetResult()
            Write-Figure 'fresh users of A:' (($probes | ForEach-Object ToString) -join ', ')
            # (d) the server is alive and answers.
            $alive = -not $server.Process.HasExited
            Write-Figure 'server alive:' "$alive"
            $serverStats = Get-RoleStats $server.Process 'Server'

            $flood.Attempted | Should -Be 3000
            $bDownloads.Ok | Should -Be 50 -Because "tunnel B must keep serving ($($bDownloads.Failed) of 50 failed: $($bDownloads.Errors))"
            $login.Ok | Should -BeTrue -Because "a new login must succeed: $($login.Error)"
            $login.Seconds | Should -BeLessThan $script:LoginLimit
            $flood.ClosedByServer | Should -BeGreaterThan 0 -Because "users beyond the budget must be reset, not left in the listen backlog or timed out at connect ($($flood.Failed) connects failed: $($flood.Errors))"
            # 100 ms from connect to reset is plenty: the server refuses before it pairs, with descriptors of its reserve. (Measured
            # on the loaded 2-core machine with the per-tunnel cap in that role instead, 1,500 idle users held: 0.2-6 ms.)
            $late = @($probes | Where-Object { $_.Outcome -notin 'Eof', 'Reset' -or $_.ClosedAfterMs -gt 100 })
            $late.Count | Should -Be 0 -Because "every fresh user of A beyond the budget must see a reset or EOF within 100 ms ($($late.Count) of 20 did not: $(($late | ForEach-Object ToString) -join ', '))"
            $alive | Should -BeTrue -Because 'the server process must survive'
            $serverStats | Should -Not -BeNullOrEmpty -Because 'the server must still answer stats'
            $serverStats.Tunnels | Should -Be 2
        }
        finally {
            if ($attacker) { $null = Stop-ControlPortAttacker $attacker }
            Stop-ChildPwsh $aChild, $bChild, $(if ($server) { $server.Process })
            if ($idle) { $idle.Dispose() }
        }
    }

    It 'fails New-Tunnel with ServerAuthenticationFailed against a fake server without the token, and the local service sees nothing' {
        $fake = $null; $idle = $null
        try {
            $idle = [TunnelLite.Tests.IdleTcpService]::new()
            $fake = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-FakeServer.ps1') -ArgumentList @('-Seconds', '5')
            $port = [int](Read-ChildLine -Process $fake -Pattern '^PORT=(\d+)$' -TimeoutSec 30)
            $err = $null
            try { $null = New-Tunnel -Server "127.0.0.1:$port" -Token $script:Token -LocalPort $idle.Port -Name "fooled-$([guid]::NewGuid().ToString('N'))" -TimeoutSec 5 -ErrorAction Stop }
            catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty -Because 'a server that cannot prove the token must not get a tunnel'
            $err.FullyQualifiedErrorId | Should -BeLike 'ServerAuthenticationFailed*'
            $err.Exception.Message | Should -Match 'could not prove that it knows the token'
            $err.Exception.Message | Should -Not -Match ([regex]::Escape($script:Token)) -Because 'no error shows the token'
            $data = [int](Read-ChildLine -Process $fake -Pattern '^DATA=(\d+)$' -TimeoutSec 30)
            $logins = [int](Read-ChildLine -Process $fake -Pattern '^LOGINS=(\d+)$' -TimeoutSec 5)
            Write-Figure 'fake server:' ([pscustomobject]@{ Logins = $logins; DataConnections = $data; LocalServiceAccepted = $idle.Accepted })
            $logins | Should -Be 1
            $data | Should -Be 0 -Because 'the client opens no data connection before the server has proved the token'
            $idle.Accepted | Should -Be 0 -Because 'the client makes no local connection for a server that did not prove the token'
            @(Get-Tunnel | Where-Object Name -Like 'fooled-*').Count | Should -Be 0
        }
        finally {
            if ($fake) { Stop-ChildPwsh $fake }
            if ($idle) { $idle.Dispose() }
        }
    }
}
