# A TunnelLite end for the end-to-end benchmark: a server, or a client with one tunnel, in this pwsh process, as users run
# it. Prints READY lines, then obeys stdin: 'stats' prints Get-TunnelStats as one JSON line, 'gc' collects garbage fully
# (before a memory sample) and prints GC, 'stop' (or EOF) ends it.
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [ValidateSet('Server', 'Client')] [string] $Role,
    [Parameter(Mandatory)] [string] $Token,
    [Parameter(Mandatory)] [string] $Mode,
    [int] $ServerPort,
    [int] $LocalPort,
    [int] $PoolSize = 4,
    # Non-zero: an admin endpoint on 127.0.0.1:AdminPort, which the bench scrapes.
    [int] $AdminPort = 0,
    # -DataPlane and -EventLoops of Start-TunnelServer/New-Tunnel; passed on only when given, so that a path without them
    # runs on the module's defaults.
    [ValidateSet('Auto', 'EventLoops', 'Async')] [string] $DataPlane,
    [int] $EventLoops,
    # Server only: transport.maxConnectionsPerTunnel and transport.maxPendingUserConnections, which no parameter sets, so
    # they go through a config file of their own (the concurrency test raises them above the defaults 4,096 and 1,024).
    [int] $MaxConnectionsPerTunnel,
    [int] $MaxPendingUserConnections
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$common = @{ ForwardingMode = $Mode }
if ($AdminPort -ne 0) { $common.AdminEndpoint = "127.0.0.1:$AdminPort" }
if ($PSBoundParameters.ContainsKey('DataPlane')) { $common.DataPlane = $DataPlane }
if ($PSBoundParameters.ContainsKey('EventLoops')) { $common.EventLoops = $EventLoops }
$plane = if ($DataPlane) { "-$DataPlane" } else { '' }
$config = $null
if ($Role -eq 'Server') {
    $limits = [ordered]@{}
    if ($PSBoundParameters.ContainsKey('MaxConnectionsPerTunnel')) { $limits.maxConnectionsPerTunnel = $MaxConnectionsPerTunnel }
    if ($PSBoundParameters.ContainsKey('MaxPendingUserConnections')) { $limits.maxPendingUserConnections = $MaxPendingUserConnections }
    if ($limits.Count -gt 0) {
        # The token stays on the command line (the file has no secret); bound parameters win over the file anyway.
        $config = Join-Path ([IO.Path]::GetTempPath()) "tunnellite-bench-$PID.toml"
        Set-Content -LiteralPath $config -Value (@('[transport]') + @($limits.GetEnumerator() | ForEach-Object { "$($_.Key) = $($_.Value)" }))
        $common.ConfigPath = $config
    }
    $job = Start-TunnelServer @common -BindAddress 127.0.0.1 -ControlPort 0 -Token $Token -Name "bench-server-$Mode$plane"
    "READY PID=$PID PORT=$($job.ControlPort)"
}
else {
    $job = New-Tunnel @common -Server "127.0.0.1:$ServerPort" -Token $Token -LocalPort $LocalPort -PoolSize $PoolSize -Name "bench-$Mode$plane"
    "READY PID=$PID PORT=$($job.RemotePort)"
}
[Console]::Out.Flush()
try {
    while ($null -ne ($line = [Console]::In.ReadLine()) -and $line -ne 'stop') {
        if ($line -eq 'stats') {
            # Enums by name: the bench's report shows them, and their numbers are no contract. A server's first object is its
            # summary, which also has the descriptor budget (0 on a client).
            $job | Get-TunnelStats | Select-Object -First 1 ForwardingMode, DataPlane, EventLoops, SplicedConnections, CopiedConnections,
                SpliceFallbacks, TotalConnections, FailedConnections, RefusedConnections, DescriptorRefusals, DescriptorLimit, BytesIn, BytesOut |
                ConvertTo-Json -Compress -EnumsAsStrings
            [Console]::Out.Flush()
        }
        elseif ($line -eq 'gc') {
            # Aggressive: a full, compacting collection that also gives the freed memory back, so RSS shows what is held.
            [GC]::Collect(2, [GCCollectionMode]::Aggressive, $true, $true)
            [GC]::WaitForPendingFinalizers()
            'GC'
            [Console]::Out.Flush()
        }
    }
    $job | Stop-Tunnel -Confirm:$false
}
finally {
    if ($config) { Remove-Item -LiteralPath $config -ErrorAction SilentlyContinue }
}
