# Private to vmimage.azure (roles/prepare_windows): AC setting values of the active power plan
# (powercfg.exe /setacvalueindex SCHEME_CURRENT ...); community.windows.win_power_plan activates the plan.
# Run by ansible.windows.win_powershell.
[CmdletBinding(SupportsShouldProcess)]
param (
    [object[]] $Settings = @()
)

Function Get-AcValue {
    param ([string] $Subgroup, [string] $Setting)
    # The last two hexadecimal numbers of the query are the AC and the DC index (the labels are localized).
    $text = (& powercfg.exe /query SCHEME_CURRENT $Subgroup $Setting) -join "`n"
    $numbers = [regex]::Matches($text, '0x([0-9a-fA-F]{8})')
    if ($numbers.Count -lt 2) {
        return $null
    }
    return [Convert]::ToInt64($numbers[$numbers.Count - 2].Groups[1].Value, 16)
}

$Ansible.Changed = $false
$changes = @()
foreach ($entry in $Settings) {
    $current = Get-AcValue -Subgroup $entry.subgroup -Setting $entry.setting
    if ($current -ne [int64]$entry.ac_value) {
        $changes += '{0} {1} AC {2}' -f $entry.subgroup, $entry.setting, $entry.ac_value
        $Ansible.Changed = $true
        if ($PSCmdlet.ShouldProcess("$($entry.subgroup) $($entry.setting)", "Set AC value $($entry.ac_value)")) {
            & powercfg.exe /setacvalueindex SCHEME_CURRENT $entry.subgroup $entry.setting $entry.ac_value
            if ($LASTEXITCODE -ne 0) {
                throw "powercfg.exe /setacvalueindex failed with exit code $LASTEXITCODE"
            }
            & powercfg.exe /setactive SCHEME_CURRENT | Out-Null
        }
    }
}
$Ansible.Result = @{ changes = $changes }
