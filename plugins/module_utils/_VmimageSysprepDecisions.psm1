# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this file may change at any time; do not use it from outside the collection.
#
# Generated from decisions_json() in plugins/module_utils/_guest/sysprep.py: do not edit; regenerate with
#   PYTHONPATH=.build/collections .venv/bin/python tests/unit/plugins/module_utils/test_guest_sysprep.py
# win_sysprep passes it to Invoke-VmimageSysprep -DecisionsJson (VmimageSysprep.psm1).

Function Get-VmimageSysprepDecisionsJson {
    <#
    .SYNOPSIS
    The decisions of the Windows generalization (ImageState -> outcome, pre-check -> message) as JSON.
    #>
    [CmdletBinding()]
    param ()

    $pieces = @(
        '{"good_state":"IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE","prechecks":{"bitlocker":{"blocking":true,"mes'
        'sage":"BitLocker is not off on the system drive ({detail}) and Sysprep refuses to generalize an encr'
        'ypted or converting OS volume: run Disable-BitLocker for it, wait until its VolumeStatus is FullyDec'
        'rypted, then run this again."},"image_state":{"blocking":true,"message":"Sysprep cannot start from I'
        'mageState {detail}."},"pending_reboot":{"blocking":true,"message":"A reboot is pending ({detail}) an'
        'd Sysprep fails while servicing operations wait for one: reboot (ansible.windows.win_reboot) and run'
        ' this again."},"sysprep_exe":{"blocking":true,"message":"Sysprep.exe was not found at {detail}: this'
        ' Windows has no Sysprep to generalize it with (Windows PE, or a 32-bit PowerShell on 64-bit Windows '
        'that cannot reach System32)."},"sysprep_running":{"blocking":true,"message":"Sysprep is already runn'
        'ing (process {detail}): wait for it to finish and run this again; once it has generalized Windows, a'
        ' rerun reports no change."},"unattend":{"blocking":false,"message":"Leftover answer files, which wou'
        'ld be applied to every VM made from the image, are removed before Sysprep runs: {detail}."},"upgrade'
        '":{"blocking":true,"message":"Windows was upgraded in place ({detail} exists) and Sysprep refuses to'
        ' generalize an upgraded installation: build the image from a clean installation."}},"results":{"clea'
        'n_failed":{"changed":true,"failed":true,"message":"Sysprep was not started: leftover answer files co'
        'uld not be removed ({detail}); remove them and run this again."},"error":{"changed":false,"failed":t'
        'rue,"message":"The Sysprep script failed unexpectedly: {detail}"},"generalized":{"changed":true,"fai'
        'led":false,"message":"Sysprep generalized Windows (ImageState IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE)'
        ' in {detail} seconds."},"precheck_failed":{"changed":false,"failed":true,"message":"Sysprep was not '
        'started: {detail}"},"shutdown_failed":{"changed":true,"failed":true,"message":"Windows is generalize'
        'd but could not be shut down ({detail}): shut it down without starting it again, then capture it."},'
        '"sysprep_failed":{"changed":true,"failed":true,"message":"Sysprep did not generalize Windows: {detai'
        'l} log_tail has the end of C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log."},"timeout":{"chan'
        'ged":true,"failed":true,"message":"Sysprep did not reach IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE in ti'
        'me ({detail}). Give it a longer timeout, or wait and run this again (once Sysprep has generalized Wi'
        'ndows a rerun reports no change); log_tail has the end of C:\\Windows\\System32\\Sysprep\\Panther\\s'
        'etupact.log."},"unchanged":{"changed":false,"failed":false,"message":"Windows is already generalized'
        ' (ImageState IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE): nothing to do."},"would_generalize":{"changed":'
        'true,"failed":false,"message":"Check mode: the pre-checks passed and Sysprep would run ({detail})."}'
        '},"states":{"IMAGE_STATE_COMPLETE":{"after":"failed","before":"run","meaning":"Setup has finished (s'
        'pecialize and oobeSystem passes done): a running, hardware-dependent installation that Sysprep /gene'
        'ralize prepares for other machines.","message":"Windows is not generalized (ImageState is still {det'
        'ail}): read log_tail (setupact.log) and C:\\Windows\\System32\\Sysprep\\Panther\\setuperr.log, fix t'
        'he cause (often an Appx package installed for one user only, or a pending servicing operation), then'
        ' run again.","outcome":"specialized"},"IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT":{"after":"failed","be'
        'fore":"blocked","meaning":"The generalize pass has completed; Windows starts audit mode at the next '
        'boot, not OOBE.","message":"ImageState is {detail}: Windows was generalized for audit mode, and a VM'
        ' made from it would never provision. Start it (it boots into audit mode), then run this again: Syspr'
        'ep /generalize /oobe reseals it for OOBE.","outcome":"generalized_to_audit"},"IMAGE_STATE_GENERALIZE'
        '_RESEAL_TO_OOBE":{"after":"success","before":"done","meaning":"The generalize pass has completed; Wi'
        'ndows starts the oobeSystem pass (OOBE) at the next boot.","message":"Windows is generalized ({detai'
        'l}): capture it without starting it again.","outcome":"generalized"},"IMAGE_STATE_SPECIALIZE_RESEAL_'
        'TO_AUDIT":{"after":"failed","before":"blocked","meaning":"The specialize pass has completed; Windows'
        ' starts audit mode at the next boot.","message":"ImageState is {detail}: Windows was resealed for au'
        'dit mode without /generalize. Start it (it boots into audit mode), then run this again.","outcome":"'
        'specialized_to_audit"},"IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE":{"after":"failed","before":"blocked",'
        '"meaning":"The specialize pass has completed; Windows starts OOBE at the next boot, keeping this mac'
        'hine''s identity (Sysprep /oobe ran without /generalize).","message":"ImageState is {detail}: Windows'
        ' was resealed without /generalize and keeps this machine''s identity. Start it and finish OOBE, then '
        'run this again.","outcome":"specialized_to_oobe"},"IMAGE_STATE_UNDEPLOYABLE":{"after":"failed","befo'
        're":"blocked","meaning":"A phase of Setup is not complete: Setup or Sysprep is running, or (when nei'
        'ther is) a phase failed and the installation must be reinstalled.","message":"ImageState is {detail}'
        ': a Setup or Sysprep phase did not complete, so this installation cannot be generalized any more. Re'
        'store the backup taken before Sysprep (or reinstall Windows), read C:\\Windows\\System32\\Sysprep\\P'
        'anther\\setupact.log for the cause, and run again.","outcome":"incomplete"}},"unknown_state":{"after'
        '":"failed","before":"blocked","meaning":"Not a documented Windows Setup state.","message":"ImageStat'
        'e is ''{detail}'', which is not a Windows Setup state Microsoft documents (HKLM:\\SOFTWARE\\Microsoft\'
        '\Windows\\CurrentVersion\\Setup\\State): this is not a Windows installation Sysprep can generalize a'
        's it is.","outcome":"unknown"}}'
    )
    return ($pieces -join '')
}

Export-ModuleMember -Function 'Get-VmimageSysprepDecisionsJson'
