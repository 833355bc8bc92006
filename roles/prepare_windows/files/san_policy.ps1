# Private to vmimage.azure (roles/prepare_windows): the SAN policy for newly found disks
# (diskpart's "san policy=onlineall"). Run by ansible.windows.win_powershell.
[CmdletBinding(SupportsShouldProcess)]
param (
    [string] $Policy = 'OnlineAll'
)

$Ansible.Changed = $false
$before = [string](Get-StorageSetting -ErrorAction Stop).NewDiskPolicy
if ($before -ne $Policy) {
    $Ansible.Changed = $true
    if ($PSCmdlet.ShouldProcess('NewDiskPolicy', "Set to $Policy")) {
        Set-StorageSetting -NewDiskPolicy $Policy -ErrorAction Stop
    }
}
$Ansible.Result = @{ before = $before; after = $Policy }
