# The default views (TunnelLite.format.ps1xml) and how TunnelLite's objects serialise. Real servers and tunnels on 127.0.0.1,
# formatted as a console of fixed width would show them (Out-String -Width): tables fit 80 columns with every header on one
# line, long cells wrap instead of being cut, and ConvertTo-Json writes TunnelLite's enums by name.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Support/FaultHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Rendering = $PSStyle.OutputRendering
    $PSStyle.OutputRendering = 'PlainText'
    $script:Token = New-TunnelToken
    $script:Http = New-LocalHttpService

    # Two servers, each with a tunnel named 'web': same name, different servers. And one tunnel with a name longer than
    # its column, the longest a tunnel may have being 128 characters.
    $script:SrvA = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'views-srv-a'
    $script:SrvB = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'views-srv-b'
    $script:WebA = New-Tunnel -Server "127.0.0.1:$($script:SrvA.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'web'
    $script:WebB = New-Tunnel -Server "127.0.0.1:$($script:SrvB.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'web'
    $script:LongName = 'views-tunnel-with-a-name-much-longer-than-any-column-of-the-default-views'
    $script:Long = New-Tunnel -Server "127.0.0.1:$($script:SrvA.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name $script:LongName
    $null = Invoke-HttpDownload -Port $script:WebA.RemotePort -Path '/bytes/3000000'
    foreach ($i in 1..50) {
        $done = @(Get-TunnelStats -Id $script:WebA.Id, $script:SrvA.Id | Where-Object { $_.BytesOut -ge 3000000 -and $_.ActiveConnections -eq 0 })
        if ($done.Count -eq 2) { break }
        Start-Sleep -Milliseconds 100
    }

    function script:Get-Lines([string] $Text) {
        # The lines of formatted text, without the blank ones around tables and lists.
        @($Text -split '\r?\n' | Where-Object { $_.Trim() })
    }

    function script:Assert-Width([string] $Text, [int] $Width) {
        foreach ($line in Get-Lines $Text) { $line.Length | Should -BeLessOrEqual $Width -Because "'$line' must fit $Width columns" }
        $Text | Should -Not -Match '…' -Because 'no cell is cut short'
    }

    function script:Get-Table([string] $Text, [int[]] $Widths, [int] $Key) {
        # Parses a table whose columns have these widths (the last one takes the rest), one space apart, as the view defines
        # them. Returns the header cells and the rows, each an array of cells; a wrapped cell is joined back with spaces. A
        # row starts on a line whose cell Key (a column that never wraps) is not blank.
        $lines = Get-Lines $Text
        $dashes = [array]::FindIndex([string[]]$lines, [Predicate[string]] { param($l) $l -match '^[\s-]+$' })
        $dashes | Should -BeGreaterThan 0 -Because "a table has a header over a line of dashes:`n$Text"
        $split = {
            param([string] $line)
            $at = 0
            for ($i = 0; $i -lt $Widths.Count; $i++) {
                $w = if ($i -eq $Widths.Count - 1) { [Math]::Max(0, $line.Length - $at) } else { $Widths[$i] }
                if ($at -ge $line.Length) { '' } else { $line.Substring($at, [Math]::Min($w, $line.Length - $at)).Trim() }
                $at += $w + 1
            }
        }
        $rows = [System.Collections.Generic.List[object]]::new()
        foreach ($line in $lines | Select-Object -Skip ($dashes + 1)) {
            $cells = @(& $split $line)
            if ($cells[$Key] -or $rows.Count -eq 0) { $rows.Add($cells); continue }
            $row = $rows[$rows.Count - 1]
            for ($i = 0; $i -lt $cells.Count; $i++) { if ($cells[$i]) { $row[$i] = "$($row[$i]) $($cells[$i])".Trim() } }
        }
        [pscustomobject]@{ Header = @(& $split $lines[$dashes - 1]); Rows = $rows.ToArray(); Lines = $lines }
    }

    function script:Get-Column([object] $Table, [int] $Index) {
        # One column of every row.
        @($Table.Rows | ForEach-Object { $_[$Index] })
    }

    function script:Compress([string] $s) {
        # A wrapped cell is split at a space (word wrap, in English cultures) or anywhere (elsewhere): compare without spaces.
        $s -replace '\s', ''
    }
}

