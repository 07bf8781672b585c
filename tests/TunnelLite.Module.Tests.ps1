# Behaviour of the cmdlets, their ErrorIds, and their life as PowerShell jobs. Real servers and tunnels on 127.0.0.1.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    # A strong token, so that the jobs do not warn about it (the weak-token warnings have tests of their own).
    $script:Token = New-TunnelToken
    $script:Http = New-LocalHttpService

    function script:Start-TestServer([string] $Name = "srv-$([guid]::NewGuid().ToString('N').Substring(0, 6))", [string[]] $AllowPorts) {
        $p = @{ BindAddress = '127.0.0.1'; ControlPort = 0; Token = $script:Token; Name = $Name }
        if ($AllowPorts) { $p.AllowPorts = $AllowPorts }
        Start-TunnelServer @p
    }
}

AfterAll {
    Get-Tunnel | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
}

Describe 'Start-TunnelServer' {
    AfterEach { Get-Tunnel | Stop-Tunnel -Confirm:$false; Get-Job | Where-Object PSJobTypeName -in 'Tunnel', 'TunnelServer' | Remove-Job -Force }

    It 'returns a running TunnelServer job once the control port listens' {
        $s = Start-TestServer -Name 'srv-basic'
        $s | Should -BeOfType 'TunnelLite.PowerShell.Jobs.TunnelServerJob'
        $s.PSJobTypeName | Should -Be 'TunnelServer'
        $s.State | Should -Be 'Running'
        $s.Location | Should -Be "127.0.0.1:$($s.ControlPort)"
        $s.ControlPort | Should -BeGreaterThan 0
        $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $s.ControlPort)
        $c.Connected | Should -BeTrue
        $c.Dispose()
        (Get-Job -Name 'srv-basic').Id | Should -Be $s.Id
    }

    It 'accepts the token as a SecureString as well as a plain string' {
        $secure = ConvertTo-SecureString $script:Token -AsPlainText -Force
        $s = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $secure -Name 'srv-secure'
        $t = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'secure-ok'
        $t.RemotePort | Should -BeGreaterThan 0
    }

    It 'fails with ControlPortInUse when the port is taken' {
        $squatter = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, 0)
        $squatter.Start()
        try {
            { Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort $squatter.LocalEndpoint.Port -Token x } |
                Should -Throw -ErrorId 'ControlPortInUse,TunnelLite.PowerShell.Cmdlets.StartTunnelServerCommand'
            $err = $null
            try { Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort $squatter.LocalEndpoint.Port -Token x } catch { $err = $_ }
            $err.Exception.Message | Should -Match 'already in use'
            $err.CategoryInfo.Category | Should -Be 'ResourceExists'
        }
        finally { $squatter.Stop() }
        Get-Tunnel | Should -BeNullOrEmpty
    }

    It 'rejects a malformed -AllowPorts entry with InvalidPortRange' {
        { Start-TunnelServer -ControlPort 0 -Token x -AllowPorts '20000-19000' } | Should -Throw -ErrorId 'InvalidPortRange*'
        { Start-TunnelServer -ControlPort 0 -Token x -AllowPorts 'http' } | Should -Throw -ErrorId 'InvalidPortRange*'
    }

    It 'does nothing under -WhatIf' {
        $r = Start-TunnelServer -ControlPort 0 -Token x -WhatIf
        $r | Should -BeNullOrEmpty
        Get-Tunnel | Should -BeNullOrEmpty
    }

    It 'reads a server TOML file, and the command line wins over it' {
        $port = Get-FreeTcpPort
        $file = Join-Path $TestDrive 'frps.toml'
        @"
bindAddr = "127.0.0.1"
bindPort = 1
auth.token = "$($script:Token)"
allowPorts = [ { start = 25000, end = 25010 } ]
transport.tcpMux = true
"@ | Set-Content $file
        $s = Start-TunnelServer -ConfigPath $file -ControlPort $port -Name 'srv-config' -WarningVariable warnings -WarningAction SilentlyContinue
        $s.ControlPort | Should -Be $port
        ($warnings -join "`n") | Should -Match 'transport.tcpMux'
        { New-Tunnel -Server "127.0.0.1:$port" -Token $script:Token -LocalPort $script:Http.Port -RemotePort 26000 -Name 'outside' } |
            Should -Throw -ErrorId 'PortNotAllowed*'
        $t = New-Tunnel -Server "127.0.0.1:$port" -Token $script:Token -LocalPort $script:Http.Port -Name 'inside'
        $t.RemotePort | Should -BeIn (25000..25010)
    }

    It 'reports an invalid config file with InvalidConfig, naming file, line and key' {
        $file = Join-Path $TestDrive 'bad.toml'
        "bindPort = 70000`nauth.token = 'x'" | Set-Content $file
        $err = $null
        try { Start-TunnelServer -ConfigPath $file } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'InvalidConfig*'
        $err.Exception.Message | Should -Match 'bad.toml:1: bindPort'
    }

    It 'refuses an unknown key with InvalidConfig, suggesting the known one (allowPort: did you mean allowPorts?)' {
        $file = Join-Path $TestDrive 'typo.toml'
        "bindAddr = `"127.0.0.1`"`nbindPort = $(Get-FreeTcpPort)`nauth.token = `"$($script:Token)`"`nallowPort = [ { start = 25000, end = 25010 } ]" |
            Set-Content $file
        $err = $null
        try { Start-TunnelServer -ConfigPath $file -Name 'srv-typo' } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'InvalidConfig,TunnelLite.PowerShell.Cmdlets.StartTunnelServerCommand'
        $err.Exception.Message | Should -BeLike '*typo.toml:4: allowPort: unknown key; did you mean allowPorts?*'
        Get-Tunnel -Name 'srv-typo' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'takes the token from {{ .Envs.NAME }}, and names an unset variable with InvalidConfig' {
        $port = Get-FreeTcpPort
        $name = "TUNNELLITE_PESTER_$([guid]::NewGuid().ToString('N').Substring(0, 8).ToUpperInvariant())"
        $file = Join-Path $TestDrive 'env.toml'
        "bindAddr = `"127.0.0.1`"`nbindPort = $port`nauth.token = `"{{ .Envs.$name }}`"" | Set-Content $file
        try {
            $err = $null
            try { Start-TunnelServer -ConfigPath $file -Name 'srv-env' } catch { $err = $_ }
            $err.FullyQualifiedErrorId | Should -BeLike 'InvalidConfig*'
            $err.Exception.Message | Should -BeLike "*env.toml:3: auth.token: the environment variable $name is not set*"

            [Environment]::SetEnvironmentVariable($name, $script:Token)
            # Not held by the file, so no permission warning either.
            $s = Start-TunnelServer -ConfigPath $file -Name 'srv-env' -WarningVariable warnings -WarningAction SilentlyContinue
            $warnings | Should -BeNullOrEmpty
            $t = New-Tunnel -Server "127.0.0.1:$port" -Token $script:Token -LocalPort $script:Http.Port -Name 'env-web'
            [Text.Encoding]::UTF8.GetString((Invoke-HttpDownload -Port $t.RemotePort)) | Should -Match 'behind the NAT'
        }
        finally {
            [Environment]::SetEnvironmentVariable($name, $null)
            Get-Tunnel -Name 'env-web', 'srv-env' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
        }
    }

    It 'serves clients with tokens of their own from [[clients]], each bound to its ports and quota' {
        $port = Get-FreeTcpPort
        $file = Join-Path $TestDrive 'clients.toml'
        @"
bindAddr = "127.0.0.1"
bindPort = $port

[[clients]]
name = "alice"
token = "alice-pester-secret"
allowPorts = [ { start = 25100, end = 25104 } ]
maxTunnels = 1

[[clients]]
name = "bob"
token = "bob-pester-secret"
"@ | Set-Content $file
        $s = Start-TunnelServer -ConfigPath $file -Name 'srv-clients'
        try {
            $a = New-Tunnel -Server "127.0.0.1:$port" -Token 'alice-pester-secret' -LocalPort $script:Http.Port -Name 'alice-web'
            $a.RemotePort | Should -BeIn (25100..25104)
            (Invoke-HttpDownload -Port $a.RemotePort -Path '/bytes/20000').Length | Should -Be 20000
            { New-Tunnel -Server "127.0.0.1:$port" -Token 'alice-pester-secret' -LocalPort $script:Http.Port -Name 'alice-two' } |
                Should -Throw -ErrorId 'QuotaExceeded*'
            { New-Tunnel -Server "127.0.0.1:$port" -Token 'bob-pester-secret' -LocalPort $script:Http.Port -RemotePort $a.RemotePort -Name 'bob-steal' } |
                Should -Throw -ErrorId 'PortInUse*'
            # Naming the account: the proof is checked against bob's token only, so alice's token under bob's name fails.
            { New-Tunnel -Server "127.0.0.1:$port" -Token 'alice-pester-secret' -ClientName 'bob' -LocalPort $script:Http.Port -Name 'bob-wrong' } |
                Should -Throw -ErrorId 'AuthenticationFailed*'
            $b = New-Tunnel -Server "127.0.0.1:$port" -Token 'bob-pester-secret' -ClientName 'bob' -LocalPort $script:Http.Port -Name 'bob-web'
            @(Get-TunnelStats -Name 'srv-clients').Count | Should -Be 1
            $perTunnel = @($s | Get-TunnelStats -PerTunnel)
            $perTunnel.Count | Should -Be 3
            ($perTunnel | Where-Object Name -eq 'alice-web').ClientName | Should -Be 'alice'
            ($perTunnel | Where-Object Name -eq 'bob-web').ClientName | Should -Be 'bob'
            ($perTunnel | Where-Object Name -eq 'alice-web').Port | Should -Be $a.RemotePort
            ($perTunnel | Where-Object Name -eq 'alice-web').BytesOut | Should -BeGreaterThan 20000
        }
        finally {
            Get-Tunnel -Name 'alice-*', 'bob-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            $s | Stop-Tunnel -Confirm:$false
        }
    }

    It 'names a shared-token client in -PerTunnel by its host name, or by -ClientName' {
        $s = Start-TestServer -Name 'srv-names'
        try {
            $byHost = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'names-host'
            $byName = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'names-given' -ClientName 'ci-runner-7'
            $byHost.Client.ClientName | Should -Be ([Environment]::MachineName)
            $perTunnel = @($s | Get-TunnelStats -PerTunnel)
            ($perTunnel | Where-Object Name -eq 'names-host').ClientName | Should -Be ([Environment]::MachineName)
            ($perTunnel | Where-Object Name -eq 'names-given').ClientName | Should -Be 'ci-runner-7'
            (Get-TunnelStats -Name 'names-given').ClientName | Should -Be 'ci-runner-7'
        }
        finally {
            Get-Tunnel -Name 'names-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            $s | Stop-Tunnel -Confirm:$false
        }
    }

    It 'requires a token from the command line or the file' {
        $file = Join-Path $TestDrive 'notoken.toml'
        "bindPort = 7000" | Set-Content $file
        { Start-TunnelServer -ConfigPath $file } | Should -Throw -ErrorId 'InvalidConfig*'
        { Start-TunnelServer -ConfigPath $file -Token '' } | Should -Throw -ErrorId 'TokenRequired*'
    }
}

