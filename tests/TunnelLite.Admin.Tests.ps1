# The admin endpoint from PowerShell: -AdminEndpoint and -AdminCredential, the endpoint read with Invoke-RestMethod,
# Get-TunnelClient and Disconnect-TunnelClient (here and through the endpoint), and their ErrorIds. Real servers and
# tunnels on 127.0.0.1; bytes through the tunnels are checked by hash.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Token = New-TunnelToken
    $script:Http = New-LocalHttpService
    $script:Ops = [pscredential]::new('ops', (ConvertTo-SecureString 'admin password for the tests' -AsPlainText -Force))

    function script:Get-Api([string] $Url, [switch] $Anonymous) {
        # One GET of the admin API, as a script would make it; basic auth over plain HTTP is fine on loopback.
        $p = @{ Uri = $Url; TimeoutSec = 10 }
        if (-not $Anonymous) { $p += @{ Credential = $script:Ops; Authentication = 'Basic'; AllowUnencryptedAuthentication = $true } }
        # A JSON array comes back as one object; the function's output enumerates it, as a pipeline expects.
        $answer = Invoke-RestMethod @p
        $answer
    }

    function script:Wait-Until([scriptblock] $Condition, [int] $TimeoutSec = 10) {
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        while ([DateTime]::UtcNow -lt $deadline) {
            if (& $Condition) { return $true }
            Start-Sleep -Milliseconds 100
        }
        [bool](& $Condition)
    }

    function script:Invoke-CheckedDownload([int] $Port, [int] $Size) {
        $body = Invoke-HttpDownload -Port $Port -Path "/bytes/$Size"
        $body.Length | Should -Be $Size
        [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash $Size)
    }

    function script:Test-PortFree([int] $Port) {
        $l = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, $Port)
        try { $l.Start(); $true } catch [System.Net.Sockets.SocketException] { $false } finally { $l.Stop() }
    }

    function script:Get-Failure([scriptblock] $Script) {
        try { $null = & $Script } catch { return $_ }
        throw 'It did not fail.'
    }
}

AfterAll {
    Get-Tunnel | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
}

