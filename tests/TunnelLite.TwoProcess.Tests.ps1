# A server and a tunnel in two separate pwsh processes carry an HTTP download through the public port; checked by hash.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    $script:Http = New-LocalHttpService
}

AfterAll {
    $script:Http.Dispose()
}

Describe 'Two processes' {
    It 'carries an HTTP download from the local service through the public port intact' {
        $token = "two-process-$([guid]::NewGuid())"
        $server = $null
        $client = $null
        try {
            $server = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-TunnelServer.ps1') -ArgumentList @('-Token', $token)
            $controlPort = [int](Read-ChildLine -Process $server -Pattern '^CONTROLPORT=(\d+)')
            $client = Start-ChildPwsh -Script (Join-Path $PSScriptRoot 'Support/Run-Tunnel.ps1') -ArgumentList @('-Server', "127.0.0.1:$controlPort", '-Token', $token, '-LocalPort', "$($script:Http.Port)")
            $remotePort = [int](Read-ChildLine -Process $client -Pattern '^REMOTEPORT=(\d+)')

            $size = 8MB
            $body = Invoke-HttpDownload -Port $remotePort -Path "/bytes/$size"
            $body.Length | Should -Be $size
            [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($body)) | Should -Be (Get-ExpectedPayloadHash $size)
            $script:Http.Requests | Should -BeGreaterOrEqual 1

            $client.StandardInput.WriteLine('stop')
            [long](Read-ChildLine -Process $client -Pattern '^BYTESOUT=(\d+)') | Should -BeGreaterThan $size
            Read-ChildLine -Process $client -Pattern '^(STOPPED)$' | Should -Be 'STOPPED'
        }
        finally {
            Stop-ChildPwsh $client
            Stop-ChildPwsh $server
        }
    }
}