Describe 'New-Tunnel' {
    BeforeAll {
        # The single allowed port is one that can be bound now (see Get-BindableTcpPort).
        $script:Single = Get-BindableTcpPort 24500 24999
        $script:Server = Start-TestServer -Name 'srv-newtunnel' -AllowPorts '24000-24100', "$script:Single"
    }
    AfterAll { Stop-Tunnel -All -Confirm:$false; Get-Job | Where-Object PSJobTypeName -in 'Tunnel', 'TunnelServer' | Remove-Job -Force }
    AfterEach { Get-Tunnel | Where-Object PSJobTypeName -eq 'Tunnel' | Stop-Tunnel -Confirm:$false }

    It 'returns a Tunnel job once the server confirmed the registration, and carries bytes' {
        $t = New-Tunnel -Server "127.0.0.1:$($script:Server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'web'
        $t | Should -BeOfType 'TunnelLite.PowerShell.Jobs.TunnelJob'
        $t.PSJobTypeName | Should -Be 'Tunnel'
        $t.Name | Should -Be 'web'
        $t.Server | Should -Be "127.0.0.1:$($script:Server.ControlPort)"
        $t.LocalEndpoint | Should -Be "127.0.0.1:$($script:Http.Port)"
        $t.RemotePort | Should -BeIn (24000..24100 + $script:Single)
        $t.PublicEndpoint | Should -Be "127.0.0.1:$($t.RemotePort)"
        $t.Location | Should -Be "127.0.0.1:$($t.RemotePort) -> 127.0.0.1:$($script:Http.Port)"
        $body = Invoke-HttpDownload -Port $t.RemotePort -Path '/bytes/300000'
        [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash 300000)
    }

    It 'binds the requested remote port' {
        $t = New-Tunnel -Server "127.0.0.1:$($script:Server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -RemotePort $script:Single -Name 'fixed'
        $t.RemotePort | Should -Be $script:Single
    }

    It 'fails with AuthenticationFailed on a wrong token, saying what to do' {
        $err = $null
        try { New-Tunnel -Server "127.0.0.1:$($script:Server.ControlPort)" -Token 'wrong' -LocalPort $script:Http.Port -Name 'x' } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'AuthenticationFailed,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
        $err.Exception.Message | Should -Match 'rejected the token'
        $err.CategoryInfo.Category | Should -Be 'AuthenticationError'
    }

    It 'fails with PortNotAllowed outside the allowed ports' {
        { New-Tunnel -Server "127.0.0.1:$($script:Server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -RemotePort 24200 -Name 'x' } |
            Should -Throw -ErrorId 'PortNotAllowed,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
    }

    It 'fails with PortInUse when another tunnel holds the port' {
        $port = Get-BindableTcpPort 24050 24100
        $null = New-Tunnel -Server "127.0.0.1:$($script:Server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -RemotePort $port -Name 'holder'
        { New-Tunnel -Server "127.0.0.1:$($script:Server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -RemotePort $port -Name 'second' } |
            Should -Throw -ErrorId 'PortInUse,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
    }

    It 'fails with ServerUnreachable when nothing listens' {
        $port = Get-FreeTcpPort
        $err = $null
        try { New-Tunnel -Server "127.0.0.1:$port" -Token x -LocalPort $script:Http.Port -TimeoutSec 5 } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'ServerUnreachable,*'
        $err.Exception.Message | Should -Match 'Cannot reach'
    }

    It 'fails with ProtocolError, not RegistrationTimeout, when the server never answers the hello' {
        # A listener that accepts and then says nothing: a TunnelLite server answers a hello at once, even to refuse it.
        $mute = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, 0)
        $mute.Start()
        try {
            $err = $null
            try { New-Tunnel -Server "127.0.0.1:$($mute.LocalEndpoint.Port)" -Token x -LocalPort $script:Http.Port -TimeoutSec 1 } catch { $err = $_ }
            $err.FullyQualifiedErrorId | Should -Be 'ProtocolError,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
            $err.Exception.Message | Should -Match 'did not answer the TunnelLite hello within 1 s: not a TunnelLite server\?'
        }
        finally { $mute.Stop() }
    }

    It 'fails with ProtocolError within a few seconds when the server is a web server' {
        # The issue: an HTTP server cost the whole -TimeoutSec and was reported as RegistrationTimeout. The local HTTP
        # service waits for a full request, as most do, so it never answers the hello.
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $err = $null
        try { New-Tunnel -Server "127.0.0.1:$($script:Http.Port)" -Token $script:Token -LocalPort $script:Http.Port -Name 'at-http' } catch { $err = $_ }
        $clock.Stop()
        $err.FullyQualifiedErrorId | Should -Be 'ProtocolError,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
        $err.CategoryInfo.Category | Should -Be 'ProtocolError'
        $err.Exception.Message | Should -Match 'not a TunnelLite server'
        $err.Exception.Message | Should -Match 'control port'
        $err.ErrorDetails.RecommendedAction | Should -Match 'control port of a TunnelLite server'
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 6
        Get-Tunnel -Name 'at-http' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'rejects a malformed -Server with InvalidServerAddress' {
        { New-Tunnel -Server 'host:notaport' -Token x -LocalPort 80 } | Should -Throw -ErrorId 'InvalidServerAddress*'
    }

    It 'does nothing under -WhatIf' {
        New-Tunnel -Server "127.0.0.1:$($script:Server.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'whatif' -WhatIf | Should -BeNullOrEmpty
        Get-Tunnel -Name 'whatif' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'returns one job per [[proxies]] entry of a client TOML file' {
        $file = Join-Path $TestDrive 'frpc.toml'
        $port = Get-BindableTcpPort 24060 24100
        @"
serverAddr = "127.0.0.1"
serverPort = $($script:Server.ControlPort)
auth.token = "$($script:Token)"
transport.poolCount = 2

[[proxies]]
name = "cfg-a"
type = "tcp"
localIP = "127.0.0.1"
localPort = $($script:Http.Port)
remotePort = $port

[[proxies]]
name = "cfg-b"
type = "tcp"
localPort = $($script:Http.Port)
"@ | Set-Content $file
        $jobs = @(New-Tunnel -ConfigPath $file)
        $jobs.Count | Should -Be 2
        $jobs.Name | Should -Be @('cfg-a', 'cfg-b')
        $jobs[0].RemotePort | Should -Be $port
        foreach ($j in $jobs) { [Text.Encoding]::UTF8.GetString((Invoke-HttpDownload -Port $j.RemotePort)) | Should -Match 'behind the NAT' }
        # Stopping one leaves the other serving.
        $jobs[0] | Stop-Tunnel -Confirm:$false
        [Text.Encoding]::UTF8.GetString((Invoke-HttpDownload -Port $jobs[1].RemotePort)) | Should -Match 'behind the NAT'
    }

    It 'reports a proxy of another type with InvalidConfig' {
        $file = Join-Path $TestDrive 'http.toml'
        "serverAddr = '127.0.0.1'`nauth.token = 'x'`n[[proxies]]`nname = 'w'`ntype = 'http'`nlocalPort = 80" | Set-Content $file
        $err = $null
        try { New-Tunnel -ConfigPath $file } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'InvalidConfig*'
        $err.Exception.Message | Should -Match '"http"'
    }
}

Describe 'ErrorIds' {
    # Every ErrorRecord of the module has a category and a recommended action from one table (TunnelErrors.cs); these
    # tests trigger what can be triggered cheaply here and check the table for the rest.
    BeforeAll {
        $type = (Get-Command New-Tunnel).ImplementingType.Assembly.GetType('TunnelLite.PowerShell.Internal.TunnelErrors', $true)
        $script:ErrorTable = $type.GetField('Table', [Reflection.BindingFlags]'Static,NonPublic').GetValue($null)
        $script:IdServer = Start-TestServer -Name 'srv-errorids' -AllowPorts '24200-24210'
        $script:IdPort = Get-BindableTcpPort 24200 24210
        $null = New-Tunnel -Server "127.0.0.1:$($script:IdServer.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -RemotePort $script:IdPort -Name 'ids-holder'
        $script:NoProxies = Join-Path $TestDrive 'noproxies.toml'
        "serverAddr = '127.0.0.1'`nauth.token = '$($script:Token)'" | Set-Content $script:NoProxies
        if (-not $IsWindows) { chmod 600 $script:NoProxies }   # a file with a token others can read is warned about
        $script:BadToml = Join-Path $TestDrive 'bad-ids.toml'
        "bindPort = 70000`nauth.token = 'x'" | Set-Content $script:BadToml
        $script:Bob = [pscredential]::new('bob', (ConvertTo-SecureString 'bob-secret' -AsPlainText -Force))
    }
    AfterAll { Stop-Tunnel -All -Confirm:$false; Get-Job | Where-Object PSJobTypeName -in 'Tunnel', 'TunnelServer' | Remove-Job -Force }

    It 'every engine code and every ErrorId the module writes has a category and a recommended action' {
        foreach ($code in [Enum]::GetNames([TunnelLite.TunnelErrorCode])) {
            $script:ErrorTable.ContainsKey($code) | Should -BeTrue -Because "TunnelErrorCode.$code is an ErrorId of New-Tunnel or Start-TunnelServer"
        }
        foreach ($entry in $script:ErrorTable.GetEnumerator()) {
            $entry.Value.RecommendedAction | Should -Match '^[A-Z].{20,}\.$' -Because "$($entry.Key) needs a recommended action"
        }
        # The ErrorIds the cmdlets and jobs pass to TunnelErrors: single PascalCase words among the string literals there.
        $sources = Get-ChildItem (Join-Path $PSScriptRoot '../src/TunnelLite.PowerShell') -Recurse -Filter *.cs
        $ids = foreach ($line in $sources | Get-Content | Where-Object { $_ -match 'TunnelErrors\.(Create|InvalidArgument|InvalidOptions)\(' }) {
            [regex]::Matches($line, '"([A-Z][A-Za-z]+)"') | ForEach-Object { $_.Groups[1].Value }
        }
        @($ids).Count | Should -BeGreaterThan 15
        foreach ($id in $ids) { $script:ErrorTable.ContainsKey($id) | Should -BeTrue -Because "$id is written by the module" }
    }

    It '<ErrorId> (<Category>): <Case>' -ForEach @(
        @{ ErrorId = 'AddressNotAvailable'; Category = 'ResourceUnavailable'; Case = 'a -BindAddress this host does not have'
            Script = 'Start-TunnelServer -BindAddress 192.0.2.1 -ControlPort 0 -Token $script:Token'; Says = 'this host has no address 192\.0\.2\.1' }
        @{ ErrorId = 'ControlPortInUse'; Category = 'ResourceExists'; Case = 'a control port another server holds'
            Script = 'Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort $script:IdServer.ControlPort -Token $script:Token'; Says = 'already in use' }
        @{ ErrorId = 'ConfigNotFound'; Category = 'ObjectNotFound'; Case = 'a server file that does not exist'
            Script = 'Start-TunnelServer -ConfigPath (Join-Path $TestDrive "no-such-server.toml")'; Says = 'no-such-server\.toml: configuration file not found' }
        @{ ErrorId = 'ConfigNotFound'; Category = 'ObjectNotFound'; Case = 'a client file that does not exist'
            Script = 'New-Tunnel -ConfigPath (Join-Path $TestDrive "no-such-client.toml")'; Says = 'configuration file not found' }
        @{ ErrorId = 'InvalidConfig'; Category = 'InvalidData'; Case = 'a file with an invalid value'
            Script = 'Start-TunnelServer -ConfigPath $script:BadToml'; Says = 'bindPort' }
        @{ ErrorId = 'InvalidPortRange'; Category = 'InvalidArgument'; Case = '-AllowPorts 31100-3119'
            Script = 'Start-TunnelServer -ControlPort 0 -Token x -AllowPorts 31100-3119'; Says = "^'31100-3119' is not a valid port range: it ends at 3119, below its start 31100\. Write the lower port first" }
        @{ ErrorId = 'InvalidServerOptions'; Category = 'InvalidArgument'; Case = 'a -BindAddress that is no address'
            Script = 'Start-TunnelServer -BindAddress nope -ControlPort 0 -Token x'; Says = "'nope' is not an IP address" }
        @{ ErrorId = 'InvalidTunnelOptions'; Category = 'InvalidArgument'; Case = 'a -ClientName with a control character'
            Script = 'New-Tunnel -Server 127.0.0.1:1 -Token x -LocalPort 80 -ClientName "a`tb"'; Says = '^A client name must be 1-128 printable characters \(clientName\)\.$' }
        @{ ErrorId = 'TokenRequired'; Category = 'InvalidArgument'; Case = 'an empty -Token'
            Script = 'Start-TunnelServer -ControlPort 0 -Token ""'; Says = 'empty' }
        @{ ErrorId = 'TokenAndCredential'; Category = 'InvalidArgument'; Case = '-Token and -Credential'
            Script = 'New-Tunnel -ConfigPath $script:NoProxies -Token x -Credential $script:Bob'; Says = 'once' }
        @{ ErrorId = 'ClientNameMismatch'; Category = 'InvalidArgument'; Case = '-ClientName other than the user of -Credential'
            Script = 'New-Tunnel -Server 127.0.0.1:1 -Credential $script:Bob -ClientName dave -LocalPort 80'; Says = 'differ' }
        @{ ErrorId = 'NoTunnels'; Category = 'InvalidArgument'; Case = 'a client file without [[proxies]]'
            Script = 'New-Tunnel -ConfigPath $script:NoProxies'; Says = 'proxies' }
        @{ ErrorId = 'InvalidServerAddress'; Category = 'InvalidArgument'; Case = 'a -Server without a port number'
            Script = 'New-Tunnel -Server host:notaport -Token x -LocalPort 80'; Says = 'not a port' }
        @{ ErrorId = 'TlsRequired'; Category = 'InvalidArgument'; Case = 'a fingerprint with -Tls:$false'
            Script = 'New-Tunnel -Server 127.0.0.1:1 -Token x -LocalPort 80 -CertificateFingerprint ("0" * 64) -Tls:$false'; Says = 'need TLS' }
        @{ ErrorId = 'InvalidCertificateFingerprint'; Category = 'InvalidArgument'; Case = 'a short fingerprint'
            Script = 'New-Tunnel -Server 127.0.0.1:1 -Token x -LocalPort 80 -CertificateFingerprint ab:cd'; Says = 'SHA-256' }
        @{ ErrorId = 'CertificateLoadFailed'; Category = 'ReadError'; Case = 'a -TrustedCaPath that does not exist'
            Script = 'New-Tunnel -Server 127.0.0.1:1 -Token x -LocalPort 80 -TrustedCaPath (Join-Path $TestDrive "no-ca.pem")'; Says = 'no-ca\.pem' }
        @{ ErrorId = 'CertificatePathRequired'; Category = 'InvalidArgument'; Case = '-CertificateKeyPath alone'
            Script = 'Start-TunnelServer -ControlPort 0 -Token x -CertificateKeyPath k.pem'; Says = 'belong to a -CertificatePath' }
        @{ ErrorId = 'InvalidCertificateOptions'; Category = 'InvalidArgument'; Case = 'a key file for a PFX'
            Script = 'Start-TunnelServer -ControlPort 0 -Token x -Tls -CertificatePath c.pfx -CertificateKeyPath k.pem'; Says = 'PFX file holds its key' }
        @{ ErrorId = 'ServerUnreachable'; Category = 'ConnectionError'; Case = 'a port where nothing listens'
            Script = 'New-Tunnel -Server "127.0.0.1:$(Get-FreeTcpPort)" -Token x -LocalPort 80 -TimeoutSec 5'; Says = 'Cannot reach' }
        @{ ErrorId = 'AuthenticationFailed'; Category = 'AuthenticationError'; Case = 'a wrong token'
            Script = 'New-Tunnel -Server "127.0.0.1:$($script:IdServer.ControlPort)" -Token wrong-token -LocalPort 80 -Name ids-auth'; Says = 'rejected the token' }
        @{ ErrorId = 'PortNotAllowed'; Category = 'PermissionDenied'; Case = 'a port outside -AllowPorts'
            Script = 'New-Tunnel -Server "127.0.0.1:$($script:IdServer.ControlPort)" -Token $script:Token -LocalPort 80 -RemotePort 24300 -Name ids-outside'; Says = 'not allowed' }
        @{ ErrorId = 'PortInUse'; Category = 'ResourceExists'; Case = 'a port another tunnel holds'
            Script = 'New-Tunnel -Server "127.0.0.1:$($script:IdServer.ControlPort)" -Token $script:Token -LocalPort 80 -RemotePort $script:IdPort -Name ids-second'; Says = 'already in use' }
        @{ ErrorId = 'DuplicateName'; Category = 'ResourceExists'; Case = 'a name another tunnel has'
            Script = 'New-Tunnel -Server "127.0.0.1:$($script:IdServer.ControlPort)" -Token $script:Token -LocalPort 80 -Name ids-holder'; Says = 'already registered' }
        @{ ErrorId = 'SelectionRequired'; Category = 'InvalidArgument'; Case = 'Stop-Tunnel without a selection'
            Script = 'Stop-Tunnel'; Says = '-All' }
        @{ ErrorId = 'TunnelNotFound'; Category = 'ObjectNotFound'; Case = 'Get-Tunnel of a name no job has'
            Script = 'Get-Tunnel -Name no-such-tunnel -ErrorAction Stop'; Says = 'no-such-tunnel' }
        @{ ErrorId = 'TunnelNotFound'; Category = 'ObjectNotFound'; Case = 'Get-TunnelStats of an id no job has'
            Script = 'Get-TunnelStats -Id 999999 -ErrorAction Stop'; Says = '999999' }
        @{ ErrorId = 'TunnelNotFound'; Category = 'ObjectNotFound'; Case = 'Test-Tunnel of a name no job has'
            Script = 'Test-Tunnel -Name no-such-tunnel -ErrorAction Stop'; Says = "'no-such-tunnel'" }
        @{ ErrorId = 'NotATunnelJob'; Category = 'InvalidArgument'; Case = 'a thread job piped to Stop-Tunnel'
            Script = '$j = Start-ThreadJob { 1 }; try { $j | Stop-Tunnel -Confirm:$false -ErrorAction Stop } finally { $j | Remove-Job -Force }'; Says = 'not a tunnel or server job' }
    ) {
        $err = $null
        try { $null = & ([scriptblock]::Create($Script)) } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty -Because "$Case must fail"
        $err.FullyQualifiedErrorId | Should -BeLike "$ErrorId,TunnelLite.PowerShell.Cmdlets.*"
        $err.CategoryInfo.Category | Should -Be $Category
        $err.ErrorDetails.RecommendedAction | Should -Be $script:ErrorTable[$ErrorId].RecommendedAction
        $err.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        $err.Exception.Message | Should -Match $Says
        # The message shown is the exception's, and names no parameter of the engine's options.
        $err.ErrorDetails.Message | Should -Be $err.Exception.Message
        $err.Exception.Message | Should -Not -Match "\(Parameter '|Actual value was"
    }
}

Describe 'Get-Tunnel, Get-TunnelStats and Stop-Tunnel' {
    BeforeAll {
        $script:S2 = Start-TestServer -Name 'srv-stats'
        $script:T1 = New-Tunnel -Server "127.0.0.1:$($script:S2.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'stats-one'
        $script:T2 = New-Tunnel -Server "127.0.0.1:$($script:S2.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'stats-two'
    }
    AfterAll { Stop-Tunnel -All -Confirm:$false; Get-Job | Where-Object PSJobTypeName -in 'Tunnel', 'TunnelServer' | Remove-Job -Force }

    It 'Get-Tunnel lists the jobs, by wildcard name and by id' {
        (Get-Tunnel).Name | Should -Contain 'stats-one'
        (Get-Tunnel -Name 'stats-*').Name | Should -Be @('stats-one', 'stats-two')
        (Get-Tunnel -Id $script:T2.Id).Name | Should -Be 'stats-two'
        Get-Tunnel -Name 'nope' -ErrorVariable e -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $e[0].FullyQualifiedErrorId | Should -BeLike 'TunnelNotFound*'
    }

    It 'Get-TunnelStats counts real traffic, numbers stay numbers' {
        $body = Invoke-HttpDownload -Port $script:T1.RemotePort -Path '/bytes/100000'
        $body.Length | Should -Be 100000
        $s = $null
        foreach ($i in 1..50) {
            $s = Get-TunnelStats -Name 'stats-one'
            if ($s.ActiveConnections -eq 0 -and $s.BytesOut -ge 100000) { break }
            Start-Sleep -Milliseconds 100
        }
        $s | Should -BeOfType 'TunnelLite.TunnelStats'
        $s.JobId | Should -Be $script:T1.Id
        $s.Role | Should -Be 'Client'
        $s.TotalConnections | Should -Be 1
        $s.BytesOut | Should -BeGreaterThan 100000
        $s.BytesIn | Should -BeGreaterThan 0
        $s.BytesOut | Should -BeOfType [long]
        $s.ForwardingMode | Should -Be $(if ($IsLinux) { 'Auto' } else { 'Copy' })
        $s.Uptime | Should -BeOfType [timespan]
        $s.Timestamp | Should -BeOfType [datetimeoffset]
        $server = Get-TunnelStats -Name 'srv-stats'
        $server.Role | Should -Be 'Server'
        $server.Tunnels | Should -Be 2
        $json = Get-TunnelStats -Name 'stats-one' | ConvertTo-Json | ConvertFrom-Json
        $json.BytesOut | Should -BeGreaterThan 100000
        $csv = Get-TunnelStats | ConvertTo-Csv | ConvertFrom-Csv
        @($csv).Count | Should -Be 3
    }

    It '-ForwardingMode <mode> is used by both ends and counted per connection' -ForEach @(
        @{ Mode = 'Splice' }, @{ Mode = 'Copy' }
    ) {
        $srv = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name "srv-$Mode" -ForwardingMode $Mode
        $t = New-Tunnel -Server "127.0.0.1:$($srv.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name "mode-$Mode" -ForwardingMode $Mode
        try {
            $body = Invoke-HttpDownload -Port $t.RemotePort -Path '/bytes/1000000'
            $body.Length | Should -Be 1000000
            $expected = if ($IsLinux) { $Mode } else { 'Copy' }
            foreach ($name in "mode-$Mode", "srv-$Mode") {
                $s = $null
                foreach ($i in 1..50) {
                    $s = Get-TunnelStats -Name $name
                    if ($s.ActiveConnections -eq 0 -and $s.SplicedConnections + $s.CopiedConnections -ge 1) { break }
                    Start-Sleep -Milliseconds 100
                }
                $s.ForwardingMode | Should -Be $expected
                if ($expected -eq 'Splice') { $s.SplicedConnections | Should -Be 1; $s.CopiedConnections | Should -Be 0 }
                else { $s.CopiedConnections | Should -Be 1; $s.SplicedConnections | Should -Be 0 }
                $s.SpliceFallbacks | Should -Be 0
            }
        }
        finally {
            $t, $srv | Stop-Tunnel -Confirm:$false
        }
    }

    It '-ForwardingMode rejects what is not a mode' {
        { New-Tunnel -Server '127.0.0.1:1' -Token $script:Token -LocalPort 1 -ForwardingMode ZeroCopy } |
            Should -Throw -ErrorId 'CannotConvertArgumentNoMessage,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
    }

    It 'Get-TunnelStats takes jobs from the pipeline' {
        $r = @($script:T1, $script:T2 | Get-TunnelStats)
        $r.Name | Should -Be @('stats-one', 'stats-two')
        @(Get-Tunnel 'stats-*' | Get-TunnelStats).Count | Should -Be 2
    }

    It 'the default table view shows human units' {
        $text = Get-TunnelStats -Name 'stats-one' | Out-String -Width 200
        $text | Should -Match 'KiB'
        $text | Should -Match 'Active'
    }

    It 'Get-TunnelStats counts a failure when the local service is down' {
        $dead = Get-FreeTcpPort
        $t = New-Tunnel -Server "127.0.0.1:$($script:S2.ControlPort)" -Token $script:Token -LocalPort $dead -Name 'stats-dead'
        $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $t.RemotePort)
        $stream = $c.GetStream()
        $stream.ReadTimeout = 5000
        try { $stream.ReadByte() | Should -Be -1 } catch [System.IO.IOException] { }
        $c.Dispose()
        $s = $null
        foreach ($i in 1..50) { $s = Get-TunnelStats 'stats-dead'; if ($s.FailedConnections -ge 1) { break }; Start-Sleep -Milliseconds 100 }
        $s.FailedConnections | Should -Be 1
        $s.LastError | Should -Match "$dead"
        $t | Stop-Tunnel -Confirm:$false
    }

    It 'Stop-Tunnel -WhatIf stops nothing' {
        Get-Tunnel | Stop-Tunnel -WhatIf
        (Get-Tunnel 'stats-one').State | Should -Be 'Running'
    }

    It 'Stop-Tunnel without a selection asks for one' {
        { Stop-Tunnel } | Should -Throw -ErrorId 'SelectionRequired,TunnelLite.PowerShell.Cmdlets.StopTunnelCommand'
    }

    It 'Stop-Tunnel stops a tunnel and the server frees its port; -PassThru returns it' {
        $port = $script:T2.RemotePort
        $r = $script:T2 | Stop-Tunnel -PassThru -Confirm:$false
        $r.Name | Should -Be 'stats-two'
        $r.State | Should -Be 'Stopped'
        $free = $false
        foreach ($i in 1..50) {
            try { $l = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, $port); $l.Start(); $l.Stop(); $free = $true; break }
            catch { Start-Sleep -Milliseconds 100 }
        }
        $free | Should -BeTrue
        (Get-TunnelStats 'srv-stats').Tunnels | Should -Be 1
    }

    It 'Stop-Tunnel on a server closes its listener' {
        $s = Start-TestServer -Name 'srv-stopme'
        $port = $s.ControlPort
        Stop-Tunnel -Name 'srv-stopme' -Confirm:$false
        $s.State | Should -Be 'Stopped'
        { [System.Net.Sockets.TcpClient]::new('127.0.0.1', $port) } | Should -Throw
    }
}

Describe 'Jobs' {
    AfterEach { Get-Tunnel | Stop-Tunnel -Confirm:$false; Get-Job | Where-Object PSJobTypeName -in 'Tunnel', 'TunnelServer' | Remove-Job -Force }

    It 'Get-Job lists servers and tunnels; Stop-Job stops them' {
        $s = Start-TestServer -Name 'job-srv'
        $t = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'job-tun'
        (Get-Job -Name 'job-*').Name | Should -Be @('job-srv', 'job-tun')
        (Get-Job -Id $t.Id).PSJobTypeName | Should -Be 'Tunnel'
        Stop-Job -Job $t
        $t.State | Should -Be 'Stopped'
        Stop-Job -Name 'job-srv'
        $s.State | Should -Be 'Stopped'
    }

    It 'Receive-Job shows the events of a job' {
        $s = Start-TestServer -Name 'job-events'
        $null = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'job-ev-tun'
        Start-Sleep -Milliseconds 200
        $events = @(Receive-Job -Job $s)
        $events | Should -Not -BeNullOrEmpty
        $events[0] | Should -BeOfType 'TunnelLite.TunnelEvent'
        ($events.Message -join "`n") | Should -Match 'listening'
        ($events.Message -join "`n") | Should -Match 'registered tunnel job-ev-tun'
        # The tunnel job also has what its client logged while New-Tunnel was still connecting.
        ((Receive-Job -Name 'job-ev-tun').Message -join "`n") | Should -Match 'Connected to 127.0.0.1'
    }

    It 'Remove-Job -Force stops and disposes a running job' {
        $s = Start-TestServer -Name 'job-remove'
        $port = $s.ControlPort
        Remove-Job -Job $s -Force
        Get-Job -Name 'job-remove' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-Tunnel -Name 'job-remove' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        { [System.Net.Sockets.TcpClient]::new('127.0.0.1', $port) } | Should -Throw
    }

    It 'Wait-Job blocks until the server stops' {
        $s = Start-TestServer -Name 'job-wait'
        Invoke-Later -Job $s -Milliseconds 500
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $done = $s | Wait-Job -Timeout 20
        $done.Name | Should -Be 'job-wait'
        $s.State | Should -Be 'Stopped'
        $sw.Elapsed.TotalMilliseconds | Should -BeGreaterThan 300
    }

    It 'Receive-Job -Wait -AutoRemoveJob works on a tunnel job' {
        $s = Start-TestServer -Name 'job-auto'
        Invoke-Later -Job $s -Milliseconds 300
        $out = Receive-Job -Job $s -Wait -AutoRemoveJob
        ($out.Message -join "`n") | Should -Match 'listening'
        Get-Job -Name 'job-auto' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'a dropped server is not an error of the tunnel: the job reconnects and says so' {
        $port = Get-FreeTcpPort
        $s = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort $port -Token $script:Token -Name 'job-drop-srv'
        $t = New-Tunnel -Server "127.0.0.1:$port" -Token $script:Token -LocalPort $script:Http.Port -Name 'job-drop'
        $s | Stop-Tunnel -Confirm:$false
        $s | Remove-Job -Force
        $s2 = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort $port -Token $script:Token -Name 'job-drop-srv2'
        $stats = $null
        foreach ($i in 1..100) { $stats = Get-TunnelStats 'job-drop'; if ($stats.State -eq 'Connected' -and $stats.Reconnects -ge 1) { break }; Start-Sleep -Milliseconds 100 }
        $stats.Reconnects | Should -BeGreaterOrEqual 1
        $t.State | Should -Be 'Running'
        ($t.Warning -join "`n") | Should -Match 'reconnecting'
        $stats.LastError | Should -Match 'Lost the server'
        ((Receive-Job $t).Message -join "`n") | Should -Match 'Reconnected'
        [Text.Encoding]::UTF8.GetString((Invoke-HttpDownload -Port $t.RemotePort)) | Should -Match 'behind the NAT'
    }

    It 'a stopped tunnel and a stopped server keep the Uptime they had when they stopped' {
        $s = Start-TestServer -Name 'uptime-srv'
        $t = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'uptime-tun'
        Start-Sleep -Milliseconds 300
        $t, $s | Stop-Tunnel -Confirm:$false
        $first = @(Get-TunnelStats -Name 'uptime-tun', 'uptime-srv')
        Start-Sleep -Seconds 1
        $second = @(Get-TunnelStats -Name 'uptime-tun', 'uptime-srv')
        $first.Count | Should -Be 2
        foreach ($i in 0, 1) {
            $second[$i].State | Should -Be 'Stopped'
            $second[$i].Uptime | Should -Be $first[$i].Uptime -Because "$($second[$i].Name) stopped"
            $second[$i].Uptime | Should -BeGreaterThan ([TimeSpan]::FromMilliseconds(250))
        }
    }

    It 'a stopped tunnel of a client that serves others keeps its statistics and its frozen Uptime' {
        $s = Start-TestServer -Name 'uptime-shared-srv'
        $file = Join-Path $TestDrive 'two-proxies.toml'
        "serverAddr = '127.0.0.1'`nserverPort = $($s.ControlPort)`n[[proxies]]`nname = 'uptime-a'`ntype = 'tcp'`nlocalPort = $($script:Http.Port)`n[[proxies]]`nname = 'uptime-b'`ntype = 'tcp'`nlocalPort = $($script:Http.Port)" |
            Set-Content $file
        $a, $b = New-Tunnel -ConfigPath $file -Token $script:Token
        $port = $a.RemotePort
        $a | Stop-Tunnel -Confirm:$false
        $first = Get-TunnelStats -Name 'uptime-a'
        Start-Sleep -Seconds 1
        $second = Get-TunnelStats -Name 'uptime-a'
        $second.State | Should -Be 'Stopped'
        $second.Uptime | Should -Be $first.Uptime
        $a.RemotePort | Should -Be $port
        (Get-TunnelStats -Name 'uptime-b').State | Should -Be 'Connected'
        $a.Status | Should -Be 'Stopped'
        $b.Status | Should -Be 'Connected'
    }

    Context 'streams under a flood of garbage on the control port' {
        BeforeAll {
            # Connects Count times and sends an HTTP request, which is not TunnelLite; reads each answer to its end, so that
            # the server has logged the connection before the next one starts.
            function script:Send-Garbage([int] $Port, [int] $Count) {
                $garbage = [Text.Encoding]::ASCII.GetBytes("GET / HTTP/1.1`r`nHost: x`r`n`r`n")
                $buffer = [byte[]]::new(4096)
                foreach ($i in 1..$Count) {
                    $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port)
                    try {
                        $stream = $c.GetStream()
                        $stream.ReadTimeout = 5000
                        $stream.Write($garbage, 0, $garbage.Length)
                        while ($stream.Read($buffer, 0, $buffer.Length) -gt 0) { }
                    }
                    catch [System.IO.IOException] { }
                    finally { $c.Dispose() }
                }
            }
        }

        It 'keeps each stream bounded, and Receive-Job drains it and lets it fill again' {
            $s = Start-TestServer -Name 'job-flood'
            Send-Garbage -Port $s.ControlPort -Count 1100
            # The job holds at most 1,000 ordinary records per stream (fewer once the server sums up what strangers do).
            $s.Warning.Count | Should -BeGreaterThan 0
            $s.Warning.Count | Should -BeLessOrEqual 1000
            $before = $s.Warning.Count
            $null = Receive-Job -Job $s -WarningVariable drained -WarningAction SilentlyContinue
            $drained.Count | Should -Be $before
            $s.Warning.Count | Should -Be 0
            # The streams count again after Receive-Job emptied them: new events still come in.
            $null = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'job-flood-tun'
            foreach ($i in 1..50) { if ($s.Output.Count -gt 0) { break }; Start-Sleep -Milliseconds 100 }
            ((Receive-Job -Job $s).Message -join "`n") | Should -Match 'registered tunnel job-flood-tun'
        }
    }
}

Describe 'New-TunnelToken and weak tokens' {
    Context 'New-TunnelToken' {
        It 'returns a 43-character base64url string of 256 bits by default' {
            $t = New-TunnelToken
            $t | Should -BeOfType [string]
            $t | Should -MatchExactly '^[A-Za-z0-9_-]{43}$'
        }

        It '-Bits <Bits> gives <Length> characters' -ForEach @(
            @{ Bits = 128; Length = 22 }, @{ Bits = 192; Length = 32 }, @{ Bits = 256; Length = 43 }, @{ Bits = 384; Length = 64 }, @{ Bits = 512; Length = 86 }
        ) {
            New-TunnelToken -Bits $Bits | Should -MatchExactly "^[A-Za-z0-9_-]{$Length}$"
            New-TunnelToken $Bits | Should -MatchExactly "^[A-Za-z0-9_-]{$Length}$"
        }

        It 'makes a different token each time' {
            $tokens = 1..20 | ForEach-Object { New-TunnelToken }
            @($tokens | Sort-Object -Unique -CaseSensitive).Count | Should -Be 20
            New-TunnelToken -Bits 128 | Should -Not -Be (New-TunnelToken -Bits 128)
        }

        It '-AsSecureString returns a read-only SecureString of the token' {
            $s = New-TunnelToken -AsSecureString
            $s | Should -BeOfType [securestring]
            $s.IsReadOnly() | Should -BeTrue
            $s.Length | Should -Be 43
            (ConvertFrom-SecureString $s -AsPlainText) | Should -MatchExactly '^[A-Za-z0-9_-]{43}$'
            (New-TunnelToken -Bits 128 -AsSecureString).Length | Should -Be 22
        }

        It 'refuses a -Bits value outside the set when the parameters are bound' {
            { New-TunnelToken -Bits 100 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,TunnelLite.PowerShell.Cmdlets.NewTunnelTokenCommand'
            { New-TunnelToken -Bits 1024 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,TunnelLite.PowerShell.Cmdlets.NewTunnelTokenCommand'
        }
    }

    Context 'Weak-token warnings' {
        AfterEach { Get-Tunnel | Stop-Tunnel -Confirm:$false; Get-Job | Where-Object PSJobTypeName -in 'Tunnel', 'TunnelServer' | Remove-Job -Force }

        It 'a server and a tunnel with the token change-me warn in their jobs, without showing it' {
            $s = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token 'change-me' -Name 'weak-srv'
            $t = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token 'change-me' -LocalPort $script:Http.Port -Name 'weak-tun'
            $serverWarnings = @($s.Warning) -join "`n"
            $serverWarnings | Should -Match 'The shared token \(auth\.token, -Token\) is weak: it is a well-known example value'
            $serverWarnings | Should -Match 'New-TunnelToken'
            $serverWarnings | Should -Not -Match 'change-me'
            $tunnelWarnings = @($t.Warning) -join "`n"
            $tunnelWarnings | Should -Match 'The token \(auth\.token, -Token\) is weak'
            $tunnelWarnings | Should -Not -Match 'change-me'
        }

        It 'names a weak [[clients]] token by its client' {
            $file = Join-Path $TestDrive 'weak-clients.toml'
            @"
bindAddr = "127.0.0.1"
bindPort = $(Get-FreeTcpPort)
auth.token = "$(New-TunnelToken)"

[[clients]]
name = "dave"
token = "dave-pester-secret"
"@ | Set-Content $file
            $s = Start-TunnelServer -ConfigPath $file -Name 'weak-clients-srv'
            $warnings = @($s.Warning) -join "`n"
            $warnings | Should -Match "The token of client 'dave' \(\[\[clients\]\]\) is weak: it has about \d+ bits of randomness"
            $warnings | Should -Not -Match 'dave-pester-secret'
            $warnings | Should -Not -Match 'shared token'
        }

        It 'a server with a token from New-TunnelToken does not warn' {
            $s = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token (New-TunnelToken -AsSecureString) -Name 'strong-srv'
            @($s.Warning) -join "`n" | Should -Not -Match 'weak'
        }
    }
}

Describe 'Discoverability' {
    It 'every cmdlet declares its output type' {
        foreach ($name in (Get-Command -Module TunnelLite).Name) {
            (Get-Command $name).OutputType | Should -Not -BeNullOrEmpty -Because $name
        }
    }

    It 'the module exports exactly its ten cmdlets' {
        (Get-Command -Module TunnelLite).Name | Sort-Object |
            Should -Be @('Disconnect-TunnelClient', 'Get-Tunnel', 'Get-TunnelClient', 'Get-TunnelStats', 'New-Tunnel', 'New-TunnelToken', 'Start-TunnelServer', 'Stop-Tunnel', 'Test-Tunnel', 'Update-TunnelServer')
    }

    It 'completes -Name from the live jobs' {
        $s = Start-TestServer -Name 'complete-me-srv'
        try {
            foreach ($cmd in 'Get-Tunnel', 'Get-TunnelStats', 'Stop-Tunnel', 'Test-Tunnel') {
                $line = "$cmd -Name complete-m"
                $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
                $r.CompletionMatches.CompletionText | Should -Contain 'complete-me-srv' -Because $cmd
            }
        }
        finally { $s | Stop-Tunnel -Confirm:$false; $s | Remove-Job -Force }
    }

    It 'every runspace of the process sees the same tunnels' {
        $s = Start-TestServer -Name 'runspace-srv'
        try {
            $ps = [powershell]::Create()
            $null = $ps.AddScript("Import-Module '$((Get-Module TunnelLite).Path)'; (Get-Tunnel -Name 'runspace-srv').ControlPort")
            $seen = $ps.Invoke()
            $ps.Dispose()
            $seen | Should -Be $s.ControlPort
        }
        finally { $s | Stop-Tunnel -Confirm:$false; $s | Remove-Job -Force }
    }

    It 'writes -Verbose messages' {
        $s = Start-TestServer -Name 'verbose-srv'
        $v = Get-Tunnel -Name 'verbose-srv' -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        $v | Should -Not -BeNullOrEmpty
        $s | Stop-Tunnel -Confirm:$false
        $s | Remove-Job -Force
    }
}