AfterAll {
    Get-Tunnel -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
    $PSStyle.OutputRendering = $script:Rendering
}

Describe 'Human units' {
    It 'Bytes(<Value>) is <Text>' -ForEach @(
        @{ Value = 0; Text = '0 B' }, @{ Value = 54; Text = '54 B' }, @{ Value = 999; Text = '999 B' }, @{ Value = 1000; Text = '1.0 KiB' }
        @{ Value = 1536; Text = '1.5 KiB' }, @{ Value = 10189; Text = '10 KiB' }, @{ Value = 317440; Text = '310 KiB' }
        @{ Value = 1047552; Text = '1.0 MiB' }, @{ Value = 3000103; Text = '2.9 MiB' }, @{ Value = 1288490188.8; Text = '1.2 GiB' }
        @{ Value = 5e15; Text = '4.4 PiB' }
    ) {
        [TunnelLite.PowerShell.Output.HumanUnits]::Bytes($Value) | Should -BeExactly $Text
    }

    It 'Bytes is never longer than 7 characters, so the table columns hold any count' {
        $value = 1.0
        while ($value -lt 8e15) {   # up to 1023.9 times that: about the largest long, 8 EiB
            foreach ($v in $value, ($value * 9.96), ($value * 999.6), ($value * 1023.9)) {
                [TunnelLite.PowerShell.Output.HumanUnits]::Bytes($v).Length | Should -BeLessOrEqual 7 -Because "$v"
            }
            $value *= 3.7
        }
    }

    It 'Duration(<Span>) is <Text>' -ForEach @(
        @{ Span = '00:00:45'; Text = '45s' }, @{ Span = '00:12:03'; Text = '12m03s' }, @{ Span = '03:07:59'; Text = '3h07m' }
        @{ Span = '2.04:13:07'; Text = '2d04h' }, @{ Span = '99.23:59:59'; Text = '99d23h' }, @{ Span = '123.04:00:00'; Text = '123d' }
    ) {
        [TunnelLite.PowerShell.Output.HumanUnits]::Duration([timespan]$Span) | Should -BeExactly $Text
    }

    It 'Latency(<Ms> ms) is <Text>' -ForEach @(
        @{ Ms = 0.42; Text = '0.42 ms' }, @{ Ms = 8.46; Text = '8.5 ms' }, @{ Ms = 123.4; Text = '123 ms' }, @{ Ms = 999.6; Text = '1.00 s' }
        @{ Ms = 1234; Text = '1.23 s' }, @{ Ms = 12345; Text = '12.3 s' }, @{ Ms = 300000; Text = '300 s' }
    ) {
        [TunnelLite.PowerShell.Output.HumanUnits]::Latency([timespan]::FromTicks([long]($Ms * 10000))) | Should -BeExactly $Text
    }

    It 'Latency of nothing timed is blank' {
        [TunnelLite.PowerShell.Output.HumanUnits]::Latency($null) | Should -BeExactly ''
    }

    It 'the list view shows exact figures beside the human ones' {
        [TunnelLite.PowerShell.Output.HumanUnits]::BytesExact(3000103) | Should -BeExactly '2.9 MiB (3000103)'
        [TunnelLite.PowerShell.Output.HumanUnits]::BytesExact(54) | Should -BeExactly '54 B'
        [TunnelLite.PowerShell.Output.HumanUnits]::DurationExact([timespan]'2.04:13:07.8') | Should -BeExactly '2d04h (2.04:13:07)'
    }
}

