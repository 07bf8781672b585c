# Test-Tunnel and the sampling of Get-TunnelStats (-MaxSamples, -Continuous, -SampleInterval), on real servers and tunnels on
# 127.0.0.1 moving real bytes. No assertion depends on how fast a loaded machine is: the probes' outcomes are resets that come
# at once or silences that last, and the rates are checked against the bytes counted, not against a clock.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Token = New-TunnelToken
    $script:Http = New-LocalHttpService
    $script:Banner = New-BannerService -Banner 'SSH-2.0-TunnelLite_Pester'
    # A port that refuses connections: free now, nothing listens on it.
    $script:DeadPort = Get-FreeTcpPort

    $script:Srv = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'diag-srv'
    $server = "127.0.0.1:$($script:Srv.ControlPort)"
    $script:Web = New-Tunnel -Server $server -Token $script:Token -LocalPort $script:Http.Port -Name 'diag-web'
    $script:Ssh = New-Tunnel -Server $server -Token $script:Token -LocalPort $script:Banner.Port -Name 'diag-ssh'
    $script:Dead = New-Tunnel -Server $server -Token $script:Token -LocalPort $script:DeadPort -Name 'diag-dead'

    function script:Start-Runspace([string] $Script) {
        # Runs a script in another runspace of this process (it sees the same tunnels), returning the PowerShell, its output
        # collection and the IAsyncResult; Stop() on the PowerShell stops it as Ctrl+C would.
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$((Get-Module TunnelLite).Path)'; $Script")
        $output = [System.Management.Automation.PSDataCollection[psobject]]::new()
        $async = $ps.BeginInvoke([System.Management.Automation.PSDataCollection[psobject]]$null, $output)
        [pscustomobject]@{ PowerShell = $ps; Output = $output; Async = $async }
    }

    function script:Assert-StopsQuietly([object] $Run, [string] $Because) {
        # Stops the runspace as Ctrl+C would: it must end promptly (well within the wait it was in), as Stopped, without an error.
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $Run.PowerShell.Stop()
        $clock.Elapsed | Should -BeLessThan ([timespan]::FromSeconds(60)) -Because $Because
        $Run.PowerShell.InvocationStateInfo.State | Should -Be 'Stopped'
        $Run.PowerShell.Streams.Error.Count | Should -Be 0
    }

    function script:Wait-Output([object] $Run, [int] $Count, [int] $TimeoutSec = 60) {
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        while ($Run.Output.Count -lt $Count -and [DateTime]::UtcNow -lt $deadline -and -not $Run.Async.IsCompleted) { Start-Sleep -Milliseconds 50 }
        # Streams.Error is read by index: enumerating a PSDataCollection waits until its writer completes it.
        $errors = $Run.PowerShell.Streams.Error
        $Run.Output.Count | Should -BeGreaterOrEqual $Count -Because "the runspace should have written $Count objects (errors: $(@(for ($i = 0; $i -lt $errors.Count; $i++) { $errors[$i] }) -join '; '))"
    }
}

AfterAll {
    Get-Tunnel -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
    $script:Banner.Dispose()
}

