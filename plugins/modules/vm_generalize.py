#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_generalize
short_description: Back up, generalize the guest of, and generalize an Azure VM
version_added: 0.1.0
description:
  - Makes an Azure VM ready to be captured as an image (M(vmimage.azure.image), M(vmimage.azure.gallery_image_version)),
    guest included, from the controller (no SSH or WinRM connection to the VM is needed).
  - "Steps, in this order: V(backup) an incremental snapshot of the OS disk and of every data disk; V(guest) generalize
    the guest through Azure Run Command; V(guest_shutdown) (Linux) wait for the guest to power the VM off;
    V(power_off); V(deallocate); V(generalize) (ARM's generalize action); V(confirm) wait for C(OSState/generalized) in
    the instance view. Each step that waits has O(timeout), and a failure or a timeout fails naming the step (RV(step))."
  - A VM already generalized (C(OSState/generalized)) is left alone with C(changed=false), after GET requests only.
  - The backups are named O(backup_prefix) + V(os) or V(lun<N>) and tagged C(vmimage_backup_of) (the VM's id) and
    C(vmimage_backup_lun); a rerun finds and reuses them, so the backup stays the one taken before the first attempt
    (a failed attempt may have changed the guest). A snapshot of that name that is not this VM's backup of that disk
    is an error, before anything is written. The disks are snapshotted while the VM runs (crash-consistent).
  - Linux guest (C(RunShellScript)) - the script finds C(waagent) (on C(PATH), C(/usr/sbin/waagent),
    C(/usr/local/sbin/waagent)) and starts, outside the agent, a transient systemd unit (a detached session where
    systemd is missing) that runs C(waagent -force -deprovision) (C(-deprovision+user) with O(deprovision_user=true)),
    C(cloud-init clean --logs) where cloud-init exists, removes shell history, and powers the VM off. The deprovision
    cannot run inside the command itself, because it stops the agent that carries out Run Command, which then never
    reports. The module waits for the power-off; when it does not come, the guest's log is C(/run/vmimage-generalize.log).
  - Windows guest (C(RunPowerShellScript)) - the script removes C(C:\Windows\Panther) and leftover unattend files,
    runs C(Sysprep.exe /generalize /oobe /quit /mode:vm) and polls C(ImageState) under
    C(HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\State) until C(IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE);
    any other end state fails with the tail of C(setupact.log). The module then powers the VM off.
  - The scripts are data of the collection (C(plugins/module_utils/_guest/linux_generalize.sh) and the Windows script of
    C(plugins/module_utils/_guest/scripts.py)); the Linux one travels to the controller's module as a byte-for-byte copy
    in C(linux_generalize.py), since a module's AnsiballZ payload carries only Python module_utils.
  - A failed backup or guest step leaves the VM running and not generalized (nothing after it runs); run the task
    again once the cause is fixed. After a successful guest step the guest must not be started again; a later failure
    says to rerun with O(guest=none), which a VM stopped but not generalized also needs (the guest step needs a running
    VM, and the module cannot tell whether the guest was generalized by an earlier run).
  - Check mode reports the steps it would take (RV(steps)) and sends only GET requests.
author:
  - vmimage.azure maintainers (@vmimage)
requirements:
  - azure-mgmt-compute >= 39.0.0 (Compute API versions 2026-04-01, 2026-03-02 and 2026-03-03)
extends_documentation_fragment:
  - vmimage.azure.azure_auth
  - vmimage.azure.attributes
  - vmimage.azure.attributes.azure_group
options:
  resource_group:
    description: Resource group of the VM; the backups are made in it.
    type: str
    required: true
  name:
    description: Name of the VM.
    type: str
    required: true
  backup:
    description: Snapshot the OS disk and every data disk before anything else.
    type: bool
    default: true
  backup_prefix:
    description:
      - Start of the backup snapshots' names, followed by V(os) or V(lun<N>). Defaults to the VM's name followed by
        V(-pregen-), for example C(build-vm-pregen-os).
    type: str
  guest:
    description:
      - How the guest is generalized. V(auto) by the VM's OS type, V(linux) or V(windows) (which must match it), V(none)
        for a disk prepared by other means (M(vmimage.azure.linux_deprovision), M(vmimage.azure.win_sysprep), or an
        earlier run whose guest step succeeded).
    type: str
    choices: [auto, linux, windows, none]
    default: auto
  deprovision_user:
    description:
      - Linux guest only. Also remove the provisioning user (C(waagent -deprovision+user)), which the image should not
        carry. Run Command runs as root, so this never cuts off the module.
    type: bool
    default: false
  timeout:
    description:
      - Seconds each step may take (each snapshot, the Run Command, the guest's power-off, power off, deallocate, the
        confirmation); not the whole task. The Windows script's own wait for C(ImageState) ends 60 seconds before it
        (half of it for a O(timeout) of 120 or less), so that the script still reports Sysprep's state.
      - Azure ends a Run Command after 90 minutes whatever this says.
    type: int
    default: 1800
attributes:
  check_mode:
    details: Only GET requests are sent; RV(steps) lists what would be done.
seealso:
  - module: vmimage.azure.snapshot
  - module: vmimage.azure.image
  - module: vmimage.azure.gallery_image_version
"""

EXAMPLES = r"""
- name: Back up, deprovision and generalize a Linux build VM, removing its provisioning user
  vmimage.azure.vm_generalize:
    resource_group: images-rg
    name: build-vm
    deprovision_user: true
  register: generalized

- name: Capture it
  vmimage.azure.image:
    resource_group: images-rg
    name: build-image
    source: build-vm

- name: A Windows VM, Sysprep given 40 minutes
  vmimage.azure.vm_generalize:
    resource_group: images-rg
    name: win-build
    timeout: 2400

- name: A disk already deprovisioned in the guest (or an earlier run's guest step succeeded)
  vmimage.azure.vm_generalize:
    resource_group: images-rg
    name: build-vm
    guest: none
"""

RETURN = r"""
vm_id:
  description: Resource id of the VM.
  returned: always
  type: str
os_type:
  description: The VM's OS type, V(Linux) or V(Windows).
  returned: always
  type: str
guest:
  description: The guest step taken (or that would be), V(linux), V(windows) or V(none).
  returned: always
  type: str
steps:
  description:
    - The steps done, or in check mode the steps that would be; empty for a VM already generalized.
  returned: always
  type: list
  elements: dict
  contains:
    step:
      description: V(backup), V(guest), V(guest_shutdown), V(power_off), V(deallocate), V(generalize) or V(confirm).
      type: str
    detail:
      description: What the step does or did.
      type: str
  sample: [{step: backup, detail: "create snapshot 'build-vm-pregen-os' of the OS disk"}]
backups:
  description:
    - The backup snapshots, OS disk first. In check mode those to be created have RV(backups[].snapshot_id=null). For a
      VM already generalized, the backups an earlier run made, when they are found.
  returned: always
  type: list
  elements: dict
  contains:
    lun:
      description: The data disk's lun; null for the OS disk.
      type: int
    disk_id:
      description: Resource id of the disk backed up.
      type: str
    snapshot_id:
      description: Resource id of its snapshot.
      type: str
    action:
      description: V(created), V(reused) (made by an earlier run), or in check mode V(create) / V(reuse); V(none) for a
        VM already generalized.
      type: str
guest_output:
  description: The Run Command's output (the last 4,096 bytes of each stream, as Azure keeps them).
  returned: when the guest step ran
  type: dict
  contains:
    stdout:
      description: Standard output.
      type: str
    stderr:
      description: Standard error.
      type: str
guest_result:
  description:
    - The script's machine-readable result. Linux - C(outcome) (V(started) or V(failed)), C(message), C(waagent),
      C(deprovision), C(cloud_init), C(runner). Windows - C(image_state), C(outcome), C(message), C(log_tail).
  returned: when the guest step ran
  type: dict
step:
  description: On failure, the step that failed or did not finish in time.
  returned: failure
  type: str
  sample: guest
os_state:
  description: V(generalized) or V(specialized) (in check mode, the current state).
  returned: always
  type: str
power_state:
  description: The VM's power state at the end (in check mode, the current one), for example V(deallocated).
  returned: always
  type: str
auth_source:
  description: Which credential source was used (see O(auth_source)); never the credential itself.
  returned: always
  type: str
  sample: env
"""

from ansible_collections.vmimage.azure.plugins.module_utils._azure.module import AzureModule
from ansible_collections.vmimage.azure.plugins.module_utils._compute import generalize as service

ARGSPEC = dict(
    resource_group=dict(type='str', required=True),
    name=dict(type='str', required=True),
    backup=dict(type='bool', default=True),
    backup_prefix=dict(type='str'),
    guest=dict(type='str', default='auto', choices=['auto', 'linux', 'windows', 'none']),
    deprovision_user=dict(type='bool', default=False),
    timeout=dict(type='int', default=1800),
)


def main():
    azure = AzureModule(ARGSPEC, supports_check_mode=True)
    try:
        result = service.run(azure.compute(), azure.resolved().subscription_id, azure.params, azure.check_mode,
                             azure.wait)
    except service.StepError as exc:
        azure.fail(exc, **exc.result)
    except Exception as exc:  # the module's main(): the one place exceptions become failures
        azure.fail(exc)
    azure.exit(**result)


if __name__ == '__main__':
    main()
