#Requires -Version 7.4
<#
.SYNOPSIS
    TunnelLite build script.

.DESCRIPTION
    Needs only the .NET SDK: run it with the repo's local PowerShell tool,

        dotnet tool restore
        dotnet pwsh ./build.ps1 [Build|Test|Docs|Demo|Package|Clean|Bench|MicroBench|Soak] [-Configuration Release|Debug] [-Quick] [-SoakMinutes N]
        dotnet pwsh ./build.ps1 Test -PesterPath tests/TunnelLite.Attacks.Tests.ps1 -SkipXunit    # one Pester file, no xunit

    Everything else it needs (Pester) comes from NuGet through build/tools/TunnelLite.BuildTools.csproj.

    Build   dotnet build TunnelLite.slnx; when src/TunnelLite.PowerShell exists, lays the module out in
            out/TunnelLite/ (TunnelLite.psd1, the module's dlls without any PowerShell assembly,
            TunnelLite.format.ps1xml, en-US/ help from Docs).
    Docs    docs/Verb-Noun.md (PlatyPS schema 2.0.0) -> out/TunnelLite/en-US/TunnelLite.PowerShell.dll-Help.xml,
            docs/about_*.md -> out/TunnelLite/en-US/about_*.help.txt (converter: build/ConvertTo-Maml.ps1).
    Test    Build, then dotnet test on every tests/**/*.csproj (TRX in out/test-results/), then Pester on
            tests/**/*.Tests.ps1 in a child PowerShell process; on Linux it first installs with apt-get, where it may,
            what the tests that run need and is missing: promtool (package prometheus) for the xunit /metrics checks,
            haproxy and nginx (nginx-light) for the xunit PROXY protocol checks, haproxy for TunnelLite.ScaleOut.Tests.ps1, chromium for the dashboard checks of a full run, systemd-analyze (systemd) for TunnelLite.Service.Tests.ps1;
            without them those tests skip and say why (under CI=true they fail). Prints one line per suite and ends with
            'N passed, N failed[, N skipped]'. Exits 1 if a test failed, a run crashed or no test ran.
            -PesterPath runs only those Pester files (or folders); -SkipXunit leaves out the xunit projects.
    Bench   Build, then the end-to-end benchmark (bench/TunnelLite.EndToEndBench): direct loopback, a two-process
            HAProxy chain and ssh -R (where installed: it installs haproxy, openssh-server and openssh-client with
            apt-get where it may) against tunnels whose server and client are separate pwsh processes, per data
            plane (event loops, one loop, async) and forwarding mode; bulk MB/s and CPU s/GB, new connections/s,
            keep-alive request/reply, RSS per 1,000 idle connections, 9,000 concurrent connections checked byte
            for byte. Prints markdown tables and writes bench/results/latest.md and latest.svg (the README shows
            both). About 9 minutes; -Quick for a smoke run of about 4 (out/bench-quick.md).
    MicroBench  BenchmarkDotNet benchmarks of the pumps, the frame codec and /metrics (bench/TunnelLite.Benchmarks).
    Soak    Build, then build/Invoke-Soak.ps1 (not in CI; Linux): -SoakMinutes (10) of mixed load (bulk downloads,
            short connections, keep-alive request/reply, all checked) through a server and a client in separate pwsh
            processes, the client killed and restarted every ~60 s (once stopped gracefully); prints the server's open
            fds, threads and RSS at baseline and at the end, and fails if fds or threads stay up or a byte arrived wrong.
    Clean   Removes out/ and the bin/ and obj/ folders of the projects under src, tests, bench and build.
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Docs', 'Demo', 'Package', 'Clean', 'Bench', 'MicroBench', 'Soak')]
    [string] $Task = 'Build',
    [string] $Configuration = 'Release',
    # Bench: a shorter run (smaller transfers, fewer rounds) to check that the benchmark works, not to quote.
    [switch] $Quick,
    # Soak: minutes of load (fractions allowed; 1 for a smoke run).
    [double] $SoakMinutes = 10,
    # Test: run only these Pester files or folders (relative to the repository or absolute) instead of tests/**/*.Tests.ps1.
    [string[]] $PesterPath = @(),
    # Test: leave out the xunit projects (tests/**/*.csproj).
    [switch] $SkipXunit
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
# Plain error and status text when the output goes to a file or a CI log.
if ([Console]::IsOutputRedirected -or $env:CI -or $env:NO_COLOR) { $PSStyle.OutputRendering = 'PlainText' }