Describe 'Test-Tunnel' {
    It 'a web service that waits for its client is reachable: the connection stays open for -TimeoutSec' {
        $r = Test-Tunnel diag-web -TimeoutSec 1
        $r | Should -BeOfType 'TunnelLite.TunnelTestResult'
        $r.Name | Should -Be 'diag-web'
        $r.Reachable | Should -BeTrue
        $r.Reason | Should -Be 'TimedOutOpen'
        $r.ComputerName | Should -Be '127.0.0.1'
        $r.RemoteAddress | Should -Be '127.0.0.1'
        $r.RemotePort | Should -Be $script:Web.RemotePort
        $r.ConnectTime | Should -BeOfType [timespan]
        $r.FirstByteTime | Should -BeNullOrEmpty
        $r.Timeout | Should -Be ([timespan]::FromSeconds(1))
        $r.Timestamp | Should -BeOfType [datetimeoffset]
    }

    It '-Quiet returns only a Boolean, so that a test can say Test-Tunnel web -Quiet | Should -BeTrue' {
        $q = Test-Tunnel diag-web -TimeoutSec 1 -Quiet
        $q | Should -BeOfType [bool]
        $q | Should -BeTrue
        Test-Tunnel diag-dead -TimeoutSec 10 -Quiet | Should -BeFalse
    }

    It 'a service that speaks first is reachable at its first byte, which is timed' {
        $r = Test-Tunnel diag-ssh -TimeoutSec 10
        $r.Reachable | Should -BeTrue
        $r.Reason | Should -Be 'Data'
        $r.FirstByteTime | Should -BeOfType [timespan]
        $r.FirstByteTime | Should -BeLessThan ([timespan]::FromSeconds(10))
    }

    It 'a tunnel whose local service is down is reset at once: not reachable' {
        # With a 10-second timeout, anything but a reset that came at once would read as TimedOutOpen.
        $r = Test-Tunnel diag-dead -TimeoutSec 10
        $r.Reachable | Should -BeFalse
        $r.Reason | Should -Be 'Reset'
        $r.Message | Should -Match 'cannot reach its local service'
    }

    It 'takes tunnel jobs from the pipeline, and objects with a Name by property name' {
        # Tunnels that answer at once (a banner, a reset), so that the 10-second timeout is never waited for.
        $r = @($script:Ssh, $script:Dead | Test-Tunnel -TimeoutSec 10)
        $r.Name | Should -Be @('diag-ssh', 'diag-dead')
        $r.Reason | Should -Be @('Data', 'Reset')
        @(Get-Tunnel -Name 'diag-dead' | Test-Tunnel -TimeoutSec 10).Reason | Should -Be 'Reset'
        @([pscustomobject]@{ Name = 'diag-dead' } | Test-Tunnel -TimeoutSec 10).Reason | Should -Be 'Reset'
        @(Get-TunnelStats -Name 'diag-dead' | Test-Tunnel -TimeoutSec 10).Reason | Should -Be 'Reset'
        @(Test-Tunnel -Id $script:Dead.Id -TimeoutSec 10).Name | Should -Be 'diag-dead'
    }

    It 'a server job tests each tunnel it carries, on its own address' {
        $r = @($script:Srv | Test-Tunnel -TimeoutSec 1)
        $r.Count | Should -Be 3
        ($r | Sort-Object Name).Name | Should -Be @('diag-dead', 'diag-ssh', 'diag-web')
        ($r | Where-Object Name -EQ 'diag-ssh').Reason | Should -Be 'Data'
        ($r | Where-Object Name -EQ 'diag-web').Reason | Should -Be 'TimedOutOpen'
        ($r | Where-Object Name -EQ 'diag-dead').Reason | Should -Be 'Reset'
        ($r | Where-Object Name -EQ 'diag-web').RemotePort | Should -Be $script:Web.RemotePort
    }

    It '-ComputerName and -Port test a public end anywhere' {
        $r = Test-Tunnel -ComputerName 127.0.0.1 -Port $script:Ssh.RemotePort -TimeoutSec 10
        $r.Name | Should -BeNullOrEmpty
        $r.Reason | Should -Be 'Data'
        Test-Tunnel -ComputerName 127.0.0.1 -Port $script:Web.RemotePort -TimeoutSec 1 -Quiet | Should -BeTrue
        $refused = Test-Tunnel -ComputerName 127.0.0.1 -Port $script:DeadPort -TimeoutSec 10
        $refused.Reason | Should -Be 'Refused'
        $refused.Reachable | Should -BeFalse
        $refused.ConnectTime | Should -BeNullOrEmpty
    }

    It 'a name that matches no tunnel is a TunnelNotFound error; -Quiet returns nothing for it' {
        $err = $null
        try { Test-Tunnel -Name 'no-such-tunnel' -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'TunnelNotFound,TunnelLite.PowerShell.Cmdlets.TestTunnelCommand'
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.Exception.Message | Should -Match "'no-such-tunnel'"
        $err.ErrorDetails.RecommendedAction | Should -Match 'Get-Tunnel'
        Test-Tunnel -Name 'no-such-tunnel' -Quiet -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'refuses a -TimeoutSec or -Port out of range when binding' {
        { Test-Tunnel diag-web -TimeoutSec 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,TunnelLite.PowerShell.Cmdlets.TestTunnelCommand'
        { Test-Tunnel -ComputerName 127.0.0.1 -Port 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,TunnelLite.PowerShell.Cmdlets.TestTunnelCommand'
    }

    It 'a stop (Ctrl+C) ends a probe that waits, without an error' {
        $before = (Get-TunnelStats -Name diag-web).TotalConnections
        $run = Start-Runspace "Test-Tunnel -Name diag-web -TimeoutSec 120"
        try {
            # Stopped once the probe's connection has reached the local service, so that the stop interrupts its wait.
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while ((Get-TunnelStats -Name diag-web).TotalConnections -le $before -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            (Get-TunnelStats -Name diag-web).TotalConnections | Should -BeGreaterThan $before
            Assert-StopsQuietly $run -Because 'the stop must not wait for the 120-second timeout'
            $run.Output.Count | Should -Be 0
        }
        finally { $run.PowerShell.Dispose() }
    }
}

Describe 'Get-TunnelStats -MaxSamples and -Continuous' {
    BeforeAll {
        $script:SampleSrv = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'samp-srv'
        $script:SampleWeb = New-Tunnel -Server "127.0.0.1:$($script:SampleSrv.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'samp-web'
    }
    AfterAll { $script:SampleWeb, $script:SampleSrv | Stop-Tunnel -Confirm:$false }

    It '-MaxSamples 3 -SampleInterval 1 gives 3 timestamped samples per tunnel, about a second apart, whose rates are the bytes moved between them' {
        # Downloads through the tunnel in another runspace for the whole sampling, so that bytes move between the samples;
        # it says when each download is done, and the sampling starts once the first one is.
        $url = "http://127.0.0.1:$($script:SampleWeb.RemotePort)/bytes/200000"
        $traffic = Start-Runspace @"
`$http = [System.Net.Http.HttpClient]::new()
`$end = [DateTime]::UtcNow.AddSeconds(120)
while ([DateTime]::UtcNow -lt `$end) { `$http.GetByteArrayAsync('$url').GetAwaiter().GetResult().Length; Start-Sleep -Milliseconds 50 }
"@
        try {
            Wait-Output $traffic 1
            $samples = @(Get-TunnelStats -Id $script:SampleSrv.Id, $script:SampleWeb.Id -MaxSamples 3 -SampleInterval 1)
        }
        finally {
            $traffic.PowerShell.Stop()
            $traffic.PowerShell.Dispose()
        }
        $samples.Count | Should -Be 6
        foreach ($group in $samples | Group-Object Name) {
            $s = @($group.Group)
            $s.Count | Should -Be 3 -Because "$($group.Name) has one object per sample"
            $s | ForEach-Object { $_ | Should -BeOfType 'TunnelLite.TunnelStats' }
            # The rated samples keep the JobId of the job they describe.
            $s.JobId | Should -Be @($s[0].JobId, $s[0].JobId, $s[0].JobId)
            $s[0].JobId | Should -Be $(if ($group.Name -eq 'samp-srv') { $script:SampleSrv.Id } else { $script:SampleWeb.Id })
            for ($i = 1; $i -lt 3; $i++) {
                $seconds = ($s[$i].Timestamp - $s[$i - 1].Timestamp).TotalSeconds
                # About a second apart; the bounds are wide because a loaded machine may take a sample late.
                $seconds | Should -BeGreaterThan 0.3 -Because "$($group.Name) sample $($i + 1)"
                $seconds | Should -BeLessThan 10
                $expectedOut = ($s[$i].BytesOut - $s[$i - 1].BytesOut) / $seconds
                $expectedIn = ($s[$i].BytesIn - $s[$i - 1].BytesIn) / $seconds
                $s[$i].BytesOutPerSec | Should -BeGreaterOrEqual ($expectedOut * 0.999) -Because "$($group.Name): the bytes out between samples $i and $($i + 1) over their interval"
                $s[$i].BytesOutPerSec | Should -BeLessOrEqual ($expectedOut * 1.001 + 0.001)
                $s[$i].BytesInPerSec | Should -BeGreaterOrEqual ($expectedIn * 0.999)
                $s[$i].BytesInPerSec | Should -BeLessOrEqual ($expectedIn * 1.001 + 0.001)
            }
            ($s[2].Timestamp - $s[0].Timestamp).TotalSeconds | Should -BeGreaterThan 1.5 -Because 'three samples one second apart span two seconds'
            # Bytes did move during the sampling: the rates are not a row of zeros that would match anything.
            $s[2].BytesOut - $s[0].BytesOut | Should -BeGreaterThan 0
            ($s[1].BytesOutPerSec + $s[2].BytesOutPerSec) | Should -BeGreaterThan 0
        }
    }

    It '-MaxSamples takes piped jobs once each' {
        $samples = @($script:SampleWeb, $script:SampleWeb | Get-TunnelStats -MaxSamples 2 -SampleInterval 1)
        $samples.Count | Should -Be 2
        $samples.Name | Should -Be @('samp-web', 'samp-web')
        $samples[1].Timestamp | Should -BeGreaterThan $samples[0].Timestamp
    }

    It '-Continuous samples until stopped, then ends at once and without an error' {
        $run = Start-Runspace "Get-TunnelStats -Name samp-web -Continuous -SampleInterval 1"
        try {
            Wait-Output $run 2
            Assert-StopsQuietly $run -Because 'a stop ends the sampling'
            $run.Output[0] | Should -BeOfType 'TunnelLite.TunnelStats'
            $run.Output[1].Timestamp | Should -BeGreaterThan $run.Output[0].Timestamp
        }
        finally { $run.PowerShell.Dispose() }
    }

    It 'a stop does not wait for the end of a long -SampleInterval' {
        $run = Start-Runspace "Get-TunnelStats -Name samp-web -Continuous -SampleInterval 600"
        try {
            Wait-Output $run 1
            Assert-StopsQuietly $run -Because 'the stop must not wait for the 600-second interval'
            $run.Output.Count | Should -Be 1
        }
        finally { $run.PowerShell.Dispose() }
    }

    It '-Continuous with -MaxSamples is refused when the parameters are bound' {
        { Get-TunnelStats -Name samp-web -Continuous -MaxSamples 2 } |
            Should -Throw -ErrorId 'AmbiguousParameterSet,TunnelLite.PowerShell.Cmdlets.GetTunnelStatsCommand'
        { $script:SampleWeb | Get-TunnelStats -Continuous -MaxSamples 2 } |
            Should -Throw -ErrorId 'AmbiguousParameterSet,TunnelLite.PowerShell.Cmdlets.GetTunnelStatsCommand'
    }

    It 'refuses a -SampleInterval or -MaxSamples out of range' {
        { Get-TunnelStats -Name samp-web -MaxSamples 2 -SampleInterval 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,TunnelLite.PowerShell.Cmdlets.GetTunnelStatsCommand'
        { Get-TunnelStats -Name samp-web -MaxSamples 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,TunnelLite.PowerShell.Cmdlets.GetTunnelStatsCommand'
    }

    It 'without -MaxSamples or -Continuous, one snapshot as before' {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $s = @(Get-TunnelStats -Name samp-web -SampleInterval 30)
        $clock.Elapsed | Should -BeLessThan ([timespan]::FromSeconds(20)) -Because 'a single sample does not wait for an interval'
        $s.Count | Should -Be 1
        $s[0].JobId | Should -Be $script:SampleWeb.Id
    }
}
