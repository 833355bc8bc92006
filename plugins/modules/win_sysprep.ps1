#!powershell

# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ansible_collections.vmimage.azure.plugins.module_utils.VmimageSysprep
#AnsibleRequires -PowerShell ansible_collections.vmimage.azure.plugins.module_utils._VmimageSysprepDecisions

# Thin: the work is Invoke-VmimageSysprep (VmimageSysprep.psm1), which vm_generalize also runs through
# Azure Run Command; the decisions it takes come from _guest/sysprep.py (_VmimageSysprepDecisions.psm1).

$spec = @{
    options = @{
        timeout = @{ type = 'int'; default = 3600 }
        shutdown = @{ type = 'bool'; default = $false }
    }
    supports_check_mode = $true
}

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)

$timeout = $module.Params.timeout
if ($timeout -lt 1 -or $timeout -gt 86400) {
    $module.FailJson(('timeout must be from 1 to 86400 seconds, not {0}: it bounds the wait for Sysprep' -f $timeout))
}

$sysprepArgs = @{
    DecisionsJson = Get-VmimageSysprepDecisionsJson
    TimeoutSeconds = $timeout
    Shutdown = $module.Params.shutdown
    CheckMode = $module.CheckMode
}
$result = Invoke-VmimageSysprep @sysprepArgs

foreach ($field in @('image_state', 'outcome', 'log_tail', 'prechecks', 'steps')) {
    $module.Result[$field] = $result[$field]
}
$module.Result.changed = $result.changed
$module.Result.shutdown = [bool]($module.Params.shutdown -and $result.outcome -eq 'generalized')
if ($result.failed) {
    $module.FailJson($result.message)
}
$module.Result.msg = $result.message
$module.ExitJson()
