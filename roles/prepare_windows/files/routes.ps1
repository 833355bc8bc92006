# Private to vmimage.azure (roles/prepare_windows): remove the static persistent routes.
# Run by ansible.windows.win_powershell; check mode (-WhatIf) reports what would be removed.
[CmdletBinding(SupportsShouldProcess)]
param (
    [string[]] $Keep = @()
)

$Ansible.Changed = $false
$removed = @()
$routes = @(Get-NetRoute -PolicyStore PersistentStore -ErrorAction SilentlyContinue)
foreach ($route in $routes) {
    if ($Keep -contains $route.DestinationPrefix) {
        continue
    }
    $label = '{0} via {1}' -f $route.DestinationPrefix, $route.NextHop
    $removed += $label
    $Ansible.Changed = $true
    if ($PSCmdlet.ShouldProcess($label, 'Remove persistent route')) {
        $route | Remove-NetRoute -Confirm:$false -ErrorAction Stop
    }
}
$Ansible.Result = @{ removed = $removed }