# No first-run banners, telemetry or update checks (CI has no stdin and nobody reads them).
foreach ($kv in @{
        DOTNET_CLI_TELEMETRY_OPTOUT = '1'; DOTNET_NOLOGO = '1'; DOTNET_SKIP_FIRST_TIME_EXPERIENCE = '1'
        POWERSHELL_TELEMETRY_OPTOUT = '1'; POWERSHELL_UPDATECHECK = 'Off'
    }.GetEnumerator()) {
    if (-not [Environment]::GetEnvironmentVariable($kv.Key)) { [Environment]::SetEnvironmentVariable($kv.Key, $kv.Value) }
}

$Root = $PSScriptRoot
$Solution = Join-Path $Root 'TunnelLite.slnx'
$OutDir = Join-Path $Root 'out'
$ModuleOut = Join-Path $OutDir 'TunnelLite'
$HelpOut = Join-Path $ModuleOut 'en-US'
$TestResultsDir = Join-Path $OutDir 'test-results'
$PsProjectDir = Join-Path $Root 'src/TunnelLite.PowerShell'
$PsProject = Join-Path $PsProjectDir 'TunnelLite.PowerShell.csproj'
$ToolsProject = Join-Path $Root 'build/tools/TunnelLite.BuildTools.csproj'
# MAML help is looked up by the file name of the assembly that holds the cmdlets.
$HelpFileName = 'TunnelLite.PowerShell.dll-Help.xml'
# Assemblies PowerShell itself provides: never ship them with the module.
$PowerShellAssemblyPatterns = @(
    'System.Management.Automation.dll', 'Microsoft.PowerShell.*.dll', 'Microsoft.Management.Infrastructure*.dll',
    'Microsoft.WSMan.*.dll', 'PowerShellStandard*.dll', 'pwsh.dll'
)

#region helpers

function Write-Step([string] $Message) { Write-Host "==> $Message" }

function Invoke-Native {
    # Runs a program with its output going straight to the console (never into a function's
    # return value) and returns nothing; throws on a non-zero exit code unless -AllowFailure,
    # in which case the exit code is returned.
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [switch] $AllowFailure
    )
    Write-Host "> $FilePath $($ArgumentList -join ' ')"
    & $FilePath @ArgumentList | Out-Host
    $code = $LASTEXITCODE
    if ($AllowFailure) { return $code }
    if ($code -ne 0) { throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $code." }
}

function Get-SolutionProjects {
    # Full paths of the projects listed in TunnelLite.slnx.
    $xml = [xml](Get-Content -LiteralPath $Solution -Raw)
    @($xml.SelectNodes('//Project') | ForEach-Object { [IO.Path]::GetFullPath((Join-Path $Root $_.GetAttribute('Path'))) })
}

function Get-PwshCommand {
    # How to start a child PowerShell of the same version as this one: the dotnet tool runs
    # as 'dotnet <PSHOME>/pwsh.dll', a native install as its own executable.
    $exe = [Environment]::ProcessPath
    $dll = Join-Path $PSHOME 'pwsh.dll'
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet' -and (Test-Path -LiteralPath $dll)) {
        return @{ FilePath = $exe; Prefix = @($dll) }
    }
    return @{ FilePath = $exe; Prefix = @() }
}

