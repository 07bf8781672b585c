# Child process of the Pester tests (Start-DeferredChildPwsh): loads pwsh and TunnelLite now, prints READY, then waits for
# one line on stdin, the parameters of -Script as a JSON object (Resume-ChildPwsh), and runs -Script with them. Loading takes
# seconds on a loaded machine; a deferred child does it side by side with the server whose port its parameters need.
# 'stop' or the end of input before the parameters ends it without running -Script.
param([Parameter(Mandatory)] [string] $Script)
$ErrorActionPreference = 'Stop'
Import-Module TunnelLite
'READY'
[Console]::Out.Flush()
$line = [Console]::In.ReadLine()
if ($null -eq $line -or $line.Trim() -eq 'stop') { return }
$parameters = ConvertFrom-Json -InputObject $line -AsHashtable
& $Script @parameters
