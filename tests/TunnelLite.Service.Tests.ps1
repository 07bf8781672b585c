# The service form: Start-TunnelServer -Wait and New-Tunnel -Wait in child pwsh processes started from the ExecStart= lines
# of examples/tunnellite-server.service and examples/tunnellite-client.service (paths and ports replaced by the test's), as
# systemd would: events on stdout as whole lines however narrow the console, SIGTERM -> a graceful stop (a download in
# flight completes intact), exit code 0 within the drain timeout + 2 s and the ports free; a fatal error -> a non-zero exit
# code and the error on stderr; Ctrl+C stops gracefully too. The units pass systemd-analyze verify, and the server unit runs
# in an emulation of its sandbox (read-only system, hidden homes, private /tmp, a user of its own, no privileges).
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/FaultHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/ServiceHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Http = New-LocalHttpService
    $script:Root = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
    $script:ServerUnit = Join-Path $script:Root 'examples/tunnellite-server.service'
    $script:ClientUnit = Join-Path $script:Root 'examples/tunnellite-client.service'
    $script:Dir = Join-Path ([IO.Path]::GetTempPath()) "tunnellite-service-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory -Path $script:Dir
    # Both ends drain for 5 s (TunnelServerOptions.DrainTimeout, TunnelClient.StopAsync); a SIGTERM must end the process
    # within that and 2 s more.
    $script:Drain = 5
    $script:ExitBudget = $script:Drain + 2
    # Names long enough that every event naming them is wider than 80 columns; the children get a 60-column console.
    $script:LongName = 'service-test-tunnel-with-a-name-long-enough-to-make-each-event-line-wider-than-eighty-columns'
    $script:Pwsh = [Environment]::ProcessPath   # dotnet, when pwsh runs as the dotnet tool

    function script:New-TestFolder([string] $Name) {
        $d = Join-Path $script:Dir $Name
        foreach ($sub in 'etc', 'cred', 'state') { $null = New-Item -ItemType Directory -Path (Join-Path $d $sub) -Force }
        $d
    }

    function script:Write-Credential([string] $Folder, [string] $Token) {
        # What LoadCredential=token:... gives the service: $CREDENTIALS_DIRECTORY/token, readable by the service only.
        $path = Join-Path $Folder 'cred/token'
        Set-Content -LiteralPath $path -Value $Token -NoNewline -Encoding utf8NoBOM
        Protect-ConfigFile $path
    }

    function script:Get-UnitCommand {
        # The unit's ExecStart= and Environment= as a child process start: the unit's paths replaced by Replace (unit path ->
        # test path), its dotnet and pwsh.dll by the ones running this test, $CREDENTIALS_DIRECTORY set, a 60-column console.
        param([string] $Unit, [System.Collections.IDictionary] $Replace, [string] $Folder)
        $words = @(Split-UnitWord (Get-UnitSetting -Path $Unit -Key 'ExecStart' | Select-Object -First 1))
        $words = @(foreach ($w in $words) { foreach ($k in $Replace.Keys) { $w = $w.Replace($k, $Replace[$k]) }; $w })
        $words[0] | Should -Be '/usr/bin/dotnet'
        $words[1] | Should -Match '^/opt/tunnellite/packages/powershell/[^/]+/tools/net10\.0/any/unix/pwsh\.dll$'
        $environment = Get-UnitEnvironment -Path $Unit
        foreach ($k in @($environment.Keys)) { foreach ($r in $Replace.Keys) { $environment[$k] = $environment[$k].Replace($r, $Replace[$r]) } }
        $environment['CREDENTIALS_DIRECTORY'] = Join-Path $Folder 'cred'
        $environment['COLUMNS'] = '60'
        [pscustomobject]@{ FilePath = $script:Pwsh; ArgumentList = @(Join-Path $PSHOME 'pwsh.dll') + @($words | Select-Object -Skip 2); Environment = $environment }
    }

    function script:Test-EventLines([string[]] $Lines) {
        # Every stdout line is an event or a warning, whole: '[HH:mm:ss] source: message' (or 'WARNING: ' and one).
        foreach ($l in $Lines) { $l | Should -Match '^(WARNING: )?\[\d\d:\d\d:\d\d\] [\w.-]+: \S' -Because "'$l' should be one whole event line" }
    }

    function script:Stop-UnitDuringDownload($Child, [int] $PublicPort, [string] $Label) {
        # SIGTERM to a unit's process while a 64 MB download is in flight through it (the test has read 1 MB; socket buffers
        # hold a few MB): the process must exit 0 within the budget, after the download completed intact.
        $size = 64MB
        $download = Open-HttpDownload -Port $PublicPort -Size $size -MinBytes 1MB -KeepBody
        $signalled = [DateTime]::Now
        Send-Signal -ProcessId $Child.Process.Id -Signal TERM
        $rest = Receive-HttpRest -Download $download -TimeoutSec $script:ExitBudget
        $exit = Wait-ChildExit $Child -TimeoutSec $script:ExitBudget
        $took = ($Child.Process.ExitTime - $signalled).TotalSeconds
        Write-Host "    $Label unit: SIGTERM to exit $([Math]::Round($took, 2)) s; the download in flight: $($rest.End), $($rest.BodyLength) of $size bytes ($($download.ReceivedAtOpen) in at SIGTERM)"
        $exit.Exited | Should -BeTrue -Because "the $Label must exit within $($script:ExitBudget) s of SIGTERM"
        $exit.ExitCode | Should -Be 0 -Because "a graceful stop is a success. stderr: $($exit.Stderr)"
        $took | Should -BeLessThan $script:ExitBudget
        $rest.End | Should -Be 'Eof'
        $rest.BodyLength | Should -Be $size
        $rest.Hash | Should -Be (Get-ExpectedPayloadHash $size)
        $exit.Stderr | Should -BeNullOrEmpty
        @($Child.Lines -match 'stopping \(SIGTERM\)$').Count | Should -Be 1
    }

    function script:Start-PwshCommand([string] $Command) {
        # pwsh -Command Command in a child process, with the module under test.
        Start-ChildProcess -FilePath $script:Pwsh -ArgumentList @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command', $Command) -Environment @{ PSModulePath = $env:PSModulePath; NO_COLOR = '1' }
    }
}