function Get-PesterModulePath {
    # Restores build/tools (a <PackageDownload> of Pester) and returns the Pester.psd1 in the
    # NuGet global packages folder that restore used (NUGET_PACKAGES is honoured by restore itself).
    $proj = [xml](Get-Content -LiteralPath $ToolsProject -Raw)
    $node = $proj.SelectSingleNode("//PackageDownload[@Include='Pester']")
    if (-not $node) { throw "$ToolsProject has no <PackageDownload Include=`"Pester`" />." }
    $version = $node.GetAttribute('Version').Trim('[', ']', ' ')

    Write-Step "Restoring build tools (Pester $version)"
    Invoke-Native dotnet @('restore', $ToolsProject, '--nologo', '-v', 'q')

    $folders = [System.Collections.Generic.List[string]]::new()
    $assets = Join-Path (Split-Path -Parent $ToolsProject) 'obj/project.assets.json'
    if (Test-Path -LiteralPath $assets) {
        $json = Get-Content -LiteralPath $assets -Raw | ConvertFrom-Json -AsHashtable
        if ($json.ContainsKey('packageFolders')) { foreach ($k in $json['packageFolders'].Keys) { $folders.Add($k) } }
    }
    if ($env:NUGET_PACKAGES) { $folders.Add($env:NUGET_PACKAGES) }
    $locals = & dotnet nuget locals global-packages --list 2>$null
    foreach ($l in @($locals)) { if ($l -match '^\s*global-packages:\s*(.+?)\s*$') { $folders.Add($Matches[1]) } }
    $folders.Add((Join-Path $HOME '.nuget/packages'))

    foreach ($f in $folders) {
        $psd1 = Join-Path $f "pester/$version/tools/Pester.psd1"
        if (Test-Path -LiteralPath $psd1) { return $psd1 }
    }
    throw "Pester $version not found after restoring $ToolsProject (looked in: $($folders -join ', '))."
}

# What the tests need beyond .NET, on Linux: the commands (any one will do), the Debian/Ubuntu package that brings
# them, and what they are for (what skips without them).
$TestPrerequisites = @{
    SystemdAnalyze = @{ Commands = @('systemd-analyze'); Package = 'systemd'; For = 'the checks of the units in examples/ (TunnelLite.Service.Tests.ps1)' }
    Promtool       = @{ Commands = @('promtool'); Package = 'prometheus'; For = 'the /metrics checks with promtool check metrics (MetricsTests)' }
    Chromium       = @{ Commands = @('chromium', 'chromium-browser'); Package = 'chromium'; For = 'the admin dashboard checks in a headless browser' }
    # haproxy and nginx live in /usr/sbin, which a user's PATH may lack: the absolute paths find them there too.
    HAProxy        = @{ Commands = @('haproxy', '/usr/sbin/haproxy'); Package = 'haproxy'; For = 'the HAProxy chain that Bench measures as its anchor, the PROXY protocol checks (accept-proxy) and the scale-out recipe (TunnelLite.ScaleOut.Tests.ps1)' }
    Nginx          = @{ Commands = @('nginx', '/usr/sbin/nginx'); Package = 'nginx-light'; For = 'the PROXY protocol checks against nginx (listen ... proxy_protocol)' }
    # sshd lives in /usr/sbin, which a user's PATH may lack: the absolute path finds it there too.
    SshServer      = @{ Commands = @('sshd', '/usr/sbin/sshd'); Package = 'openssh-server'; For = 'the ssh -R row of Bench (an sshd of its own on 127.0.0.1)' }
    SshClient      = @{ Commands = @('ssh'); Package = 'openssh-client'; For = 'the ssh -R row of Bench (the ssh that forwards to the sink)' }
}

function Install-TestPrerequisite {
    # Installs the packages of the prerequisites (entries of $TestPrerequisites) whose commands are missing, with one
    # apt-get update and one apt-get install, when this process may (root, or sudo without a password). Otherwise the
    # tests that need them say why they skip, or fail under CI=true.
    param([Parameter(Mandatory)] [hashtable[]] $Prerequisite)
    if (-not $IsLinux) { return }
    $missing = @($Prerequisite | Where-Object { -not (Get-Command $_.Commands -CommandType Application -ErrorAction SilentlyContinue) })
    if ($missing.Count -eq 0) { return }
    $packages = @($missing | ForEach-Object { $_.Package } | Select-Object -Unique)
    $what = @($missing | ForEach-Object { "$($_.Commands[0]) (package $($_.Package)) for $($_.For)" }) -join '; '
    if (-not (Get-Command apt-get -CommandType Application -ErrorAction SilentlyContinue)) {
        Write-Warning "Missing, and this machine has no apt-get to install them: $what. Those tests will skip (or fail under CI=true)."
        return
    }
    $prefix = @()
    if ((& id -u) -ne '0') {
        $sudo = Get-Command sudo -CommandType Application -ErrorAction SilentlyContinue
        if ($sudo) { $null = & sudo -n true 2>&1 }
        if (-not $sudo -or $LASTEXITCODE -ne 0) {
            Write-Warning "Missing: $what. apt-get needs root (or sudo without a password): those tests will skip (or fail under CI=true)."
            return
        }
        $prefix = @('sudo', '-n', '--preserve-env=DEBIAN_FRONTEND')
    }
    Write-Step "Installing $($packages -join ', ') with apt-get for $(@($missing | ForEach-Object { $_.For }) -join '; ')"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    $apt = @($prefix) + @('apt-get')
    # Wait for another apt-get or dpkg (an unattended upgrade, a parallel build) rather than fail on its lock.
    $aptArgs = @($apt | Select-Object -Skip 1) + @('-o', 'DPkg::Lock::Timeout=600')
    $code = Invoke-Native $apt[0] ($aptArgs + @('update', '-q')) -AllowFailure
    if ($code -eq 0) { $code = Invoke-Native $apt[0] ($aptArgs + @('install', '-y', '-q', '--no-install-recommends') + $packages) -AllowFailure }
    if ($code -ne 0) { Write-Warning "apt-get install $($packages -join ' ') failed (exit code $code): $what will skip (or fail under CI=true)." }
}

#endregion

#region tasks

function Invoke-BuildTask {
    Write-Step "Building $Solution ($Configuration)"
    Invoke-Native dotnet @('build', $Solution, '-c', $Configuration, '--nologo')

    if (-not (Test-Path -LiteralPath $PsProject)) {
        Write-Host "src/TunnelLite.PowerShell/TunnelLite.PowerShell.csproj does not exist yet: no module layout."
        return
    }

    Write-Step "Laying out the module in $ModuleOut"
    $manifest = Join-Path $Root 'TunnelLite.psd1'
    if (Test-Path -LiteralPath $ModuleOut) { Remove-Item -LiteralPath $ModuleOut -Recurse -Force }
    $null = New-Item -ItemType Directory -Force -Path $ModuleOut
    if (Test-Path -LiteralPath $manifest) { Copy-Item -LiteralPath $manifest -Destination $ModuleOut }
    else { Write-Warning "No module manifest at $manifest yet: out/TunnelLite/ has no TunnelLite.psd1 (import the dll directly)." }

    $publishDir = Join-Path ([IO.Path]::GetTempPath()) ("tunnellite-publish-" + [guid]::NewGuid().ToString('N'))
    try {
        $publishArgs = @('publish', $PsProject, '-c', $Configuration, '-o', $publishDir, '--nologo')
        # Already built by the solution build: don't build it a second time.
        if ((Get-SolutionProjects) -contains [IO.Path]::GetFullPath($PsProject)) { $publishArgs += '--no-build' }
        Invoke-Native dotnet $publishArgs

        $shippedByPwsh = @(Get-ChildItem -LiteralPath $PSHOME -Filter *.dll -File | ForEach-Object Name)
        foreach ($dll in (Get-ChildItem -LiteralPath $publishDir -Filter *.dll -File | Sort-Object Name)) {
            $isPs = $false
            foreach ($p in $PowerShellAssemblyPatterns) { if ($dll.Name -like $p) { $isPs = $true } }
            if ($isPs) { Write-Host "  skip $($dll.Name) (PowerShell assembly)"; continue }
            if ($shippedByPwsh -contains $dll.Name) { Write-Host "  skip $($dll.Name) (ships with PowerShell in `$PSHOME)"; continue }
            Copy-Item -LiteralPath $dll.FullName -Destination $ModuleOut
            Write-Host "  copy $($dll.Name)"
        }
    }
    finally {
        if (Test-Path -LiteralPath $publishDir) { Remove-Item -LiteralPath $publishDir -Recurse -Force }
    }

    $format = Join-Path $PsProjectDir 'TunnelLite.format.ps1xml'
    if (Test-Path -LiteralPath $format) { Copy-Item -LiteralPath $format -Destination $ModuleOut }

    Invoke-DocsTask
}

