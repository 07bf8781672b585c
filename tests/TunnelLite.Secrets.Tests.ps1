# Secrets stay secret: whatever a script can reach from a job (the job itself, its Command, its engine objects, its
# statistics, every one of its streams, its admin endpoint's answers and Get-TunnelClient's output) shows neither a token,
# nor the admin endpoint's password, nor anything derived from them, serialized every way a user would look
# (ConvertTo-Json -Depth 20, Format-Custom, Format-List * -Force). Real servers and tunnels on 127.0.0.1.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Http = New-LocalHttpService
    $script:Shared = New-TunnelToken
    $script:Alice = New-TunnelToken
    $script:AlicePrevious = New-TunnelToken
    $script:AdminPassword = New-TunnelToken
    $script:AdminCredential = [pscredential]::new('ops', (ConvertTo-SecureString $script:AdminPassword -AsPlainText -Force))

    function script:Get-Forbidden([string[]] $Secrets, [byte[][]] $Keys) {
        # Each secret as text, as UTF-8 in base64 and hex; each derived key in base64 and hex (either case).
        foreach ($s in $Secrets) {
            $s
            $bytes = [Text.Encoding]::UTF8.GetBytes($s)
            [Convert]::ToBase64String($bytes)
            [Convert]::ToHexString($bytes)
        }
        foreach ($k in $Keys) {
            [Convert]::ToBase64String($k)
            [Convert]::ToHexString($k)
        }
    }

    function script:Get-PrivateField($Object, [string] $Name) {
        $Object.GetType().GetField($Name, [Reflection.BindingFlags]'NonPublic,Instance').GetValue($Object)
    }

    function script:Get-Views($Object) {
        # Every way a user would look at an object.
        $Object | ConvertTo-Json -Depth 20 -WarningAction SilentlyContinue
        $Object | Format-Custom -Depth 8 | Out-String -Width 400
        $Object | Format-List * -Force | Out-String -Width 400
        "$Object"
    }
}

AfterAll {
    Get-Tunnel | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
}

