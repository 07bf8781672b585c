# Child process of the fault tests and the soak: the tunnels of a client TOML file (short heartbeats). Prints PID= and one
# REMOTEPORT=<name>:<port> per tunnel, then serves commands on stdin (see Invoke-ChildCommandLoop.ps1) until 'stop'.
param([Parameter(Mandatory)] [string] $ConfigPath)
$ErrorActionPreference = 'Stop'
Import-Module TunnelLite
$jobs = @(New-Tunnel -ConfigPath $ConfigPath)
"PID=$PID"
foreach ($j in $jobs) { "REMOTEPORT=$($j.Name):$($j.RemotePort)" }
[Console]::Out.Flush()
& (Join-Path $PSScriptRoot 'Invoke-ChildCommandLoop.ps1')
Stop-Tunnel -All
"STOPPED"
