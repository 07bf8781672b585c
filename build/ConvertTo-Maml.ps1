#Requires -Version 7.4
<#
.SYNOPSIS
    Converts PlatyPS-style markdown help (schema 2.0.0) into PowerShell MAML help XML and
    about_*.md topics into plain-text about_*.help.txt files. A small stand-in for PlatyPS'
    New-ExternalHelp, which cannot be installed here.

.DESCRIPTION
    Dot-source this script to get two functions:

        ConvertTo-MamlHelp      -Path <cmdlet .md files> -OutputFile <X.dll-Help.xml>
        ConvertTo-AboutHelpText -Path <about_*.md>       -OutputFile <about_*.help.txt>

    or run it directly:

        ./build/ConvertTo-Maml.ps1 -Path docs -OutputDirectory out/TunnelLite/en-US -HelpFileName TunnelLite.PowerShell.dll-Help.xml

    Cmdlet markdown layout understood (PlatyPS schema 2.0.0):

        ---                               YAML front matter (external help file, Module Name,
        ...                               online version, schema)
        ---
        # Verb-Noun
        ## SYNOPSIS
        ## SYNTAX          ### SetName [(Default)] + ``` code block per parameter set
        ## DESCRIPTION
        ## EXAMPLES        ### Example N: title + code block(s) + remarks text
        ## PARAMETERS      ### -Name + description + ```yaml block (one per distinct set of
                           attributes: Type, Parameter Sets, Aliases, Accepted values, Required,
                           Position, Default value, Accept pipeline input, Accept wildcard characters)
                           ### CommonParameters is skipped (Get-Help adds it itself)
        ## INPUTS          ### TypeName + description
        ## OUTPUTS         ### TypeName + description
        ## NOTES
        ## RELATED LINKS   [text](uri) links, one per paragraph or line

    The syntax blocks decide the order of parameters in each parameter set; the yaml
    "Parameter Sets" values decide which parameters belong to which set.
#>
[CmdletBinding()]
param(
    # Markdown files or folders holding them. Files named about_*.md become about topics;
    # every other *.md becomes one command in the MAML file.
    [string[]] $Path,
    [string] $OutputDirectory,
    # Name of the MAML file: the file name of the assembly that holds the cmdlets + '-Help.xml'.
    [string] $HelpFileName
)

Set-StrictMode -Version Latest

$script:MamlNs = @{
    maml    = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
    MSHelp  = 'http://msdn.microsoft.com/mshelp'
}

#region Markdown reading

function Read-MdFrontMatter {
    # Splits '---' YAML front matter (flat key: value pairs) from the rest of the text.
    param([string[]] $Lines)
    $meta = [ordered]@{}
    if ($Lines.Count -gt 0 -and $Lines[0].Trim() -eq '---') {
        for ($i = 1; $i -lt $Lines.Count; $i++) {
            if ($Lines[$i].Trim() -eq '---') {
                for ($j = 1; $j -lt $i; $j++) {
                    if ($Lines[$j] -match '^\s*([^:#][^:]*?)\s*:\s*(.*?)\s*$') {
                        $meta[$Matches[1]] = $Matches[2].Trim('"', "'")
                    }
                }
                $rest = if ($i + 1 -lt $Lines.Count) { $Lines[($i + 1)..($Lines.Count - 1)] } else { @() }
                return @{ Meta = $meta; Lines = [string[]]$rest }
            }
        }
    }
    return @{ Meta = $meta; Lines = $Lines }
}