Describe 'Secrets' {
    It 'are found in no job, Command, engine object, statistics or stream, as text or derived key' {
        $dir = Join-Path $TestDrive 'secrets'
        $null = New-Item -ItemType Directory -Path $dir
        $config = Join-Path $dir 'server.toml'
        @"
bindAddr = "127.0.0.1"
bindPort = $(Get-FreeTcpPort)

[[clients]]
name = "alice"
token = "$script:Alice"
previousToken = "$script:AlicePrevious"
previousTokenExpires = $([DateTimeOffset]::UtcNow.AddDays(1).ToString('yyyy-MM-ddTHH:mm:ssZ', [cultureinfo]::InvariantCulture))
"@ | Set-Content -LiteralPath $config
        try {
            # Plain-text tokens typed on the command line: exactly what must not end up in a job's Command.
            # And an admin endpoint with a password, on the server and on a tunnel.
            $server = Invoke-Expression "Start-TunnelServer -ConfigPath '$config' -Token '$script:Shared' -Name secrets-srv -AdminEndpoint 127.0.0.1:0 -AdminCredential `$script:AdminCredential"
            $port = $server.ControlPort
            $shared = Invoke-Expression "New-Tunnel -Server 127.0.0.1:$port -Token '$script:Shared' -LocalPort $($script:Http.Port) -Name secrets-shared -AdminEndpoint 127.0.0.1:0 -AdminCredential `$script:AdminCredential"
            $credential = [pscredential]::new('alice', (ConvertTo-SecureString $script:Alice -AsPlainText -Force))
            $alice = New-Tunnel -Server "127.0.0.1:$port" -Credential $credential -LocalPort $script:Http.Port -Name secrets-alice
            # A client still on alice's previous token, during a rotation.
            $aliceOld = New-Tunnel -Server "127.0.0.1:$port" -Token $script:AlicePrevious -LocalPort $script:Http.Port -Name secrets-alice-old
            foreach ($t in $shared, $alice, $aliceOld) {
                (Invoke-HttpDownload -Port $t.RemotePort -Path '/bytes/5000').Length | Should -Be 5000
            }
            # A failed login, so that the server's streams have a security event to show.
            { New-Tunnel -Server "127.0.0.1:$port" -Token 'not-the-token-at-all' -LocalPort $script:Http.Port -Name secrets-wrong } |
                Should -Throw -ErrorId 'AuthenticationFailed*'
            (Get-TunnelStats -InputObject $server -PerTunnel | Where-Object Name -EQ 'secrets-alice').ClientName | Should -Be 'alice'

            # The session keys both ends derived from the tokens (read by reflection: no public member offers them).
            $keys = [System.Collections.Generic.List[byte[]]]::new()
            foreach ($t in $shared, $alice, $aliceOld) { $keys.Add((Get-PrivateField (Get-PrivateField $t.Client '_session') '_sessionKey')) }
            foreach ($session in (Get-PrivateField $server.Server '_sessions').Values) { $keys.Add((Get-PrivateField $session '_sessionKey')) }
            $keys.Count | Should -Be 6
            $keys | ForEach-Object { $_.Length | Should -Be 32 }
            $forbidden = @(Get-Forbidden -Secrets $script:Shared, $script:Alice, $script:AlicePrevious, $script:AdminPassword -Keys $keys.ToArray())

            $jobs = @($server, $shared, $alice, $aliceOld)
            $texts = [System.Collections.Generic.List[string]]::new()
            foreach ($j in $jobs) {
                $j.Command | Should -Not -BeNullOrEmpty
                $texts.Add($j.Command)
                foreach ($v in Get-Views $j) { $texts.Add($v) }
                foreach ($stream in 'Output', 'Error', 'Warning', 'Verbose', 'Debug', 'Information', 'Progress') {
                    foreach ($record in @($j.$stream)) { foreach ($v in Get-Views $record) { $texts.Add($v) } }
                }
            }
            foreach ($stats in @(Get-TunnelStats) + @($server | Get-TunnelStats -PerTunnel)) { foreach ($v in Get-Views $stats) { $texts.Add($v) } }
            $adminEndpoint = ([uri]$server.AdminUrl).Authority
            foreach ($c in @(Get-TunnelClient) + @(Get-TunnelClient -AdminEndpoint $adminEndpoint -Credential $script:AdminCredential)) { foreach ($v in Get-Views $c) { $texts.Add($v) } }
            foreach ($url in $server.AdminUrl, $shared.AdminUrl) {
                foreach ($path in 'api/v1', 'api/v1/server', 'api/v1/tunnels', 'api/v1/clients', 'api/v1/events', 'metrics', 'healthz', 'ready', '') {
                    $r = Invoke-WebRequest "$url$path" -Credential $script:AdminCredential -Authentication Basic -AllowUnencryptedAuthentication -SkipHttpErrorCheck
                    $texts.Add("$($r.StatusCode) $($r.Content)")
                }
            }
            $server.Command | Should -Be "Start-TunnelServer on 127.0.0.1:$port"
            $shared.Command | Should -Be "New-Tunnel secrets-shared -> 127.0.0.1:$($script:Http.Port) via 127.0.0.1:$port"
            @($server.Warning).Count + @($server.Output).Count | Should -BeGreaterThan 0 -Because 'the streams must have something to check'

            $all = $texts -join "`n"
            $all.Length | Should -BeGreaterThan 10000 -Because 'the views must have been rendered'
            foreach ($f in $forbidden) {
                $all.Contains($f, [StringComparison]::OrdinalIgnoreCase) | Should -BeFalse -Because "no view may contain a secret or a key derived from it ($($f.Length) characters)"
            }
        }
        finally {
            Get-Tunnel -Name 'secrets-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            Get-Job -Name 'secrets-*' -ErrorAction SilentlyContinue | Remove-Job -Force
        }
    }

    It 'takes -Credential: the user name is the client name, the password the token' {
        $config = Join-Path $TestDrive 'cred.toml'
        $port = Get-FreeTcpPort
        @"
bindAddr = "127.0.0.1"
bindPort = $port

[[clients]]
name = "bob"
token = "$script:Alice"

[[clients]]
name = "carol"
token = "$(New-TunnelToken)"
"@ | Set-Content -LiteralPath $config
        if (-not $IsWindows) { chmod 600 $config }
        $server = Start-TunnelServer -ConfigPath $config -Name cred-srv
        try {
            $ok = New-Tunnel -Server "127.0.0.1:$port" -Credential ([pscredential]::new('bob', (ConvertTo-SecureString $script:Alice -AsPlainText -Force))) -LocalPort $script:Http.Port -Name cred-bob
            (Get-TunnelStats -InputObject $server -PerTunnel | Where-Object Name -EQ 'cred-bob').ClientName | Should -Be 'bob'
            $ok.Client.ClientName | Should -Be 'bob'
            # Another account's name with bob's token: checked against that account only, so it fails.
            { New-Tunnel -Server "127.0.0.1:$port" -Credential ([pscredential]::new('carol', (ConvertTo-SecureString $script:Alice -AsPlainText -Force))) -LocalPort $script:Http.Port -Name cred-carol } |
                Should -Throw -ErrorId 'AuthenticationFailed*'
            # A name that is no account is checked like none: bob's token gets in, as bob.
            $null = New-Tunnel -Server "127.0.0.1:$port" -Credential ([pscredential]::new('laptop', (ConvertTo-SecureString $script:Alice -AsPlainText -Force))) -LocalPort $script:Http.Port -Name cred-laptop
            (Get-TunnelStats -InputObject $server -PerTunnel | Where-Object Name -EQ 'cred-laptop').ClientName | Should -Be 'bob'
            { New-Tunnel -Server "127.0.0.1:$port" -Credential ([pscredential]::new('bob', (ConvertTo-SecureString $script:Alice -AsPlainText -Force))) -ClientName 'dave' -LocalPort $script:Http.Port -Name cred-dave } |
                Should -Throw -ErrorId 'ClientNameMismatch*'
            { New-Tunnel -ConfigPath $config -Token 'x' -Credential ([pscredential]::new('bob', (ConvertTo-SecureString 'y' -AsPlainText -Force))) } |
                Should -Throw -ErrorId 'TokenAndCredential*'
        }
        finally {
            Get-Tunnel -Name 'cred-*' -ErrorAction SilentlyContinue | Stop-Tunnel -Confirm:$false
            Get-Job -Name 'cred-*' -ErrorAction SilentlyContinue | Remove-Job -Force
        }
    }
}
