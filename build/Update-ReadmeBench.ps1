# Copies bench/results/latest.md into README.md between the bench markers, so the README shows the latest table.
param([string] $Root = (Split-Path -Parent $PSScriptRoot))
$readme = Join-Path $Root 'README.md'
$latest = Join-Path $Root 'bench/results/latest.md'
$text = Get-Content -LiteralPath $readme -Raw
$table = (Get-Content -LiteralPath $latest -Raw).Trim()
# The chart the benchmark draws next to its table, when it did.
if (Test-Path -LiteralPath (Join-Path $Root 'bench/results/latest.svg')) {
    $table = "![Bulk MB/s, new connections/s and request/reply/s of direct, HAProxy, ssh -R and TunnelLite per data plane and mode](bench/results/latest.svg)`n`n$table"
}
$pattern = '(?s)(<!-- bench:begin -->).*?(<!-- bench:end -->)'
if ($text -notmatch $pattern) { throw "README.md has no <!-- bench:begin --> ... <!-- bench:end --> markers." }
$text = [regex]::Replace($text, $pattern, { param($m) "$($m.Groups[1].Value)`n$table`n$($m.Groups[2].Value)" })
Set-Content -LiteralPath $readme -Value $text -NoNewline