AfterAll {
    $script:Http.Dispose()
    Remove-Item -LiteralPath $script:Dir -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'The systemd units in examples/' {
    It '<_> passes systemd-analyze verify' -ForEach @('tunnellite-server.service', 'tunnellite-client.service') {
        $analyze = Get-Command systemd-analyze -ErrorAction SilentlyContinue
        if (-not $analyze) {
            if ($env:CI -eq 'true') { throw 'systemd-analyze is missing (package systemd); build.ps1 Test installs it with apt-get where it can.' }
            Set-ItResult -Skipped -Because 'systemd-analyze is not installed (apt-get install systemd; build.ps1 Test does it where it can)'
            return
        }
        $unit = Join-Path $script:Root "examples/$_"
        if (-not (Test-Path -LiteralPath '/usr/bin/dotnet')) {
            # verify checks that ExecStart's program exists; the unit expects the distribution's /usr/bin/dotnet.
            $copy = Join-Path $script:Dir $_
            (Get-Content -LiteralPath $unit -Raw).Replace('ExecStart=/usr/bin/dotnet ', "ExecStart=$((Get-Command dotnet).Source) ") | Set-Content -LiteralPath $copy
            $unit = $copy
        }
        $out = & $analyze.Source verify $unit 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        # Unknown keys and bad values are only warnings to verify: none may appear.
        ($out -join "`n") | Should -BeNullOrEmpty
    }

    It 'run the PowerShell of the tool manifest, one process, with the token as a credential, never on the command line' {
        $version = (Get-Content -LiteralPath (Join-Path $script:Root '.config/dotnet-tools.json') -Raw | ConvertFrom-Json).tools.powershell.version
        foreach ($unit in $script:ServerUnit, $script:ClientUnit) {
            $exec = @(Split-UnitWord (Get-UnitSetting -Path $unit -Key 'ExecStart'))
            $exec[1] | Should -Be "/opt/tunnellite/packages/powershell/$version/tools/net10.0/any/unix/pwsh.dll"
            $exec[-1] | Should -Match '-Wait"?$'
            $exec -join ' ' | Should -Not -Match 'Token\s+[''"]?[\w-]{8,}'
            Get-UnitSetting -Path $unit -Key 'LoadCredential' | Should -Match '^token:/etc/tunnellite/\w+\.token$'
            Get-UnitSetting -Path $unit -Key 'KillSignal' | Should -Be 'SIGTERM'
            [int](Get-UnitSetting -Path $unit -Key 'TimeoutStopSec') | Should -BeGreaterThan $script:ExitBudget
            Get-UnitSetting -Path $unit -Key 'Restart' | Should -Be 'on-failure'
            Get-UnitSetting -Path $unit -Key 'MemoryDenyWriteExecute' | Should -BeNullOrEmpty -Because '.NET writes the code it compiles into executable memory'
        }
    }
}

Describe 'Start-TunnelServer -Wait from the server unit''s ExecStart' {
    It 'writes whole event lines to stdout; on SIGTERM drains a download in flight intact, frees both ports and exits 0' {
        $child = $null; $tunnel = $null
        try {
            $folder = New-TestFolder 'server'
            $token = New-TunnelToken
            Write-Credential $folder $token
            $controlPort = Get-FreeTcpPort
            do { $publicPort = Get-FreeTcpPort } while ($publicPort -eq $controlPort)
            $config = Join-Path $folder 'etc/server.toml'
            "bindAddr = `"127.0.0.1`"`nbindPort = $controlPort`nallowPorts = [ { single = $publicPort } ]`n" | Set-Content -LiteralPath $config -Encoding utf8NoBOM
            $cmd = Get-UnitCommand -Unit $script:ServerUnit -Folder $folder -Replace ([ordered]@{
                    '/etc/tunnellite/server.toml' = $config; '/opt/tunnellite/modules' = (Join-Path $script:Root 'out'); '/var/lib/tunnellite' = (Join-Path $folder 'state') })
            $child = Start-ChildProcess -FilePath $cmd.FilePath -ArgumentList $cmd.ArgumentList -Environment $cmd.Environment -WorkingDirectory $folder
            $null = Wait-ChildLine $child "server-$($controlPort): TunnelLite server listening on 127\.0\.0\.1:$controlPort\.$"

            $tunnel = New-Tunnel -Server "127.0.0.1:$controlPort" -Token $token -LocalPort $script:Http.Port -RemotePort $publicPort -Name $script:LongName
            $registered = Wait-ChildLine $child "registered tunnel $($script:LongName) on port $publicPort\.$" -TimeoutSec 20
            $registered.Length | Should -BeGreaterThan 80
            $registered | Should -Match "^\[\d\d:\d\d:\d\d\] server-$($controlPort): Client 127\.0\.0\.1:\d+ registered tunnel $($script:LongName) on port $publicPort\.$"

            Stop-UnitDuringDownload -Child $child -PublicPort $publicPort -Label 'server'
            Test-TcpPortFree $controlPort | Should -BeTrue -Because 'the control port is free once the process is gone'
            Test-TcpPortFree $publicPort | Should -BeTrue -Because 'the public port is free once the process is gone'
            Test-EventLines $child.Lines
            $child.Lines[-1] | Should -Match 'TunnelLite server stopped\.$'
        }
        finally {
            Stop-ChildProcess $child
            if ($tunnel) { Stop-Tunnel -InputObject $tunnel; Remove-Job -Job $tunnel -Force }
        }
    }
}

Describe 'New-Tunnel -Wait' {
    BeforeAll {
        $script:ServerToken = New-TunnelToken
        $script:Server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:ServerToken -Name "service-tests-$([guid]::NewGuid().ToString('N'))"
    }

    AfterAll {
        if ($script:Server) { Stop-Tunnel -InputObject $script:Server; Remove-Job -Job $script:Server -Force }
    }

    It 'from the client unit''s ExecStart: whole event lines on stdout; on SIGTERM a download in flight completes intact, exit 0, the port freed' {
        $child = $null
        try {
            $folder = New-TestFolder 'client'
            Write-Credential $folder $script:ServerToken
            $publicPort = Get-FreeTcpPort
            $config = Join-Path $folder 'etc/client.toml'
            @"
serverAddr = "127.0.0.1"
serverPort = $($script:Server.ControlPort)

[[proxies]]
name = "$($script:LongName)"
type = "tcp"
localPort = $($script:Http.Port)
remotePort = $publicPort
"@ | Set-Content -LiteralPath $config -Encoding utf8NoBOM
            $cmd = Get-UnitCommand -Unit $script:ClientUnit -Folder $folder -Replace ([ordered]@{
                    '/etc/tunnellite/client.toml' = $config; '/opt/tunnellite/modules' = (Join-Path $script:Root 'out'); '/var/lib/tunnellite' = (Join-Path $folder 'state') })
            $child = Start-ChildProcess -FilePath $cmd.FilePath -ArgumentList $cmd.ArgumentList -Environment $cmd.Environment -WorkingDirectory $folder
            $connected = Wait-ChildLine $child "Connected to 127\.0\.0\.1:\d+; tunnels: "
            $connected.Length | Should -BeGreaterThan 80
            $connected | Should -Match "^\[\d\d:\d\d:\d\d\] $($script:LongName): Connected to 127\.0\.0\.1:$($script:Server.ControlPort); tunnels: $($script:LongName) :$publicPort -> 127\.0\.0\.1:$($script:Http.Port)\.$"

            Stop-UnitDuringDownload -Child $child -PublicPort $publicPort -Label 'client'
            Wait-Until { Test-TcpPortFree $publicPort } -TimeoutSec 2 | Should -BeTrue -Because 'the server frees the port of a client that stopped'
            (Get-TunnelStats -InputObject $script:Server).Tunnels | Should -Be 0
            Test-EventLines $child.Lines
            $child.Lines[-1] | Should -Match 'Client stopped\.$'
        }
        finally {
            Stop-ChildProcess $child
        }
    }

    It 'stops gracefully on Ctrl+C (SIGINT): the stop''s events, the port freed, the process gone within the drain timeout' {
        # A child inherits an ignored SIGINT (a shell's background job ignores it): env gives it the default disposition back.
        $envCmd = Get-Command env -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
        if ($envCmd) { $null = & $envCmd.Source --default-signal=INT true 2>&1 }
        if (-not $envCmd -or $LASTEXITCODE -ne 0) {
            Set-ItResult -Skipped -Because 'env --default-signal (coreutils 8.31+) is needed to give the child a default SIGINT'
            return
        }
        $child = $null
        try {
            $publicPort = Get-FreeTcpPort
            $command = "Import-Module TunnelLite; New-Tunnel -Server 127.0.0.1:$($script:Server.ControlPort) -Token '$($script:ServerToken)' -LocalPort $($script:Http.Port) -RemotePort $publicPort -Name ctrl-c -Wait; 'AFTER'"
            $child = Start-ChildProcess -FilePath $envCmd.Source -ArgumentList @('--default-signal=INT', $script:Pwsh, (Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command', $command) -Environment @{ PSModulePath = $env:PSModulePath; NO_COLOR = '1' }
            $null = Wait-ChildLine $child 'ctrl-c: Connected to '
            Get-Sha256Hex (Invoke-HttpDownload -Port $publicPort -Path '/bytes/100000') | Should -Be (Get-ExpectedPayloadHash 100000)
            $clock = [Diagnostics.Stopwatch]::StartNew()
            Send-Signal -ProcessId $child.Process.Id -Signal INT
            $exit = Wait-ChildExit $child -TimeoutSec $script:ExitBudget
            Write-Host "    Ctrl+C: SIGINT to exit $([Math]::Round($clock.Elapsed.TotalSeconds, 2)) s, exit code $($exit.ExitCode)"
            $exit.Exited | Should -BeTrue
            @($child.Lines -match 'ctrl-c: stopping \(Ctrl\+C\)$').Count | Should -Be 1
            $child.Lines | Where-Object { $_ -match 'Client stopped\.$' } | Should -Not -BeNullOrEmpty
            # As any command that Ctrl+C stops, the rest of the script does not run.
            $child.Lines | Should -Not -Contain 'AFTER'
            Wait-Until { Test-TcpPortFree $publicPort } -TimeoutSec 2 | Should -BeTrue
        }
        finally { Stop-ChildProcess $child }
    }
}

Describe 'A fatal error with -Wait' {
    It 'exits non-zero with the error on stderr: <Case>' -ForEach @(
        @{ Case = 'the control port is taken'; Command = 'Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort {0} -Token fatal-test-token -Wait'; Expected = 'Control port \d+ on 127\.0\.0\.1 is already in use' }
        @{ Case = 'no server listens'; Command = 'New-Tunnel -Server 127.0.0.1:{0} -Token fatal-test-token -LocalPort 9 -TimeoutSec 5 -Wait'; Expected = 'tunnel server at 127\.0\.0\.1:\d+|refused' }
    ) {
        $listener = $null; $child = $null
        try {
            $port = Get-FreeTcpPort
            if ($Case -match 'taken') { $listener = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, $port); $listener.Start() }
            # The units' form: the cmdlet is the last command of pwsh -Command, so that its terminating error sets the exit code.
            $child = Start-PwshCommand ("Import-Module TunnelLite; " + ($Command -f $port))
            $exit = Wait-ChildExit $child -TimeoutSec 30
            $exit.Exited | Should -BeTrue
            $exit.ExitCode | Should -Not -Be 0 -Because 'a service manager restarts a service that fails (Restart=on-failure)'
            $exit.Stderr | Should -Match $Expected
        }
        finally {
            Stop-ChildProcess $child
            if ($listener) { $listener.Stop() }
        }
    }

    It 'is EndedUnexpectedly when the engine ends without a stop; a stop from elsewhere (Stop-Tunnel) is a normal end' {
        $iss = [System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
        $iss.ImportPSModule((Join-Path $script:Root 'out/TunnelLite/TunnelLite.psd1'))
        foreach ($how in 'engine', 'Stop-Tunnel') {
            $ps = [powershell]::Create($iss)
            try {
                $name = "ended-$how-$([guid]::NewGuid().ToString('N'))"
                $null = $ps.AddCommand('Start-TunnelServer').AddParameters(@{ BindAddress = '127.0.0.1'; ControlPort = 0; Token = 'ended-test-token'; Name = $name; Wait = $true })
                $run = $ps.BeginInvoke()
                Wait-Until { @(Get-Tunnel -Name $name -ErrorAction SilentlyContinue).Count -eq 1 -and $ps.Streams.Information.Count -gt 0 } -TimeoutSec 20 | Should -BeTrue
                # Events go to the host as Write-Host does: information records tagged PSHOST, one whole line each.
                $ps.Streams.Information[0].MessageData.Message | Should -Match "^\[\d\d:\d\d:\d\d\] $($name): TunnelLite server listening on 127\.0\.0\.1:\d+\.$"
                $ps.Streams.Information[0].Tags | Should -Contain 'PSHOST'
                # Warnings stay warnings (this token is weak), one whole line each too.
                $ps.Streams.Warning[0].Message | Should -Match "^\[\d\d:\d\d:\d\d\] $($name): The shared token .* is weak"
                $job = Get-Tunnel -Name $name
                if ($how -eq 'engine') { $job.Server.StopAsync().GetAwaiter().GetResult() } else { Stop-Tunnel -InputObject $job }
                $run.AsyncWaitHandle.WaitOne(15000) | Should -BeTrue
                if ($how -eq 'engine') {
                    $e = $null
                    try { $null = $ps.EndInvoke($run) } catch { $e = $_.Exception }
                    while ($e -and -not ($e -is [System.Management.Automation.IContainsErrorRecord] -and $e.ErrorRecord.FullyQualifiedErrorId -like 'EndedUnexpectedly,*')) { $e = $e.InnerException }
                    $e | Should -Not -BeNullOrEmpty -Because 'a server that ends without a stop is a terminating error'
                    $e.ErrorRecord.FullyQualifiedErrorId | Should -Be 'EndedUnexpectedly,TunnelLite.PowerShell.Cmdlets.StartTunnelServerCommand'
                }
                else {
                    @($ps.EndInvoke($run)).Count | Should -Be 0 -Because '-Wait writes no object'
                    $ps.HadErrors | Should -BeFalse
                }
                @(Get-Tunnel -Name $name -ErrorAction SilentlyContinue).Count | Should -Be 0 -Because '-Wait removes the job it ran'
            }
            finally { $ps.Dispose() }
        }
    }
}

Describe 'The server unit in an emulation of its sandbox' {
    It 'runs as a user of its own on a read-only system without homes, serves a tunnel and stops on SIGTERM with exit 0' {
        $why = if (-not $IsLinux) { 'Linux only' }
        elseif ((& id -u) -ne '0') { 'emulating the sandbox needs root (mount namespaces, bind mounts, setpriv)' }
        elseif (@(Get-Command unshare, setpriv -CommandType Application -ErrorAction SilentlyContinue).Count -lt 2) { 'unshare and setpriv (util-linux) are needed' }
        elseif (-not (Test-Path -LiteralPath '/usr/bin/dotnet')) { 'the unit runs /usr/bin/dotnet, which this machine lacks' }
        elseif ((& readlink -f /usr/bin/dotnet) -match '^/(root|home)/') { 'dotnet lives under a home, which ProtectHome=yes hides' }
        elseif ($(& unshare --mount true 2>&1 | Out-Null; $LASTEXITCODE) -ne 0) { 'this machine refuses mount namespaces' }
        elseif ($PSHOME -notmatch '/powershell/([^/]+)/tools/net10\.0/any/unix$') { 'the test runs under a PowerShell that is not the dotnet tool package' }
        if ($why) { Set-ItResult -Skipped -Because $why; return }

        $child = $null; $tunnel = $null
        try {
            $uid = 61234
            $folder = New-TestFolder 'sandbox'
            $token = New-TunnelToken
            Write-Credential $folder $token
            & chown -R "$($uid):$uid" (Join-Path $folder 'cred') (Join-Path $folder 'state')
            $controlPort = Get-FreeTcpPort
            do { $publicPort = Get-FreeTcpPort } while ($publicPort -eq $controlPort)
            "bindAddr = `"127.0.0.1`"`nbindPort = $controlPort`n" | Set-Content -LiteralPath (Join-Path $folder 'etc/server.toml') -Encoding utf8NoBOM
            # The unit's own paths for PowerShell, the module and HOME; the test's files where /etc/tunnellite and the credentials would be.
            $versionDir = (Resolve-Path (Join-Path $PSHOME '../../../..')).Path
            $exec = @(Split-UnitWord (Get-UnitSetting -Path $script:ServerUnit -Key 'ExecStart') |
                    ForEach-Object { $_.Replace('/etc/tunnellite/server.toml', '/opt/tunnellite-test/etc/server.toml') })
            $environment = Get-UnitEnvironment -Path $script:ServerUnit
            $environment['HOME'] = '/opt/tunnellite-test/state'
            $environment['CREDENTIALS_DIRECTORY'] = '/opt/tunnellite-test/cred'
            $binds = @(
                "$versionDir=/opt/tunnellite/packages/powershell/$(Split-Path $versionDir -Leaf)"
                "$(Join-Path $script:Root 'out')=/opt/tunnellite/modules"
                "$(Join-Path $folder 'etc')=/opt/tunnellite-test/etc"
                "$(Join-Path $folder 'cred')=/opt/tunnellite-test/cred"
                "rw:$(Join-Path $folder 'state')=/opt/tunnellite-test/state")
            $child = Start-ChildProcess -FilePath 'unshare' -Environment $environment -ArgumentList (@('--mount', '--', '/bin/sh', (Join-Path $PSScriptRoot 'Support/Enter-UnitSandbox.sh'), "$uid") + $binds + @('--') + $exec)
            $null = Wait-ChildLine $child "TunnelLite server listening on 127\.0\.0\.1:$controlPort\.$"
            $status = Get-Content -LiteralPath "/proc/$($child.Process.Id)/status"
            $status -match '^Uid:\s+(\d+)' | Should -Match "^Uid:\s+$uid\s" -Because 'DynamicUser: a user of its own'
            $status -match '^NoNewPrivs:' | Should -Match '1$'
            $status -match '^CapEff:' | Should -Match ':\s+0+$'

            $tunnel = New-Tunnel -Server "127.0.0.1:$controlPort" -Token $token -LocalPort $script:Http.Port -RemotePort $publicPort -Name sandboxed
            $size = 8MB
            Get-Sha256Hex (Invoke-HttpDownload -Port $publicPort -Path "/bytes/$size") | Should -Be (Get-ExpectedPayloadHash $size)
            $clock = [Diagnostics.Stopwatch]::StartNew()
            Send-Signal -ProcessId $child.Process.Id -Signal TERM
            $exit = Wait-ChildExit $child -TimeoutSec $script:ExitBudget
            Write-Host "    sandboxed server unit: SIGTERM to exit $([Math]::Round($clock.Elapsed.TotalSeconds, 2)) s"
            $exit.Exited | Should -BeTrue
            $exit.ExitCode | Should -Be 0 -Because "stderr: $($exit.Stderr)"
            $exit.Stderr | Should -BeNullOrEmpty
            Test-TcpPortFree $controlPort | Should -BeTrue
            Test-TcpPortFree $publicPort | Should -BeTrue
            # pwsh kept its caches in the state directory, the one place it may write to.
            Get-ChildItem -LiteralPath (Join-Path $folder 'state') -Force | Should -Not -BeNullOrEmpty
        }
        finally {
            Stop-ChildProcess $child
            if ($tunnel) { Stop-Tunnel -InputObject $tunnel; Remove-Job -Job $tunnel -Force }
        }
    }
}