function Invoke-DocsTask {
    $docs = Join-Path $Root 'docs'
    if (-not (Test-Path -LiteralPath $docs)) { Write-Host 'docs/ does not exist yet: no help to build.'; return }
    $all = @(Get-ChildItem -LiteralPath $docs -Filter *.md -File | Sort-Object Name)
    # Cmdlet pages are named Verb-Noun.md; other markdown (READMEs, designs) is not help.
    $pages = @($all | Where-Object { $_.Name -match '^[A-Za-z]+-[A-Za-z0-9]+\.md$' })
    $about = @($all | Where-Object { $_.Name -like 'about_*.md' })
    $files = @($pages) + @($about)
    if ($files.Count -eq 0) { Write-Host 'docs/ has no cmdlet or about_ pages.'; return }

    Write-Step "Converting $($pages.Count) cmdlet page(s) and $($about.Count) about topic(s) to $HelpOut"
    if (Test-Path -LiteralPath $HelpOut) { Remove-Item -LiteralPath $HelpOut -Recurse -Force }
    $written = & (Join-Path $Root 'build/ConvertTo-Maml.ps1') -Path $files.FullName -OutputDirectory $HelpOut -HelpFileName $HelpFileName
    foreach ($w in $written) { Write-Host "  wrote $([IO.Path]::GetRelativePath($Root, $w))" }
}

