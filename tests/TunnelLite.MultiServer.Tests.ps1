# One client, several servers: a tunnel in this process registered on two servers in two other pwsh processes at once
# (they bind 127.0.0.2 and 127.0.0.3, so that both open the same public port). Downloads through each are checked by
# hash; one server process is killed: users through the other keep flowing, the killed one's users end, and the tunnel
# registers there again when it comes back.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/FaultHelpers.psm1') -Force   # Wait-Until
    Import-TunnelLiteUnderTest
    $script:Http = New-LocalHttpService
    $script:ServerScript = Join-Path $PSScriptRoot 'Support/Run-TunnelServer.ps1'

    function Assert-Download([string] $Address, [int] $Port, [int] $Size) {
        $body = Invoke-HttpDownload -Address $Address -Port $Port -Path "/bytes/$Size"
        $body.Length | Should -Be $Size
        [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash $Size)
    }
}

AfterAll {
    Get-Tunnel | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
}

Describe 'New-Tunnel with several servers' {
    It 'carries users through each server, and through the other one while a server is killed and comes back' {
        $token = "multi-$([guid]::NewGuid())"
        $serverA = $null
        $serverB = $null
        $user = $null
        try {
            $serverA = Start-ChildPwsh -Script $script:ServerScript -ArgumentList @('-Token', $token, '-BindAddress', '127.0.0.2')
            $serverB = Start-ChildPwsh -Script $script:ServerScript -ArgumentList @('-Token', $token, '-BindAddress', '127.0.0.3')
            $controlA = [int](Read-ChildLine -Process $serverA -Pattern '^CONTROLPORT=(\d+)')
            $controlB = [int](Read-ChildLine -Process $serverB -Pattern '^CONTROLPORT=(\d+)')
            $port = Get-FreeTcpPort

            $job = New-Tunnel -Server "127.0.0.2:$controlA", "127.0.0.3:$controlB" -Token $token -LocalPort $script:Http.Port -RemotePort $port -Name multi-web
            $job.Servers | Should -Be @("127.0.0.2:$controlA", "127.0.0.3:$controlB")
            $job.PublicEndpoint | Should -Be "127.0.0.2:$port,127.0.0.3:$port"
            $job.Command | Should -Match "via 127\.0\.0\.2:$controlA, 127\.0\.0\.3:$controlB$"
            @(Get-Job -Name multi-web).Count | Should -Be 1
            Wait-Until { $job.ServersConnected -eq 2 } -TimeoutSec 20 | Should -BeTrue
            $job.StatusMessage | Should -Be 'Connected (2 of 2 servers)'
            Assert-Download 127.0.0.2 $port 4MB
            Assert-Download 127.0.0.3 $port 4MB

            # A user in the middle of a long download through A when A's process dies: its download ends early.
            $size = 256MB
            $user = [System.Net.Sockets.Socket]::new([System.Net.Sockets.AddressFamily]::InterNetwork, [System.Net.Sockets.SocketType]::Stream, [System.Net.Sockets.ProtocolType]::Tcp)
            $user.ReceiveTimeout = 15000
            $user.Connect([ipaddress]::Parse('127.0.0.2'), $port)
            $null = $user.Send([Text.Encoding]::ASCII.GetBytes("GET /bytes/$size HTTP/1.1`r`nHost: x`r`nConnection: close`r`n`r`n"))
            $buffer = [byte[]]::new(64KB)
            $got = [long]$user.Receive($buffer)
            $got | Should -BeGreaterThan 0

            $serverA.Kill($true)
            $serverA.WaitForExit(10000) | Should -BeTrue

            $reset = $false
            try {
                while (($n = $user.Receive($buffer)) -gt 0) { $got += $n }
            }
            catch [System.Net.Sockets.SocketException] { $reset = $_.Exception.SocketErrorCode -eq 'ConnectionReset' }
            $got | Should -BeLessThan $size
            $reset | Should -BeTrue -Because 'the dead server''s kernel resets the connections it was forwarding: the user cannot take the cut download for a whole one'

            # B carries on; A's address has no listener; the job says one of two servers.
            Assert-Download 127.0.0.3 $port 8MB
            Wait-Until { $job.ServersConnected -eq 1 } -TimeoutSec 20 | Should -BeTrue
            $job.Status | Should -Be 'Connected'
            $job.StatusMessage | Should -Match "^Connected \(1 of 2 servers; 127\.0\.0\.2:$controlA Reconnecting"
            $stats = @(Get-TunnelStats -Name multi-web)
            $stats.Count | Should -Be 3
            $stats[0].Server | Should -Be "127.0.0.2:$controlA,127.0.0.3:$controlB"
            $stats[0].ServersConnected | Should -Be 1
            $stats[1].Server | Should -Be "127.0.0.2:$controlA"
            $stats[1].State | Should -Be 'Reconnecting'
            $stats[2].Server | Should -Be "127.0.0.3:$controlB"
            $stats[2].State | Should -Be 'Connected'
            $stats[2].BytesOut | Should -BeGreaterOrEqual 12MB
            $stats[0].BytesOut | Should -Be ($stats[1].BytesOut + $stats[2].BytesOut)
            # The client saw that connection's data connection reset, and counted it for A only.
            $stats[1].ResetConnections | Should -Be 1
            $stats[2].ResetConnections | Should -Be 0
            $stats[0].ResetConnections | Should -Be 1
            { Invoke-HttpDownload -Address 127.0.0.2 -Port $port -Path '/bytes/16' } | Should -Throw

            # A comes back on its control port: the tunnel registers there again.
            $serverA.Dispose()
            $serverA = Start-ChildPwsh -Script $script:ServerScript -ArgumentList @('-Token', $token, '-BindAddress', '127.0.0.2', '-ControlPort', "$controlA")
            $null = Read-ChildLine -Process $serverA -Pattern '^CONTROLPORT=(\d+)'
            Wait-Until { $job.ServersConnected -eq 2 } -TimeoutSec 60 | Should -BeTrue
            Assert-Download 127.0.0.2 $port 4MB
            (@(Get-TunnelStats -Name multi-web))[1].Reconnects | Should -BeGreaterOrEqual 1

            $job | Stop-Tunnel -Confirm:$false
            $job.State | Should -Be 'Stopped'
        }
        finally {
            if ($user) { $user.Dispose() }
            Get-Tunnel -Name 'multi-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            Stop-ChildPwsh $serverA
            Stop-ChildPwsh $serverB
        }
    }

    It 'returns once one server confirmed, and registers on the other when it starts' {
        $token = "multi-$([guid]::NewGuid())"
        $serverA = $null
        $serverB = $null
        try {
            $serverA = Start-ChildPwsh -Script $script:ServerScript -ArgumentList @('-Token', $token, '-BindAddress', '127.0.0.2')
            $controlA = [int](Read-ChildLine -Process $serverA -Pattern '^CONTROLPORT=(\d+)')
            $controlB = Get-FreeTcpPort
            $port = Get-FreeTcpPort
            # One string with a comma lists servers too.
            $job = New-Tunnel -Server "127.0.0.2:$controlA,127.0.0.3:$controlB" -Token $token -LocalPort $script:Http.Port -RemotePort $port -Name multi-late
            $job.ServersConnected | Should -Be 1
            $job.StatusMessage | Should -Match "^Connected \(1 of 2 servers; 127\.0\.0\.3:$controlB Reconnecting: ServerUnreachable"
            Assert-Download 127.0.0.2 $port 1MB

            $serverB = Start-ChildPwsh -Script $script:ServerScript -ArgumentList @('-Token', $token, '-BindAddress', '127.0.0.3', '-ControlPort', "$controlB")
            $null = Read-ChildLine -Process $serverB -Pattern '^CONTROLPORT=(\d+)'
            Wait-Until { $job.ServersConnected -eq 2 } -TimeoutSec 60 | Should -BeTrue
            Assert-Download 127.0.0.3 $port 1MB
        }
        finally {
            Get-Tunnel -Name 'multi-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            Stop-ChildPwsh $serverA
            Stop-ChildPwsh $serverB
        }
    }

    It 'tests the public end on each server with Test-Tunnel: both reachable, then the stopped one refused and the other still reachable' {
        $token = New-TunnelToken
        $a = $null; $b = $null
        try {
            $a = Start-TunnelServer -BindAddress 127.0.0.2 -ControlPort 0 -Token $token -Name "multi-test-a-$([guid]::NewGuid().ToString('N'))"
            $b = Start-TunnelServer -BindAddress 127.0.0.3 -ControlPort 0 -Token $token -Name "multi-test-b-$([guid]::NewGuid().ToString('N'))"
            $port = Get-FreeTcpPort
            $job = New-Tunnel -Server "127.0.0.2:$($a.ControlPort)", "127.0.0.3:$($b.ControlPort)" -Token $token -LocalPort $script:Http.Port -RemotePort $port -Name multi-probe
            Wait-Until { $job.ServersConnected -eq 2 } -TimeoutSec 20 | Should -BeTrue

            # One result per server, in the servers' order; the HTTP service waits for a request, so the probes stay open.
            $results = @(Test-Tunnel -InputObject $job -TimeoutSec 1)
            $results.Count | Should -Be 2
            $results.ComputerName | Should -Be @('127.0.0.2', '127.0.0.3')
            $results.RemotePort | Should -Be @($port, $port)
            $results.Name | Should -Be @('multi-probe', 'multi-probe')
            $results.Reachable | Should -Be @($true, $true)
            $results.Reason | Should -Be @('TimedOutOpen', 'TimedOutOpen')

            Stop-Tunnel -InputObject $b
            Wait-Until { $job.ServersConnected -eq 1 } -TimeoutSec 20 | Should -BeTrue
            $results = @(Test-Tunnel -InputObject $job -TimeoutSec 1)
            $results.Reachable | Should -Be @($true, $false)
            $results[1].Reason | Should -Be 'Refused'
            Test-Tunnel -Name multi-probe -TimeoutSec 1 -Quiet | Should -Be @($true, $false)
            Assert-Download 127.0.0.2 $port 1MB
        }
        finally {
            Get-Tunnel -Name 'multi-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            foreach ($s in $a, $b) { if ($s) { Stop-Tunnel -InputObject $s -ErrorAction SilentlyContinue; Remove-Job -Job $s -Force } }
        }
    }

    It 'runs in the foreground with -Wait: a line per server, each server named in what it says, a warning given once, exit 0 on SIGTERM' {
        Import-Module (Join-Path $PSScriptRoot 'Support/ServiceHelpers.psm1') -Force
        # Weak on purpose (a repeated sequence): its warning is about the token, not a server, and must come once.
        $token = 'multi-wait-token-abcdefghijklmnop'
        $a = $null; $b = $null; $child = $null
        try {
            $a = Start-TunnelServer -BindAddress 127.0.0.2 -ControlPort 0 -Token $token -Name "multi-wait-a-$([guid]::NewGuid().ToString('N'))" -WarningAction SilentlyContinue
            $b = Start-TunnelServer -BindAddress 127.0.0.3 -ControlPort 0 -Token $token -Name "multi-wait-b-$([guid]::NewGuid().ToString('N'))" -WarningAction SilentlyContinue
            $port = Get-FreeTcpPort
            $serverA = "127.0.0.2:$($a.ControlPort)"
            $serverB = "127.0.0.3:$($b.ControlPort)"
            $module = Join-Path (Resolve-Path (Join-Path $PSScriptRoot '..')).Path 'out/TunnelLite/TunnelLite.psd1'
            $command = "Import-Module '$module'; New-Tunnel -Server $serverA, $serverB -Token '$token' -LocalPort $($script:Http.Port) -RemotePort $port -Name mw -Wait"
            $child = Start-ChildProcess -FilePath ([Environment]::ProcessPath) -ArgumentList @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command', $command) -Environment @{ NO_COLOR = '1' }
            $null = Wait-ChildLine $child "mw: Connected to $([regex]::Escape($serverA)); tunnels: mw :$port -> 127\.0\.0\.1:$($script:Http.Port)\.$"
            $null = Wait-ChildLine $child "mw: Connected to $([regex]::Escape($serverB)); tunnels: mw :$port -> 127\.0\.0\.1:$($script:Http.Port)\.$"
            Assert-Download 127.0.0.2 $port 2MB
            Assert-Download 127.0.0.3 $port 2MB

            # B stops: the lines about it name it; users through A go on.
            Stop-Tunnel -InputObject $b
            $null = Wait-ChildLine $child "The server $([regex]::Escape($serverB)) closed the session: server stopping$"
            $null = Wait-ChildLine $child "Lost the server $([regex]::Escape($serverB)); reconnecting\.$"
            Assert-Download 127.0.0.2 $port 2MB

            Send-Signal -ProcessId $child.Process.Id -Signal TERM
            $exit = Wait-ChildExit $child -TimeoutSec 10
            $exit.Exited | Should -BeTrue
            $exit.ExitCode | Should -Be 0 -Because "stderr: $($exit.Stderr)"
            @($child.Lines -match 'The token .* is weak').Count | Should -Be 1 -Because ($child.Lines -join "`n")
            @($child.Lines -match "mw: Stopped serving through $([regex]::Escape($serverA))\.$").Count | Should -Be 1
            @($child.Lines -match "mw: Stopped serving through $([regex]::Escape($serverB))\.$").Count | Should -Be 1
            @($child.Lines -match 'Client stopped\.$').Count | Should -Be 1
            $child.Lines[-1] | Should -Match 'mw: Client stopped\.$'
            Wait-Until { -not (Test-Connection -TargetName 127.0.0.2 -TcpPort $port -Quiet -TimeoutSeconds 1) } -TimeoutSec 5 | Should -BeTrue -Because 'A frees the port of the stopped client'
        }
        finally {
            if ($child) { Stop-ChildProcess $child }
            foreach ($s in $a, $b) { if ($s) { Stop-Tunnel -InputObject $s -ErrorAction SilentlyContinue; Remove-Job -Job $s -Force } }
        }
    }

    It 'refuses several servers without -RemotePort, and a server listed twice' {
        { New-Tunnel -Server 127.0.0.2:7000, 127.0.0.3:7000 -Token t -LocalPort 80 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidTunnelOptions*' -ExpectedMessage '*fixed remote port*'
        { New-Tunnel -Server 127.0.0.2:7000, 127.0.0.2:7000 -Token t -LocalPort 80 -RemotePort 8080 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidTunnelOptions*' -ExpectedMessage '*listed twice*'
        { New-Tunnel -Server '127.0.0.2:7000,127.0.0.3:x' -Token t -LocalPort 80 -RemotePort 8080 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidServerAddress*'
    }
}
