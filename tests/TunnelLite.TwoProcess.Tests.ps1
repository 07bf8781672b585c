# A server and a tunnel in two separate pwsh processes carry an HTTP download through the public port; checked by hash.
# And a server in another pwsh process, read from this one through its admin endpoint.
# And a tunnel in another pwsh process that only some source addresses may use.
# And a load-balancing group of two tunnels in two more processes: users spread over both, one member's service down
# (withdrawn by its health check) and back (it rejoins); every download checked by hash.
# And a token rotation across three processes: a client on the new token and one on the previous token both carry bytes
# until the previous token expires; then that client's session ends and its token is refused, and the other carries on.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Http = New-LocalHttpService

    # Connects to 127.0.0.1:Port from Source (any 127.x address is this host's) and reads: the socket error that ended
    # it, 'Closed' at a clean end, or 'Data' when bytes came.
    function Receive-From([string] $Source, [int] $Port) {
        $s = [System.Net.Sockets.Socket]::new([System.Net.Sockets.AddressFamily]::InterNetwork, [System.Net.Sockets.SocketType]::Stream, [System.Net.Sockets.ProtocolType]::Tcp)
        try {
            $s.ReceiveTimeout = 10000
            $s.Bind([System.Net.IPEndPoint]::new([ipaddress]::Parse($Source), 0))
            $s.Connect([ipaddress]::Loopback, $Port)
            $null = $s.Send([Text.Encoding]::ASCII.GetBytes("GET /bytes/16 HTTP/1.1`r`nHost: x`r`nConnection: close`r`n`r`n"))
            if ($s.Receive([byte[]]::new(64)) -gt 0) { 'Data' } else { 'Closed' }
        }
        catch {
            $e = $_.Exception
            while ($e -and $e -isnot [System.Net.Sockets.SocketException]) { $e = $e.InnerException }
            if ($e) { "$($e.SocketErrorCode)" } else { throw }
        }
        finally { $s.Dispose() }
    }
}

AfterAll {
    Get-Tunnel | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
}

