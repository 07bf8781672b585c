# Child process of the two-process test: a tunnel server that prints its control port and runs until stdin says 'stop'.
param([Parameter(Mandatory)] [string] $Token)
$ErrorActionPreference = 'Stop'
Import-Module TunnelLite
$server = Start-TunnelServer -BindAddress 127.0.0.1 -ControlPort 0 -Token $Token -Name child-server
"CONTROLPORT=$($server.ControlPort)"
[Console]::Out.Flush()
$null = [Console]::In.ReadLine()
Stop-Tunnel -All
"STOPPED"
