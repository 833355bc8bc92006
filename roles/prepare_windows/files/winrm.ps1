# Private to vmimage.azure (roles/prepare_windows): WinRM enabled (Enable-PSRemoting) unless it already is:
# the WinRM service starts automatically and runs, and a listener exists. Run by ansible.windows.win_powershell.
[CmdletBinding(SupportsShouldProcess)]
param ()

$Ansible.Changed = $false
$service = Get-Service -Name WinRM -ErrorAction Stop
$listeners = @()
if ($service.Status -eq 'Running') {
    $listeners = @(Get-ChildItem -Path WSMan:\localhost\Listener -ErrorAction SilentlyContinue)
}
$ready = ([string]$service.StartType -eq 'Automatic') -and ($service.Status -eq 'Running') -and ($listeners.Count -gt 0)
if (-not $ready) {
    $Ansible.Changed = $true
    if ($PSCmdlet.ShouldProcess('WinRM', 'Enable-PSRemoting')) {
        Enable-PSRemoting -Force -SkipNetworkProfileCheck -ErrorAction Stop | Out-Null
    }
}
$Ansible.Result = @{
    start_type = [string]$service.StartType
    status = [string]$service.Status
    listeners = $listeners.Count
}
