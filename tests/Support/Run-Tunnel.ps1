# Child process of the two-process test: a tunnel to a local port that prints its public port and runs until stdin says 'stop'.
param([Parameter(Mandatory)] [string] $Server, [Parameter(Mandatory)] [string] $Token, [Parameter(Mandatory)] [int] $LocalPort, [string] $Name = 'child-tunnel')
$ErrorActionPreference = 'Stop'
Import-Module TunnelLite
$tunnel = New-Tunnel -Server $Server -Token $Token -LocalPort $LocalPort -Name $Name
"REMOTEPORT=$($tunnel.RemotePort)"
[Console]::Out.Flush()
$null = [Console]::In.ReadLine()
Get-TunnelStats $Name | ForEach-Object { "BYTESOUT=$($_.BytesOut)" }
Stop-Tunnel -All
"STOPPED"
