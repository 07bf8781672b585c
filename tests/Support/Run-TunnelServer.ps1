# Child process of the two-process tests: a tunnel server that prints its control port (and, with -AdminEndpoint, its
# admin endpoint's URL) and runs until stdin says 'stop'. Its token is -Token, or its -ConfigPath file's.
param(
    [string] $Token,
    [string] $ConfigPath,
    [string] $AdminEndpoint,
    [string] $AdminUser,
    [string] $AdminPassword
)
$ErrorActionPreference = 'Stop'
Import-Module TunnelLite
$parameters = @{}
if ($AdminEndpoint) { $parameters.AdminEndpoint = $AdminEndpoint }
if ($AdminUser) { $parameters.AdminCredential = [pscredential]::new($AdminUser, (ConvertTo-SecureString $AdminPassword -AsPlainText -Force)) }
if ($Token) { $parameters.Token = $Token }
if ($ConfigPath) { $parameters.ConfigPath = $ConfigPath }
$server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Name child-server @parameters
"CONTROLPORT=$($server.ControlPort)"
if ($AdminEndpoint) { "ADMINURL=$($server.AdminUrl)" }
[Console]::Out.Flush()
$null = [Console]::In.ReadLine()
Stop-Tunnel -All
"STOPPED"
