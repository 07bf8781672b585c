# Help: every cmdlet has real Get-Help (from docs/*.md compiled to MAML), and its doc names exactly its parameters.
BeforeDiscovery {
    $script:Cmdlets = 'Start-TunnelServer', 'New-Tunnel', 'Get-TunnelStats', 'Stop-Tunnel', 'Get-Tunnel', 'New-TunnelToken', 'Get-TunnelClient',
        'Disconnect-TunnelClient', 'Test-Tunnel', 'Update-TunnelServer'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'Support/TestHelpers.psm1') -Force
    Import-TunnelLiteUnderTest
    $script:DocsDir = Join-Path $PSScriptRoot '../docs'
    $script:Common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters

    function script:Get-DocParameterNames([string] $Name) {
        # The '### -Param' headings under '## PARAMETERS' of docs/<Name>.md.
        $inParams = $false
        foreach ($line in Get-Content (Join-Path $script:DocsDir "$Name.md")) {
            if ($line -match '^## ') { $inParams = $line -match '^## PARAMETERS' ; continue }
            if ($inParams -and $line -match '^### -(\w+)') { $Matches[1] }
        }
    }
}

Describe 'Help of <_>' -ForEach $script:Cmdlets {
    BeforeAll {
        $script:Name = $_
        $script:Help = Get-Help $_ -Full
        $script:Command = Get-Command $_
    }

    It 'has a synopsis and a description from the docs, not the generated stub' {
        $script:Help.Synopsis | Should -Not -BeNullOrEmpty
        $script:Help.Synopsis | Should -Not -Match '^\s*\w+-\w+ \['
        ($script:Help.Description.Text -join ' ').Length | Should -BeGreaterThan 40
    }

    It 'has examples with code and remarks' {
        $examples = @($script:Help.Examples.Example)
        $examples.Count | Should -BeGreaterOrEqual 2
        foreach ($e in $examples) {
            $e.Code | Should -Match $script:Name.Split('-')[1].Substring(0, 4)
            ($e.Remarks.Text -join ' ').Trim() | Should -Not -BeNullOrEmpty
        }
        (Get-Help $script:Name -Examples | Out-String) | Should -Match 'Example 1'
    }

    It 'documents every parameter, and only real ones' {
        $real = @($script:Command.Parameters.Keys | Where-Object { $_ -notin $script:Common }) + @(
            if ($script:Command.Parameters.ContainsKey('WhatIf')) { 'WhatIf', 'Confirm' })
        $documented = @(Get-DocParameterNames $script:Name)
        $missing = $real | Where-Object { $_ -notin $documented }
        $extra = $documented | Where-Object { $_ -notin $real }
        $missing | Should -BeNullOrEmpty -Because "docs/$($script:Name).md lacks them"
        $extra | Should -BeNullOrEmpty -Because "docs/$($script:Name).md names parameters that do not exist"
    }

    It 'Get-Help -Parameter describes each parameter' {
        foreach ($p in $script:Command.Parameters.Keys | Where-Object { $_ -notin $script:Common }) {
            $ph = Get-Help $script:Name -Parameter $p
            ($ph.Description.Text -join ' ').Trim() | Should -Not -BeNullOrEmpty -Because "-$p needs a description"
        }
    }

    It 'names each output type that the cmdlet declares' {
        $named = @($script:Help.ReturnValues.ReturnValue.Type.Name)
        $declared = @($script:Command.OutputType.Name)
        $declared | Should -Not -BeNullOrEmpty
        foreach ($type in $declared) { $named | Should -Contain $type -Because "docs/$($script:Name).md OUTPUTS should name it" }
    }
}

Describe 'about_TunnelLite' {
    It 'is installed as an about topic' {
        $text = Get-Help about_TunnelLite | Out-String
        $text | Should -Match 'auth.token'
        $text | Should -Match 'allowPorts'
        $text | Should -Match 'AuthenticationFailed'
    }
}
