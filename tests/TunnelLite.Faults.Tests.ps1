# Faults with separate processes: a client killed with SIGKILL mid-transfer, a client frozen with SIGSTOP, a server killed
# and started again on the same port, a local service that goes away and comes back. Heartbeats are short (interval 1 s, timeout 3 s) so that each test
# takes seconds; every download that must work is checked by SHA-256.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/FaultHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Http = New-LocalHttpService
    $script:Dir = Join-Path ([IO.Path]::GetTempPath()) "tunnellite-faults-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory -Path $script:Dir
    $script:Token = "faults-$([guid]::NewGuid())"
    # Heartbeat timeout of both ends (seconds), and the slack allowed on top of it on a busy 2-core machine.
    $script:HeartbeatTimeout = 3
    $script:Margin = 5
}

AfterAll {
    $script:Http.Dispose()
    Remove-Item -LiteralPath $script:Dir -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Faults' {
    It 'frees the public port of a client killed with SIGKILL mid-transfer, while another client''s tunnel keeps flowing' {
        $server = $null; $a = $null; $b = $null; $partial = $null
        try {
            $server = Start-TunnelServer -ConfigPath (New-FaultServerConfig -Directory $script:Dir -Token $script:Token) -ControlPort 0 -Name "faults-kill-$([guid]::NewGuid().ToString('N'))"
            $a = Start-FaultTunnel -ConfigPath (New-FaultClientConfig -Directory $script:Dir -Token $script:Token -ServerPort $server.ControlPort -Name "kill-a-$([guid]::NewGuid().ToString('N'))" -LocalPort $script:Http.Port)
            $b = Start-FaultTunnel -ConfigPath (New-FaultClientConfig -Directory $script:Dir -Token $script:Token -ServerPort $server.ControlPort -Name "kill-b-$([guid]::NewGuid().ToString('N'))" -LocalPort $script:Http.Port)
            (Get-TunnelStats -InputObject $server).Tunnels | Should -Be 2

            # A's download is far larger than what the socket buffers on its path hold, so it is still in flight at the kill.
            $size = 128MB
            $partial = Open-HttpDownload -Port $a.RemotePort -Size $size -MinBytes 1MB
            $bSize = 4MB
            $during = Start-HttpDownloadTask -Port $b.RemotePort -Size $bSize

            $clock = [Diagnostics.Stopwatch]::StartNew()
            Stop-ChildHard $a.Process
            $rest = Receive-HttpRest -Download $partial -TimeoutSec ($script:HeartbeatTimeout + $script:Margin)
            # A reset, not an end: the dead client's kernel resets its data connection (SO_LINGER 0 while a stream runs), and
            # the server passes that on, so that the user cannot take the cut download for a whole one.
            $rest.End | Should -Be 'Reset' -Because "the user of a dead client must see its download broken, not ended ($($rest.Received) of $size bytes)"
            $rest.Received | Should -BeLessThan $size
            Wait-Until { (Get-TunnelStats -InputObject $server).ResetConnections -eq 1 } -TimeoutSec 5 |
                Should -BeTrue -Because "the server counts the one connection it reset (it counted $((Get-TunnelStats -InputObject $server).ResetConnections))"

            Wait-Until { Test-TcpPortFree $a.RemotePort } -TimeoutSec ($script:HeartbeatTimeout + $script:Margin) |
                Should -BeTrue -Because "port $($a.RemotePort) of the killed client must be freed within its heartbeat timeout"
            Wait-Until { (Get-TunnelStats -InputObject $server).Tunnels -eq 1 } -TimeoutSec 5 | Should -BeTrue
            $clock.Elapsed.TotalSeconds | Should -BeLessThan ($script:HeartbeatTimeout + $script:Margin)

            $during.Task.Wait(30000) | Should -BeTrue
            Get-Sha256Hex $during.Task.Result | Should -Be (Get-ExpectedPayloadHash $bSize)
            $during.Client.Dispose()
            $after = Invoke-HttpDownload -Port $b.RemotePort -Path "/bytes/$bSize"
            Get-Sha256Hex $after | Should -Be (Get-ExpectedPayloadHash $bSize)
            (Get-TunnelStats -InputObject $server).Clients | Should -Be 1
            (Get-TunnelStats -InputObject $server).ResetConnections | Should -Be 1 -Because 'the downloads through B ended cleanly'
        }
        finally {
            if ($partial) { $partial.Socket.Dispose() }
            if ($a) { Stop-ChildPwsh $a.Process }
            if ($b) { Stop-ChildPwsh $b.Process }
            if ($server) { Stop-Tunnel -InputObject $server; Remove-Job -Job $server -Force }
        }
    }

    It 'drops a frozen client (SIGSTOP, sockets left open) after the heartbeat timeout; resumed, it registers again' {
        $server = $null; $c = $null
        try {
            $server = Start-TunnelServer -ConfigPath (New-FaultServerConfig -Directory $script:Dir -Token $script:Token) -ControlPort 0 -Name "faults-freeze-$([guid]::NewGuid().ToString('N'))"
            $remotePort = Get-FreeTcpPort
            $c = Start-FaultTunnel -ConfigPath (New-FaultClientConfig -Directory $script:Dir -Token $script:Token -ServerPort $server.ControlPort -Name "freeze-$([guid]::NewGuid().ToString('N'))" -LocalPort $script:Http.Port -RemotePort $remotePort)
            Get-Sha256Hex (Invoke-HttpDownload -Port $remotePort -Path '/bytes/100000') | Should -Be (Get-ExpectedPayloadHash 100000)

            # A stopped process keeps its sockets open and sends nothing: only the heartbeat timeout can notice it.
            & kill -STOP $c.Pid
            Wait-Until { Test-TcpPortFree $remotePort } -TimeoutSec ($script:HeartbeatTimeout + $script:Margin) |
                Should -BeTrue -Because "the server must drop a silent client within its heartbeat timeout ($($script:HeartbeatTimeout) s)"
            (Get-TunnelStats -InputObject $server).Tunnels | Should -Be 0
            (Get-TunnelStats -InputObject $server).Clients | Should -Be 0

            & kill -CONT $c.Pid
            Wait-Until { (Get-TunnelStats -InputObject $server).Tunnels -eq 1 } -TimeoutSec 20 | Should -BeTrue -Because 'the resumed client reconnects'
            $stats = Get-ChildStats $c.Process | Where-Object Role -EQ 'Client'
            $stats.Reconnects | Should -BeGreaterOrEqual 1
            $size = 4MB
            Get-Sha256Hex (Invoke-HttpDownload -Port $remotePort -Path "/bytes/$size") | Should -Be (Get-ExpectedPayloadHash $size)
        }
        finally {
            if ($c) { & kill -CONT $c.Pid 2>$null; Stop-ChildPwsh $c.Process }
            if ($server) { Stop-Tunnel -InputObject $server; Remove-Job -Job $server -Force }
        }
    }

    It 'reconnects and registers again when the server is killed and started again on the same port; a download cut by the kill ends in a reset, counted' {
        $server = $null; $tunnel = $null; $partial = $null
        try {
            $controlPort = Get-FreeTcpPort
            $remotePort = Get-FreeTcpPort
            $serverConfig = New-FaultServerConfig -Directory $script:Dir -Token $script:Token -ControlPort $controlPort
            $server = Start-FaultServer -ConfigPath $serverConfig
            $server.ControlPort | Should -Be $controlPort
            $name = "restart-$([guid]::NewGuid().ToString('N'))"
            $tunnel = New-Tunnel -ConfigPath (New-FaultClientConfig -Directory $script:Dir -Token $script:Token -ServerPort $controlPort -Name $name -LocalPort $script:Http.Port -RemotePort $remotePort)
            $tunnel.RemotePort | Should -Be $remotePort
            Get-Sha256Hex (Invoke-HttpDownload -Port $remotePort -Path '/bytes/1000000') | Should -Be (Get-ExpectedPayloadHash 1000000)
            # In flight at the kill: far more than the socket buffers on its path hold.
            $size = 128MB
            $partial = Open-HttpDownload -Port $remotePort -Size $size -MinBytes 1MB

            Stop-ChildHard $server.Process
            # The user was connected to the dead process itself: its kernel resets the connection (SO_LINGER 0 while the
            # stream runs) rather than ending it with a FIN that would look like the end of the download.
            $rest = Receive-HttpRest -Download $partial -TimeoutSec 10
            $rest.End | Should -Be 'Reset' -Because "the download cut by the kill must end in a reset ($($rest.Received) of $size bytes)"
            $rest.Received | Should -BeLessThan $size
            # The client saw its data connection reset, reset the local service's end and counted it, once.
            Wait-Until { (Get-TunnelStats -Name $name).ResetConnections -eq 1 } -TimeoutSec 5 |
                Should -BeTrue -Because "the client counts the one connection the kill broke (it counted $((Get-TunnelStats -Name $name).ResetConnections))"
            Wait-Until { (Get-TunnelStats -Name $name).State -eq 'Reconnecting' } -TimeoutSec ($script:HeartbeatTimeout + $script:Margin) | Should -BeTrue
            $server.Process.Dispose()
            $server = Start-FaultServer -ConfigPath $serverConfig

            # Backoff: about 1, 2, 4, 8 s between attempts, so the client is back well within 20 s of the kill.
            Wait-Until { $s = Get-TunnelStats -Name $name; $s.State -eq 'Connected' -and $s.Reconnects -ge 1 } -TimeoutSec 20 |
                Should -BeTrue -Because "the client must register again (state now $((Get-TunnelStats -Name $name).State))"
            $tunnel.State | Should -Be 'Running'
            (Get-ChildStats $server.Process | Where-Object Role -EQ 'Server').Tunnels | Should -Be 1
            $size = 8MB
            Get-Sha256Hex (Invoke-HttpDownload -Port $remotePort -Path "/bytes/$size") | Should -Be (Get-ExpectedPayloadHash $size)
            ((Receive-Job -Job $tunnel -Keep -WarningAction SilentlyContinue).Message -join "`n") | Should -Match 'Reconnected'
            (Get-TunnelStats -Name $name).ResetConnections | Should -Be 1 -Because 'the downloads before and after the kill ended cleanly'
        }
        finally {
            if ($partial) { $partial.Socket.Dispose() }
            if ($tunnel) { Stop-Tunnel -InputObject $tunnel; Remove-Job -Job $tunnel -Force }
            if ($server) { Stop-ChildPwsh $server.Process }
        }
    }

    It 'counts user connections that fail while the local service is down, throws nothing at the caller, and recovers' {
        $server = $null; $tunnel = $null; $service = $null
        try {
            $service = New-LocalHttpService
            $localPort = $service.Port
            $server = Start-TunnelServer -ConfigPath (New-FaultServerConfig -Directory $script:Dir -Token $script:Token) -ControlPort 0 -Name "faults-local-$([guid]::NewGuid().ToString('N'))"
            $name = "local-$([guid]::NewGuid().ToString('N'))"
            $tunnel = New-Tunnel -ConfigPath (New-FaultClientConfig -Directory $script:Dir -Token $script:Token -ServerPort $server.ControlPort -Name $name -LocalPort $localPort)
            Get-Sha256Hex (Invoke-HttpDownload -Port $tunnel.RemotePort -Path '/bytes/100000') | Should -Be (Get-ExpectedPayloadHash 100000)
            $failedBefore = (Get-TunnelStats -Name $name).FailedConnections

            $service.Dispose()
            $service = $null
            $attempts = 3
            for ($i = 0; $i -lt $attempts; $i++) {
                { Invoke-HttpDownload -Port $tunnel.RemotePort -Path '/bytes/100000' } | Should -Throw -Because 'the tunnel closes a user connection whose local service is down'
            }
            Wait-Until { (Get-TunnelStats -Name $name).FailedConnections -ge $failedBefore + $attempts } -TimeoutSec 10 | Should -BeTrue
            $stats = Get-TunnelStats -Name $name
            $stats.State | Should -Be 'Connected'
            $stats.LastError | Should -Match 'unreachable'
            $tunnel.State | Should -Be 'Running'
            $tunnel.JobStateInfo.Reason | Should -BeNullOrEmpty
            @($tunnel.Error).Count | Should -Be 0 -Because 'an unreachable local service is a warning of the job, not an error'
            (@($tunnel.Warning).Message -join "`n") | Should -Match 'unreachable'

            $service = [TunnelLite.Demo.LocalHttpService]::new($localPort)
            $size = 4MB
            Get-Sha256Hex (Invoke-HttpDownload -Port $tunnel.RemotePort -Path "/bytes/$size") | Should -Be (Get-ExpectedPayloadHash $size)
            $service.Requests | Should -Be 1
        }
        finally {
            if ($tunnel) { Stop-Tunnel -InputObject $tunnel; Remove-Job -Job $tunnel -Force }
            if ($server) { Stop-Tunnel -InputObject $server; Remove-Job -Job $server -Force }
            if ($service) { $service.Dispose() }
        }
    }
}