function Invoke-TestTask {
    Invoke-BuildTask

    if (Test-Path -LiteralPath $TestResultsDir) { Remove-Item -LiteralPath $TestResultsDir -Recurse -Force }
    $null = New-Item -ItemType Directory -Force -Path $TestResultsDir
    $suites = [System.Collections.Generic.List[object]]::new()
    $inSolution = Get-SolutionProjects

    $testsDir = Join-Path $Root 'tests'
    $projects = @(if (-not $SkipXunit -and (Test-Path -LiteralPath $testsDir)) {
            Get-ChildItem -LiteralPath $testsDir -Recurse -Filter *.csproj -File |
                Where-Object { $_.FullName -notmatch '[\\/](bin|obj)[\\/]' } | Sort-Object FullName
        })
    $pesterFiles = @(if ($PesterPath.Count -gt 0) {
            foreach ($p in $PesterPath) {
                $full = [IO.Path]::GetFullPath($p, $Root)
                if (-not (Test-Path -LiteralPath $full)) { throw "-PesterPath: $p does not exist." }
                Get-Item -LiteralPath $full
            }
        }
        elseif (Test-Path -LiteralPath $testsDir) {
            Get-ChildItem -LiteralPath $testsDir -Recurse -Filter *.Tests.ps1 -File |
                Where-Object { $_.FullName -notmatch '[\\/](bin|obj)[\\/]' }
        })
    # What this run needs beyond .NET, installed before the first test: promtool for the xunit /metrics checks, HAProxy and
    # nginx for the xunit PROXY protocol checks, HAProxy for the scale-out recipe, Chromium
    # for the dashboard checks of a full run, systemd-analyze for the unit checks of the service tests.
    $needed = [System.Collections.Generic.List[hashtable]]::new()
    if ($projects.Count -gt 0) { $needed.Add($TestPrerequisites.Promtool); $needed.Add($TestPrerequisites.HAProxy); $needed.Add($TestPrerequisites.Nginx) }
    if ($projects.Count -gt 0 -or ($pesterFiles.Count -gt 0 -and $PesterPath.Count -eq 0)) { $needed.Add($TestPrerequisites.Chromium) }
    if (@($pesterFiles | Where-Object { $_.PSIsContainer -or $_.Name -eq 'TunnelLite.Service.Tests.ps1' }).Count -gt 0) { $needed.Add($TestPrerequisites.SystemdAnalyze) }
    if ($projects.Count -eq 0 -and @($pesterFiles | Where-Object { $_.PSIsContainer -or $_.Name -eq 'TunnelLite.ScaleOut.Tests.ps1' }).Count -gt 0) { $needed.Add($TestPrerequisites.HAProxy) }
    if ($needed.Count -gt 0) { Install-TestPrerequisite -Prerequisite $needed.ToArray() }

    foreach ($proj in $projects) {
        $name = $proj.BaseName
        $trx = Join-Path $TestResultsDir "$name.trx"
        Write-Step "dotnet test $name"
        $testArgs = @('test', $proj.FullName, '-c', $Configuration, '--nologo',
            '--logger', "trx;LogFileName=$name.trx", '--results-directory', $TestResultsDir,
            # If the test host dies, say which tests were running (the sequence file) and keep a dump to read.
            '--blame-crash')
        # Built above with the solution; a test project outside the solution gets built here.
        if ($inSolution -contains $proj.FullName) { $testArgs += '--no-build' }
        $code = Invoke-Native dotnet $testArgs -AllowFailure

        $suite = [ordered]@{ Kind = 'xunit'; Name = $name; Passed = 0; Failed = 0; Skipped = 0; Note = '' }
        if (Test-Path -LiteralPath $trx) {
            $x = [xml](Get-Content -LiteralPath $trx -Raw)
            $ns = [System.Xml.XmlNamespaceManager]::new($x.NameTable)
            $ns.AddNamespace('t', $x.DocumentElement.NamespaceURI)
            foreach ($r in $x.SelectNodes('//t:Results/t:UnitTestResult', $ns)) {
                switch ($r.GetAttribute('outcome')) {
                    'Passed' { $suite.Passed++ }
                    'NotExecuted' { $suite.Skipped++ }
                    default { $suite.Failed++ }   # Failed, Error, Timeout, Aborted, ...
                }
            }
            $outcome = $x.SelectSingleNode('//t:ResultSummary', $ns).GetAttribute('outcome')
            if ($code -ne 0 -and $suite.Failed -eq 0) {
                # Non-zero exit with no failed test: the run itself crashed or aborted.
                $suite.Failed = 1; $suite.Note = "run crashed or aborted (exit code $code, outcome $outcome; counted as 1 failure)"
                $sequence = Get-ChildItem -LiteralPath $TestResultsDir -Recurse -Filter 'Sequence_*.xml' -ErrorAction SilentlyContinue |
                    Sort-Object LastWriteTime | Select-Object -Last 1
                if ($sequence) {
                    $tests = ([xml](Get-Content -LiteralPath $sequence.FullName -Raw)).SelectNodes('//*[@Name]')
                    $unfinished = @($tests | Where-Object { $_.GetAttribute('Completed') -eq 'False' })
                    $running = @($(if ($unfinished.Count -gt 0) { $unfinished } else { $tests }) |
                        ForEach-Object { $_.GetAttribute('Name') } | Select-Object -Last 4)
                    if ($running.Count -gt 0) { $suite.Note += "; last tests started: $($running -join ' | ')" }
                }
            }
        }
        else {
            $suite.Failed = 1; $suite.Note = "no TRX written (exit code $code; counted as 1 failure)"
        }
        $suites.Add($suite)
    }

    if ($pesterFiles.Count -gt 0) {
        $pester = Get-PesterModulePath
        $summaryJson = Join-Path $TestResultsDir 'pester-summary.json'
        $pwsh = Get-PwshCommand
        # Several paths travel as one argument, separated like PATH (a child's -File argument is a single string).
        $pesterTestPath = if ($PesterPath.Count -gt 0) { @($pesterFiles.FullName) -join [IO.Path]::PathSeparator } else { $testsDir }
        Write-Step "Pester ($($pesterFiles.Count) $(if ($PesterPath.Count -gt 0) { 'path(s)' } else { 'file(s)' })) in a child PowerShell"
        $childArgs = @($pwsh.Prefix) + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'build/Invoke-PesterTests.ps1'),
            '-PesterModule', $pester, '-TestPath', $pesterTestPath, '-SummaryJson', $summaryJson,
            '-ResultXml', (Join-Path $TestResultsDir 'pester.junit.xml'), '-ModuleRoot', $OutDir)
        if ([Console]::IsOutputRedirected -or $env:CI -or $env:NO_COLOR) { $childArgs += '-PlainOutput' }
        $code = Invoke-Native $pwsh.FilePath $childArgs -AllowFailure

        $suiteName = if ($PesterPath.Count -gt 0) { $PesterPath -join ', ' } else { 'tests/**/*.Tests.ps1' }
        $suite = [ordered]@{ Kind = 'pester'; Name = $suiteName; Passed = 0; Failed = 0; Skipped = 0; Note = '' }
        if (Test-Path -LiteralPath $summaryJson) {
            $p = Get-Content -LiteralPath $summaryJson -Raw | ConvertFrom-Json
            $suite.Passed = [int]$p.Passed
            $suite.Skipped = [int]$p.Skipped + [int]$p.Inconclusive
            # A test file that failed to load, or a failed BeforeAll/AfterAll, counts as failures too.
            $suite.Failed = [int]$p.Failed + [int]$p.FailedContainers
            $notes = @()
            if ([int]$p.FailedContainers -gt 0) { $notes += "$($p.FailedContainers) file(s) failed to run: $(@($p.FailedContainerNames) -join ', ')" }
            if ([int]$p.FailedBlocks -gt 0) { $notes += "$($p.FailedBlocks) BeforeAll/AfterAll failure(s): $(@($p.FailedBlockNames) -join ', ')" }
            if ($p.Result -ne 'Passed' -and $suite.Failed -eq 0) { $suite.Failed = 1; $notes += "Pester result $($p.Result) (counted as 1 failure)" }
            if ([int]$p.Inconclusive -gt 0) { $notes += "$($p.Inconclusive) inconclusive (counted as skipped)" }
            $suite.Note = $notes -join '; '
        }
        else {
            $suite.Failed = 1; $suite.Note = "Pester process wrote no result (exit code $code; counted as 1 failure)"
        }
        $suites.Add($suite)
    }

    Write-Host ''
    Write-Host 'Test summary:'
    $passed = 0; $failed = 0; $skipped = 0
    foreach ($s in $suites) {
        $passed += $s.Passed; $failed += $s.Failed; $skipped += $s.Skipped
        $line = "  [$($s.Kind)] $($s.Name) - $($s.Passed) passed, $($s.Failed) failed, $($s.Skipped) skipped"
        if ($s.Note) { $line += " - $($s.Note)" }
        Write-Host $line
    }
    if ($suites.Count -eq 0) { Write-Host '  no test project (tests/**/*.csproj) and no Pester file (tests/**/*.Tests.ps1) found' }
    if ($passed + $failed -eq 0) { Write-Host '  FAILED: no test ran.' }
    $summary = "$passed passed, $failed failed"
    if ($skipped -gt 0) { $summary += ", $skipped skipped" }
    Write-Host $summary
    $script:ExitCode = if ($failed -gt 0 -or $passed + $failed -eq 0) { 1 } else { 0 }
}