Describe 'Get-TunnelStats views' {
    It 'the table fits 80 columns, one header line, with names, traffic and Uptime' {
        $text = Get-TunnelStats | Out-String -Width 80
        Assert-Width $text 80
        $table = Get-Table $text -Widths 12, 12, 6, 6, 7, 7, 7, 7, 6 -Key 1
        $table.Header | Should -Be @('Name', 'State', 'Active', 'Failed', 'In', 'Out', 'In/s', 'Out/s', 'Uptime')
        @(Get-Column $table 0 | ForEach-Object { Compress $_ }) | Should -Be @('views-srv-a', 'views-srv-b', 'web', 'web', $script:LongName)
        @(Get-Column $table 1) | Should -Be @('Running', 'Running', 'Connected', 'Connected', 'Connected')
        # The tunnel that carried 3 MB and the server it went through: 2.9 MiB out, a rate, an Uptime such as 4s or 1m02s.
        foreach ($row in $table.Rows[0], $table.Rows[2]) {
            $row[2..3] | Should -Be @('0', '0') -Because ($row -join ' | ')
            $row[4] | Should -Match '^\d+ B$'
            $row[5] | Should -BeExactly '2.9 MiB'
            $row[6] | Should -Match '^\d+ B$'
            $row[7] | Should -Match '^[\d.]+ (B|KiB|MiB|GiB)$'
            $row[8] | Should -Match '^\d+(s|m\d\ds)$'
        }
        $table.Rows[1][2..8] | Should -Be @('0', '0', '0 B', '0 B', '0 B', '0 B', $table.Rows[1][8])
        $table.Rows[1][8] | Should -Match '^\d+(s|m\d\ds)$'
    }

    It 'the table also fits when the default width is used (Format-Table without a width)' {
        $text = Get-TunnelStats -Name 'views-srv-a' | Format-Table | Out-String -Width 80
        Assert-Width $text 80
        $text | Should -Match 'Uptime'
    }

    It 'the list of a tunnel shows its endpoints, reconnects and exact bytes' {
        $text = Get-TunnelStats -Id $script:WebA.Id | Format-List | Out-String -Width 80
        Assert-Width $text 80
        $expected = 'Name', 'Role', 'State', 'JobId', 'ClientName', 'Port', 'LocalEndpoint', 'Uptime', 'Reconnects', 'ActiveConnections',
        'TotalConnections', 'FailedConnections', 'ResetConnections', 'BytesIn', 'BytesOut', 'BytesInPerSec', 'BytesOutPerSec', 'ForwardingMode',
        'DataPlane', 'EventLoops', 'SplicedConnections', 'CopiedConnections', 'SpliceFallbacks', 'LastError', 'LastErrorTime', 'Timestamp'
        @(Get-Lines $text | ForEach-Object { ($_ -split ':', 2)[0].Trim() }) | Should -Be $expected
        $text | Should -Match "(?m)^Port +: $($script:WebA.RemotePort)$"
        $text | Should -Match "(?m)^LocalEndpoint +: 127\.0\.0\.1:$($script:Http.Port)$"
        $text | Should -Match '(?m)^BytesOut +: 2\.9 MiB \(\d{7}\)$'
        $text | Should -Match '(?m)^Uptime +: \d+s \(00:00:\d\d\)$'
        $text | Should -Match '(?m)^Role +: Client$'
    }

    It 'the list of a server shows every server counter' {
        $text = Get-TunnelStats -Name 'views-srv-a' | Format-List | Out-String -Width 80
        Assert-Width $text 80
        $expected = 'Name', 'Role', 'State', 'JobId', 'ClientName', 'Port', 'Uptime', 'Clients', 'Tunnels', 'ActiveConnections',
        'TotalConnections', 'FailedConnections', 'ResetConnections', 'RefusedConnections', 'SourceRefusedConnections', 'BytesIn', 'BytesOut', 'BytesInPerSec', 'BytesOutPerSec',
        'ForwardingMode', 'DataPlane', 'EventLoops', 'SplicedConnections', 'CopiedConnections', 'SpliceFallbacks', 'HandshakesEvicted', 'HandshakeTimeouts',
        'GarbageConnections', 'LoginsFailed', 'LoginsThrottled', 'SessionsRefused', 'DataConnectionsRefused', 'DescriptorRefusals',
        'PendingHandshakes', 'OpenDescriptors', 'DescriptorLimit', 'LastError', 'LastErrorTime', 'Timestamp'
        @(Get-Lines $text | ForEach-Object { ($_ -split ':', 2)[0].Trim() }) | Should -Be $expected
        $text | Should -Match '(?m)^Tunnels +: 2$'
        $text | Should -Match '(?m)^Role +: Server$'
    }
}

