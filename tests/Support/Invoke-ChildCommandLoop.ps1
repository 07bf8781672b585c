# The stdin command loop of the fault and soak children: returns on 'stop' or at the end of input.
#   stats  prints STATS=<Get-TunnelStats of every job as compressed JSON>
#   gc     runs a full blocking garbage collection (the soak's final reading), prints GC=done
while ($null -ne ($line = [Console]::In.ReadLine())) {
    $command = $line.Trim()
    if ($command -eq 'stop') { return }
    elseif ($command -eq 'stats') {
        $stats = @(Get-TunnelStats | Select-Object Name, Role, State, Port, ActiveConnections, TotalConnections, FailedConnections, BytesIn, BytesOut, Reconnects, Clients, Tunnels)
        "STATS=$(ConvertTo-Json -InputObject $stats -Compress -Depth 3 -EnumsAsStrings)"
    }
    elseif ($command -eq 'gc') {
        [GC]::Collect(2, [GCCollectionMode]::Forced, $true, $true)
        [GC]::WaitForPendingFinalizers()
        [GC]::Collect(2, [GCCollectionMode]::Forced, $true, $true)
        'GC=done'
    }
    [Console]::Out.Flush()
}