function Invoke-CleanTask {
    if (Test-Path -LiteralPath $OutDir) { Write-Host "remove out/"; Remove-Item -LiteralPath $OutDir -Recurse -Force }
    foreach ($top in 'src', 'tests', 'bench', 'build') {
        $dir = Join-Path $Root $top
        if (-not (Test-Path -LiteralPath $dir)) { continue }
        $projects = Get-ChildItem -LiteralPath $dir -Recurse -File -Include *.csproj, *.fsproj, *.vbproj |
            Where-Object { $_.FullName -notmatch '[\\/](bin|obj)[\\/]' }
        foreach ($p in $projects) {
            foreach ($sub in 'bin', 'obj') {
                $target = Join-Path $p.DirectoryName $sub
                if (Test-Path -LiteralPath $target) {
                    Write-Host "remove $([IO.Path]::GetRelativePath($Root, $target))/"
                    Remove-Item -LiteralPath $target -Recurse -Force
                }
            }
        }
    }
}

function Invoke-DemoTask {
    Invoke-BuildTask
    $pwsh = Get-PwshCommand
    Write-Step 'Demo (in a fresh PowerShell, so the module just built is the one that loads)'
    Invoke-Native $pwsh.FilePath (@($pwsh.Prefix) + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'build/Invoke-Demo.ps1'), '-ModulePath', (Join-Path $ModuleOut 'TunnelLite.psd1')))
}

