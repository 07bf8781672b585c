# Child process of the two-process tests: a tunnel server that prints its control port (and, with -AdminEndpoint, its
# admin endpoint's URL) and runs until stdin says 'stop'.
param(
    [Parameter(Mandatory)] [string] $Token,
    [string] $AdminEndpoint,
    [string] $AdminUser,
    [string] $AdminPassword
)
$ErrorActionPreference = 'Stop'
Import-Module TunnelLite
$admin = @{}
if ($AdminEndpoint) { $admin.AdminEndpoint = $AdminEndpoint }
if ($AdminUser) { $admin.AdminCredential = [pscredential]::new($AdminUser, (ConvertTo-SecureString $AdminPassword -AsPlainText -Force)) }
$server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $Token -Name child-server @admin
"CONTROLPORT=$($server.ControlPort)"
if ($AdminEndpoint) { "ADMINURL=$($server.AdminUrl)" }
[Console]::Out.Flush()
$null = [Console]::In.ReadLine()
Stop-Tunnel -All
"STOPPED"