Describe 'Get-Tunnel view' {
    It 'fits 80 columns and tells the two web tunnels apart by their server' {
        $text = Get-Tunnel | Out-String -Width 80
        Assert-Width $text 80
        $table = Get-Table $text -Widths 3, 12, 12, 24, 5, 0 -Key 0
        $table.Header | Should -Be @('Id', 'Name', 'Status', 'Server', 'Port', 'Local')
        @(Get-Column $table 0) | Should -Be @("$($script:SrvA.Id)", "$($script:SrvB.Id)", "$($script:WebA.Id)", "$($script:WebB.Id)", "$($script:Long.Id)")
        @(Get-Column $table 1 | ForEach-Object { Compress $_ }) | Should -Be @('views-srv-a', 'views-srv-b', 'web', 'web', $script:LongName)
        # Servers show their job state; tunnels whether their client is connected now (TunnelJob.Status).
        @(Get-Column $table 2) | Should -Be @('Running', 'Running', 'Connected', 'Connected', 'Connected')
        $a = "127.0.0.1:$($script:SrvA.ControlPort)"
        $b = "127.0.0.1:$($script:SrvB.ControlPort)"
        @(Get-Column $table 3) | Should -Be @($a, $b, $a, $b, $a)
        @(Get-Column $table 4) | Should -Be @('', '', "$($script:WebA.RemotePort)", "$($script:WebB.RemotePort)", "$($script:Long.RemotePort)")
        @(Get-Column $table 5) | Should -Be @('', '', "127.0.0.1:$($script:Http.Port)", "127.0.0.1:$($script:Http.Port)", "127.0.0.1:$($script:Http.Port)")
    }

    It 'wraps a server address longer than its column instead of cutting it' {
        $server = 'localhost.localdomain.invalid.example:7000'
        $row = [pscustomobject]@{ PSTypeName = 'TunnelLite.PowerShell.Jobs.TunnelJob'; Id = 99; Name = 'far'; Server = $server; RemotePort = 20022; LocalEndpoint = '192.168.100.200:65535'; JobStateInfo = @{ State = 'Running' } }
        $text = $row | Out-String -Width 80
        Assert-Width $text 80
        $table = Get-Table $text -Widths 3, 12, 12, 24, 5, 0 -Key 0
        Compress $table.Rows[0][3] | Should -BeExactly $server
        Compress $table.Rows[0][5] | Should -BeExactly '192.168.100.200:65535'
    }

    It 'shows a Status property where a job has one, and the job state where it has none' {
        $s = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'views-status'
        try {
            (Get-Tunnel -Id $s.Id | Out-String -Width 80) | Should -Match "(?m)^ *$($s.Id) views-status +Running "
            $s | Add-Member -NotePropertyName Status -NotePropertyValue 'Reconnecting'
            (Get-Tunnel -Id $s.Id | Out-String -Width 80) | Should -Match "(?m)^ *$($s.Id) views-status +Reconnecting "
            $s.PSObject.Properties.Remove('Status')
            $s | Stop-Tunnel -Confirm:$false
            (Get-Tunnel -Id $s.Id | Out-String -Width 80) | Should -Match "(?m)^ *$($s.Id) views-status +Stopped "
        }
        finally { $s | Remove-Job -Force }
    }
}

