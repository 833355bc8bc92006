#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: disk_info
short_description: List Azure managed disks, or the disks of a VM with their generation and security type
version_added: 0.1.0
description:
  - Lists managed disks with what an image build needs to know of them - size, OS type, Hyper-V generation,
    security type (Trusted Launch, confidential VM), state, SKU - each with the RV(disks[].id) a later task can use as
    a source (M(vmimage.azure.snapshot), M(vmimage.azure.image), M(vmimage.azure.gallery_image_version)).
  - With O(vm_name), lists the OS disk and the data disks of that VM, in that order (data disks by LUN), each with its
    RV(disks[].role) and RV(disks[].lun), and returns the VM's own generation and security type in RV(vm).
  - Otherwise lists the disk O(name) in O(resource_group), the disks of O(resource_group), or those of the whole
    subscription (optionally only those named O(name)).
  - A name that matches nothing gives an empty RV(disks), as C(azure.azcollection)'s C(*_info) modules do; a resource
    group or VM that does not exist is an error, so that a typo is not mistaken for "no disk".
  - Options follow C(azure.azcollection.azure_rm_manageddisk_info) where it has them (O(name), O(resource_group),
    O(tags)).
  - Never changes anything; only GET requests are sent.
author:
  - vmimage.azure maintainers (@vmimage)
requirements:
  - azure-mgmt-compute >= 39.0.0 (Compute API versions 2026-04-01, 2026-03-02 and 2026-03-03)
extends_documentation_fragment:
  - vmimage.azure.azure_auth
  - vmimage.azure.attributes.info_module
  - vmimage.azure.attributes.azure_group
options:
  resource_group:
    description:
      - Resource group of the disks, or of the VM (required with O(vm_name)). It must exist.
      - Without it the disks of the whole subscription are listed.
    type: str
  name:
    description:
      - Name of a managed disk. With O(resource_group) the disk is read directly; without it, every disk of the
        subscription with that name (compared without case) is returned. With O(vm_name), only that disk of the VM.
    type: str
  vm_name:
    description:
      - Name of a VM in O(resource_group), to list its OS disk and data disks (which may be in other resource groups).
    type: str
  tags:
    description:
      - Return only the disks that have all these tags, each given as V(key) (the tag is set) or V(key:value) (set to
        that value), as C(azure_rm_manageddisk_info) takes them. Tag names compare without case, values exactly.
    type: list
    elements: str
notes:
  - A disk created without a Hyper-V generation reports none (RV(disks[].hyper_v_generation) is null); for the disks of
    a VM, RV(vm.hyper_v_generation) is the generation the VM runs as.
seealso:
  - module: vmimage.azure.image
  - module: vmimage.azure.snapshot
  - module: vmimage.azure.image_info
"""

EXAMPLES = r"""
- name: The disks of the build VM, and its generation
  vmimage.azure.disk_info:
    resource_group: images-rg
    vm_name: build-vm
  register: build

- name: Snapshot its OS disk
  vmimage.azure.snapshot:
    resource_group: images-rg
    name: build-vm-os
    source: "{{ (build.disks | selectattr('role', 'equalto', 'os') | first).id }}"

- name: One disk
  vmimage.azure.disk_info:
    resource_group: images-rg
    name: debian-12-upload

- name: The unattached disks of a resource group tagged for a build
  vmimage.azure.disk_info:
    resource_group: images-rg
    tags:
      - build:7
  register: found
"""

RETURN = r"""
disks:
  description:
    - The disks found. With O(vm_name), the OS disk first, then the data disks by LUN; otherwise sorted by resource
      group and name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Resource id of the disk (null for an unmanaged VHD disk of a VM).
      type: str
      sample: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/images-rg/providers/Microsoft.Compute/disks/os
    name:
      description: Name of the disk.
      type: str
    resource_group:
      description: Resource group of the disk.
      type: str
    location:
      description: Azure region.
      type: str
    zones:
      description: Availability zones of a zonal disk.
      type: list
      elements: str
    size_gb:
      description: Size in GiB.
      type: int
    disk_size_bytes:
      description: Size in bytes.
      type: int
    os_type:
      description: V(Linux) or V(Windows) for an OS disk; null for a data disk.
      type: str
    hyper_v_generation:
      description: V(V1) or V(V2); null when the disk does not say.
      type: str
    architecture:
      description: V(x64) or V(Arm64), when the disk says.
      type: str
    security_type:
      description:
        - The disk's security type, V(TrustedLaunch) or one of the V(ConfidentialVM_*) types; null for a standard disk.
        - A managed image cannot be made from a disk that has one; publish it to a gallery instead.
      type: str
    disk_state:
      description: V(Unattached), V(Attached), V(Reserved), V(ReadyToUpload), V(ActiveUpload), V(ActiveSAS)...
      type: str
    sku:
      description: Storage type, for example V(Premium_LRS).
      type: str
    managed_by:
      description: Resource id of the VM the disk is attached to.
      type: str
    create_option:
      description: How the disk was created, for example V(FromImage), V(Empty), V(Upload), V(Copy).
      type: str
    source_id:
      description: Resource id of the disk or snapshot it was copied from.
      type: str
    upload_size_bytes:
      description: For a disk created for an upload, its C(uploadSizeBytes) (the VHD's size, footer included).
      type: int
    provisioning_state:
      description: Azure's provisioning state.
      type: str
    tags:
      description: Tags.
      type: dict
    role:
      description: With O(vm_name), V(os) or V(data); else null.
      type: str
    lun:
      description: With O(vm_name), the LUN of a data disk; else null.
      type: int
    vhd_uri:
      description: With O(vm_name), the URL of an unmanaged disk's VHD; else null.
      type: str
vm:
  description: With O(vm_name), the VM.
  returned: when O(vm_name) is given
  type: dict
  contains:
    id:
      description: Resource id of the VM.
      type: str
    name:
      description: Name of the VM.
      type: str
    location:
      description: Azure region.
      type: str
    hyper_v_generation:
      description: The generation the VM runs as (from its instance view), V(V1) or V(V2).
      type: str
    security_type:
      description: V(TrustedLaunch), V(ConfidentialVM), or null (standard).
      type: str
    os_type:
      description: V(Linux) or V(Windows).
      type: str
auth_source:
  description: Which credential source was used (see O(auth_source)); never the credential itself.
  returned: always
  type: str
  sample: env
"""

from ansible_collections.vmimage.azure.plugins.module_utils._azure.module import AzureModule
from ansible_collections.vmimage.azure.plugins.module_utils._compute import disk_info as service

ARGSPEC = dict(
    resource_group=dict(type='str'),
    name=dict(type='str'),
    vm_name=dict(type='str'),
    tags=dict(type='list', elements='str'),
)


def main():
    azure = AzureModule(ARGSPEC, supports_check_mode=True, required_by=dict(vm_name='resource_group'))
    try:
        result = service.run(azure.compute(), azure.params)
    except Exception as exc:  # only main() turns exceptions into failures
        azure.fail(exc)
    azure.exit(changed=False, **result)


if __name__ == '__main__':
    main()
