# The data plane from PowerShell: -DataPlane and -EventLoops of Start-TunnelServer and New-Tunnel, the config keys they
# win over, and what Get-TunnelStats says ran. Real servers and tunnels on 127.0.0.1; bytes through them are checked by hash.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Token = New-TunnelToken
    $script:Http = New-LocalHttpService

    function script:Invoke-CheckedDownload([int] $Port, [int] $Size) {
        $body = Invoke-HttpDownload -Port $Port -Path "/bytes/$Size"
        $body.Length | Should -Be $Size
        [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash $Size)
    }

    function script:Get-SettledStats([string] $Name, [int] $Connections) {
        # A connection is counted when its pump ends, just after the user saw the end.
        $s = $null
        foreach ($i in 1..50) {
            $s = Get-TunnelStats -Name $Name
            if ($s.ActiveConnections -eq 0 -and $s.TotalConnections -ge $Connections) { break }
            Start-Sleep -Milliseconds 100
        }
        $s
    }

    function script:New-PrivateFile([string] $Name, [string] $Text) {
        # It holds a token: readable by its owner only, or the cmdlets warn about it.
        $file = Join-Path $TestDrive $Name
        Set-Content -LiteralPath $file -Value $Text
        if (-not $IsWindows) { chmod 600 $file }
        $file
    }
}

AfterAll {
    Get-Tunnel | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
}