Describe 'Get-TunnelClient view' {
    It 'fits 80 columns: name, address, time up, tunnels and server, a long tunnel name wrapped in its column' {
        $text = Get-TunnelClient | Out-String -Width 80
        Assert-Width $text 80
        $table = Get-Table $text -Widths 14, 21, 6, 18, 0 -Key 1
        $table.Header | Should -Be @('Name', 'RemoteAddress', 'Up', 'Tunnels', 'Server')
        $table.Rows.Count | Should -Be 3
        @(Get-Column $table 1) | ForEach-Object { $_ | Should -Match '^127\.0\.0\.1:\d+$' }
        @(Get-Column $table 2) | ForEach-Object { $_ | Should -Match '^\d+(s|m\d\ds)$' }
        @(Get-Column $table 3 | ForEach-Object { Compress $_ }) | Sort-Object | Should -Be (@('web', 'web', $script:LongName) | Sort-Object)
        @(Get-Column $table 4) | Sort-Object | Should -Be @('views-srv-a', 'views-srv-a', 'views-srv-b')
        $name = (Get-TunnelClient -Server views-srv-b).Name
        @(Get-Column $table 0 | ForEach-Object { Compress $_ }) | Should -Be @($name, $name, $name) -Because 'the clients are named after this host'
    }
}

Describe 'Test-Tunnel views' {
    It 'the table fits 80 columns, one header line; a long name and a long host wrap instead of being cut' {
        $far = [pscustomobject]@{
            PSTypeName = 'TunnelLite.TunnelTestResult'; Name = $null; ComputerName = 'localhost.localdomain.invalid.example'; RemoteAddress = $null
            RemotePort = 20022; Reachable = $false; Reason = 'NameNotResolved'; ConnectTime = $null; FirstByteTime = $null
        }
        $v6 = [pscustomobject]@{
            PSTypeName = 'TunnelLite.TunnelTestResult'; Name = 'ssh'; ComputerName = '::1'; RemoteAddress = '::1'
            RemotePort = 20022; Reachable = $true; Reason = 'Data'; ConnectTime = [timespan]::FromTicks(4200); FirstByteTime = [timespan]::FromMilliseconds(1234)
        }
        $results = @(Test-Tunnel -Id $script:WebA.Id, $script:Long.Id -TimeoutSec 1) + $far + $v6
        $text = $results | Out-String -Width 80
        Assert-Width $text 80
        $table = Get-Table $text -Widths 12, 21, 9, 15, 8, 9 -Key 2
        $table.Header | Should -Be @('Name', 'Remote', 'Reachable', 'Reason', 'Connect', 'FirstByte')
        @(Get-Column $table 0 | ForEach-Object { Compress $_ }) | Should -Be @('web', $script:LongName, '', 'ssh')
        @(Get-Column $table 1 | ForEach-Object { Compress $_ }) | Should -Be @(
            "127.0.0.1:$($script:WebA.RemotePort)", "127.0.0.1:$($script:Long.RemotePort)", 'localhost.localdomain.invalid.example:20022', '[::1]:20022')
        @(Get-Column $table 2) | Should -Be @('True', 'True', 'False', 'True')
        @(Get-Column $table 3) | Should -Be @('TimedOutOpen', 'TimedOutOpen', 'NameNotResolved', 'Data')
        $table.Rows[0][4] | Should -Match '^[\d.]+ (ms|s)$'
        $table.Rows[0][5] | Should -BeExactly ''
        $table.Rows[2][4] | Should -BeExactly ''
        $table.Rows[3][4..5] | Should -Be @('0.42 ms', '1.23 s')
    }

    It 'the list fits 80 columns and shows the times in human units' {
        $text = Test-Tunnel -Id $script:WebA.Id -TimeoutSec 1 | Format-List | Out-String -Width 80
        Assert-Width $text 80
        $expected = 'Name', 'ComputerName', 'RemoteAddress', 'RemotePort', 'Reachable', 'Reason', 'ConnectTime', 'FirstByteTime', 'Timeout', 'Message', 'Timestamp'
        @(Get-Lines $text | Where-Object { $_ -match '^\S' } | ForEach-Object { ($_ -split ':', 2)[0].Trim() }) | Should -Be $expected
        $text | Should -Match '(?m)^Timeout +: 1\.00 s$'
        $text | Should -Match '(?m)^ConnectTime +: [\d.]+ (ms|s)$'
    }
}

