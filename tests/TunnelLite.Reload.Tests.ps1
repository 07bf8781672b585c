# Live reload between separate pwsh processes: a server in a child pwsh reloaded through its admin endpoint while a download
# runs through it (intact by hash), clients added and removed; Start-TunnelServer -ConfigPath -Wait reloading on SIGHUP,
# with a port leaving allowPorts and a refused reload that keeps it running; a server job of this process reloaded from a
# new -ConfigPath, its start parameters winning over the file.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/ServiceHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Http = New-LocalHttpService
    $script:Dir = (New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "tunnellite-reload-$([guid]::NewGuid().ToString('N'))")).FullName

    # Writes a server file readable by its owner only, as the loader wants a file with tokens.
    function Write-ServerFile([string] $Path, [string] $Text) {
        Set-Content -LiteralPath $Path -Value $Text -Encoding utf8NoBOM
        if (-not $IsWindows) { [IO.File]::SetUnixFileMode($Path, [IO.UnixFileMode]'UserRead, UserWrite') }
    }

    function Get-Download([int] $Port, [int] $Size) {
        $body = Invoke-HttpDownload -Port $Port -Path "/bytes/$Size"
        [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body))
    }

    function Test-Refused([int] $Port) {
        $c = [System.Net.Sockets.TcpClient]::new()
        try { $c.Connect([ipaddress]::Loopback, $Port); $false } catch { $true } finally { $c.Dispose() }
    }

    $script:Alice = "reload-alice-$([guid]::NewGuid().ToString('N'))"
    $script:Bob = "reload-bob-$([guid]::NewGuid().ToString('N'))"
    $script:Carol = "reload-carol-$([guid]::NewGuid().ToString('N'))"
    function Get-ClientsToml([string[]] $Names, [string] $AliceLimit) {
        $tokens = @{ alice = $script:Alice; bob = $script:Bob; carol = $script:Carol }
        ($Names | ForEach-Object {
                "[[clients]]`nname = `"$_`"`ntoken = `"$($tokens[$_])`"`n" + $(if ($_ -eq 'alice' -and $AliceLimit) { "bandwidthLimit = `"$AliceLimit`"`n" } else { '' })
            }) -join "`n"
    }
}

AfterAll {
    Get-Tunnel | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
    Remove-Item -LiteralPath $script:Dir -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Update-TunnelServer' {
    It 'reloads a server in another process through its admin endpoint while a download runs: intact by hash; carol added logs in, bob removed loses his session and port' {
        $file = Join-Path $script:Dir 'admin.toml'
        # 2 MB/s for alice: the 8 MiB download takes about 4 s, and the reload comes in its middle.
        # No login throttle: bob's client keeps retrying once removed, from the address carol logs in from too.
        $transport = "`n[transport]`nauthFailureDelay = 0`n"
        Write-ServerFile $file ((Get-ClientsToml alice, bob -AliceLimit '2MB') + $transport)
        $server = $null; $alice = $null; $bob = $null; $carol = $null
        $cred = [pscredential]::new('ops', (ConvertTo-SecureString 'reload admin password for pester' -AsPlainText -Force))
        $http = [System.Net.Http.HttpClient]::new()
        try {
            $server = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-TunnelServer.ps1') -ArgumentList @('-ConfigPath', $file,
                '-AdminEndpoint', '127.0.0.1:0', '-AdminUser', 'ops', '-AdminPassword', 'reload admin password for pester')
            $controlPort = [int](Read-ChildLine -Process $server -Pattern '^CONTROLPORT=(\d+)')
            $url = Read-ChildLine -Process $server -Pattern '^ADMINURL=(\S+)'
            $alice = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-Tunnel.ps1') -ArgumentList @('-Server', "127.0.0.1:$controlPort",
                '-Token', $script:Alice, '-LocalPort', "$($script:Http.Port)", '-Name', 'alice-web')
            $alicePort = [int](Read-ChildLine -Process $alice -Pattern '^REMOTEPORT=(\d+)')
            $bob = New-Tunnel -Server "127.0.0.1:$controlPort" -Token $script:Bob -LocalPort $script:Http.Port -Name reload-bob
            $bobPort = $bob.RemotePort
            Get-Download -Port $bobPort -Size 64KB | Should -Be (Get-ExpectedPayloadHash 64KB)

            $size = 8MB
            $download = $http.GetByteArrayAsync("http://127.0.0.1:$alicePort/bytes/$size")
            Start-Sleep -Milliseconds 1000
            $download.IsCompleted | Should -BeFalse -Because 'the reload must come while the download runs'

            Write-ServerFile $file ((Get-ClientsToml alice, carol -AliceLimit '2MB') + $transport)
            $result = Update-TunnelServer -AdminEndpoint $url -Credential $cred -Confirm:$false
            $result | Should -BeOfType ([TunnelLite.ServerReloadResult])
            $result.Server | Should -Be $url
            $result.ConfigPath | Should -Be $file
            $result.ClientsAdded | Should -Be 'carol'
            $result.ClientsRemoved | Should -Be 'bob'
            @($result.SessionsEnded).Count | Should -Be 1

            $body = $download.GetAwaiter().GetResult()
            $body.Length | Should -Be $size
            [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash $size)

            Test-Refused $bobPort | Should -BeTrue -Because "bob's port is freed with his session"
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while ($bob.LastError.Code -ne 'AuthenticationFailed' -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
            $bob.LastError.Code | Should -Be 'AuthenticationFailed'
            $carol = New-Tunnel -Server "127.0.0.1:$controlPort" -Token $script:Carol -LocalPort $script:Http.Port -Name reload-carol
            Get-Download -Port $carol.RemotePort -Size 1MB | Should -Be (Get-ExpectedPayloadHash 1MB)

            # Only the operator reloads; a key that cannot change live and a bad file are refused whole, naming the key.
            { Update-TunnelServer -AdminEndpoint $url -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'AdminAuthenticationFailed,TunnelLite.PowerShell.Cmdlets.UpdateTunnelServerCommand'
            # (bindAddr would not do: the child gave -BindAddress at start, which wins over the file.)
            Write-ServerFile $file ((Get-ClientsToml alice) + $transport + "eventLoops = 3`n")
            $e = { Update-TunnelServer -AdminEndpoint $url -Credential $cred -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'ReloadRefused,TunnelLite.PowerShell.Cmdlets.UpdateTunnelServerCommand' -PassThru
            $e.Exception.Message | Should -Match 'transport\.eventLoops cannot change while the server runs'
            Write-ServerFile $file ("allowPort = 1`n" + (Get-ClientsToml alice) + $transport)
            $e = { Update-TunnelServer -AdminEndpoint $url -Credential $cred -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidConfig,TunnelLite.PowerShell.Cmdlets.UpdateTunnelServerCommand' -PassThru
            $e.Exception.Key | Should -Be 'allowPort'
            Get-Download -Port $carol.RemotePort -Size 1MB | Should -Be (Get-ExpectedPayloadHash 1MB) -Because 'carol, whom neither refused file had, is still in'
        }
        finally {
            $http.Dispose()
            foreach ($j in @($bob, $carol)) { if ($j) { Stop-Tunnel -InputObject $j; Remove-Job -Job $j -Force } }
            Stop-ChildPwsh $alice
            Stop-ChildPwsh $server
        }
    }

    It 'reloads a server job of this process from a new -ConfigPath, with the parameters it was started with winning over the file' {
        $token = "reload-shared-$([guid]::NewGuid().ToString('N'))"
        $server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $token -Name reload-local
        $tunnels = @()
        try {
            $server.ConfigPath | Should -BeNullOrEmpty
            { Update-TunnelServer -Name reload-local -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'ReloadRefused,TunnelLite.PowerShell.Cmdlets.UpdateTunnelServerCommand'

            # The file's auth.token and bindPort lose to -Token and -ControlPort given at start.
            $file = Join-Path $script:Dir 'local.toml'
            Write-ServerFile $file ("bindPort = 7999`n[auth]`ntoken = `"file-token-$([guid]::NewGuid().ToString('N'))`"`n`n" + (Get-ClientsToml alice))
            $null = Update-TunnelServer -Name reload-local -ConfigPath $file -WhatIf
            $server.ConfigPath | Should -BeNullOrEmpty -Because '-WhatIf reloads nothing'
            $result = $server | Update-TunnelServer -ConfigPath $file -Confirm:$false
            $result.Server | Should -Be 'reload-local'
            $result.ClientsAdded | Should -Be 'alice'
            $server.ConfigPath | Should -Be $file

            $tunnels += New-Tunnel -Server "127.0.0.1:$($server.ControlPort)" -Token $token -LocalPort $script:Http.Port -Name reload-shared
            $tunnels += New-Tunnel -Server "127.0.0.1:$($server.ControlPort)" -Token $script:Alice -LocalPort $script:Http.Port -Name reload-alice
            foreach ($t in $tunnels) { Get-Download -Port $t.RemotePort -Size 256KB | Should -Be (Get-ExpectedPayloadHash 256KB) }
            # Without -ConfigPath, the server's file again.
            (Update-TunnelServer -Name reload-local -Confirm:$false).Changed | Should -BeFalse
        }
        finally {
            foreach ($t in $tunnels) { Stop-Tunnel -InputObject $t; Remove-Job -Job $t -Force }
            Stop-Tunnel -InputObject $server; Remove-Job -Job $server -Force
        }
    }
}

Describe 'Start-TunnelServer -ConfigPath -Wait on SIGHUP' -Skip:$IsWindows {
    It 'reloads its file and logs what changed: a port leaving allowPorts closes its tunnel; a refused reload keeps it running' {
        $file = Join-Path $script:Dir 'sighup.toml'
        $low = Get-BindableTcpPort 41000 41999
        $high = Get-BindableTcpPort ($low + 1) 42999
        Write-ServerFile $file ("allowPorts = [ { single = $low }, { single = $high } ]`n`n" + (Get-ClientsToml alice))
        $child = $null; $alice = $null; $carol = $null
        try {
            $command = "Import-Module TunnelLite; Start-TunnelServer -ConfigPath '$file' -BindAddress 127.0.0.1 -ControlPort 0 -Name sighup-server -Wait"
            $child = Start-ChildProcess -FilePath 'dotnet' -ArgumentList @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command', $command) `
                -Environment @{ PSModulePath = $env:PSModulePath; NO_COLOR = '1' }
            $null = (Wait-ChildLine $child 'TunnelLite server listening on 127\.0\.0\.1:(\d+)\.$') -match ':(\d+)\.$'
            $controlPort = [int]$Matches[1]
            $alice = New-Tunnel -Server "127.0.0.1:$controlPort" -Token $script:Alice -LocalPort $script:Http.Port -RemotePort $low -Name sighup-alice
            Get-Download -Port $low -Size 1MB | Should -Be (Get-ExpectedPayloadHash 1MB)

            Write-ServerFile $file ("allowPorts = [ { single = $high } ]`n`n" + (Get-ClientsToml alice, carol))
            Send-Signal -ProcessId $child.Process.Id -Signal HUP
            $line = Wait-ChildLine $child 'Configuration reloaded from ' -TimeoutSec 20
            $line | Should -Match '^\[\d\d:\d\d:\d\d\] sighup-server: Configuration reloaded from .*keys changed: allowPorts; clients added: carol; tunnels closed: sighup-alice \(port \d+\)'
            $null = Wait-ChildLine $child "Tunnel sighup-alice of client .* closed: port $low is no longer allowed on this server \(allowPorts\)"
            Test-Refused $low | Should -BeTrue
            # The tunnel's job learns it from the server, and fails with why.
            $null = Wait-Job -Job $alice -Timeout 15
            $alice.State | Should -Be 'Failed'
            $alice.Error[0].FullyQualifiedErrorId | Should -Match '^PortNotAllowed'
            $carol = New-Tunnel -Server "127.0.0.1:$controlPort" -Token $script:Carol -LocalPort $script:Http.Port -RemotePort $high -Name sighup-carol
            Get-Download -Port $high -Size 1MB | Should -Be (Get-ExpectedPayloadHash 1MB)

            # A key that cannot change live: refused, logged, and the server runs on as it was.
            Write-ServerFile $file ((Get-ClientsToml alice) + "`n[transport]`neventLoops = 3`n")
            Send-Signal -ProcessId $child.Process.Id -Signal HUP
            $null = Wait-ChildLine $child 'Reload refused, the running configuration stays: transport\.eventLoops cannot change while the server runs' -TimeoutSec 20
            Get-Download -Port $high -Size 1MB | Should -Be (Get-ExpectedPayloadHash 1MB)
            $child.Process.HasExited | Should -BeFalse

            Send-Signal -ProcessId $child.Process.Id -Signal TERM
            (Wait-ChildExit $child).ExitCode | Should -Be 0
            $child.Lines | Should -Not -Match ([regex]::Escape($script:Alice))
            $child.Lines | Should -Not -Match ([regex]::Escape($script:Carol))
        }
        finally {
            foreach ($j in @($alice, $carol)) { if ($j) { Stop-Tunnel -InputObject $j -ErrorAction SilentlyContinue; Remove-Job -Job $j -Force } }
            Stop-ChildProcess $child
        }
    }
}