Describe 'A server with -AdminEndpoint' {
    BeforeAll {
        $script:AdminPort = Get-FreeTcpPort
        $script:Server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name admin-srv `
            -AdminEndpoint "127.0.0.1:$($script:AdminPort)" -AdminCredential $script:Ops
        $script:Url = $script:Server.AdminUrl
        $script:Endpoint = "127.0.0.1:$($script:AdminPort)"
        $script:Web = New-Tunnel -Server "127.0.0.1:$($script:Server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name admin-web -ClientName alice
        $script:Size = 3MB
        Invoke-CheckedDownload -Port $script:Web.RemotePort -Size $script:Size
    }
    AfterAll {
        Get-Tunnel -Name 'admin-*' | Stop-Tunnel -Confirm:$false
        Get-Job -Name 'admin-*' | Remove-Job -Force
    }

    It 'says where its endpoint is, and serves /healthz and /ready without credentials' {
        $script:Url | Should -Be "http://127.0.0.1:$($script:AdminPort)/"
        $script:Server.AdminCertificateFingerprint | Should -BeNullOrEmpty
        $v = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name admin-verbose -AdminEndpoint 127.0.0.1:0 -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($v -join "`n") | Should -Match 'Admin endpoint on http://127\.0\.0\.1:\d+/: dashboard at /, metrics at /metrics'
        (Receive-Job -Name admin-verbose -Keep | Out-String) | Should -Match 'Admin endpoint on http://127\.0\.0\.1:\d+/'
        Get-Tunnel -Name admin-verbose | Stop-Tunnel -Confirm:$false

        (Get-Api "$($script:Url)healthz" -Anonymous).Status | Should -Be 'ok'
        (Get-Api "$($script:Url)ready" -Anonymous).Ready | Should -BeTrue
        (Invoke-WebRequest "$($script:Url)api/v1/tunnels" -SkipHttpErrorCheck).StatusCode | Should -Be 401
    }

    It 'shows in /api/v1/tunnels the bytes that went through the tunnel' {
        Wait-Until { (Get-TunnelStats -InputObject $script:Server -PerTunnel | Where-Object Name -EQ 'admin-web').ActiveConnections -eq 0 } | Should -BeTrue
        $local = Get-TunnelStats -InputObject $script:Server -PerTunnel | Where-Object Name -EQ 'admin-web'
        $api = @(Get-Api "$($script:Url)api/v1/tunnels")
        $web = $api | Where-Object Name -EQ 'admin-web'
        $web.BytesOut | Should -BeGreaterOrEqual $script:Size
        $web.BytesOut | Should -Be $local.BytesOut
        $web.TotalConnections | Should -Be $local.TotalConnections
        $web.Role | Should -Be 'Server'
        $web.ClientName | Should -Be 'alice'
    }

    It 'Get-TunnelClient lists the client here and through the endpoint, the same one' {
        $here = @(Get-TunnelClient -Server admin-srv)
        $here.Count | Should -Be 1
        $here[0] | Should -BeOfType 'TunnelLite.TunnelClientInfo'
        $here[0].Name | Should -Be 'alice'
        $here[0].Tunnels | Should -Be @('admin-web')
        $here[0].RemoteAddress | Should -Match '^127\.0\.0\.1:\d+$'
        $here[0].Server | Should -Be 'admin-srv'
        $here[0].Id | Should -Match '^[0-9A-F]{64}$'

        $there = @(Get-TunnelClient -AdminEndpoint $script:Endpoint -Credential $script:Ops)
        $there.Count | Should -Be 1
        $there[0] | Should -BeOfType 'TunnelLite.TunnelClientInfo'
        $there[0].Id | Should -Be $here[0].Id
        $there[0].Tunnels | Should -Be @('admin-web')
        $there[0].Server | Should -Be $script:Url

        @($script:Server | Get-TunnelClient).Id | Should -Be $here[0].Id
        @(Get-TunnelClient -Name 'al*' -Server 'admin-*').Id | Should -Be $here[0].Id
        @(Get-TunnelClient -Id $here[0].Id.ToLowerInvariant()).Id | Should -Be $here[0].Id
    }

    It 'Get-TunnelClient reports a name no client has, and a tunnel job where a server job belongs' {
        (Get-Failure { Get-TunnelClient -Name nobody -ErrorAction Stop }).FullyQualifiedErrorId | Should -Be 'ClientNotFound,TunnelLite.PowerShell.Cmdlets.GetTunnelClientCommand'
        @(Get-TunnelClient -Name 'nobody*') | Should -BeNullOrEmpty
        (Get-Failure { Get-TunnelClient -Server admin-web -ErrorAction Stop }).FullyQualifiedErrorId | Should -Be 'NotAServerJob,TunnelLite.PowerShell.Cmdlets.GetTunnelClientCommand'
        (Get-Failure { Get-TunnelClient -AdminEndpoint 'not an endpoint' }).FullyQualifiedErrorId | Should -Be 'InvalidAdminEndpoint,TunnelLite.PowerShell.Cmdlets.GetTunnelClientCommand'
        $e = Get-Failure { Get-TunnelClient -AdminEndpoint "127.0.0.1:$(Get-FreeTcpPort)" }
        $e.FullyQualifiedErrorId | Should -Be 'AdminEndpointUnreachable,TunnelLite.PowerShell.Cmdlets.GetTunnelClientCommand'
        $e.CategoryInfo.Category | Should -Be 'ConnectionError'
    }

    It 'completes -Id of Disconnect-TunnelClient from the client names' {
        $line = 'Disconnect-TunnelClient -Id ali'
        $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $r.CompletionMatches.CompletionText | Should -Contain (Get-TunnelClient -Name alice).Id
        $r.CompletionMatches.ListItemText | Should -Contain "alice ($((Get-TunnelClient -Name alice).RemoteAddress))"
    }

    It 'Disconnect-TunnelClient -WhatIf disconnects nobody, here or through the endpoint' {
        $before = Get-TunnelClient -Name alice
        Get-TunnelClient -Name alice | Disconnect-TunnelClient -WhatIf | Should -BeNullOrEmpty
        Get-TunnelClient -AdminEndpoint $script:Endpoint -Credential $script:Ops | Disconnect-TunnelClient -Credential $script:Ops -WhatIf | Should -BeNullOrEmpty
        Start-Sleep -Milliseconds 300
        (Get-TunnelClient -Name alice).Id | Should -Be $before.Id
        $script:Web.Status | Should -Be 'Connected'
        Test-PortFree $script:Web.RemotePort | Should -BeFalse
    }

    It 'Disconnect-TunnelClient through the endpoint disconnects, frees the port, and the client is back after its ban' {
        $port = $script:Web.RemotePort
        $gone = @(Get-TunnelClient -AdminEndpoint $script:Endpoint -Credential $script:Ops | Where-Object Name -EQ 'alice' |
                Disconnect-TunnelClient -Credential $script:Ops -BanSeconds 3)
        $gone.Count | Should -Be 1
        $gone[0] | Should -BeOfType 'TunnelLite.TunnelClientInfo'
        $gone[0].Name | Should -Be 'alice'
        $gone[0].Server | Should -Be $script:Url

        Wait-Until { @(Get-TunnelClient -Server admin-srv).Count -eq 0 -and (Test-PortFree $port) } | Should -BeTrue -Because 'the port is freed at once'
        Wait-Until { "$($script:Web.LastError.Code)" -eq 'ClientBanned' } | Should -BeTrue
        $script:Web.State | Should -Be 'Running' -Because 'a ban is not the end of the tunnel job'

        Wait-Until { $script:Web.Status -eq 'Connected' -and @(Get-TunnelClient -Server admin-srv).Count -eq 1 } -TimeoutSec 40 | Should -BeTrue
        (Get-TunnelClient -Name alice).Id | Should -Not -Be $gone[0].Id -Because 'a new session has a new Id'
        $script:Web.RemotePort | Should -Be $port
        Invoke-CheckedDownload -Port $port -Size 1MB
        (@($script:Server.Warning) | ForEach-Object Message) -join "`n" | Should -Match 'disconnected by the operator'
    }

    It 'Disconnect-TunnelClient here takes the client from Get-TunnelClient, and a ban of 0 lets it back at once' {
        $gone = @(Get-TunnelClient -Name alice | Disconnect-TunnelClient -BanSeconds 0)
        $gone.Count | Should -Be 1
        $gone[0].Server | Should -Be 'admin-srv'
        Wait-Until { $script:Web.Status -eq 'Connected' -and @(Get-TunnelClient -Server admin-srv).Count -eq 1 -and (Get-TunnelClient -Name alice).Id -ne $gone[0].Id } -TimeoutSec 20 |
            Should -BeTrue
        (Get-Failure { Disconnect-TunnelClient -Id $gone[0].Id -ErrorAction Stop }).FullyQualifiedErrorId |
            Should -Be 'ClientNotFound,TunnelLite.PowerShell.Cmdlets.DisconnectTunnelClientCommand'
        (Get-Failure { Disconnect-TunnelClient -Id $gone[0].Id -AdminEndpoint $script:Endpoint -Credential $script:Ops -ErrorAction Stop }).FullyQualifiedErrorId |
            Should -Be 'ClientNotFound,TunnelLite.PowerShell.Cmdlets.DisconnectTunnelClientCommand'
        (Get-Failure { Disconnect-TunnelClient -Id $gone[0].Id -Server admin-web -ErrorAction Stop }).FullyQualifiedErrorId |
            Should -Be 'NotAServerJob,TunnelLite.PowerShell.Cmdlets.DisconnectTunnelClientCommand'
    }
}

