# Private to vmimage.azure (roles/prepare_windows): Boot Configuration Data settings (bcdedit.exe).
# Each entry (id, element, value, optional command) is read in "bcdedit.exe /enum <id>" and set only when
# it differs. Run by ansible.windows.win_powershell; check mode reports what would be set.
[CmdletBinding(SupportsShouldProcess)]
param (
    [object[]] $Entries = @()
)

Function ConvertTo-BcdValue {
    param ([string] $Value)
    $text = $Value.Trim()
    if ($text -match '^(yes|on|true|enable|enabled)$') {
        return 'yes'
    }
    if ($text -match '^(no|off|false|disable|disabled)$') {
        return 'no'
    }
    return $text.ToLowerInvariant()
}

Function Get-BcdElement {
    param ([string] $Id)
    $elements = @{}
    $lines = & bcdedit.exe /enum $Id
    if ($LASTEXITCODE -ne 0) {
        throw "bcdedit.exe /enum $Id failed with exit code $LASTEXITCODE"
    }
    foreach ($line in $lines) {
        if ($line -match '^(\S+)\s+(.+)$') {
            $elements[$Matches[1].ToLowerInvariant()] = $Matches[2]
        }
    }
    return $elements
}

$Ansible.Changed = $false
$cache = @{}
$done = @()
$changes = @()
foreach ($entry in $Entries) {
    if (-not $cache.ContainsKey($entry.id)) {
        $cache[$entry.id] = Get-BcdElement -Id $entry.id
    }
    $current = $cache[$entry.id][([string]$entry.element).ToLowerInvariant()]
    if ($null -ne $current -and (ConvertTo-BcdValue $current) -eq (ConvertTo-BcdValue ([string]$entry.value))) {
        continue
    }
    $arguments = @('/set', $entry.id, $entry.element, [string]$entry.value)
    if ($entry.command) {
        $arguments = @($entry.command)
    }
    $key = $arguments -join ' '
    $Ansible.Changed = $true
    if ($done -contains $key) {
        continue
    }
    $done += $key
    $changes += "bcdedit.exe $key (was: $current)"
    if ($PSCmdlet.ShouldProcess($key, 'bcdedit.exe')) {
        $output = & bcdedit.exe @arguments 2>&1
        if ($LASTEXITCODE -ne 0) {
            throw "bcdedit.exe $key failed with exit code ${LASTEXITCODE}: $output"
        }
    }
}
$Ansible.Result = @{ changes = $changes }