Describe 'Data plane' {
    BeforeEach {
        # What the defaults resolve to must not depend on the shell that runs the tests.
        $script:SavedPlane = $env:TUNNELLITE_DATA_PLANE
        $env:TUNNELLITE_DATA_PLANE = $null
    }
    AfterEach {
        $env:TUNNELLITE_DATA_PLANE = $script:SavedPlane
        Get-Tunnel | Stop-Tunnel -Confirm:$false
        Get-Job | Where-Object PSJobTypeName -in 'Tunnel', 'TunnelServer' | Remove-Job -Force
    }

    It '-DataPlane Async -EventLoops 1 carries downloads intact, and Get-TunnelStats shows Async on both ends' {
        $srv = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'plane-async-srv' -DataPlane Async -EventLoops 1
        $t = New-Tunnel -Server "127.0.0.1:$($srv.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'plane-async' -DataPlane Async -EventLoops 1
        # A small message, a few buffers' worth, and a bulk download that Auto splices.
        foreach ($size in 100, 70000, 1000000) { Invoke-CheckedDownload -Port $t.RemotePort -Size $size }

        foreach ($name in 'plane-async', 'plane-async-srv') {
            $s = Get-SettledStats $name -Connections 3
            $s.TotalConnections | Should -Be 3
            $s.FailedConnections | Should -Be 0
            $s.DataPlane | Should -BeOfType [TunnelLite.Forwarding.DataPlaneKind]
            $s.DataPlane | Should -Be 'Async'
            $s.EventLoops | Should -Be 0 -Because 'the async plane runs no loops, whatever -EventLoops asked'
        }
        $perTunnel = Get-TunnelStats -Name 'plane-async-srv' -PerTunnel | Where-Object Name -EQ 'plane-async'
        $perTunnel.DataPlane | Should -Be 'Async'
        (Get-TunnelStats -Name 'plane-async' | ConvertTo-Json -Compress) | Should -Match '"DataPlane":"Async","EventLoops":0'
    }

    # Fails until the event-loop plane lands: PumpSelector.For still returns the async pumps for every plane.
    It 'by default runs on Linux on one event loop per core, on both ends' -Skip:(-not $IsLinux) {
        $srv = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'plane-default-srv'
        $t = New-Tunnel -Server "127.0.0.1:$($srv.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'plane-default'
        Invoke-CheckedDownload -Port $t.RemotePort -Size 100000

        foreach ($name in 'plane-default', 'plane-default-srv') {
            $s = Get-SettledStats $name -Connections 1
            $s.DataPlane | Should -Be 'EventLoops' -Because "$name should run on the event loops by default on Linux"
            $s.EventLoops | Should -Be ([Environment]::ProcessorCount) -Because "$name should run one loop per core by default"
        }
    }

    It 'by default runs on the async plane where there are no event loops' -Skip:$IsLinux {
        $srv = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'plane-default-srv' -DataPlane EventLoops
        $t = New-Tunnel -Server "127.0.0.1:$($srv.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'plane-default'
        Invoke-CheckedDownload -Port $t.RemotePort -Size 100000
        foreach ($name in 'plane-default', 'plane-default-srv') {
            $s = Get-SettledStats $name -Connections 1
            $s.DataPlane | Should -Be 'Async'
            $s.EventLoops | Should -Be 0
        }
    }

    It 'the command line wins over transport.dataPlane and transport.eventLoops, also when it asks for the defaults' {
        $serverFile = New-PrivateFile 'server.toml' @"
bindAddr = "127.0.0.1"
bindPort = 1
auth.token = "$($script:Token)"
[transport]
dataPlane = "EventLoops"
eventLoops = 3
"@
        # -ControlPort 0 wins over bindPort as well.
        $fromFile = Start-TunnelServer -ConfigPath $serverFile -ControlPort 0 -Name 'plane-file-srv'
        $fromFile.Server.Options.DataPlane | Should -Be 'EventLoops'
        $fromFile.Server.Options.EventLoops | Should -Be 3
        $bound = Start-TunnelServer -ConfigPath $serverFile -ControlPort 0 -Name 'plane-bound-srv' -DataPlane Async -EventLoops 0
        $bound.Server.Options.DataPlane | Should -Be 'Async'
        $bound.Server.Options.EventLoops | Should -Be 0

        $clientFile = New-PrivateFile 'client.toml' @"
serverAddr = "127.0.0.1"
serverPort = $($bound.ControlPort)
auth.token = "$($script:Token)"
transport.dataPlane = "async"
transport.eventLoops = 2
[[proxies]]
name = "plane-file"
type = "tcp"
localPort = $($script:Http.Port)
"@
        $t = New-Tunnel -ConfigPath $clientFile
        $t.Client.Options.DataPlane | Should -Be 'Async'
        $t.Client.Options.EventLoops | Should -Be 2
        Invoke-CheckedDownload -Port $t.RemotePort -Size 100000
        (Get-SettledStats 'plane-file' -Connections 1).DataPlane | Should -Be 'Async'
        (Get-SettledStats 'plane-bound-srv' -Connections 1).DataPlane | Should -Be 'Async'
        $t | Stop-Tunnel -Confirm:$false
        $t | Remove-Job -Force

        $t = New-Tunnel -ConfigPath $clientFile -DataPlane Auto -EventLoops 1
        $t.Client.Options.DataPlane | Should -Be 'Auto'
        $t.Client.Options.EventLoops | Should -Be 1
    }

    It 'refuses what is not a plane or a loop count when the parameters are bound' {
        { New-Tunnel -Server '127.0.0.1:1' -Token $script:Token -LocalPort 1 -DataPlane Epoll } |
            Should -Throw -ErrorId 'CannotConvertArgumentNoMessage,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
        { Start-TunnelServer -ControlPort 0 -Token $script:Token -EventLoops 257 } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,TunnelLite.PowerShell.Cmdlets.StartTunnelServerCommand'
        { New-Tunnel -Server '127.0.0.1:1' -Token $script:Token -LocalPort 1 -EventLoops -1 } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
        $err = $null
        $file = New-PrivateFile 'bad.toml' "auth.token = `"$($script:Token)`"`n[transport]`ndataPlane = `"epoll`""
        try { Start-TunnelServer -ConfigPath $file -ControlPort 0 } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'InvalidConfig,TunnelLite.PowerShell.Cmdlets.StartTunnelServerCommand'
        $err.Exception.Message | Should -BeLike '*bad.toml:3: transport.dataPlane: "epoll" is not a data plane; use "auto", "eventloops" or "async"*'
        Get-Tunnel | Should -BeNullOrEmpty
    }
}
