# Child process of the two-process tests: a tunnel server that prints its control port (and, with -AdminEndpoint, its
# admin endpoint's URL) and runs until stdin says 'stop'. Its token is -Token, or its -ConfigPath file's. It binds
# 127.0.0.1 and a port the system picks unless -BindAddress and -ControlPort say otherwise.
param(
    [string] $Token,
    [string] $BindAddress = '127.0.0.1',
    [int] $ControlPort = 0,
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
$server = Start-TunnelServer -BindAddress $BindAddress -ControlPort $ControlPort -Name child-server @parameters
"CONTROLPORT=$($server.ControlPort)"
if ($AdminEndpoint) { "ADMINURL=$($server.AdminUrl)" }
[Console]::Out.Flush()
$null = [Console]::In.ReadLine()
Stop-Tunnel -All
"STOPPED"
