# A TunnelLite end for the end-to-end benchmark: a server, or a client with one tunnel, in this pwsh process, as users run
# it. Prints READY lines, then obeys stdin: 'stats' prints Get-TunnelStats as one JSON line, 'stop' (or EOF) ends it.
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [ValidateSet('Server', 'Client')] [string] $Role,
    [Parameter(Mandatory)] [string] $Token,
    [Parameter(Mandatory)] [string] $Mode,
    [int] $ServerPort,
    [int] $LocalPort,
    [int] $PoolSize = 4,
    # Non-zero: an admin endpoint on 127.0.0.1:AdminPort, which the bench scrapes.
    [int] $AdminPort = 0
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$admin = if ($AdminPort -ne 0) { @{ AdminEndpoint = "127.0.0.1:$AdminPort" } } else { @{} }
if ($Role -eq 'Server') {
    $job = Start-TunnelServer @admin -BindAddress 127.0.0.1 -ControlPort 0 -Token $Token -ForwardingMode $Mode -Name "bench-server-$Mode"
    "READY PID=$PID PORT=$($job.ControlPort)"
}
else {
    $job = New-Tunnel @admin -Server "127.0.0.1:$ServerPort" -Token $Token -LocalPort $LocalPort -PoolSize $PoolSize -ForwardingMode $Mode -Name "bench-$Mode"
    "READY PID=$PID PORT=$($job.RemotePort)"
}
[Console]::Out.Flush()
while ($null -ne ($line = [Console]::In.ReadLine()) -and $line -ne 'stop') {
    if ($line -eq 'stats') {
        $job | Get-TunnelStats | Select-Object -First 1 ForwardingMode, SplicedConnections, CopiedConnections, SpliceFallbacks, TotalConnections, FailedConnections, BytesIn, BytesOut |
            ConvertTo-Json -Compress
        [Console]::Out.Flush()
    }
}
$job | Stop-Tunnel -Confirm:$false