Describe 'Wrong credentials' {
    It 'give AdminAuthenticationFailed, and the client stays connected' {
        $server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name creds-srv -AdminEndpoint 127.0.0.1:0 -AdminCredential $script:Ops
        try {
            $null = New-Tunnel -Server "127.0.0.1:$($server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name creds-web
            $endpoint = ([uri]$server.AdminUrl).Authority
            $id = (Get-TunnelClient -Server creds-srv).Id
            $wrong = [pscredential]::new('ops', (ConvertTo-SecureString 'not the password' -AsPlainText -Force))
            foreach ($attempt in { Get-TunnelClient -AdminEndpoint $endpoint -Credential $wrong },
                { Get-TunnelClient -AdminEndpoint $endpoint },
                { Disconnect-TunnelClient -Id $id -AdminEndpoint $endpoint -Credential $wrong }) {
                $e = Get-Failure $attempt
                $e.FullyQualifiedErrorId | Should -BeLike 'AdminAuthenticationFailed,TunnelLite.PowerShell.Cmdlets.*'
                $e.CategoryInfo.Category | Should -Be 'AuthenticationError'
                $e.ErrorDetails.RecommendedAction | Should -Match '-Credential'
            }
            @(Get-TunnelClient -Server creds-srv).Id | Should -Be $id
        }
        finally {
            Get-Tunnel -Name 'creds-*' | Stop-Tunnel -Confirm:$false
            Get-Job -Name 'creds-*' | Remove-Job -Force
        }
    }
}

