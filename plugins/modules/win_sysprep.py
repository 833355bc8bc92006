#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The module is win_sysprep.ps1; this file holds its documentation only.

from __future__ import annotations

DOCUMENTATION = r"""
module: win_sysprep
short_description: Generalize a Windows host with Sysprep for an Azure image, checked before and after
version_added: 0.1.0
description:
  - Runs on a Windows host reached over WinRM, PSRP or SSH (for example an on-premises Hyper-V VM before its
    disk is uploaded with M(vmimage.azure.vhd_upload)), and leaves it generalized, ready to be captured as an
    Azure image. For a VM already in Azure, M(vmimage.azure.vm_generalize) runs the same PowerShell through
    Azure Run Command, with no WinRM needed.
  - "Pre-checks first, each reported in RV(prechecks): the ImageState in
    C(HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State) (only V(IMAGE_STATE_COMPLETE) is
    generalized; V(IMAGE_STATE_UNDEPLOYABLE) and the C(*_RESEAL_TO_AUDIT) and C(SPECIALIZE_RESEAL_*) states fail,
    saying what to do), Sysprep.exe present and not already running, no in-place upgrade, no pending reboot
    (Component Based Servicing, Windows Update, pending file renames), BitLocker off on the system drive (not
    encrypted nor converting), and leftover answer files (C(Unattend.xml), C(Autounattend.xml) where Windows Setup
    looks for them), which are removed rather than failed on. A failed pre-check changes nothing."
  - Then it removes C(C:\Windows\Panther) and the leftover answer files, runs
    C(Sysprep.exe /generalize /oobe /quit /quiet /mode:vm) and reads ImageState until it is
    V(IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE), Sysprep exits, or O(timeout) runs out. Any other end fails with the
    ImageState, what it means, and the end of C(C:\Windows\System32\Sysprep\Panther\setupact.log) in
    RV(log_tail).
  - Idempotent through ImageState. A host already at V(IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE) is left alone and
    reports no change (and is not shut down). Once generalized, Windows runs OOBE at its next boot and is a new
    machine after it, so capture it without starting it; O(shutdown=true) powers it off for that.
  - C(/mode:vm) skips the hardware detection of the next boot, so the image must be booted on the same
    hypervisor (Hyper-V, which Azure is).
  - What the PowerShell decides (ImageState to outcome, pre-check to message) is data kept in the collection's
    Python and tested there; the tests cannot run Windows.
author:
  - vmimage.azure maintainers (@vmimage)
extends_documentation_fragment:
  - vmimage.azure.attributes
options:
  timeout:
    description:
      - Seconds to wait for Sysprep to reach V(IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE), from 1 to 86400.
      - On a timeout the module fails and leaves Sysprep running; a later run reports no change once Sysprep has
        generalized Windows, or that Sysprep is still running.
      - Keep the connection's own timeouts longer (for example C(ansible_winrm_read_timeout_sec) and
        C(ansible_winrm_operation_timeout_sec)), or run the task with C(async).
    type: int
    default: 3600
  shutdown:
    description:
      - Shut Windows down 10 seconds after Sysprep generalized it, so that it is not started again before it
        is captured. The module returns before the host goes down.
      - Not done when the host was already generalized, nor in check mode.
    type: bool
    default: false
attributes:
  check_mode:
    details: Runs the pre-checks only; RV(steps) lists what would run, with status V(would_run).
  diff_mode:
    support: none
  platform:
    platforms: windows
notes:
  - Sysprep refuses an in-place upgraded Windows, a pending reboot and a BitLocker-protected system drive; the
    pre-checks report these before anything changes. Another common cause of failure, an Appx package installed
    for one user only, is named in RV(log_tail).
  - Run it as an administrator (the default for WinRM and PSRP connections).
seealso:
  - module: vmimage.azure.vm_generalize
  - module: vmimage.azure.snapshot
  - module: vmimage.azure.vhd_upload
  - name: Windows Setup States
    description: What each ImageState means.
    link: https://learn.microsoft.com/windows-hardware/manufacture/desktop/windows-setup-states
  - name: Prepare a Windows VHD to upload to Azure
    description: Microsoft's steps before Sysprep, among them removing C(C:\Windows\Panther).
    link: https://learn.microsoft.com/azure/virtual-machines/windows/prepare-for-upload-vhd-image
"""

EXAMPLES = r"""
- name: Check what Sysprep would meet, changing nothing
  vmimage.azure.win_sysprep:
  check_mode: true

- name: Generalize the build VM and power it off for capture
  vmimage.azure.win_sysprep:
    timeout: 2700
    shutdown: true

- name: The same where the connection would time out first
  vmimage.azure.win_sysprep:
    timeout: 5400
    shutdown: true
  async: 6000
  poll: 30

- name: Then upload its disk from the controller (the VHD copied there, or on a share it mounts)
  vmimage.azure.vhd_upload:
    path: /srv/vms/build-vm.vhd
    resource_group: images-rg
    disk_name: build-vm-os
    os_type: Windows
  delegate_to: localhost
"""

RETURN = r"""
image_state:
  description: The last ImageState read (after Sysprep, or before it when Sysprep did not run).
  returned: always
  type: str
  sample: IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE
outcome:
  description:
    - V(generalized), V(unchanged) (already generalized), V(would_generalize) (check mode), or on failure
      V(precheck_failed), V(clean_failed), V(sysprep_failed), V(timeout), V(shutdown_failed) or V(error).
  returned: always
  type: str
  sample: generalized
msg:
  description: What happened, or on failure what went wrong and what to do.
  returned: always
  type: str
  sample: Sysprep generalized Windows (ImageState IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE) in 143 seconds.
prechecks:
  description: Every pre-check run, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: V(image_state), V(sysprep_exe), V(sysprep_running), V(upgrade), V(pending_reboot), V(bitlocker)
        or V(unattend).
      type: str
    status:
      description: V(passed), V(failed) (Sysprep is not started), V(found) (fixed by the run, for example answer
        files removed) or V(skipped) (for example BitLocker not installed).
      type: str
    detail:
      description: What was found (the state, the reasons a reboot is pending, the files, ...).
      type: str
    message:
      description: For V(failed) and V(found), what it means and what to do; empty otherwise.
      type: str
  sample:
    - {name: image_state, status: passed, detail: IMAGE_STATE_COMPLETE, message: ""}
    - {name: bitlocker, status: skipped, detail: BitLocker is not installed, message: ""}
steps:
  description: The steps run (or in check mode that would run), in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: V(clean), V(sysprep), V(wait) or V(shutdown).
      type: str
    status:
      description: V(done), V(failed) or V(would_run).
      type: str
    detail:
      description: What the step removed, ran or waited for.
      type: str
  sample:
    - {name: clean, status: done, detail: "removed: C:\\Windows\\Panther"}
    - {name: sysprep, status: done, detail: "process 4242: C:\\Windows\\System32\\Sysprep\\Sysprep.exe /generalize /oobe /quit /quiet /mode:vm"}
    - {name: wait, status: done, detail: IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE after 143 seconds}
log_tail:
  description: The last lines of C(C:\Windows\System32\Sysprep\Panther\setupact.log) when Sysprep ran but did
    not generalize Windows (or timed out); empty otherwise.
  returned: always
  type: str
shutdown:
  description: Whether a shutdown was scheduled.
  returned: always
  type: bool
  sample: true
"""
