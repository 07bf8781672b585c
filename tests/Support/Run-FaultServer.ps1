# Child process of the fault tests and the soak: a tunnel server from a TOML file (short heartbeats), optionally on a fixed
# control port so that it can be killed and started again on the same port. Prints PID= and CONTROLPORT=, then serves
# commands on stdin: 'stats' (STATS=<json of Get-TunnelStats>), 'gc' (full collection, GC=done), 'stop' (or end of input).
param([Parameter(Mandatory)] [string] $ConfigPath, [int] $ControlPort = -1)
$ErrorActionPreference = 'Stop'
Import-Module TunnelLite
$p = @{ ConfigPath = $ConfigPath; Name = 'fault-server' }
if ($ControlPort -ge 0) { $p.ControlPort = $ControlPort }
$server = Start-TunnelServer @p
"PID=$PID"
"CONTROLPORT=$($server.ControlPort)"
[Console]::Out.Flush()
& (Join-Path $PSScriptRoot 'Invoke-ChildCommandLoop.ps1')
Stop-Tunnel -All
"STOPPED"
