#Requires -Version 7.4
<#
.SYNOPSIS
    Runs the Pester tests in a fresh PowerShell process (build.ps1 Test starts it as a child,
    so the freshly built module assemblies load without clashing with anything already loaded).
    Writes the Pester result as JUnit XML and a small JSON summary that build.ps1 reads back.
#>
param(
    [Parameter(Mandatory)] [string] $PesterModule,   # path of Pester.psd1
    [Parameter(Mandatory)] [string] $TestPath,       # folder (or file) with *.Tests.ps1; several separated by [IO.Path]::PathSeparator
    [Parameter(Mandatory)] [string] $SummaryJson,
    [Parameter(Mandatory)] [string] $ResultXml,
    [string] $ModuleRoot,                            # prepended to PSModulePath (out/), so 'Import-Module TunnelLite' finds the built module
    [switch] $PlainOutput                            # no ANSI colours (the parent's output goes to a file or CI log)
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

if ($ModuleRoot -and (Test-Path -LiteralPath $ModuleRoot)) {
    $env:PSModulePath = $ModuleRoot + [IO.Path]::PathSeparator + $env:PSModulePath
}

# Plain text in error messages: ANSI escapes are not valid in the JUnit XML report.
$PSStyle.OutputRendering = 'PlainText'
Import-Module -Name $PesterModule -Force
$config = New-PesterConfiguration
$config.Run.Path = @($TestPath.Split([IO.Path]::PathSeparator, [StringSplitOptions]::RemoveEmptyEntries))
$config.Run.ExcludePath = @('*/bin/*', '*/obj/*')
$config.Run.PassThru = $true
$config.Run.Exit = $false
$config.Output.Verbosity = 'Detailed'
if ($PlainOutput) { $config.Output.RenderMode = 'Plaintext' }
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'JUnitXml'
$config.TestResult.OutputPath = $ResultXml

$result = Invoke-Pester -Configuration $config

[ordered]@{
    Result                = [string]$result.Result
    Total                 = $result.TotalCount
    Passed                = $result.PassedCount
    Failed                = $result.FailedCount
    Skipped               = $result.SkippedCount
    Inconclusive          = $result.InconclusiveCount
    NotRun                = $result.NotRunCount
    FailedBlocks          = $result.FailedBlocksCount
    FailedContainers      = $result.FailedContainersCount
    FailedBlockNames      = @($result.FailedBlocks | ForEach-Object { $_.ExpandedPath })
    FailedContainerNames  = @($result.FailedContainers | ForEach-Object { [string]$_.Item })
} | ConvertTo-Json -Depth 3 | Set-Content -LiteralPath $SummaryJson -Encoding utf8NoBOM

exit 0
