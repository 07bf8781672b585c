# Draining for rolling upgrades between separate pwsh processes: a server in a child pwsh (Start-TunnelServer -Wait, as a
# service runs it) drained through its admin endpoint (Stop-Tunnel -AdminEndpoint -Drain) while a download runs through
# it: /ready answers 503 during the drain delay while a new user is still served, then new users are refused, the download
# in flight completes intact (by hash) and the process exits 0. A server job of this process drained with Stop-Tunnel -Drain:
# what is left at the drain timeout is reset, and the job ends Stopped.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/FaultHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/ServiceHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Http = New-LocalHttpService
    $script:Dir = (New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "tunnellite-drain-$([guid]::NewGuid().ToString('N'))")).FullName
    $script:Pwsh = [Environment]::ProcessPath   # dotnet, when pwsh runs as the dotnet tool
    $script:Password = 'drain admin password for pester'
    $script:Ops = [pscredential]::new('ops', (ConvertTo-SecureString $script:Password -AsPlainText -Force))

    function Get-Download([int] $Port, [int] $Size) {
        $body = Invoke-HttpDownload -Port $Port -Path "/bytes/$Size"
        [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body))
    }

    function Test-Refused([int] $Port) {
        $c = [System.Net.Sockets.TcpClient]::new()
        try { $c.Connect([ipaddress]::Loopback, $Port); $false } catch { $true } finally { $c.Dispose() }
    }
}