function Read-MdSections {
    # Returns @{ Title = <H1>; Sections = ordered{ UPPER H2 title -> @{ Lines; Subs = list of @{ Title; Lines } } } }.
    # Headings inside fenced code blocks are ignored.
    param([string[]] $Lines, [string] $File)
    $doc = @{ Title = $null; Preamble = [System.Collections.Generic.List[string]]::new(); Sections = [ordered]@{} }
    $section = $null; $sub = $null; $fence = $null
    foreach ($line in $Lines) {
        if ($fence) {
            if ($line -match '^\s*(```+|~~~+)\s*$' -and $Matches[1].StartsWith($fence)) { $fence = $null }
        }
        elseif ($line -match '^\s*(```+|~~~+)') { $fence = $Matches[1] }
        elseif ($line -match '^(#{1,3})\s+(.*?)\s*#*\s*$') {
            $level = $Matches[1].Length; $text = $Matches[2]
            if ($level -eq 1) {
                if ($doc.Title) { throw "${File}: more than one '# ' heading ('$($doc.Title)' and '$text')." }
                $doc.Title = $text; $section = $null; $sub = $null; continue
            }
            if ($level -eq 2) {
                $key = $text.ToUpperInvariant()
                $section = @{ Title = $text; Lines = [System.Collections.Generic.List[string]]::new(); Subs = [System.Collections.Generic.List[object]]::new() }
                $doc.Sections[$key] = $section; $sub = $null; continue
            }
            if ($level -eq 3 -and $section) {
                $sub = @{ Title = $text; Lines = [System.Collections.Generic.List[string]]::new() }
                $section.Subs.Add($sub); continue
            }
        }
        if ($sub) { $sub.Lines.Add($line) }
        elseif ($section) { $section.Lines.Add($line) }
        else { $doc.Preamble.Add($line) }
    }
    if ($fence) { throw "${File}: unterminated code fence ($fence)." }
    return $doc
}

function ConvertFrom-MdEscapes {
    # Undo markdown backslash escapes (PlatyPS escapes e.g. \< \[ \* \_ ).
    param([string] $Text)
    return [regex]::Replace($Text, '\\([\\`*_{}\[\]()#+\-.!<>|~"])', '$1')
}

function Get-MdBlocks {
    # Splits lines into blocks: @{ Kind = 'text'|'code'; Text; Lang }.
    # Text paragraphs: soft line breaks become spaces; list items and hard breaks
    # (two trailing spaces or a trailing backslash) keep their line breaks.
    param([System.Collections.Generic.IEnumerable[string]] $Lines)
    $blocks = [System.Collections.Generic.List[object]]::new()
    $para = [System.Collections.Generic.List[string]]::new()
    $code = $null; $fence = $null; $lang = ''
    $flush = {
        if ($para.Count -gt 0) {
            $sb = [System.Text.StringBuilder]::new()
            $isList = $para[0] -match '^\s*([-*+]|\d+[.)])\s+'
            for ($k = 0; $k -lt $para.Count; $k++) {
                $l = $para[$k]
                $t = ($l -replace '\\$', '').Trim()
                if ($k -gt 0) {
                    $prev = $para[$k - 1]
                    $newItem = $isList -and $l -match '^\s*([-*+]|\d+[.)])\s+'
                    if ($newItem -or $prev -match '(  |\\)$') { [void]$sb.Append("`n") } else { [void]$sb.Append(' ') }
                }
                [void]$sb.Append($t)
            }
            $blocks.Add(@{ Kind = 'text'; Text = (ConvertFrom-MdEscapes $sb.ToString()); Lang = '' })
            $para.Clear()
        }
    }
    foreach ($line in $Lines) {
        if ($null -ne $code) {
            if ($line -match '^\s*(```+|~~~+)\s*$' -and $Matches[1].StartsWith($fence)) {
                $blocks.Add(@{ Kind = 'code'; Text = ($code -join "`n"); Lang = $lang })
                $code = $null; $fence = $null
            }
            else { $code.Add($line) }
            continue
        }
        if ($line -match '^\s*(```+|~~~+)\s*([\w.+-]*)') {
            & $flush
            $fence = $Matches[1]; $lang = $Matches[2].ToLowerInvariant()
            $code = [System.Collections.Generic.List[string]]::new()
            continue
        }
        if ($line.Trim() -eq '') { & $flush; continue }
        $para.Add($line)
    }
    & $flush
    return , $blocks
}

function Get-MdText {
    # All blocks of a section as a list of paragraph strings (code blocks kept verbatim).
    param([System.Collections.Generic.IEnumerable[string]] $Lines)
    $out = [System.Collections.Generic.List[string]]::new()
    foreach ($b in (Get-MdBlocks $Lines)) { $out.Add($b.Text) }
    return , $out
}

function Read-MdYaml {
    # Flat 'Key: value' yaml of a PlatyPS parameter block.
    param([string] $Text)
    $h = @{}
    foreach ($l in ($Text -split "`n")) {
        if ($l -match '^\s*([A-Za-z][\w ]*?)\s*:\s*(.*?)\s*$') { $h[$Matches[1].ToLowerInvariant()] = $Matches[2] }
    }
    return $h
}