Describe 'Two processes' {
    It 'carries an HTTP download from the local service through the public port intact' {
        $token = "two-process-$([guid]::NewGuid())"
        $server = $null
        $client = $null
        try {
            $server = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-TunnelServer.ps1') -ArgumentList @('-Token', $token)
            $controlPort = [int](Read-ChildLine -Process $server -Pattern '^CONTROLPORT=(\d+)')
            $client = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-Tunnel.ps1') -ArgumentList @('-Server', "127.0.0.1:$controlPort", '-Token', $token, '-LocalPort', "$($script:Http.Port)")
            $remotePort = [int](Read-ChildLine -Process $client -Pattern '^REMOTEPORT=(\d+)')

            $size = 8MB
            $body = Invoke-HttpDownload -Port $remotePort -Path "/bytes/$size"
            $body.Length | Should -Be $size
            [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash $size)
            $script:Http.Requests | Should -BeGreaterOrEqual 1

            $client.StandardInput.WriteLine('stop')
            [long](Read-ChildLine -Process $client -Pattern '^BYTESOUT=(\d+)') | Should -BeGreaterThan $size
            Read-ChildLine -Process $client -Pattern '^(STOPPED)$' | Should -Be 'STOPPED'
        }
        finally {
            Stop-ChildPwsh $client
            Stop-ChildPwsh $server
        }
    }

    It 'lets users of a tunnel with -AllowSource in from its networks only, and the server counts the others' {
        $token = "two-process-$([guid]::NewGuid())"
        $client = $null
        try {
            # The server's own list refuses 127.0.0.3, which the client's cannot let in again.
            $server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $token -Name two-sources-server -DenySource 127.0.0.3
            $client = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-Tunnel.ps1') `
                -ArgumentList @('-Server', "127.0.0.1:$($server.ControlPort)", '-Token', $token, '-LocalPort', "$($script:Http.Port)",
                    '-Name', 'two-sources', '-AllowSource', '127.0.0.1/32,127.0.0.3')
            $remotePort = [int](Read-ChildLine -Process $client -Pattern '^REMOTEPORT=(\d+)')

            $size = 1MB
            $body = Invoke-HttpDownload -Port $remotePort -Path "/bytes/$size"
            [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash $size)
            Receive-From 127.0.0.1 $remotePort | Should -Be 'Data'
            Receive-From 127.0.0.2 $remotePort | Should -Be 'ConnectionReset'
            Receive-From 127.0.0.3 $remotePort | Should -Be 'ConnectionReset'

            $stats = @(Get-TunnelStats -Name two-sources-server -PerTunnel)
            $stats[0].SourceRefusedConnections | Should -Be 2
            $tunnel = $stats | Where-Object Name -EQ 'two-sources'
            $tunnel.SourceRefusedConnections | Should -Be 2
            $tunnel.TotalConnections | Should -Be 2
            # Each refusal is logged with the user's address (the first few of a kind one by one).
            $null = Receive-Job -Job $server -Keep -WarningVariable logged -WarningAction SilentlyContinue
            $warnings = @($logged | ForEach-Object Message)
            @($warnings -match ': Reset a user from 127\.0\.0\.2:\d+ by the source lists: tunnel two-sources: not in the client''s allowSources for it$').Count | Should -Be 1
            @($warnings -match ': Reset a user from 127\.0\.0\.3:\d+ by the source lists: tunnel two-sources: in the server''s denySources$').Count | Should -Be 1
        }
        finally {
            Stop-ChildPwsh $client
            Get-Job -Name two-sources-server -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
        }
    }

    It 'spreads users over a group of tunnels in two processes, and withdraws a member while its service is down' {
        $token = "two-process-$([guid]::NewGuid())"
        $key = "group-key-$([guid]::NewGuid())"
        $a = New-LocalHttpService
        $b = New-LocalHttpService
        $bPort = $b.Port
        $memberA = $null
        $memberB = $null
        function Get-Member([string] $Name) { Get-TunnelStats -Name lb-server -PerTunnel | Where-Object Name -EQ $Name }
        function Test-Downloads([int] $Port, [int] $Count) {
            foreach ($i in 1..$Count) {
                $body = Invoke-HttpDownload -Port $Port -Path "/bytes/$(256KB)"
                [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash 256KB)
            }
        }
        try {
            $server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $token -Name lb-server
            $common = @('-Server', "127.0.0.1:$($server.ControlPort)", '-Token', $token, '-Group', 'web', '-GroupKey', $key, '-HealthCheckIntervalSec', '1')
            $memberA = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-Tunnel.ps1') -ArgumentList ($common + @('-LocalPort', "$($a.Port)", '-Name', 'lb-a'))
            $port = [int](Read-ChildLine -Process $memberA -Pattern '^REMOTEPORT=(\d+)')
            $memberB = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-Tunnel.ps1') -ArgumentList ($common + @('-LocalPort', "$bPort", '-Name', 'lb-b', '-RemotePort', "$port"))
            [int](Read-ChildLine -Process $memberB -Pattern '^REMOTEPORT=(\d+)') | Should -Be $port

            # Round robin: each member's service answers half of the users.
            Test-Downloads $port 4
            $a.Requests | Should -Be 2
            $b.Requests | Should -Be 2
            (Get-Member lb-a).Group | Should -Be 'web'

            # B's service goes down: its health check withdraws it, and every user goes to A.
            $b.Dispose()
            $deadline = [DateTime]::UtcNow.AddSeconds(15)
            while ((Get-Member lb-b).Healthy -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            (Get-Member lb-b).Healthy | Should -BeFalse
            Test-Downloads $port 4
            $a.Requests | Should -Be 6
            (Get-Member lb-b).FailedConnections | Should -Be 0

            # Back on the same port: it rejoins and takes its share again.
            $b = [TunnelLite.Demo.LocalHttpService]::new($bPort)
            $deadline = [DateTime]::UtcNow.AddSeconds(15)
            while (-not (Get-Member lb-b).Healthy -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            (Get-Member lb-b).Healthy | Should -BeTrue
            Test-Downloads $port 4
            $b.Requests | Should -Be 2
            $a.Requests | Should -Be 8

            # The key never reached the server's streams.
            (Receive-Job -Job $server -Keep *>&1 | Out-String) | Should -Not -Match ([regex]::Escape($key))
        }
        finally {
            Stop-ChildPwsh $memberA
            Stop-ChildPwsh $memberB
            Get-Job -Name lb-server -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            $a.Dispose()
            $b.Dispose()
        }
    }

    It 'reads the clients of a server in another process through its admin endpoint' {
        $token = "two-process-$([guid]::NewGuid())"
        $password = "admin-$([guid]::NewGuid())"
        $server = $null
        try {
            $server = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-TunnelServer.ps1') `
                -ArgumentList @('-Token', $token, '-AdminEndpoint', '127.0.0.1:0', '-AdminUser', 'ops', '-AdminPassword', $password)
            $controlPort = [int](Read-ChildLine -Process $server -Pattern '^CONTROLPORT=(\d+)')
            $url = Read-ChildLine -Process $server -Pattern '^ADMINURL=(http://127\.0\.0\.1:\d+/)$'
            $tunnel = New-Tunnel -Server "127.0.0.1:$controlPort" -Token $token -LocalPort $script:Http.Port -Name two-admin-web -ClientName two-admin
            $size = 2MB
            $body = Invoke-HttpDownload -Port $tunnel.RemotePort -Path "/bytes/$size"
            [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash $size)

            # This process has no server job: the server is only reachable through its endpoint.
            @(Get-TunnelClient) | Should -BeNullOrEmpty
            $ops = [pscredential]::new('ops', (ConvertTo-SecureString $password -AsPlainText -Force))
            $clients = @(Get-TunnelClient -AdminEndpoint ([uri]$url).Authority -Credential $ops)
            $clients.Count | Should -Be 1
            $clients[0].Name | Should -Be 'two-admin'
            $clients[0].Tunnels | Should -Be @('two-admin-web')
            $clients[0].Server | Should -Be $url
            $stats = Invoke-RestMethod "$($url)api/v1/tunnels/two-admin-web" -Credential $ops -Authentication Basic -AllowUnencryptedAuthentication
            $stats.BytesOut | Should -BeGreaterOrEqual $size
            $stats.ClientName | Should -Be 'two-admin'

            # Get-TunnelStats reads the other process as it reads its own jobs: the same objects, views and CSV columns.
            $endpoint = ([uri]$url).Authority
            $remote = @(Get-TunnelStats -AdminEndpoint $endpoint -Credential $ops -PerTunnel)
            $remote.Count | Should -Be 2
            $remote[0] | Should -BeOfType ([TunnelLite.TunnelStats])
            $remote[0].Role | Should -Be 'Server'
            $remote[0].Clients | Should -Be 1
            $remote[1].Name | Should -Be 'two-admin-web'
            $remote[1].BytesOut | Should -BeGreaterOrEqual $size
            $remote[1].AdminEndpoint | Should -Be $url
            ($remote | Format-Table | Out-String -Width 80) | Should -Match 'two-admin'
            $csv = $remote | ConvertTo-Csv -NoTypeInformation
            ($csv[0] -split ',') | Should -Contain '"BytesOut"'
            # Sampled: two samples a second apart, the second with the rate over that second.
            $samples = @(Get-TunnelStats -AdminEndpoint $endpoint -Credential $ops -PerTunnel -MaxSamples 2 -SampleInterval 1)
            $samples.Count | Should -Be 4
            ($samples[2].Timestamp - $samples[0].Timestamp).TotalSeconds | Should -BeGreaterThan 0.5
            # Without the credentials the endpoint is refused with a stable ErrorId.
            { Get-TunnelStats -AdminEndpoint $endpoint -ErrorAction Stop } | Should -Throw -ErrorId 'AdminAuthenticationFailed*'
        }
        finally {
            Get-Tunnel -Name 'two-admin-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            Stop-ChildPwsh $server
        }
    }

    It 'writes a PROXY protocol header with the real user address to the service of a tunnel with -ProxyProtocol' {
        $token = "two-process-$([guid]::NewGuid())"
        $server = $null
        $service = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $user = $null
        $accepted = $null
        try {
            $service.Start()
            $server = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-TunnelServer.ps1') -ArgumentList @('-Token', $token)
            $controlPort = [int](Read-ChildLine -Process $server -Pattern '^CONTROLPORT=(\d+)')
            $tunnel = New-Tunnel -Server "127.0.0.1:$controlPort" -Token $token -LocalPort $service.LocalEndpoint.Port -Name two-proxied -ProxyProtocol v1
            # The user comes from 127.0.0.2 and sends nothing: the service still hears who it is, at once.
            $user = [System.Net.Sockets.TcpClient]::new([System.Net.IPEndPoint]::new([System.Net.IPAddress]::Parse('127.0.0.2'), 0))
            $user.Connect('127.0.0.1', $tunnel.RemotePort)
            $accept = $service.AcceptTcpClientAsync()
            $accept.Wait(10000) | Should -BeTrue
            $accepted = $accept.Result
            $accepted.ReceiveTimeout = 10000
            $stream = $accepted.GetStream()
            $line = [System.Text.StringBuilder]::new()
            while (-not $line.ToString().EndsWith("`r`n") -and $line.Length -lt 108) { $null = $line.Append([char]$stream.ReadByte()) }
            $line.ToString() | Should -BeExactly "PROXY TCP4 127.0.0.2 127.0.0.1 $($user.Client.LocalEndPoint.Port) $($tunnel.RemotePort)`r`n"

            # Then the user's bytes, and only those, checked by hash.
            $payload = [byte[]]::new(256KB)
            [System.Random]::new(14).NextBytes($payload)
            $user.GetStream().Write($payload, 0, $payload.Length)
            $user.Client.Shutdown([System.Net.Sockets.SocketShutdown]::Send)
            $received = [System.IO.MemoryStream]::new()
            $stream.CopyTo($received)
            [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($received.ToArray())) |
                Should -Be ([Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($payload)))
            { New-Tunnel -Server "127.0.0.1:$controlPort" -Token $token -LocalPort 1 -ProxyProtocol v3 -WhatIf } | Should -Throw -ErrorId 'CannotConvertArgumentNoMessage*'
        }
        finally {
            if ($user) { $user.Dispose() }
            if ($accepted) { $accepted.Dispose() }
            $service.Stop()
            Get-Tunnel -Name 'two-proxied' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            Stop-ChildPwsh $server
        }
    }

    It 'rotates an account''s token: the new and the previous token both carry bytes until the previous one expires' {
        $new = New-TunnelToken
        $old = New-TunnelToken
        $password = "admin-$([guid]::NewGuid())"
        $config = Join-Path $TestDrive 'rotation.toml'
        $size = 2MB
        $hash = Get-ExpectedPayloadHash $size
        $server = $null
        $onNew = $null
        $onOld = $null
        try {
            # The three children load pwsh side by side before the expiry is set, so that it has to cover only the logins and
            # the checks before it, not the start of three processes (seconds each on a loaded machine). On this 2-core machine
            # those logins and checks took 5 s at a load average of 5-6 and over 10 s at 8.7: hence 15 s.
            $tunnel = Join-Path $PSScriptRoot 'Support/Run-Tunnel.ps1'
            $server = Start-DeferredChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-TunnelServer.ps1')
            $onNew = Start-DeferredChildPwsh -Script $tunnel
            $onOld = Start-DeferredChildPwsh -Script $tunnel
            foreach ($child in $server, $onNew, $onOld) { $null = Read-ChildLine -Process $child -Pattern '^(READY)$' }
            $expires = [DateTimeOffset]::UtcNow.AddSeconds(15)
            $expires = $expires.AddTicks(-($expires.Ticks % [TimeSpan]::TicksPerSecond)) # as the file writes it
            @"
transport.authFailureDelay = 0

[[clients]]
name = "alice"
token = "$new"
previousToken = "$old"
previousTokenExpires = $($expires.ToString('yyyy-MM-ddTHH:mm:ssZ', [cultureinfo]::InvariantCulture))
"@ | Set-Content -LiteralPath $config
            Resume-ChildPwsh -Process $server -Parameters @{ ConfigPath = $config; AdminEndpoint = '127.0.0.1:0'; AdminUser = 'ops'; AdminPassword = $password }
            $controlPort = [int](Read-ChildLine -Process $server -Pattern '^CONTROLPORT=(\d+)')
            $admin = ([uri](Read-ChildLine -Process $server -Pattern '^ADMINURL=(http://127\.0\.0\.1:\d+/)$')).Authority
            $ops = [pscredential]::new('ops', (ConvertTo-SecureString $password -AsPlainText -Force))
            Resume-ChildPwsh -Process $onNew -Parameters @{ Server = "127.0.0.1:$controlPort"; Token = $new; LocalPort = $script:Http.Port; Name = 'rotation-new' }
            Resume-ChildPwsh -Process $onOld -Parameters @{ Server = "127.0.0.1:$controlPort"; Token = $old; LocalPort = $script:Http.Port; Name = 'rotation-old' }
            $newPort = [int](Read-ChildLine -Process $onNew -Pattern '^REMOTEPORT=(\d+)')
            $oldPort = [int](Read-ChildLine -Process $onOld -Pattern '^REMOTEPORT=(\d+)')

            foreach ($port in $newPort, $oldPort) {
                $body = Invoke-HttpDownload -Port $port -Path "/bytes/$size"
                [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be $hash
            }
            # The operator sees which token each client proved, from another process, and when the previous one expires.
            $clients = @(Get-TunnelClient -AdminEndpoint $admin -Credential $ops)
            $clients.Count | Should -Be 2
            $clients | ForEach-Object { $_.Account | Should -Be 'alice' }
            $previous = $clients | Where-Object Token -EQ 'Previous'
            $previous.Tunnels | Should -Be @('rotation-old')
            $previous.TokenExpires | Should -Be $expires
            ($clients | Where-Object Token -EQ 'Current').Tunnels | Should -Be @('rotation-new')

            # At the expiry the server ends the previous token's session and frees its port.
            $deadline = $expires.AddSeconds(20)
            do {
                Start-Sleep -Milliseconds 250
                $clients = @(Get-TunnelClient -AdminEndpoint $admin -Credential $ops)
            } until (($clients.Count -eq 1 -and $clients[0].Token -eq 'Current') -or [DateTimeOffset]::UtcNow -gt $deadline)
            [DateTimeOffset]::UtcNow | Should -BeGreaterOrEqual $expires
            $clients.Count | Should -Be 1
            $clients[0].Tunnels | Should -Be @('rotation-new')
            { Invoke-HttpDownload -Port $oldPort -Path '/bytes/1000' } | Should -Throw
            # The previous token is refused like a wrong one; the new one carries on.
            { New-Tunnel -Server "127.0.0.1:$controlPort" -Token $old -LocalPort $script:Http.Port -Name rotation-late -ErrorAction Stop } |
                Should -Throw -ErrorId 'AuthenticationFailed*'
            (Get-TunnelStats -AdminEndpoint $admin -Credential $ops).LoginsFailed | Should -BeGreaterOrEqual 1
            $body = Invoke-HttpDownload -Port $newPort -Path "/bytes/$size"
            [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be $hash
        }
        finally {
            Get-Tunnel -Name 'rotation-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            Stop-ChildPwsh $onOld, $onNew, $server
        }
    }

    It 'holds a tunnel to its account''s bandwidth limit, enforced by a server in another process, and shows it in the statistics' {
        $token = New-TunnelToken
        $password = "admin-$([guid]::NewGuid())"
        $config = Join-Path $TestDrive 'bandwidth.toml'
        @"
[[clients]]
name = "metered"
token = "$token"
bandwidthLimit = "1MB"
"@ | Set-Content -LiteralPath $config
        $server = $null
        try {
            $server = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-TunnelServer.ps1') `
                -ArgumentList @('-ConfigPath', $config, '-AdminEndpoint', '127.0.0.1:0', '-AdminUser', 'ops', '-AdminPassword', $password)
            $controlPort = [int](Read-ChildLine -Process $server -Pattern '^CONTROLPORT=(\d+)')
            $admin = ([uri](Read-ChildLine -Process $server -Pattern '^ADMINURL=(http://127\.0\.0\.1:\d+/)$')).Authority
            $ops = [pscredential]::new('ops', (ConvertTo-SecureString $password -AsPlainText -Force))
            $metered = [pscredential]::new('metered', (ConvertTo-SecureString $token -AsPlainText -Force))
            $tunnel = New-Tunnel -Server "127.0.0.1:$controlPort" -Credential $metered -LocalPort $script:Http.Port -Name two-metered

            # 4 MiB at 1 MiB/s, with at most 100 ms of it as a burst, cannot arrive in less than about 3.9 s (a lower
            # bound only: a loaded machine makes it slower, never faster).
            $size = 4MB
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $body = Invoke-HttpDownload -Port $tunnel.RemotePort -Path "/bytes/$size"
            $clock.Elapsed.TotalSeconds | Should -BeGreaterThan 3.5
            [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash $size)

            $stats = Get-TunnelStats -AdminEndpoint $admin -Credential $ops -PerTunnel | Where-Object Name -EQ 'two-metered'
            $stats.BandwidthLimitOut | Should -Be 1MB
            $stats.BandwidthLimitIn | Should -Be 1MB
            $stats.ThrottledTime | Should -BeGreaterThan ([TimeSpan]::FromSeconds(2))
            # This client enforces nothing itself: the limit is the server's.
            (Get-TunnelStats -Name two-metered).BandwidthLimitOut | Should -Be 0
            { New-Tunnel -Server "127.0.0.1:$controlPort" -Credential $metered -LocalPort 1 -BandwidthLimit 10Mbps -WhatIf } | Should -Throw -ErrorId 'InvalidBandwidthLimit*'
        }
        finally {
            Get-Tunnel -Name 'two-metered' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            Stop-ChildPwsh $server
        }
    }
}