Describe 'TunnelEvent view' {
    It 'shows every event whole at 60 columns, the messages wrapped in their column' {
        $events = @(Receive-Job -Job $script:SrvA -Keep)
        $events.Count | Should -BeGreaterOrEqual 4
        $long = $events | Where-Object Message -Match ([regex]::Escape($script:LongName))
        $long | Should -Not -BeNullOrEmpty
        $text = $events | Out-String -Width 60
        Assert-Width $text 60
        $table = Get-Table $text -Widths 8, 12, 0 -Key 0
        $table.Header | Should -Be @('Time', 'Source', 'Message')
        $table.Rows.Count | Should -Be $events.Count
        for ($i = 0; $i -lt $events.Count; $i++) {
            Compress $table.Rows[$i][2] | Should -BeExactly (Compress $events[$i].Message)
            $table.Rows[$i][0] | Should -BeExactly $events[$i].Time.ToLocalTime().ToString('HH:mm:ss', [cultureinfo]::InvariantCulture)
            $table.Rows[$i][1] | Should -BeExactly 'views-srv-a'
        }
        # The message that names the long tunnel takes several lines: it goes on under the Message column.
        $i = [array]::IndexOf($events, $long[0])
        $starts = @(for ($l = 2; $l -lt $table.Lines.Count; $l++) { if ($table.Lines[$l] -match '^\S') { $l } })
        $at = $starts[$i]
        $table.Lines[$at + 1] | Should -Match '^\s{22}\S'
        $table.Lines[$at + 2] | Should -Match '^\s{22}\S'
    }

    It 'Receive-Job -Wait streams whole events too (a server stopped while it is read)' {
        $s = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'views-wait'
        $t = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name $script:LongName.Replace('views-', 'wait-')
        try {
            Invoke-Later -Job $s -Milliseconds 500
            $text = Receive-Job -Job $s -Wait -AutoRemoveJob | Out-String -Width 60
        }
        finally { $t | Stop-Tunnel -Confirm:$false; $t | Remove-Job -Force }
        Assert-Width $text 60
        $messages = @(Get-Column (Get-Table $text -Widths 8, 12, 0 -Key 0) 2 | ForEach-Object { Compress $_ })
        $messages | Should -Contain 'TunnelLiteserverstopped.'
        $registered = @($messages | Where-Object { $_ -like 'Client127.0.0.1:*registeredtunnel*' })
        $registered.Count | Should -Be 1
        $registered[0] | Should -Match "^Client127\.0\.0\.1:\d+registeredtunnel$([regex]::Escape($script:LongName.Replace('views-', 'wait-')))onport\d+\.$"
    }
}