function Get-MdLinks {
    # Related links: [text](uri) (uri may be empty); a bare line of text is a link with no uri.
    param([System.Collections.Generic.IEnumerable[string]] $Lines)
    $links = [System.Collections.Generic.List[object]]::new()
    foreach ($l in $Lines) {
        $t = $l.Trim() -replace '^([-*+]|\d+[.)])\s+', ''
        if (-not $t) { continue }
        $ms = [regex]::Matches($t, '\[([^\]]*)\]\(([^)]*)\)')
        if ($ms.Count -gt 0) {
            foreach ($m in $ms) {
                $uri = $m.Groups[2].Value.Trim()
                # Links to other markdown pages of the module (Get-Foo.md, about_Foo.md) carry no uri in MAML.
                if ($uri -notmatch '^[a-z][a-z0-9+.-]*://') { $uri = '' }
                $links.Add(@{ Text = (ConvertFrom-MdEscapes $m.Groups[1].Value.Trim()); Uri = $uri })
            }
        }
        elseif ($t -match '^[a-z][a-z0-9+.-]*://\S+$') { $links.Add(@{ Text = $t; Uri = $t }) }
        else { $links.Add(@{ Text = (ConvertFrom-MdEscapes $t); Uri = '' }) }
    }
    return , $links
}

#endregion

#region Command model

