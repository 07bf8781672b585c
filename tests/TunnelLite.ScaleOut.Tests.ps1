# The scale-out recipe of the README, run for real: HAProxy (Debian package haproxy) in TCP mode in front of two TunnelLite
# servers in two pwsh processes (public ports on 127.0.0.2 and 127.0.0.3, admin endpoints there for HAProxy's
# `option httpchk GET /ready`), one client in this process registered on both. Checked load runs through HAProxy while
# server A is drained (its users finish, new ones go to B), restarted, and then server B is SIGKILLed. Every stream either
# arrives whole and matches its hash, or breaks with only right bytes before the break. B's kernel resets the connections
# of the killed process (SO_LINGER 0 while a stream runs), on both sides: HAProxy counts each as a transfer its server
# aborted (srv_abrt, which a FIN would not be) and ends the user's connection after the bytes it has (HAProxy's way, which
# Content-Length exposes); the client resets the local service's end and counts it. The load generator, the client's
# ResetConnections for B and HAProxy's srv_abrt for b count the broken streams alike, and they are the streams the
# statistics saw on B just before the kill.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/FaultHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/ServiceHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Http = New-LocalHttpService
    $script:Pwsh = [Environment]::ProcessPath   # dotnet, when pwsh runs as the dotnet tool
    $script:Module = Join-Path (Resolve-Path (Join-Path $PSScriptRoot '..')).Path 'out/TunnelLite/TunnelLite.psd1'
    $script:Password = 'scale-out admin password for pester'
    $script:Ops = [pscredential]::new('ops', (ConvertTo-SecureString $script:Password -AsPlainText -Force))
    $script:Haproxy = Get-Command haproxy, /usr/sbin/haproxy -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    # The streams left in flight across an event: large enough that they are still moving when it happens (the socket
    # buffers along the chain hold tens of MB at most).
    $script:LongSize = 64MB
    $script:Hashes = @{}

    function Get-PayloadHash([int] $Size) {
        # Get-ExpectedPayloadHash, computed once per size.
        if (-not $script:Hashes.ContainsKey($Size)) { $script:Hashes[$Size] = Get-ExpectedPayloadHash $Size }
        $script:Hashes[$Size]
    }

    function New-ScaleOutServerConfig([string] $Directory, [string] $Name, [string] $Address, [int] $ControlPort, [int] $AdminPort, [string] $Token) {
        $file = Join-Path $Directory "$Name.toml"
        @"
bindAddr = "$Address"
bindPort = $ControlPort
auth.token = "$Token"

[webServer]
addr = "$Address"
port = $AdminPort
user = "ops"
password = "$($script:Password)"

[transport]
drainDelay = 3
drainTimeout = 60
"@ | Set-Content -LiteralPath $file -Encoding utf8NoBOM
        Protect-ConfigFile $file
        $file
    }

    function Start-ScaleOutServer([string] $Name, [string] $ConfigPath, [string] $Address, [int] $ControlPort) {
        # As a service runs it (Start-TunnelServer -Wait): the process exits when a drain ends.
        $child = Start-ChildProcess -FilePath $script:Pwsh -ArgumentList @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command',
            "Import-Module '$($script:Module)'; Start-TunnelServer -ConfigPath '$ConfigPath' -Name $Name -Wait") -Environment @{ NO_COLOR = '1' }
        $null = Wait-ChildLine $child "$($Name): TunnelLite server listening on $([regex]::Escape($Address)):$ControlPort\.$"
        $child
    }

    function Get-HaproxyServer([int] $StatsPort, [string] $Name) {
        # One server's row of HAProxy's statistics (CSV): status (UP, DOWN, ...), scur (sessions now), stot (in all),
        # srv_abrt (data transfers the server aborted).
        $csv = (Invoke-WebRequest "http://127.0.0.1:$StatsPort/stats;csv" -TimeoutSec 5).Content
        $csv.TrimStart('#', ' ') | ConvertFrom-Csv | Where-Object { $_.pxname -eq 'tunnellite' -and $_.svname -eq $Name }
    }

    function Invoke-CheckedLoad([string] $Phase, [int] $Port, [int] $Count, [int] $Size) {
        # Count downloads of Size bytes at once through 127.0.0.1:Port (each a new connection: the service closes after
        # its answer); each checked by hash. Returns one record per stream: Ok, Broken (it failed: a reset or an early
        # end, which Content-Length exposes) or Corrupt (whole but different bytes).
        $client = [System.Net.Http.HttpClient]::new()
        $client.Timeout = [TimeSpan]::FromSeconds(60)
        try {
            $tasks = @(1..$Count | ForEach-Object { $client.GetByteArrayAsync("http://127.0.0.1:$Port/bytes/$Size") })
            try { [System.Threading.Tasks.Task]::WaitAll([System.Threading.Tasks.Task[]]$tasks) } catch { }
            $expected = Get-PayloadHash $Size
            foreach ($t in $tasks) {
                $outcome = if (-not $t.IsCompletedSuccessfully) { 'Broken' }
                elseif ($t.Result.Length -eq $Size -and (Get-Sha256Hex $t.Result) -eq $expected) { 'Ok' }
                else { 'Corrupt' }
                [pscustomobject]@{ Phase = $Phase; Outcome = $outcome; Error = if ($t.Exception) { $t.Exception.GetBaseException().Message } }
            }
        }
        finally { $client.Dispose() }
    }

    function Complete-LongDownload([string] $Phase, $Download, [int] $Size) {
        # Reads the rest of an Open-HttpDownload -KeepBody: Ok when the whole body came and matches the hash; Broken when it
        # ended early (a reset, or an end before Content-Length) with nothing but the payload's first bytes before that;
        # Stalled when nothing ended it within a minute; Corrupt otherwise (a wrong byte, or more than asked for). End says
        # how it ended: Eof, Reset or Timeout.
        $rest = Receive-HttpRest -Download $Download -TimeoutSec 60
        $outcome = if ($rest.End -eq 'Timeout') { 'Stalled' }
        elseif ($rest.End -eq 'Eof' -and $rest.BodyLength -eq $Size -and $rest.Hash -eq (Get-PayloadHash $Size)) { 'Ok' }
        elseif ($rest.End -in 'Eof', 'Reset' -and $rest.BodyLength -lt $Size) {
            # The body so far against as many first bytes of the payload, by SHA-256 (PowerShell has no spans).
            $all = $Download.Data.ToArray()
            $sha = [System.Security.Cryptography.SHA256]::Create()
            try {
                $got = [Convert]::ToHexString($sha.ComputeHash($all, $all.Length - $rest.BodyLength, $rest.BodyLength))
                $want = [Convert]::ToHexString($sha.ComputeHash([TunnelLite.Demo.LocalHttpService]::Payload($Size), 0, $rest.BodyLength))
            }
            finally { $sha.Dispose() }
            if ($got -eq $want) { 'Broken' } else { 'Corrupt' }
        }
        else { 'Corrupt' }
        $Download.Data.Dispose()
        [pscustomobject]@{ Phase = $Phase; Outcome = $outcome; End = $rest.End; Error = "$($rest.End) after $($rest.BodyLength) of $Size bytes" }
    }
}