Describe 'Admin endpoint settings and their errors' {
    AfterEach {
        Get-Tunnel -Name 'settings-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
        Get-Job -Name 'settings-*' -ErrorAction SilentlyContinue | Remove-Job -Force
    }

    It 'a taken admin port fails with AdminPortInUse, and no server is left' {
        $squatter = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, 0)
        $squatter.Start()
        try {
            $e = Get-Failure { Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name settings-taken -AdminEndpoint "127.0.0.1:$($squatter.LocalEndpoint.Port)" }
            $e.FullyQualifiedErrorId | Should -Be 'AdminPortInUse,TunnelLite.PowerShell.Cmdlets.StartTunnelServerCommand'
            $e.CategoryInfo.Category | Should -Be 'ResourceExists'
            $e.Exception.Message | Should -Match 'already in use'
            Get-Tunnel -Name 'settings-taken' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty

            $server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name settings-srv
            $e = Get-Failure { New-Tunnel -Server "127.0.0.1:$($server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name settings-web -AdminEndpoint "127.0.0.1:$($squatter.LocalEndpoint.Port)" }
            $e.FullyQualifiedErrorId | Should -Be 'AdminPortInUse,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
            Get-Tunnel -Name 'settings-web' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }
        finally { $squatter.Stop() }
    }

    It '<ErrorId>: <Case>' -ForEach @(
        @{ ErrorId = 'InvalidAdminEndpoint'; Case = 'an endpoint without a port'; Says = 'not an admin endpoint'
            Script = { Start-TunnelServer -ControlPort 0 -Token $script:Token -AdminEndpoint 127.0.0.1 } }
        @{ ErrorId = 'AdminEndpointRequired'; Case = 'a credential without an endpoint'; Says = '-AdminEndpoint'
            Script = { New-Tunnel -Server 127.0.0.1:1 -Token x -LocalPort 80 -AdminCredential $script:Ops } }
        @{ ErrorId = 'InvalidServerOptions'; Case = 'all addresses without credentials'; Says = 'needs credentials.*-AdminCredential'
            Script = { Start-TunnelServer -ControlPort 0 -Token $script:Token -AdminEndpoint 0.0.0.0:0 } }
    ) {
        $e = Get-Failure $Script
        $e.FullyQualifiedErrorId | Should -BeLike "$ErrorId,TunnelLite.PowerShell.Cmdlets.*"
        $e.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        $e.Exception.Message | Should -Match $Says
        $e.Exception.Message | Should -Not -Match "\(Parameter '"
    }

    It 'reads webServer.* from a server file, and -AdminEndpoint wins over it' {
        $file = Join-Path $TestDrive 'admin-server.toml'
        $filePort = Get-FreeTcpPort
        @"
bindAddr = "127.0.0.1"
bindPort = $(Get-FreeTcpPort)
auth.token = "$($script:Token)"
enablePrometheus = false

[webServer]
port = $filePort
user = "ops"
password = "admin password for the tests"
"@ | Set-Content -LiteralPath $file
        if (-not $IsWindows) { chmod 600 $file }
        $server = Start-TunnelServer -ConfigPath $file -Name settings-file
        $server.AdminUrl | Should -Be "http://127.0.0.1:$filePort/"
        (Get-Api "$($server.AdminUrl)api/v1/server").Stats.Clients | Should -Be 0
        (Invoke-WebRequest "$($server.AdminUrl)metrics" -Credential $script:Ops -Authentication Basic -AllowUnencryptedAuthentication -SkipHttpErrorCheck).StatusCode |
            Should -Be 404 -Because 'enablePrometheus = false'
        $server | Stop-Tunnel -Confirm:$false

        $other = Get-FreeTcpPort
        $server = Start-TunnelServer -ConfigPath $file -Name settings-file2 -AdminEndpoint "127.0.0.1:$other"
        $server.AdminUrl | Should -Be "http://127.0.0.1:$other/"
        # The file's credentials still hold: only the address and port came from the command line.
        (Invoke-WebRequest "$($server.AdminUrl)api/v1/server" -SkipHttpErrorCheck).StatusCode | Should -Be 401
    }

    It 'a tunnel serves an admin endpoint of its own, ready once its tunnels are registered' {
        $server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name settings-srv2
        $t = New-Tunnel -Server "127.0.0.1:$($server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name settings-web2 -AdminEndpoint 127.0.0.1:0
        $t.AdminUrl | Should -Match '^http://127\.0\.0\.1:\d+/$'
        (Get-Api "$($t.AdminUrl)ready?tunnel=settings-web2" -Anonymous).Ready | Should -BeTrue
        Invoke-CheckedDownload -Port $t.RemotePort -Size 100000
        Wait-Until { (@(Get-Api "$($t.AdminUrl)api/v1/tunnels" -Anonymous) | Where-Object Name -EQ 'settings-web2').BytesOut -ge 100000 } | Should -BeTrue
        # A client's endpoint lists no clients: Get-TunnelClient says what it reached.
        (Get-Failure { Get-TunnelClient -AdminEndpoint ([uri]$t.AdminUrl).Authority }).FullyQualifiedErrorId |
            Should -Be 'AdminEndpointUnreachable,TunnelLite.PowerShell.Cmdlets.GetTunnelClientCommand'
    }
}