function Invoke-PackageTask {
    Invoke-BuildTask
    Write-Step 'Packing out/TunnelLite into out/packages'
    $package = & (Join-Path $Root 'build/New-ModulePackage.ps1') -ModulePath $ModuleOut -OutputDirectory (Join-Path $OutDir 'packages')
    Write-Host "  wrote $([IO.Path]::GetRelativePath($Root, $package))"
    Write-Host '  install it with: Register-PSResourceRepository -Name TunnelLiteLocal -Uri ./out/packages -Trusted; Install-PSResource TunnelLite -Repository TunnelLiteLocal'
}
function Invoke-BenchTask {
    if (-not $IsLinux) { Write-Warning 'Bench reads CPU and memory from /proc: Linux only.'; return }
    $Configuration = 'Release' # a Debug build would measure the wrong thing
    Invoke-BuildTask
    $project = Join-Path $Root 'bench/TunnelLite.EndToEndBench/TunnelLite.EndToEndBench.csproj'
    Write-Step 'Building the end-to-end benchmark'
    Invoke-Native dotnet @('build', $project, '-c', 'Release', '--nologo', '-v', 'q')
    $dll = Join-Path $Root 'bench/TunnelLite.EndToEndBench/bin/Release/net10.0/TunnelLite.EndToEndBench.dll'
    $out = Join-Path $Root 'bench/results/latest.md'
    # The reference rows: the HAProxy chain, and ssh -R (the bench starts its own sshd; the package's service stays off).
    Install-TestPrerequisite -Prerequisite $TestPrerequisites.HAProxy, $TestPrerequisites.SshServer, $TestPrerequisites.SshClient
    $benchArgs = @($dll, '--pwsh', (Join-Path $PSHOME 'pwsh.dll'), '--module', (Join-Path $ModuleOut 'TunnelLite.psd1'),
        '--host-script', (Join-Path $Root 'bench/hosts/Start-BenchHost.ps1'))
    if ($Quick) { $benchArgs += @('--quick', '--out', (Join-Path $OutDir 'bench-quick.md')) } else { $benchArgs += @('--out', $out) }
    Write-Step 'Running the end-to-end benchmark (loopback only)'
    Invoke-Native dotnet $benchArgs
    if (-not $Quick) {
        & (Join-Path $Root 'build/Update-ReadmeBench.ps1') -Root $Root
        Write-Host '  README.md now shows bench/results/latest.md'
    }
}