function ConvertFrom-CmdletMarkdown {
    # Parses one PlatyPS cmdlet page into a plain object model.
    param([Parameter(Mandatory)] [string] $File)
    $lines = (Get-Content -LiteralPath $File -Raw -Encoding utf8) -replace "`r`n?", "`n" -split "`n"
    $fm = Read-MdFrontMatter $lines
    $doc = Read-MdSections $fm.Lines $File
    $name = $doc.Title
    if (-not $name) { throw "${File}: no '# Verb-Noun' heading." }
    $name = ConvertFrom-MdEscapes $name
    if ($name -notmatch '^([A-Za-z]+)-(\S+)$') { Write-Warning "${File}: '$name' is not a Verb-Noun name." }
    $expected = [IO.Path]::GetFileNameWithoutExtension($File)
    if ($expected -ne $name) { Write-Warning "${File}: heading '$name' does not match the file name." }
    if ($fm.Meta.Contains('schema') -and $fm.Meta['schema'] -ne '2.0.0') { Write-Warning "${File}: schema '$($fm.Meta['schema'])' is not 2.0.0; converting anyway." }
    foreach ($required in 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'PARAMETERS') {
        if (-not $doc.Sections.Contains($required)) { Write-Warning "${File}: no '## $required' section." }
    }
    $sec = { param($k) if ($doc.Sections.Contains($k)) { $doc.Sections[$k] } else { $null } }

    $cmd = [ordered]@{
        File         = $File
        Name         = $name
        Verb         = ($name -split '-', 2)[0]
        Noun         = if ($name -match '-') { ($name -split '-', 2)[1] } else { '' }
        Meta         = $fm.Meta
        Synopsis     = [System.Collections.Generic.List[string]]::new()
        Description  = [System.Collections.Generic.List[string]]::new()
        Sets         = [System.Collections.Generic.List[object]]::new()   # @{ Name; IsDefault; Order = string[] }
        Parameters   = [System.Collections.Generic.List[object]]::new()   # @{ Name; Description; Variants = list of yaml hashtables }
        Examples     = [System.Collections.Generic.List[object]]::new()   # @{ Title; Introduction; Code; Remarks }
        Inputs       = [System.Collections.Generic.List[object]]::new()   # @{ Type; Description }
        Outputs      = [System.Collections.Generic.List[object]]::new()
        Notes        = [System.Collections.Generic.List[string]]::new()
        Links        = [System.Collections.Generic.List[object]]::new()
    }

    if ($s = & $sec 'SYNOPSIS') { $cmd.Synopsis = Get-MdText $s.Lines }
    if ($s = & $sec 'DESCRIPTION') { $cmd.Description = Get-MdText $s.Lines }

    if ($s = & $sec 'SYNTAX') {
        $syntaxBlocks = @()
        if ($s.Subs.Count -eq 0) { $syntaxBlocks = @(@{ Title = '__AllParameterSets'; Lines = $s.Lines }) }
        else { $syntaxBlocks = $s.Subs }
        foreach ($sb in $syntaxBlocks) {
            $title = $sb.Title.Trim()
            $isDefault = $title -match '\(Default\)\s*$'
            $setName = ($title -replace '\s*\(Default\)\s*$', '').Trim()
            $codeText = ((Get-MdBlocks $sb.Lines) | Where-Object { $_.Kind -eq 'code' } | ForEach-Object { $_.Text }) -join "`n"
            $order = @([regex]::Matches($codeText, '(?<![\w-])-([A-Za-z_]\w*)') | ForEach-Object { $_.Groups[1].Value } | Select-Object -Unique)
            $cmd.Sets.Add(@{ Name = $setName; IsDefault = $isDefault; Order = $order })
        }
    }

    if ($s = & $sec 'PARAMETERS') {
        foreach ($sub in $s.Subs) {
            $pname = (ConvertFrom-MdEscapes $sub.Title.Trim()) -replace '^-', ''
            if ($pname -in 'CommonParameters', 'WorkflowCommonParameters') { continue }
            $desc = [System.Collections.Generic.List[string]]::new()
            $variants = [System.Collections.Generic.List[object]]::new()
            foreach ($b in (Get-MdBlocks $sub.Lines)) {
                if ($b.Kind -eq 'code' -and ($b.Lang -eq 'yaml' -or ($b.Lang -eq '' -and $b.Text -match '(?m)^\s*Type\s*:'))) {
                    $variants.Add((Read-MdYaml $b.Text))
                }
                elseif ($variants.Count -eq 0) { $desc.Add($b.Text) }
            }
            if ($variants.Count -eq 0) {
                Write-Warning "${File}: parameter -$pname has no yaml block; assuming an optional named Object parameter."
                $variants.Add(@{})
            }
            $cmd.Parameters.Add(@{ Name = $pname; Description = $desc; Variants = $variants })
        }
    }

    if ($s = & $sec 'EXAMPLES') {
        foreach ($sub in $s.Subs) {
            $intro = [System.Collections.Generic.List[string]]::new()
            $code = [System.Collections.Generic.List[string]]::new()
            $remarks = [System.Collections.Generic.List[string]]::new()
            $phase = 0   # 0: before code, 1: in the first run of code blocks, 2: after
            foreach ($b in (Get-MdBlocks $sub.Lines)) {
                if ($b.Kind -eq 'code' -and $phase -lt 2) { $code.Add($b.Text); $phase = 1 }
                elseif ($phase -eq 0) { $intro.Add($b.Text) }
                else { $remarks.Add($b.Text); $phase = 2 }
            }
            $cmd.Examples.Add(@{ Title = (ConvertFrom-MdEscapes $sub.Title.Trim()); Introduction = $intro; Code = ($code -join "`n`n"); Remarks = $remarks })
        }
    }

    foreach ($pair in @(@('INPUTS', $cmd.Inputs), @('OUTPUTS', $cmd.Outputs))) {
        $s = & $sec $pair[0]
        if (-not $s) { continue }
        foreach ($sub in $s.Subs) {
            $pair[1].Add(@{ Type = (ConvertFrom-MdEscapes $sub.Title.Trim()); Description = (Get-MdText $sub.Lines) })
        }
        if ($s.Subs.Count -eq 0) {
            # 'None' or a type name written as plain text.
            $paras = Get-MdText $s.Lines
            if ($paras.Count -gt 0) {
                $rest = [System.Collections.Generic.List[string]]::new()
                for ($k = 1; $k -lt $paras.Count; $k++) { $rest.Add($paras[$k]) }
                $pair[1].Add(@{ Type = $paras[0]; Description = $rest })
            }
        }
    }

    if ($s = & $sec 'NOTES') { $cmd.Notes = Get-MdText $s.Lines }

    $online = if ($fm.Meta.Contains('online version')) { $fm.Meta['online version'] } else { '' }
    if ($online) { $cmd.Links.Add(@{ Text = 'Online Version:'; Uri = $online }) }
    if ($s = & $sec 'RELATED LINKS') {
        foreach ($l in (Get-MdLinks $s.Lines)) {
            if ($online -and $l.Uri -eq $online) { continue }   # already the first link
            $cmd.Links.Add($l)
        }
    }
    return $cmd
}

