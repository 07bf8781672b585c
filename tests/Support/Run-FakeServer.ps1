# Child process of the attack tests: a fake TunnelLite server that does not know the token. It speaks protocol 2 by hand:
# answers a hello with a challenge, any proof with an AuthOk whose own proof is made up, and at once asks for 3,000 data
# connections. Prints PORT=, then DATA=<n> (data connections that arrived) and LOGINS=<n> when it ends after -Seconds.
param([double] $Seconds = 10)
$ErrorActionPreference = 'Stop'
$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
$listener.Start()
"PORT=$($listener.LocalEndpoint.Port)"
[Console]::Out.Flush()

function Read-Exactly([System.IO.Stream] $Stream, [int] $Count) {
    $buffer = [byte[]]::new($Count); $done = 0
    while ($done -lt $Count) {
        $n = $Stream.Read($buffer, $done, $Count - $done)
        if ($n -le 0) { throw 'the peer closed' }
        $done += $n
    }
    , $buffer
}
function Read-Frame([System.IO.Stream] $Stream) {
    $header = Read-Exactly $Stream 5
    $length = ([int]$header[0] -shl 24) -bor ([int]$header[1] -shl 16) -bor ([int]$header[2] -shl 8) -bor [int]$header[3]
    $payload = if ($length -gt 0) { Read-Exactly $Stream ([int]$length) } else { [byte[]]@() }
    [pscustomobject]@{ Type = $header[4]; Json = [Text.Encoding]::UTF8.GetString($payload) }
}
function Write-Frame([System.IO.Stream] $Stream, [byte] $Type, $Message) {
    $payload = [Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $Message -Compress))
    $n = $payload.Length
    $header = [byte[]]@((($n -shr 24) -band 255), (($n -shr 16) -band 255), (($n -shr 8) -band 255), ($n -band 255), $Type)
    $Stream.Write($header, 0, 5); $Stream.Write($payload, 0, $payload.Length); $Stream.Flush()
}
function New-Nonce { [Convert]::ToBase64String([System.Security.Cryptography.RandomNumberGenerator]::GetBytes(32)) }

$data = 0; $logins = 0; $held = [System.Collections.Generic.List[object]]::new()
$deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
while ([DateTime]::UtcNow -lt $deadline) {
    if (-not $listener.Pending()) { Start-Sleep -Milliseconds 10; continue }
    $client = $listener.AcceptTcpClient(); $held.Add($client)
    $stream = $client.GetStream(); $stream.ReadTimeout = 3000
    try {
        $null = Read-Exactly $stream 4                      # preamble
        $first = Read-Frame $stream
        if ($first.Type -eq 11) { $data++; continue }       # DataHello: the client was fooled
        $logins++
        Write-Frame $stream 2 @{ version = 2; nonce = (New-Nonce) }                      # Challenge
        $null = Read-Frame $stream                                                         # Auth, with the client's proof
        Write-Frame $stream 4 @{ sessionId = (New-Nonce); poolCount = 4; heartbeatIntervalMs = 500; heartbeatTimeoutMs = 30000; proof = (New-Nonce) }
        Write-Frame $stream 10 @{ count = 3000 }                                          # RequestWorkConn
    }
    catch { [Console]::Error.WriteLine("fake server: $($_.Exception.Message)") }
}
"DATA=$data"
"LOGINS=$logins"
foreach ($c in $held) { $c.Dispose() }
$listener.Stop()