AfterAll {
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
}

Describe 'Scale-out behind HAProxy' {
    It 'keeps every stream whole or visibly broken through a drain of A, its restart and a SIGKILL of B, and the statistics count the broken ones alike' {
        if (-not $IsLinux) { Set-ItResult -Skipped -Because 'the recipe needs 127.0.0.2 and 127.0.0.3 on loopback (Linux) and HAProxy'; return }
        if (-not $script:Haproxy) {
            if ($env:CI -eq 'true') { throw 'haproxy is missing (package haproxy); build.ps1 Test installs it with apt-get where it can.' }
            Set-ItResult -Skipped -Because 'haproxy is not installed (apt-get install haproxy; build.ps1 Test does it where it can)'
            return
        }
        $serverA = $null; $serverB = $null; $haproxy = $null; $tunnel = $null
        $streams = [System.Collections.Generic.List[object]]::new()
        try {
            $token = New-TunnelToken
            $ports = [System.Collections.Generic.HashSet[int]]::new()
            while ($ports.Count -lt 7) { $null = $ports.Add((Get-FreeTcpPort)) }
            $controlA, $controlB, $adminA, $adminB, $public, $front, $stats = @($ports)
            $fileA = New-ScaleOutServerConfig -Directory $TestDrive -Name a -Address 127.0.0.2 -ControlPort $controlA -AdminPort $adminA -Token $token
            $fileB = New-ScaleOutServerConfig -Directory $TestDrive -Name b -Address 127.0.0.3 -ControlPort $controlB -AdminPort $adminB -Token $token
            $serverA = Start-ScaleOutServer -Name a -ConfigPath $fileA -Address 127.0.0.2 -ControlPort $controlA
            $serverB = Start-ScaleOutServer -Name b -ConfigPath $fileB -Address 127.0.0.3 -ControlPort $controlB

            $tunnel = New-Tunnel -Server "127.0.0.2:$controlA", "127.0.0.3:$controlB" -Token $token -LocalPort $script:Http.Port -RemotePort $public -Name scaleout-web
            Wait-Until { $tunnel.ServersConnected -eq 2 } -TimeoutSec 20 | Should -BeTrue

            # The README's configuration, with this test's ports (haproxy refuses a file whose last line has no LF).
            $cfg = Join-Path $TestDrive 'haproxy.cfg'
            @"
global
    maxconn 1000

defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1

frontend tunnels
    bind 127.0.0.1:$front
    default_backend tunnellite

backend tunnellite
    balance roundrobin
    option httpchk GET /ready
    default-server inter 500ms fall 1 rise 1
    server a 127.0.0.2:$public check port $adminA
    server b 127.0.0.3:$public check port $adminB

listen stats
    mode http
    bind 127.0.0.1:$stats
    stats enable
    stats uri /stats

"@ | Set-Content -LiteralPath $cfg -Encoding utf8NoBOM
            $haproxy = Start-ChildProcess -FilePath $script:Haproxy.Source -ArgumentList @('-db', '-f', $cfg)
            $bothUp = { try { (Get-HaproxyServer $stats a).status -eq 'UP' -and (Get-HaproxyServer $stats b).status -eq 'UP' } catch { $false } }
            Wait-Until $bothUp -TimeoutSec 20 | Should -BeTrue -Because "HAProxy sees both servers ready. haproxy exited: $($haproxy.Process.HasExited)"

            # Warm: load through both servers.
            $warm = @(Invoke-CheckedLoad -Phase warm -Port $front -Count 16 -Size 2MB)
            $streams.AddRange($warm)
            @($warm | Where-Object Outcome -ne 'Ok') | Should -BeNullOrEmpty
            [int](Get-HaproxyServer $stats a).stot | Should -BeGreaterThan 0
            [int](Get-HaproxyServer $stats b).stot | Should -BeGreaterThan 0

            # Drain A with downloads in flight on both: HAProxy takes A out at its first failed /ready, new users go to B,
            # and A's users finish before its process exits 0.
            $inFlight = @(1..4 | ForEach-Object { Open-HttpDownload -Port $front -Size $script:LongSize -MinBytes 1MB -KeepBody })
            $onA = [int](Get-HaproxyServer $stats a).scur
            $onA | Should -BeGreaterThan 0 -Because 'round robin put some of the downloads on A'
            $drain = Stop-Tunnel -AdminEndpoint "127.0.0.2:$adminA" -Credential $script:Ops -Drain -Confirm:$false
            $drain.DelaySeconds | Should -Be 3
            Wait-Until { (Get-HaproxyServer $stats a).status -ne 'UP' } -TimeoutSec 3 | Should -BeTrue -Because 'the /ready check fails during the drain delay'
            $during = @(Invoke-CheckedLoad -Phase drain -Port $front -Count 10 -Size 2MB)
            $streams.AddRange($during)
            @($during | Where-Object Outcome -ne 'Ok') | Should -BeNullOrEmpty
            foreach ($d in $inFlight) { $streams.Add((Complete-LongDownload -Phase drain -Download $d -Size $script:LongSize)) }
            @($streams | Where-Object { $_.Phase -eq 'drain' -and $_.Outcome -ne 'Ok' }) | Should -BeNullOrEmpty -Because 'a drain loses no user'
            $exit = Wait-ChildExit $serverA -TimeoutSec 30
            $exit.Exited | Should -BeTrue
            $exit.ExitCode | Should -Be 0 -Because "stderr: $($exit.Stderr)"

            # Restart A (an upgrade would start the new version here): the client registers there again by itself and
            # HAProxy takes A back once /ready answers 200.
            $serverA.Process.Dispose()
            $serverA = Start-ScaleOutServer -Name a -ConfigPath $fileA -Address 127.0.0.2 -ControlPort $controlA
            Wait-Until { $tunnel.ServersConnected -eq 2 } -TimeoutSec 60 | Should -BeTrue
            Wait-Until $bothUp -TimeoutSec 10 | Should -BeTrue
            $stotA = [int](Get-HaproxyServer $stats a).stot
            $back = @(Invoke-CheckedLoad -Phase restarted -Port $front -Count 10 -Size 2MB)
            $streams.AddRange($back)
            @($back | Where-Object Outcome -ne 'Ok') | Should -BeNullOrEmpty
            [int](Get-HaproxyServer $stats a).stot | Should -BeGreaterThan $stotA -Because 'the restarted A serves again'

            # SIGKILL B with downloads in flight on both. Before the kill the statistics say how many users B carries: the
            # client's row for B and HAProxy's scur for b; exactly those streams must break, and nothing else.
            $inFlight = @(1..4 | ForEach-Object { Open-HttpDownload -Port $front -Size $script:LongSize -MinBytes 1MB -KeepBody })
            # (The streams of the load before close within moments; until then they are counted too.)
            $settled = { $r = @(Get-TunnelStats -Name scaleout-web); $r[1].ActiveConnections + $r[2].ActiveConnections -eq $inFlight.Count }
            Wait-Until $settled -TimeoutSec 10 | Should -BeTrue -Because 'the client''s statistics see every user in flight'
            $rows = @(Get-TunnelStats -Name scaleout-web)
            $rows[1].Server | Should -Be "127.0.0.2:$controlA"
            $rows[2].Server | Should -Be "127.0.0.3:$controlB"
            $clientOnB = $rows[2].ActiveConnections
            $clientOnA = $rows[1].ActiveConnections
            $clientOnB | Should -BeGreaterThan 0 -Because 'round robin put some of the downloads on B'
            $clientOnA | Should -BeGreaterThan 0 -Because 'and some on A'
            Wait-Until { [int](Get-HaproxyServer $stats b).scur -eq $clientOnB } -TimeoutSec 10 | Should -BeTrue -Because 'HAProxy counts the same users on b'
            $rows[2].ResetConnections | Should -Be 0 -Because 'no stream broke before the kill'
            $abortsBefore = [int](Get-HaproxyServer $stats b).srv_abrt

            Stop-ChildHard $serverB.Process
            $killed = @($inFlight | ForEach-Object { Complete-LongDownload -Phase kill -Download $_ -Size $script:LongSize })
            $streams.AddRange($killed)
            Wait-Until { (Get-HaproxyServer $stats b).status -ne 'UP' } -TimeoutSec 5 | Should -BeTrue
            $after = @(Invoke-CheckedLoad -Phase killed -Port $front -Count 10 -Size 2MB)
            $streams.AddRange($after)
            @($after | Where-Object Outcome -ne 'Ok') | Should -BeNullOrEmpty -Because 'HAProxy sends new users to A'
            Wait-Until { (@(Get-TunnelStats -Name scaleout-web))[2].ActiveConnections -eq 0 } -TimeoutSec 10 | Should -BeTrue
            $resetsOnB = (@(Get-TunnelStats -Name scaleout-web))[2].ResetConnections
            $resetsOnA = (@(Get-TunnelStats -Name scaleout-web))[1].ResetConnections
            $abortsOnB = [int](Get-HaproxyServer $stats b).srv_abrt - $abortsBefore
            $cut = @($killed | Where-Object Outcome -ne 'Ok' | ForEach-Object { $_.Error }) -join '; '
            Write-Host "    kill of B: $clientOnB of $($inFlight.Count) streams on B; broken: $cut; client ResetConnections for B: $resetsOnB; HAProxy srv_abrt for b: $abortsOnB"

            # Over the whole run: nothing corrupted; the only broken streams are B's at the kill, as many as counted there.
            $report = ($streams | Where-Object Outcome -ne 'Ok' | ForEach-Object { "$($_.Phase) $($_.Outcome): $($_.Error)" }) -join '; '
            @($streams | Where-Object Outcome -notin 'Ok', 'Broken') | Should -BeNullOrEmpty -Because $report
            $broken = @($streams | Where-Object Outcome -eq 'Broken')
            @($broken | Where-Object Phase -ne 'kill') | Should -BeNullOrEmpty -Because $report
            $broken.Count | Should -Be $clientOnB -Because "the streams on B at the kill break, and only they ($report)"
            $resetsOnB | Should -Be $broken.Count -Because "the load generator and the client's statistics count the resets alike ($report)"
            $abortsOnB | Should -Be $broken.Count -Because "HAProxy counts them too, as transfers its server b aborted: B's kernel reset them ($report)"
            $resetsOnA | Should -Be 0 -Because 'nothing broke on A, the drain included'
            @($killed | Where-Object Outcome -eq 'Ok').Count | Should -Be $clientOnA -Because 'the streams on A finish whole'
            $streams.Count | Should -Be (16 + 4 + 10 + 10 + 4 + 10)
        }
        finally {
            if ($tunnel) { Stop-Tunnel -InputObject $tunnel; Remove-Job -Job $tunnel -Force }
            Stop-ChildProcess $haproxy
            Stop-ChildProcess $serverA
            Stop-ChildProcess $serverB
        }
    }
}
