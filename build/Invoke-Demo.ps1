#Requires -Version 7.4
<#
.SYNOPSIS
    The TunnelLite demo, on an embedded default: a small local HTTP service, a tunnel server and a tunnel, all in this
    process on 127.0.0.1; fetches a page through the public port, shows Get-TunnelStats, and stops everything.
    build.ps1 Demo runs it in a fresh pwsh after building, so the module just built is the one that loads.
#>
param([Parameter(Mandatory)] [string] $ModulePath)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
Add-Type -Path (Join-Path $PSScriptRoot 'LocalHttpService.cs')

# The embedded default: loopback only, ports picked by the OS, a fresh random token.
$token = New-TunnelToken -AsSecureString
$web = [TunnelLite.Demo.LocalHttpService]::new(0)
try {
    Write-Host "1. A local HTTP service (the thing behind NAT) listens on 127.0.0.1:$($web.Port)."
    $server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $token -Name demo-server
    Write-Host "2. A tunnel server listens for clients on $($server.ControlEndpoint)."
    $tunnel = New-Tunnel -Server "127.0.0.1:$($server.ControlPort)" -Token $token -LocalPort $web.Port -Name demo-web
    Write-Host "3. A tunnel exposes it: users connect to $($tunnel.PublicEndpoint) and reach $($tunnel.LocalEndpoint)."
    Get-Tunnel | Format-Table | Out-Host

    $http = [System.Net.Http.HttpClient]::new()
    try {
        $page = $http.GetStringAsync("http://$($tunnel.PublicEndpoint)/").GetAwaiter().GetResult()
        Write-Host "4. GET http://$($tunnel.PublicEndpoint)/ through the tunnel returned:"
        Write-Host "   $($page.Trim())"
        $bytes = $http.GetByteArrayAsync("http://$($tunnel.PublicEndpoint)/bytes/4194304").GetAwaiter().GetResult()
        $ok = [System.Linq.Enumerable]::SequenceEqual([byte[]]$bytes, [TunnelLite.Demo.LocalHttpService]::Payload(4194304))
        Write-Host "   and a 4 MiB download, identical to what the service sent: $ok"
        if (-not $ok) { throw 'The download through the tunnel differs from what the service sent.' }
    }
    finally { $http.Dispose() }

    Start-Sleep -Milliseconds 1100  # let the rate window take a sample
    Write-Host '5. Get-TunnelStats:'
    Get-TunnelStats | Format-Table | Out-Host
    Write-Host '   Events of the server job (Receive-Job):'
    Receive-Job $server | ForEach-Object { Write-Host "   $_" }
}
finally {
    Write-Host '6. Stop-Tunnel -All and Remove-Job: everything stops.'
    Stop-Tunnel -All -Confirm:$false
    Get-Job | Where-Object PSJobTypeName -in 'Tunnel', 'TunnelServer' | Remove-Job -Force
    $web.Dispose()
}
Write-Host 'Demo done.'