AfterAll {
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
    Remove-Item -LiteralPath $script:Dir -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Stop-Tunnel -Drain' {
    It 'drains a server in another process through its admin endpoint under load: /ready 503 during the delay while users are served, then refused; the download in flight intact; exit 0' {
        $child = $null; $tunnel = $null
        try {
            $token = New-TunnelToken
            $controlPort = Get-FreeTcpPort
            do { $adminPort = Get-FreeTcpPort } while ($adminPort -eq $controlPort)
            $file = Join-Path $script:Dir 'server.toml'
            @"
bindAddr = "127.0.0.1"
bindPort = $controlPort
auth.token = "$token"

[webServer]
addr = "127.0.0.1"
port = $adminPort
user = "ops"
password = "$($script:Password)"

[transport]
drainDelay = 8
drainTimeout = 60
"@ | Set-Content -LiteralPath $file -Encoding utf8NoBOM
            if (-not $IsWindows) { [IO.File]::SetUnixFileMode($file, [IO.UnixFileMode]'UserRead, UserWrite') }
            $module = Join-Path (Resolve-Path (Join-Path $PSScriptRoot '..')).Path 'out/TunnelLite/TunnelLite.psd1'
            $child = Start-ChildProcess -FilePath $script:Pwsh -ArgumentList @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command',
                "Import-Module '$module'; Start-TunnelServer -ConfigPath '$file' -Name drained -Wait") -Environment @{ NO_COLOR = '1' }
            $null = Wait-ChildLine $child "drained: TunnelLite server listening on 127\.0\.0\.1:$controlPort\.$"
            $admin = "127.0.0.1:$adminPort"
            $ready = "http://$admin/ready"

            $tunnel = New-Tunnel -Server "127.0.0.1:$controlPort" -Token $token -LocalPort $script:Http.Port -Name drain-web
            $publicPort = $tunnel.RemotePort
            (Invoke-WebRequest $ready -SkipHttpErrorCheck).StatusCode | Should -Be 200
            { Stop-Tunnel -AdminEndpoint $admin -Drain -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'AdminAuthenticationFailed,TunnelLite.PowerShell.Cmdlets.StopTunnelCommand'

            # 64 MB, of which the test reads 1 MB now and the rest after the drain: in flight all along.
            $size = 64MB
            $download = Open-HttpDownload -Port $publicPort -Size $size -MinBytes 1MB -KeepBody
            $drain = Stop-Tunnel -AdminEndpoint $admin -Credential $script:Ops -Drain -Confirm:$false
            $drain | Should -BeOfType ([TunnelLite.ServerDrain])
            $drain.DelaySeconds | Should -Be 8 -Because 'transport.drainDelay of the server''s file'
            $drain.TimeoutSeconds | Should -Be 60
            $drain.Server | Should -Be "http://$admin/"

            # During the delay (8 s: the steps below take seconds on a loaded machine): /ready says 503 (for a balancer), the
            # server says it drains, and still serves a new user.
            (Get-TunnelStats -AdminEndpoint $admin -Credential $script:Ops).State | Should -Be 'Draining'
            $r = Invoke-WebRequest $ready -SkipHttpErrorCheck
            $r.StatusCode | Should -Be 503
            ($r.Content | ConvertFrom-Json).Draining | Should -BeTrue
            (Invoke-WebRequest "http://$admin/healthz" -SkipHttpErrorCheck).StatusCode | Should -Be 200
            Get-Download -Port $publicPort -Size 1MB | Should -Be (Get-ExpectedPayloadHash 1MB)
            ([DateTimeOffset]::UtcNow -lt $drain.StopsAccepting) | Should -BeTrue -Because 'the new user must have come during the delay'
            (Stop-Tunnel -AdminEndpoint $admin -Credential $script:Ops -Drain -DrainDelaySec 60 -Confirm:$false).AlreadyDraining | Should -BeTrue

            # After it: new users are refused, the download in flight goes on to its end, intact.
            $null = Wait-ChildLine $child 'stops accepting new users and clients now\.$' -TimeoutSec 20
            Wait-Until { Test-Refused $publicPort } -TimeoutSec 5 | Should -BeTrue -Because 'new users are refused once the server stopped accepting'
            Test-Refused $controlPort | Should -BeTrue -Because 'new clients too'
            $child.Process.HasExited | Should -BeFalse -Because 'the download in flight is still live'
            $rest = Receive-HttpRest -Download $download -TimeoutSec 30
            $rest.End | Should -Be 'Eof'
            $rest.BodyLength | Should -Be $size
            $rest.Hash | Should -Be (Get-ExpectedPayloadHash $size)

            $exit = Wait-ChildExit $child -TimeoutSec 15
            $exit.Exited | Should -BeTrue -Because 'the server stops once its connections are done, and -Wait returns'
            $exit.ExitCode | Should -Be 0 -Because "a drain is a stop the operator asked for. stderr: $($exit.Stderr)"
            $child.Lines[-1] | Should -Match 'TunnelLite server stopped\.$'
            Test-TcpPortFree $adminPort | Should -BeTrue
        }
        finally {
            Stop-ChildProcess $child
            if ($tunnel) { Stop-Tunnel -InputObject $tunnel; Remove-Job -Job $tunnel -Force }
        }
    }

    It 'drains a server job of this process: the download left at the drain timeout is reset, the job ends Stopped, and -PassThru writes the drain' {
        $token = New-TunnelToken
        $server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $token -Name drain-local
        $tunnel = $null
        try {
            $tunnel = New-Tunnel -Server "127.0.0.1:$($server.ControlPort)" -Token $token -LocalPort $script:Http.Port -Name drain-local-web
            $download = Open-HttpDownload -Port $tunnel.RemotePort -Size 64MB -MinBytes 1MB
            { Stop-Tunnel -Name drain-local -DrainDelaySec 1 -Confirm:$false } | Should -Throw -ErrorId 'DrainRequired,TunnelLite.PowerShell.Cmdlets.StopTunnelCommand'
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $out = @(Stop-Tunnel -Name drain-local -Drain -DrainDelaySec 1 -DrainTimeoutSec 1 -PassThru -Confirm:$false)
            $watch.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 1.9 -Because 'the delay, then the timeout'
            $out[0] | Should -Be $server
            $out[1].DelaySeconds | Should -Be 1
            $out[1].Server | Should -Be 'drain-local'
            $server.JobStateInfo.State | Should -Be 'Stopped'
            (Get-TunnelStats -InputObject $server).State | Should -Be 'Stopped'
            (Receive-HttpRest -Download $download -TimeoutSec 10).End | Should -Be 'Reset' -Because 'a cut-off download must not look whole'
            Test-Refused $tunnel.RemotePort | Should -BeTrue
        }
        finally {
            if ($tunnel) { Stop-Tunnel -InputObject $tunnel; Remove-Job -Job $tunnel -Force }
            Remove-Job -Job $server -Force
        }
    }
}
