# Child process of the two-process test: a tunnel to a local port that prints its public port and runs until stdin says 'stop'.
# -AllowSource and -DenySource are passed on to New-Tunnel (one string each; New-Tunnel splits it at commas).
param([Parameter(Mandatory)] [string] $Server, [Parameter(Mandatory)] [string] $Token, [Parameter(Mandatory)] [int] $LocalPort,
    [string] $Name = 'child-tunnel', [string] $AllowSource, [string] $DenySource)
$ErrorActionPreference = 'Stop'
Import-Module TunnelLite
$sources = @{}
if ($AllowSource) { $sources.AllowSource = $AllowSource }
if ($DenySource) { $sources.DenySource = $DenySource }
$tunnel = New-Tunnel -Server $Server -Token $Token -LocalPort $LocalPort -Name $Name @sources
"REMOTEPORT=$($tunnel.RemotePort)"
[Console]::Out.Flush()
$null = [Console]::In.ReadLine()
Get-TunnelStats $Name | ForEach-Object { "BYTESOUT=$($_.BytesOut)" }
Stop-Tunnel -All
"STOPPED"
