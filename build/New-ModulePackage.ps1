#Requires -Version 7.4
<#
.SYNOPSIS
    Packs a laid-out module folder (out/TunnelLite) into a .nupkg that Install-PSResource installs from a local repository.
    Uses PSResourceGet's Compress-PSResource, which ships with PowerShell 7.4 and later; returns the package path.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $OutputDirectory
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module Microsoft.PowerShell.PSResourceGet
$manifest = Import-PowerShellDataFile (Join-Path $ModulePath 'TunnelLite.psd1')
$null = New-Item -ItemType Directory -Force -Path $OutputDirectory
$package = Join-Path $OutputDirectory "TunnelLite.$($manifest.ModuleVersion).nupkg"
if (Test-Path -LiteralPath $package) { Remove-Item -LiteralPath $package -Force }
Compress-PSResource -Path $ModulePath -DestinationPath $OutputDirectory
if (-not (Test-Path -LiteralPath $package)) { throw "Compress-PSResource did not write $package." }
$package
