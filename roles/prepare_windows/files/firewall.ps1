# Private to vmimage.azure (roles/prepare_windows): Windows Firewall rules. An entry with create=true is a
# rule this role owns (found by its Name, created or put back as described); the others are Windows' own
# rules, found by name or display_group, and enabled. Run by ansible.windows.win_powershell.
[CmdletBinding(SupportsShouldProcess)]
param (
    [object[]] $Rules = @()
)

$Ansible.Changed = $false
$changes = @()
$missing = @()
foreach ($entry in $Rules) {
    if ($entry.create) {
        $wanted = @{
            DisplayName = [string]$entry.display_name
            Direction = [string]$entry.direction
            Action = [string]$entry.action
            Profile = [string]$entry.profile
            RemoteAddress = [string]$entry.remote_address
        }
        if ($entry.edge_traversal) {
            $wanted['EdgeTraversalPolicy'] = [string]$entry.edge_traversal
        }
        $rule = Get-NetFirewallRule -Name $entry.name -ErrorAction SilentlyContinue
        if (-not $rule) {
            $changes += "create $($entry.name)"
            $Ansible.Changed = $true
            if ($PSCmdlet.ShouldProcess($entry.name, 'Create firewall rule')) {
                New-NetFirewallRule -Name $entry.name -Enabled True @wanted -ErrorAction Stop | Out-Null
            }
            continue
        }
        $address = @($rule | Get-NetFirewallAddressFilter).RemoteAddress -join ','
        $differs = ([string]$rule.Enabled -ne 'True') -or ($rule.DisplayName -ne $wanted.DisplayName) -or
            ([string]$rule.Direction -ne $wanted.Direction) -or ([string]$rule.Action -ne $wanted.Action) -or
            ([string]$rule.Profile -ne $wanted.Profile) -or ($address -ne $wanted.RemoteAddress)
        if ($wanted.ContainsKey('EdgeTraversalPolicy')) {
            $differs = $differs -or ([string]$rule.EdgeTraversalPolicy -ne $wanted.EdgeTraversalPolicy)
        }
        if ($differs) {
            $changes += "update $($entry.name)"
            $Ansible.Changed = $true
            if ($PSCmdlet.ShouldProcess($entry.name, 'Update firewall rule')) {
                $update = $wanted.Clone()
                $update.Remove('Direction')
                $update['NewDisplayName'] = $update['DisplayName']
                $update.Remove('DisplayName')
                Set-NetFirewallRule -Name $entry.name -Enabled True @update -ErrorAction Stop
            }
        }
        continue
    }
    if ($entry.display_group) {
        $found = @(Get-NetFirewallRule -DisplayGroup $entry.display_group -ErrorAction SilentlyContinue)
        $label = "group '$($entry.display_group)'"
    }
    else {
        $found = @(Get-NetFirewallRule -Name $entry.name -ErrorAction SilentlyContinue)
        $label = $entry.name
    }
    if ($found.Count -eq 0) {
        if (-not $entry.optional) {
            $missing += $label
        }
        continue
    }
    foreach ($rule in $found) {
        if ([string]$rule.Enabled -ne 'True') {
            $changes += "enable $($rule.Name)"
            $Ansible.Changed = $true
            if ($PSCmdlet.ShouldProcess($rule.Name, 'Enable firewall rule')) {
                $rule | Set-NetFirewallRule -Enabled True -ErrorAction Stop
            }
        }
    }
}
$Ansible.Result = @{ changes = $changes; missing = $missing }
if ($missing.Count -gt 0) {
    $Ansible.Failed = $true
    Write-Error -Message ("Firewall rules not found: {0}" -f ($missing -join ', '))
}
