# Child process of the two-process test: a tunnel to a local port that prints its public port and runs until stdin says 'stop'.
# -AllowSource and -DenySource are passed on to New-Tunnel (one string each; New-Tunnel splits it at commas); so are
# -RemotePort, -Group with -GroupKey (a test's key, given as text) and -HealthCheckIntervalSec.
param([Parameter(Mandatory)] [string] $Server, [Parameter(Mandatory)] [string] $Token, [Parameter(Mandatory)] [int] $LocalPort,
    [string] $Name = 'child-tunnel', [string] $AllowSource, [string] $DenySource,
    [int] $RemotePort, [string] $Group, [string] $GroupKey, [int] $HealthCheckIntervalSec)
$ErrorActionPreference = 'Stop'
Import-Module TunnelLite
$more = @{}
if ($AllowSource) { $more.AllowSource = $AllowSource }
if ($DenySource) { $more.DenySource = $DenySource }
if ($RemotePort) { $more.RemotePort = $RemotePort }
if ($Group) { $more.Group = $Group; $more.GroupKey = ConvertTo-SecureString $GroupKey -AsPlainText -Force }
if ($HealthCheckIntervalSec) { $more.HealthCheckIntervalSec = $HealthCheckIntervalSec }
$tunnel = New-Tunnel -Server $Server -Token $Token -LocalPort $LocalPort -Name $Name @more
"REMOTEPORT=$($tunnel.RemotePort)"
[Console]::Out.Flush()
$null = [Console]::In.ReadLine()
Get-TunnelStats $Name | ForEach-Object { "BYTESOUT=$($_.BytesOut)" }
Stop-Tunnel -All
"STOPPED"