Describe 'Serialisation' {
    It 'ConvertTo-Json writes Role, ForwardingMode and DataPlane by name, without -EnumsAsStrings' {
        $mode = if ($IsLinux) { 'Auto' } else { 'Copy' }
        $json = Get-TunnelStats -Name 'views-srv-a' | ConvertTo-Json
        $json | Should -Match '"Role": "Server"'
        $json | Should -Match "`"ForwardingMode`": `"$mode`""
        $json | Should -Match '"DataPlane": "(EventLoops|Async)"'
        $json | Should -Match '"EventLoops": \d+'
        $json = Get-TunnelStats -Id $script:WebA.Id | ConvertTo-Json -Compress
        $json | Should -Match '"Role":"Client"'
        $json | Should -Match "`"ForwardingMode`":`"$mode`""
        $json | Should -Match '"DataPlane":"(EventLoops|Async)"'
        ($json | ConvertFrom-Json).BytesOut | Should -BeGreaterOrEqual 3000000
        # Nested, in arrays, and with -EnumsAsStrings as well.
        ConvertTo-Json -InputObject @{ Stats = @(Get-TunnelStats -Name 'views-srv-*') } -Depth 3 -Compress | Should -Match '"Role":"Server".*"Role":"Server"'
        Get-TunnelStats -Name 'views-srv-b' | ConvertTo-Json -EnumsAsStrings | Should -Match '"Role": "Server"'
    }

    It 'leaves other enums alone' {
        ConvertTo-Json -InputObject @{ Day = [DayOfWeek]::Monday } -Compress | Should -BeExactly '{"Day":1}'
        ConvertTo-Json -InputObject @{ Day = [DayOfWeek]::Monday } -Compress -EnumsAsStrings | Should -BeExactly '{"Day":"Monday"}'
    }

    It 'keeps the enum types in PowerShell: filters, sorts and exports by name' {
        $s = Get-TunnelStats -Name 'views-srv-a'
        $s.Role | Should -BeOfType [TunnelLite.Statistics.TunnelRole]
        $s.ForwardingMode | Should -BeOfType [TunnelLite.Forwarding.ForwardingMode]
        $s.DataPlane | Should -BeOfType [TunnelLite.Forwarding.DataPlaneKind]
        $mode = $s.ForwardingMode.ToString()
        @(Get-TunnelStats | Where-Object ForwardingMode -EQ $mode).Count | Should -Be 5
        @(Get-TunnelStats | Where-Object Role -EQ 'Server').Name | Should -Be @('views-srv-a', 'views-srv-b')
        # Sorted as the enum is declared: Server before Client.
        (Get-TunnelStats | Sort-Object Role, Name | Select-Object -First 1).Name | Should -Be 'views-srv-a'
        $csv = Join-Path $TestDrive 'stats.csv'
        Get-TunnelStats | Export-Csv -LiteralPath $csv -NoTypeInformation
        $rows = @(Import-Csv -LiteralPath $csv)
        $rows.Count | Should -Be 5
        ($rows | Where-Object Name -EQ 'views-srv-a').Role | Should -Be 'Server'
        ($rows | Where-Object Name -EQ 'views-srv-a').ForwardingMode | Should -Be $mode
        ($rows | Where-Object Name -EQ 'views-srv-a').DataPlane | Should -Be $s.DataPlane.ToString()
        [long]($rows | Where-Object { $_.JobId -eq "$($script:WebA.Id)" }).BytesOut | Should -BeGreaterOrEqual 3000000
    }

    It 'the STATS line of a test child (tests/Support) names the enums too' {
        $dir = Join-Path $TestDrive 'child'
        $null = New-Item -ItemType Directory -Path $dir
        $child = Start-FaultServer -ConfigPath (New-FaultServerConfig -Directory $dir -Token $script:Token -ControlPort (Get-FreeTcpPort))
        try {
            $child.Process.StandardInput.WriteLine('stats')
            $line = Read-ChildLine -Process $child.Process -Pattern '^STATS=(.*)$' -TimeoutSec 30
            $line | Should -Match '"Role":"Server"'
            $line | Should -Match '"ForwardingMode":"(Auto|Copy)"'
            $line | Should -Match '"DataPlane":"(EventLoops|Async)"'
        }
        finally { Stop-ChildPwsh $child.Process }
    }
}
