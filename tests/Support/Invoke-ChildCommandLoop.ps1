# The stdin command loop of the fault and soak children: returns on 'stop' or at the end of input.
#   stats  prints STATS=<Get-TunnelStats of every job, every property (Uptime in seconds), as compressed JSON>
#   gc     runs a full blocking garbage collection (the soak's final reading), prints GC=done
function Get-StatsLine {
    # Every property, so that a counter added to TunnelStats shows up in the tests' output without a change here.
    $stats = @(Get-TunnelStats | Select-Object -Property (@('*') + @{ Name = 'UptimeSeconds'; Expression = { [Math]::Round($_.Uptime.TotalSeconds, 1) } }) -ExcludeProperty Uptime)
    "STATS=$(ConvertTo-Json -InputObject $stats -Compress -Depth 3)"
}

# Once before any command: loads what 'stats' needs (assemblies, the error console) while descriptors are plenty, so that a
# child that an attack has left without free descriptors can still answer it (tests/TunnelLite.Attacks.Tests.ps1).
$null = Get-StatsLine
$null = [Console]::Error
while ($null -ne ($line = [Console]::In.ReadLine())) {
    $command = $line.Trim()
    if ($command -eq 'stop') { return }
    elseif ($command -eq 'stats') { Get-StatsLine }
    elseif ($command -eq 'gc') {
        [GC]::Collect(2, [GCCollectionMode]::Forced, $true, $true)
        [GC]::WaitForPendingFinalizers()
        [GC]::Collect(2, [GCCollectionMode]::Forced, $true, $true)
        'GC=done'
    }
    [Console]::Out.Flush()
}
