@{
    RootModule           = 'TunnelLite.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f1d3c5e-8a2b-4f7e-9c41-2d5b7a9e0f13'
    Author               = 'TunnelLite contributors'
    CompanyName          = 'TunnelLite'
    Copyright            = '(c) TunnelLite contributors. MIT License.'
    Description          = 'Scripted reverse TCP tunnels: expose a service behind NAT on a public server, with servers and tunnels as PowerShell jobs.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('TunnelLite.format.ps1xml')
    CmdletsToExport      = @('Start-TunnelServer', 'New-Tunnel', 'Get-TunnelStats', 'Stop-Tunnel', 'Get-Tunnel', 'New-TunnelToken', 'Get-TunnelClient', 'Disconnect-TunnelClient', 'Test-Tunnel', 'Update-TunnelServer')
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('tunnel', 'reverse-tunnel', 'nat', 'frp', 'tcp', 'networking', 'PSEdition_Core', 'Linux', 'Windows', 'MacOS')
            ReleaseNotes = 'First release: reverse TCP tunnels with HMAC authentication, a connection pool, heartbeats and reconnects.'
        }
    }
}
