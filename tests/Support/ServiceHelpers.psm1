# Shared by the service tests: the settings and the command line of a systemd unit as systemd reads them, child processes
# started from an arbitrary command line with an environment of their own, their output collected line by line, signals.
Set-StrictMode -Version Latest

function Get-UnitSetting {
    # The values of Key= in a unit file, in order (comments and other sections' keys of the same name included; the units
    # of examples/ have each key once). Continuation lines are not supported: the units do not use them.
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [string] $Key)
    foreach ($line in Get-Content -LiteralPath $Path) {
        if ($line -match "^\s*$([regex]::Escape($Key))=(.*)$") { $Matches[1] }
    }
}

function Split-UnitWord {
    # Splits a unit's value into words as systemd does for ExecStart= and Environment=: whitespace separates, "..." and '...'
    # quote, a backslash escapes the next character (\n, \t and \\, \", \' are what the units use); then $$ becomes $ and %% %.
    # Throws on anything that needs systemd to expand it ($VAR, ${VAR}, %x specifiers), which a test cannot do faithfully.
    param([Parameter(Mandatory)] [string] $Value)
    $words = [System.Collections.Generic.List[string]]::new()
    $word = [System.Text.StringBuilder]::new()
    $inWord = $false; $quote = [char]0
    for ($i = 0; $i -lt $Value.Length; $i++) {
        $c = $Value[$i]
        if ($c -eq '\' -and $i + 1 -lt $Value.Length) {
            $i++
            $e = $Value[$i]
            $null = $word.Append($(switch ($e) { 'n' { "`n" } 't' { "`t" } default { $e } }))
            $inWord = $true
            continue
        }
        if ($quote -ne [char]0) {
            if ($c -eq $quote) { $quote = [char]0 } else { $null = $word.Append($c) }
            continue
        }
        if ($c -eq '"' -or $c -eq "'") { $quote = $c; $inWord = $true; continue }
        if ([char]::IsWhiteSpace($c)) {
            if ($inWord) { $words.Add($word.ToString()); $null = $word.Clear(); $inWord = $false }
            continue
        }
        $null = $word.Append($c); $inWord = $true
    }
    if ($quote -ne [char]0) { throw "Unterminated quote in: $Value" }
    if ($inWord) { $words.Add($word.ToString()) }
    foreach ($w in $words) {
        $plain = $w.Replace('$$', '').Replace('%%', '')
        if ($plain -match '\$[{A-Za-z_]' -or $plain -match '%[A-Za-z]') { throw "'$w' needs systemd's expansion of variables or specifiers; the test cannot reproduce it." }
        $w.Replace('$$', '$').Replace('%%', '%')
    }
}

function Get-UnitEnvironment {
    # The Environment= assignments of a unit file as a hashtable (later ones win, as in systemd).
    param([Parameter(Mandatory)] [string] $Path)
    $env = [ordered]@{}
    foreach ($value in Get-UnitSetting -Path $Path -Key 'Environment') {
        foreach ($w in Split-UnitWord $value) {
            $k, $v = $w -split '=', 2
            $env[$k] = $v
        }
    }
    $env
}

function Start-ChildProcess {
    # Starts FilePath with ArgumentList (each one argument, no shell) with redirected stdin, stdout and stderr; Environment
    # adds or replaces variables of this process's environment. Returns @{ Process; Lines (stdout lines read so far) }.
    param([Parameter(Mandatory)] [string] $FilePath, [string[]] $ArgumentList = @(), [System.Collections.IDictionary] $Environment = @{},
        [string] $WorkingDirectory)
    $psi = [System.Diagnostics.ProcessStartInfo]::new($FilePath)
    foreach ($a in $ArgumentList) { $psi.ArgumentList.Add($a) }
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = [string]$Environment[$k] }
    if ($WorkingDirectory) { $psi.WorkingDirectory = $WorkingDirectory }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardInput = $true
    $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    # stderr is read in the background, so that a chatty child cannot block on a full pipe while the test reads stdout.
    # Pending: a stdout read in flight, kept across calls so that no line is lost to a read that timed out.
    [pscustomobject]@{ Process = $p; Lines = [System.Collections.Generic.List[string]]::new(); Stderr = $p.StandardError.ReadToEndAsync(); Pending = $null }
}

function Wait-ChildLine {
    # Reads stdout lines of a Start-ChildProcess child (keeping them in its Lines) until one matches Pattern; returns that
    # line. Throws with what it saw after TimeoutSec or at the end of the output.
    param([Parameter(Mandatory)] $Child, [Parameter(Mandatory)] [string] $Pattern, [double] $TimeoutSec = 60)
    foreach ($l in $Child.Lines) { if ($l -match $Pattern) { return $l } }
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
    while ([DateTime]::UtcNow -lt $deadline) {
        if ($null -eq $Child.Pending) { $Child.Pending = $Child.Process.StandardOutput.ReadLineAsync() }
        if (-not $Child.Pending.Wait([Math]::Max(1, [int]($deadline - [DateTime]::UtcNow).TotalMilliseconds))) { break }
        $line = $Child.Pending.Result
        $Child.Pending = $null
        if ($null -eq $line) { break }
        $Child.Lines.Add($line)
        if ($line -match $Pattern) { return $line }
    }
    $err = if ($Child.Process.HasExited -and $Child.Stderr.Wait(2000)) { $Child.Stderr.Result } else { '' }
    throw "The child did not print a line matching '$Pattern'. Output: $($Child.Lines -join ' | ') Errors: $err"
}

function Wait-ChildExit {
    # Waits up to TimeoutSec for the child to exit; reads the rest of its stdout into Lines. Returns @{ Exited; ExitCode; Stderr }.
    param([Parameter(Mandatory)] $Child, [double] $TimeoutSec = 30)
    $exited = $Child.Process.WaitForExit([int]($TimeoutSec * 1000))
    if ($exited) {
        $Child.Process.WaitForExit()   # the stream ends are flushed too
        if ($null -ne $Child.Pending) {
            if ($Child.Pending.Wait(5000) -and $null -ne $Child.Pending.Result) { $Child.Lines.Add($Child.Pending.Result) }
            $Child.Pending = $null
        }
        $rest = $Child.Process.StandardOutput.ReadToEnd()
        foreach ($l in $rest -split "`r?`n") { if ($l) { $Child.Lines.Add($l) } }
    }
    [pscustomobject]@{
        Exited   = $exited
        ExitCode = if ($exited) { $Child.Process.ExitCode } else { $null }
        Stderr   = if ($exited -and $Child.Stderr.Wait(5000)) { $Child.Stderr.Result } else { '' }
    }
}

function Send-Signal {
    # kill -<Signal> Pid (TERM, INT, ...).
    param([Parameter(Mandatory)] [int] $ProcessId, [Parameter(Mandatory)] [string] $Signal)
    & kill "-$Signal" $ProcessId
    if ($LASTEXITCODE -ne 0) { throw "kill -$Signal $ProcessId failed." }
}

function Stop-ChildProcess {
    # Cleanup: SIGKILL of a child that is still running, then dispose.
    param($Child)
    if ($null -eq $Child) { return }
    try { if (-not $Child.Process.HasExited) { $Child.Process.Kill($true); $null = $Child.Process.WaitForExit(10000) } } catch { }
    $Child.Process.Dispose()
}

Export-ModuleMember -Function *
