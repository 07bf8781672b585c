# The .nupkg that build.ps1 Package makes installs with Install-PSResource from a local repository, and the installed module works.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    $script:Root = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
}

Describe 'Package' {
    It 'installs with Install-PSResource from a local repository and loads' {
        $packages = Join-Path $TestDrive 'packages'
        $package = & (Join-Path $script:Root 'build/New-ModulePackage.ps1') -ModulePath (Join-Path $script:Root 'out/TunnelLite') -OutputDirectory $packages
        $package | Should -Exist
        $entries = [System.IO.Compression.ZipFile]::OpenRead($package)
        try { $names = $entries.Entries.FullName } finally { $entries.Dispose() }
        $names | Should -Contain 'TunnelLite.psd1'
        $names | Should -Contain 'TunnelLite.PowerShell.dll'
        $names | Should -Contain 'en-US/TunnelLite.PowerShell.dll-Help.xml'
        $names | Should -Not -Contain 'System.Management.Automation.dll'

        # A separate pwsh with its own HOME: the repository registration and the install stay inside TestDrive,
        # and out/ is not on its module path, so only the installed copy can load.
        $home2 = Join-Path $TestDrive 'home'
        # .NET reports no LocalApplicationData unless the folder exists, and PSResourceGet then writes relative to the
        # working directory: make the folders, and start the child inside the fake home.
        foreach ($d in '.local/share', '.config', '.cache') { $null = New-Item -ItemType Directory -Force -Path (Join-Path $home2 $d) }
        $script = Join-Path $TestDrive 'install.ps1'
        @'
param($Packages)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
if ([Environment]::GetFolderPath('LocalApplicationData') -notlike "$HOME*") { throw "not isolated: $([Environment]::GetFolderPath('LocalApplicationData'))" }
Register-PSResourceRepository -Name TunnelLiteLocal -Uri $Packages -Trusted
Install-PSResource -Name TunnelLite -Repository TunnelLiteLocal -Scope CurrentUser -TrustRepository -Quiet
Import-Module TunnelLite
"BASE=$((Get-Module TunnelLite).ModuleBase)"
"COMMANDS=$((Get-Command -Module TunnelLite).Count)"
"HELP=$((Get-Help New-Tunnel).Synopsis)"
'@ | Set-Content $script
        $psi = [System.Diagnostics.ProcessStartInfo]::new('dotnet')
        foreach ($a in @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-File', $script, $packages)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $psi.WorkingDirectory = $home2
        $psi.Environment['HOME'] = $home2
        $psi.Environment['XDG_DATA_HOME'] = Join-Path $home2 '.local/share'
        $psi.Environment['XDG_CONFIG_HOME'] = Join-Path $home2 '.config'
        $psi.Environment['XDG_CACHE_HOME'] = Join-Path $home2 '.cache'
        $psi.Environment['PSModulePath'] = ''
        $p = [System.Diagnostics.Process]::Start($psi)
        $out = $p.StandardOutput.ReadToEnd()
        $err = $p.StandardError.ReadToEnd()
        $p.WaitForExit(120000) | Should -BeTrue
        $p.ExitCode | Should -Be 0 -Because $err
        $out | Should -Match ([regex]::Escape($home2))
        $out | Should -Match 'COMMANDS=10'
        $out | Should -Match 'HELP=\S+'
    }
}