function Get-ParamSetNames {
    # Sets a parameter variant belongs to; '(All)' or empty means every set.
    param([hashtable] $Variant)
    $v = if ($Variant.ContainsKey('parameter sets')) { $Variant['parameter sets'] } else { '' }
    if (-not $v -or $v -match '^\(All\)$') { return @('*') }
    return @($v -split ',' | ForEach-Object { $_.Trim() } | Where-Object { $_ })
}

function Get-ParamAttrs {
    # Normalizes one yaml variant into MAML attribute values.
    param([hashtable] $V)
    $get = { param($k, $d) if ($V.ContainsKey($k) -and $V[$k] -ne '') { $V[$k] } else { $d } }
    $type = & $get 'type' 'Object'
    $position = & $get 'position' 'Named'
    if ($position -match '^\s*named\s*$') { $position = 'named' }
    $aliases = & $get 'aliases' ''
    $accepted = & $get 'accepted values' ''
    return @{
        Type          = $type
        IsSwitch      = $type -match '^(System\.Management\.Automation\.)?SwitchParameter$'
        Required      = ((& $get 'required' 'False') -match '^\s*true\s*$')
        Position      = $position
        Default       = & $get 'default value' 'None'
        Pipeline      = & $get 'accept pipeline input' 'False'
        Globbing      = ((& $get 'accept wildcard characters' 'False') -match '^\s*true\s*$')
        Aliases       = if ($aliases -and $aliases -ne 'none') { (($aliases -split ',') | ForEach-Object { $_.Trim() } | Where-Object { $_ }) -join ', ' } else { 'none' }
        Accepted      = @(if ($accepted) { $accepted -split ',' | ForEach-Object { $_.Trim() } | Where-Object { $_ } })
    }
}

#endregion

#region MAML writing

function Write-MamlParas {
    param([System.Xml.XmlWriter] $W, $Paras)
    $any = $false
    foreach ($p in @($Paras)) {
        if ($null -eq $p) { continue }
        $W.WriteElementString('maml', 'para', $script:MamlNs.maml, [string]$p); $any = $true
    }
    if (-not $any) { $W.WriteElementString('maml', 'para', $script:MamlNs.maml, '') }
}

function Write-MamlDescription {
    param([System.Xml.XmlWriter] $W, $Paras)
    $W.WriteStartElement('maml', 'description', $script:MamlNs.maml)
    Write-MamlParas $W $Paras
    $W.WriteEndElement()
}

