# TLS through the cmdlets: a -Tls server with its self-signed certificate, a -Tls tunnel pinning its fingerprint, and the
# ErrorIds of the mismatches. Real servers and tunnels on 127.0.0.1.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:Token = 'pester-tls-token'
    $script:Http = New-LocalHttpService
}

AfterAll {
    Get-Tunnel | Stop-Tunnel -Confirm:$false -ErrorAction SilentlyContinue
    Get-Job | Where-Object { $_.PSJobTypeName -in 'Tunnel', 'TunnelServer' } | Remove-Job -Force
    $script:Http.Dispose()
}

Describe 'TLS' {
    AfterEach { Get-Tunnel | Stop-Tunnel -Confirm:$false; Get-Job | Where-Object PSJobTypeName -in 'Tunnel', 'TunnelServer' | Remove-Job -Force }

    It 'carries a download through a -Tls tunnel pinned to the fingerprint the server job shows' {
        $s = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Tls -Name 'srv-tls'
        $s.CertificateFingerprint | Should -Match '^[0-9A-F]{64}$'
        # The job's events show the fingerprint too, for a server started in the background.
        ($s | Receive-Job -Keep | Where-Object Message -like "*$($s.CertificateFingerprint)*") | Should -Not -BeNullOrEmpty

        $t = New-Tunnel -Server "127.0.0.1:$($s.ControlPort)" -Token $script:Token -LocalPort $script:Http.Port -Name 'web-tls' `
            -Tls -CertificateFingerprint $s.CertificateFingerprint.ToLowerInvariant() -ForwardingMode Splice
        $body = Invoke-HttpDownload -Port $t.RemotePort -Path '/bytes/300000'
        $body.Length | Should -Be 300000
        [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash 300000)
        # Under TLS the bytes are decrypted in user space: copied, whatever mode was asked.
        (Get-TunnelStats -Name 'web-tls').ForwardingMode | Should -Be 'Copy'
    }

    It 'fails fast with TlsMismatch in both directions and CertificateMismatch for a wrong pin' {
        $plain = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Name 'srv-plain'
        $tls = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $script:Token -Tls -Name 'srv-tls2'
        # A hang would end at the timeout with ServerUnreachable or RegistrationTimeout, not these ErrorIds.
        $common = @{ Token = $script:Token; LocalPort = $script:Http.Port; TimeoutSec = 5 }

        $err = $null
        try { New-Tunnel -Server "127.0.0.1:$($plain.ControlPort)" @common -Tls -CertificateFingerprint $tls.CertificateFingerprint } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'TlsMismatch,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
        $err.Exception.Message | Should -Match 'does not speak TLS'

        $err = $null
        try { New-Tunnel -Server "127.0.0.1:$($tls.ControlPort)" @common } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'TlsMismatch,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
        $err.Exception.Message | Should -Match 'requires TLS; use -Tls'

        $err = $null
        try { New-Tunnel -Server "127.0.0.1:$($tls.ControlPort)" @common -CertificateFingerprint ('0' * 64) } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'CertificateMismatch,TunnelLite.PowerShell.Cmdlets.NewTunnelCommand'
        $err.CategoryInfo.Category | Should -Be 'SecurityError'

        Get-Tunnel | Where-Object PSJobTypeName -eq Tunnel | Should -BeNullOrEmpty
    }

    It 'a tunnel whose server now has another certificate stays Running, its Status Reconnecting and its LastError CertificateMismatch' {
        $port = Get-FreeTcpPort
        $s = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort $port -Token $script:Token -Tls -Name 'srv-cert-one'
        $t = New-Tunnel -Server "127.0.0.1:$port" -Token $script:Token -LocalPort $script:Http.Port -Name 'web-pinned' -CertificateFingerprint $s.CertificateFingerprint
        $t.Status | Should -Be 'Connected'
        $t.LastError | Should -BeNullOrEmpty
        # A restart without a certificate file makes a new self-signed certificate, which the tunnel's pin does not match.
        $s | Stop-Tunnel -Confirm:$false
        $s | Remove-Job -Force
        $s2 = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort $port -Token $script:Token -Tls -Name 'srv-cert-two'
        $s2.CertificateFingerprint | Should -Not -Be $s.CertificateFingerprint
        foreach ($i in 1..150) { if ("$($t.LastError)" -like 'CertificateMismatch:*') { break }; Start-Sleep -Milliseconds 100 }

        $seen = Get-Tunnel -Name 'web-pinned'
        $seen.State | Should -Be 'Running'   # the job runs, and retries; it is not a failure of the job
        $seen.Status | Should -Be 'Reconnecting'
        $seen.LastError.Code | Should -Be 'CertificateMismatch'
        "$($seen.LastError)" | Should -Match "^CertificateMismatch: .*$($s2.CertificateFingerprint)"
        (Get-Job -Name 'web-pinned' | Format-List StatusMessage | Out-String) | Should -Match 'Reconnecting: CertificateMismatch'
        (Get-TunnelStats -Name 'web-pinned').State | Should -Be 'Reconnecting'
        ($t.Warning -join "`n") | Should -Match 'Reconnect failed \(CertificateMismatch\)'

        $t | Stop-Tunnel -Confirm:$false
        $t.Status | Should -Be 'Stopped'
    }

    It 'rejects a malformed fingerprint and an unusable certificate file with their ErrorIds' {
        { New-Tunnel -Server 127.0.0.1:1 -Token x -LocalPort 80 -CertificateFingerprint 'ab:cd' } | Should -Throw -ErrorId 'InvalidCertificateFingerprint*'
        $bad = Join-Path $TestDrive 'server.pem'
        'not a certificate' | Set-Content $bad
        { Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token x -Tls -CertificatePath $bad } | Should -Throw -ErrorId 'CertificateLoadFailed*'
        { Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token x -CertificatePath $bad } | Should -Throw -ErrorId 'TlsRequired*'
    }
}