function Invoke-MicroBenchTask {
    Write-Step 'Running the BenchmarkDotNet benchmarks (bench/TunnelLite.Benchmarks)'
    Invoke-Native dotnet @('run', '-c', 'Release', '--project', (Join-Path $Root 'bench/TunnelLite.Benchmarks'), '--', '--filter', '*')
}
function Invoke-SoakTask {
    Invoke-BuildTask
    $pwsh = Get-PwshCommand
    Write-Step "Soak: $SoakMinutes minute(s) of mixed load with client restarts (loopback only)"
    $code = Invoke-Native $pwsh.FilePath (@($pwsh.Prefix) + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'build/Invoke-Soak.ps1'),
            '-Minutes', "$SoakMinutes", '-ModuleRoot', $OutDir)) -AllowFailure
    if ($code -ne 0) { $script:ExitCode = 1 }
}

#endregion

Push-Location -LiteralPath $Root
try {
    $script:ExitCode = 0
    switch ($Task) {
        'Build' { Invoke-BuildTask }
        'Docs' { Invoke-DocsTask }
        'Test' { Invoke-TestTask }
        'Clean' { Invoke-CleanTask }
        'Demo' { Invoke-DemoTask }
        'Package' { Invoke-PackageTask }
        'Bench' { Invoke-BenchTask }
        'MicroBench' { Invoke-MicroBenchTask }
        'Soak' { Invoke-SoakTask }
    }
}
finally {
    Pop-Location
}
exit $script:ExitCode