function Write-MamlParameter {
    param([System.Xml.XmlWriter] $W, [hashtable] $Param, [hashtable] $A, [bool] $InSyntax)
    $W.WriteStartElement('command', 'parameter', $script:MamlNs.command)
    $W.WriteAttributeString('required', $A.Required.ToString().ToLowerInvariant())
    $W.WriteAttributeString('variableLength', 'true')
    $W.WriteAttributeString('globbing', $A.Globbing.ToString().ToLowerInvariant())
    $W.WriteAttributeString('pipelineInput', $A.Pipeline)
    $W.WriteAttributeString('position', $A.Position)
    $W.WriteAttributeString('aliases', $A.Aliases)
    $W.WriteElementString('maml', 'name', $script:MamlNs.maml, $Param.Name)
    Write-MamlDescription $W $Param.Description
    if ($A.Accepted.Count -gt 0) {
        $W.WriteStartElement('command', 'parameterValueGroup', $script:MamlNs.command)
        foreach ($v in $A.Accepted) {
            $W.WriteStartElement('command', 'parameterValue', $script:MamlNs.command)
            $W.WriteAttributeString('required', 'false')
            $W.WriteAttributeString('command', 'variableLength', $script:MamlNs.command, 'false')
            $W.WriteString($v)
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }
    # Switches show no value in SYNTAX ("-Force"), and "[<SwitchParameter>]" under PARAMETERS.
    if (-not ($InSyntax -and $A.IsSwitch)) {
        $W.WriteStartElement('command', 'parameterValue', $script:MamlNs.command)
        $W.WriteAttributeString('required', (-not $A.IsSwitch).ToString().ToLowerInvariant())
        $W.WriteAttributeString('variableLength', 'false')
        $W.WriteString($A.Type)
        $W.WriteEndElement()
    }
    $W.WriteStartElement('dev', 'type', $script:MamlNs.dev)
    $W.WriteElementString('maml', 'name', $script:MamlNs.maml, $A.Type)
    $W.WriteElementString('maml', 'uri', $script:MamlNs.maml, '')
    $W.WriteEndElement()
    $W.WriteElementString('dev', 'defaultValue', $script:MamlNs.dev, $A.Default)
    $W.WriteEndElement()
}

function Write-MamlCommand {
    param([System.Xml.XmlWriter] $W, $Cmd)
    $ns = $script:MamlNs
    $W.WriteStartElement('command', 'command', $ns.command)
    foreach ($p in 'maml', 'command', 'dev', 'MSHelp') { $W.WriteAttributeString('xmlns', $p, $null, $ns[$p]) }

    # details: name, verb, noun, synopsis
    $W.WriteStartElement('command', 'details', $ns.command)
    $W.WriteElementString('command', 'name', $ns.command, $Cmd.Name)
    $W.WriteElementString('command', 'verb', $ns.command, $Cmd.Verb)
    $W.WriteElementString('command', 'noun', $ns.command, $Cmd.Noun)
    Write-MamlDescription $W $Cmd.Synopsis
    $W.WriteEndElement()

    Write-MamlDescription $W $Cmd.Description

    # syntax: one syntaxItem per parameter set
    $sets = [System.Collections.Generic.List[object]]::new()
    foreach ($s in $Cmd.Sets) { $sets.Add($s) }
    foreach ($p in $Cmd.Parameters) {
        foreach ($v in $p.Variants) {
            foreach ($n in (Get-ParamSetNames $v)) {
                if ($n -ne '*' -and -not ($sets | Where-Object { $_.Name -eq $n })) {
                    Write-Warning "$($Cmd.File): parameter -$($p.Name) names set '$n', which has no '### $n' block under SYNTAX."
                    $sets.Add(@{ Name = $n; IsDefault = $false; Order = @() })
                }
            }
        }
    }
    if ($sets.Count -eq 0) { $sets.Add(@{ Name = '__AllParameterSets'; IsDefault = $true; Order = @() }) }
    # Default set first, like Get-Command's syntax.
    $sets = @($sets | Sort-Object -Stable { -not $_.IsDefault })
    $W.WriteStartElement('command', 'syntax', $ns.command)
    foreach ($set in $sets) {
        $members = [System.Collections.Generic.List[object]]::new()
        $idx = 0
        foreach ($p in $Cmd.Parameters) {
            $variant = $null
            foreach ($v in $p.Variants) {
                $names = Get-ParamSetNames $v
                if ($names -contains '*' -or $names -contains $set.Name -or $sets.Count -eq 1) { $variant = $v; break }
            }
            if ($null -eq $variant) { continue }
            $a = Get-ParamAttrs $variant
            $orderIdx = -1
            for ($k = 0; $k -lt @($set.Order).Count; $k++) { if (@($set.Order)[$k] -eq $p.Name) { $orderIdx = $k; break } }
            $pos = if ($a.Position -eq 'named') { [int]::MaxValue } else { [int]$a.Position }
            $members.Add([pscustomobject]@{ Param = $p; Attrs = $a; OrderIdx = if ($orderIdx -ge 0) { $orderIdx } else { [int]::MaxValue }; Pos = $pos; Idx = $idx++ })
        }
        $W.WriteStartElement('command', 'syntaxItem', $ns.command)
        $W.WriteElementString('maml', 'name', $ns.maml, $Cmd.Name)
        foreach ($m in ($members | Sort-Object OrderIdx, Pos, Idx)) { Write-MamlParameter $W $m.Param $m.Attrs $true }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    # parameters: each parameter once
    $W.WriteStartElement('command', 'parameters', $ns.command)
    foreach ($p in $Cmd.Parameters) { Write-MamlParameter $W $p (Get-ParamAttrs $p.Variants[0]) $false }
    $W.WriteEndElement()

    foreach ($pair in @(@('inputTypes', 'inputType', $Cmd.Inputs), @('returnValues', 'returnValue', $Cmd.Outputs))) {
        $W.WriteStartElement('command', $pair[0], $ns.command)
        foreach ($t in $pair[2]) {
            $W.WriteStartElement('command', $pair[1], $ns.command)
            $W.WriteStartElement('dev', 'type', $ns.dev)
            $W.WriteElementString('maml', 'name', $ns.maml, $t.Type)
            $W.WriteEndElement()
            Write-MamlDescription $W $t.Description
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }

    $W.WriteStartElement('maml', 'alertSet', $ns.maml)
    $W.WriteStartElement('maml', 'alert', $ns.maml)
    Write-MamlParas $W $Cmd.Notes
    $W.WriteEndElement()
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'examples', $ns.command)
    foreach ($e in $Cmd.Examples) {
        $W.WriteStartElement('command', 'example', $ns.command)
        # Get-Help prints the title as is; pad it with dashes like PowerShell's own help.
        $pad = '-' * [Math]::Max(4, [int]((64 - $e.Title.Length - 2) / 2))
        $W.WriteElementString('maml', 'title', $ns.maml, "$pad $($e.Title) $pad")
        $W.WriteStartElement('maml', 'introduction', $ns.maml)
        Write-MamlParas $W $e.Introduction
        $W.WriteEndElement()
        $W.WriteElementString('dev', 'code', $ns.dev, $e.Code)
        $W.WriteStartElement('dev', 'remarks', $ns.dev)
        Write-MamlParas $W $e.Remarks
        # A trailing empty para gives a blank line before the next example's title.
        if ($e.Remarks.Count -gt 0) { $W.WriteElementString('maml', 'para', $ns.maml, '') }
        $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'relatedLinks', $ns.command)
    foreach ($l in $Cmd.Links) {
        $W.WriteStartElement('maml', 'navigationLink', $ns.maml)
        $W.WriteElementString('maml', 'linkText', $ns.maml, $l.Text)
        $W.WriteElementString('maml', 'uri', $ns.maml, $l.Uri)
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteEndElement()   # command:command
}

function ConvertTo-MamlHelp {
    <#
    .SYNOPSIS
        Writes one MAML help file for the cmdlet markdown pages given.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string[]] $Path,
        [Parameter(Mandatory)] [string] $OutputFile
    )
    $cmds = foreach ($f in $Path) { ConvertFrom-CmdletMarkdown -File $f }
    $leaf = Split-Path -Leaf $OutputFile
    foreach ($c in $cmds) {
        if ($c.Meta.Contains('external help file') -and $c.Meta['external help file'] -and $c.Meta['external help file'] -ne $leaf) {
            Write-Warning "$($c.File): front matter says 'external help file: $($c.Meta['external help file'])' but it goes into $leaf."
        }
    }
    $dir = Split-Path -Parent $OutputFile
    if ($dir) { $null = New-Item -ItemType Directory -Force -Path $dir }
    $settings = [System.Xml.XmlWriterSettings]::new()
    $settings.Indent = $true
    $settings.IndentChars = '  '
    $settings.Encoding = [System.Text.UTF8Encoding]::new($false)
    $settings.NewLineChars = "`n"
    $full = [IO.Path]::GetFullPath($OutputFile, (Get-Location).ProviderPath)
    $w = [System.Xml.XmlWriter]::Create($full, $settings)
    try {
        $w.WriteStartDocument()
        $w.WriteStartElement('helpItems', 'http://msh')
        $w.WriteAttributeString('schema', 'maml')
        foreach ($c in ($cmds | Sort-Object { $_.Name })) { Write-MamlCommand $w $c }
        $w.WriteEndElement()
        $w.WriteEndDocument()
    }
    finally { $w.Dispose() }
    # Round-trip check: the file must be well-formed XML.
    $null = [xml](Get-Content -LiteralPath $full -Raw)
    Write-Verbose "Wrote $full ($(@($cmds).Count) commands)."
    return $full
}

#endregion

#region about_ topics

function Format-Wrapped {
    # Wraps text at $Width columns, indenting every line with $Indent (and $Hanging after the first).
    param([string] $Text, [string] $Indent, [string] $Hanging = $Indent, [int] $Width = 80)
    $out = [System.Collections.Generic.List[string]]::new()
    $line = $Indent
    $start = $true
    foreach ($word in ($Text -split '\s+' | Where-Object { $_ })) {
        if (-not $start -and ($line.Length + 1 + $word.Length) -gt $Width) { $out.Add($line.TrimEnd()); $line = $Hanging + $word }
        elseif ($start) { $line += $word }
        else { $line += ' ' + $word }
        $start = $false
    }
    if ($line.Trim()) { $out.Add($line.TrimEnd()) }
    return $out
}

function ConvertTo-AboutHelpText {
    <#
    .SYNOPSIS
        Converts an about_*.md topic into the plain-text about_*.help.txt that Get-Help reads.
        '# about_X' becomes the TOPIC header, '## Title' an upper-case section header, '### Title'
        an indented sub header; text is wrapped at 80 columns and indented 4; code blocks are
        indented 8 and kept verbatim.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Path,
        [Parameter(Mandatory)] [string] $OutputFile
    )
    $lines = (Get-Content -LiteralPath $Path -Raw -Encoding utf8) -replace "`r`n?", "`n" -split "`n"
    $fm = Read-MdFrontMatter $lines
    $out = [System.Collections.Generic.List[string]]::new()
    $chunk = [System.Collections.Generic.List[string]]::new()
    $topic = [IO.Path]::GetFileNameWithoutExtension($Path)
    $flushChunk = {
        foreach ($b in (Get-MdBlocks $chunk)) {
            if ($b.Kind -eq 'code') {
                foreach ($cl in ($b.Text -split "`n")) { $out.Add(('        ' + $cl).TrimEnd()) }
            }
            else {
                foreach ($pl in ($b.Text -split "`n")) {
                    if ($pl -match '^(\s*(?:[-*+]|\d+[.)])\s+)(.*)$') {
                        $hang = '    ' + (' ' * $Matches[1].Trim().Length) + ' '
                        foreach ($wl in (Format-Wrapped -Text $Matches[2] -Indent ('    ' + $Matches[1].Trim() + ' ') -Hanging $hang)) { $out.Add($wl) }
                    }
                    else { foreach ($wl in (Format-Wrapped -Text $pl -Indent '    ')) { $out.Add($wl) } }
                }
            }
            $out.Add('')
        }
        $chunk.Clear()
    }
    $fence = $null
    foreach ($l in $fm.Lines) {
        if ($fence) {
            if ($l -match '^\s*(```+|~~~+)\s*$' -and $Matches[1].StartsWith($fence)) { $fence = $null }
            $chunk.Add($l); continue
        }
        if ($l -match '^\s*(```+|~~~+)') { $fence = $Matches[1]; $chunk.Add($l); continue }
        if ($l -match '^(#{1,6})\s+(.*?)\s*#*\s*$') {
            & $flushChunk
            $level = $Matches[1].Length; $text = ConvertFrom-MdEscapes $Matches[2]
            if ($level -eq 1 -or ($level -eq 2 -and $text -eq $topic)) {
                if (-not ($out -contains 'TOPIC')) { $out.Add('TOPIC'); $out.Add("    $text"); $out.Add('') }
            }
            elseif ($level -eq 2) { $out.Add($text.ToUpperInvariant()) }
            else { $out.Add("  $text") }
            continue
        }
        $chunk.Add($l)
    }
    & $flushChunk
    while ($out.Count -gt 0 -and $out[$out.Count - 1] -eq '') { $out.RemoveAt($out.Count - 1) }
    $dir = Split-Path -Parent $OutputFile
    if ($dir) { $null = New-Item -ItemType Directory -Force -Path $dir }
    $full = [IO.Path]::GetFullPath($OutputFile, (Get-Location).ProviderPath)
    [IO.File]::WriteAllText($full, (($out -join "`n") + "`n"), [System.Text.UTF8Encoding]::new($false))
    Write-Verbose "Wrote $full."
    return $full
}

#endregion

# Run directly (not dot-sourced): convert everything found under -Path.
if ($Path) {
    if (-not $OutputDirectory) { throw '-OutputDirectory is required when -Path is given.' }
    $files = foreach ($p in $Path) {
        if (Test-Path -LiteralPath $p -PathType Container) { Get-ChildItem -LiteralPath $p -Filter *.md -File | Sort-Object Name }
        else { Get-Item -LiteralPath $p }
    }
    $about = @($files | Where-Object { $_.Name -like 'about_*.md' })
    $cmdFiles = @($files | Where-Object { $_.Name -notlike 'about_*.md' })
    if ($cmdFiles.Count -gt 0) {
        if (-not $HelpFileName) { throw '-HelpFileName (e.g. MyModule.dll-Help.xml) is required for cmdlet pages.' }
        ConvertTo-MamlHelp -Path $cmdFiles.FullName -OutputFile (Join-Path $OutputDirectory $HelpFileName)
    }
    foreach ($a in $about) {
        ConvertTo-AboutHelpText -Path $a.FullName -OutputFile (Join-Path $OutputDirectory ($a.BaseName + '.help.txt'))
    }
}
