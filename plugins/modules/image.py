#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image
short_description: Capture or delete an Azure managed image
version_added: 0.1.0
description:
  - Creates a managed image from a generalized VM (its OS B(and) data disks), or from a managed disk, snapshot or
    VHD blob URL for the OS disk plus the data disks given in O(data_disk_sources); deletes one.
  - Options follow C(azure.azcollection.azure_rm_image), so a task moves over by renaming the module.
  - Every source is read and checked before anything is written. It must exist and be in the image's region; a VM
    must be generalized (C(OSState/generalized) in its instance view, see M(vmimage.azure.vm_generalize)); a given
    O(hyper_v_generation) or O(os_type) must agree with the source's. When O(hyper_v_generation) is omitted the
    source's generation is sent explicitly (Azure would otherwise default a disk-based image to V(V1)).
  - A source (VM, disk or snapshot, data disks included) whose security type is Trusted Launch or a confidential VM is
    refused before anything is written, because a managed image cannot carry it; publish such a source to an Azure
    Compute Gallery with M(vmimage.azure.gallery_image) and M(vmimage.azure.gallery_image_version) instead. An OS disk
    source over Azure's 4,095 GiB OS disk limit is refused too. A VHD blob source is not read, so neither its
    generation nor its size is checked up front.
  - Idempotent on the image itself (source, OS type and state, generation, data disks and their LUNs, zone
    resilience, encryption sets, tags), not on its tags alone. Only tags can change in place; any other difference
    fails naming the field unless O(replace=true), which deletes and re-creates the image. Check mode and an
    unchanged run send only GET requests.
  - An Azure Compute Gallery image version is the newer way to publish (replication, Trusted Launch); a managed
    image can be its source.
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
    description: Resource group of the image. It must exist.
    type: str
    required: true
  name:
    description: Name of the image.
    type: str
    required: true
  state:
    description: V(present) creates the image (or updates its tags), V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  location:
    description: Azure region of the image. Defaults to the source's (or, for a blob, the resource group's).
    type: str
  source:
    description:
      - What the image is made of, as C(azure_rm_image) takes it.
      - A VM, managed disk or snapshot by name (in O(resource_group), tried in that order) or resource id; a dict
        with C(type) (V(virtual_machines), V(disks) or V(snapshots)), C(name) and optionally C(resource_group); or
        the C(https://) URL of a VHD page blob.
      - A VM is captured with its OS and data disks and must be generalized.
      - Required when O(state=present).
    type: raw
  data_disk_sources:
    description:
      - Data disks of an image made from a disk, snapshot or blob, in LUN order (the first is LUN 0); each a managed
        disk or snapshot name or id, a dict like O(source), or a VHD blob URL.
      - Not allowed with a VM source, whose data disks are captured with it.
    type: list
    elements: raw
  os_type:
    description: Operating system of the OS disk. Required for a blob source (or a disk that does not record it).
    type: str
    choices: [Linux, Windows]
  hyper_v_generation:
    description: V(V1) (BIOS) or V(V2) (UEFI). Defaults to the source's; a different value is an error.
    type: str
    choices: [V1, V2]
  zone_resilient:
    description: Store the image on zone-redundant storage (in regions that have zones).
    type: bool
  os_disk_encryption_set:
    description: Resource id of the disk encryption set for the OS disk (disk, snapshot or blob sources).
    type: str
  data_disk_encryption_set:
    description: Resource id of the disk encryption set for every data disk (disk, snapshot or blob sources).
    type: str
  tags:
    description: Tags of the image. When given, they replace the image's tags.
    type: dict
  replace:
    description: Delete and re-create the image when a property other than its tags differs.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for each long-running operation (create, update, delete).
    type: int
    default: 1800
attributes:
  check_mode:
    details: Only GET requests are sent.
seealso:
  - module: vmimage.azure.snapshot
  - module: vmimage.azure.image_info
"""

EXAMPLES = r"""
- name: Capture a generalized VM (OS and data disks)
  vmimage.azure.image:
    resource_group: images-rg
    name: debian-12-web
    source: build-vm
    tags:
      build: "{{ build_id }}"

- name: Make an image from an uploaded VHD
  vmimage.azure.image:
    resource_group: images-rg
    name: debian-12-upload
    location: westeurope
    source: https://myaccount.blob.core.windows.net/vhds/debian-12.vhd
    os_type: Linux
    hyper_v_generation: V2

- name: From an OS disk snapshot and two data disks
  vmimage.azure.image:
    resource_group: images-rg
    name: app-server
    source:
      type: snapshots
      name: app-os-snap
    data_disk_sources:
      - app-data-0
      - /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/images-rg/providers/Microsoft.Compute/snapshots/app-data-1
    os_type: Linux

- name: Delete an image
  vmimage.azure.image:
    resource_group: images-rg
    name: debian-12-upload
    state: absent
"""

RETURN = r"""
id:
  description: Resource id of the image; null once deleted or when check mode would create it.
  returned: always
  type: str
  sample: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/images-rg/providers/Microsoft.Compute/images/debian-12-web
image:
  description: The image as managed by the module ({} when absent); in check mode, what it would be.
  returned: always
  type: dict
  contains:
    location:
      description: Azure region.
      type: str
    source:
      description: Resource id of the source VM, disk or snapshot, or the blob URL.
      type: str
    source_type:
      description: V(virtual_machine), V(managed_disk), V(snapshot) or V(blob).
      type: str
    os_type:
      description: V(Linux) or V(Windows).
      type: str
    os_state:
      description: V(Generalized).
      type: str
    hyper_v_generation:
      description: V(V1) or V(V2).
      type: str
    zone_resilient:
      description: Whether the image is zone-redundant.
      type: bool
    data_disks:
      description: The data disks, each with C(lun) and C(source).
      type: list
      elements: dict
    provisioning_state:
      description: Azure's provisioning state.
      type: str
    tags:
      description: Tags.
      type: dict
action:
  description: What was (or in check mode would be) done, V(none), V(create), V(update), V(replace) or V(delete).
  returned: always
  type: str
  sample: create
auth_source:
  description: Which credential source was used (see O(auth_source)); never the credential itself.
  returned: always
  type: str
  sample: env
"""

from ansible_collections.vmimage.azure.plugins.module_utils._azure.module import AzureModule
from ansible_collections.vmimage.azure.plugins.module_utils._compute import image as service

ARGSPEC = dict(
    resource_group=dict(type='str', required=True),
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    location=dict(type='str'),
    source=dict(type='raw'),
    data_disk_sources=dict(type='list', elements='raw'),
    os_type=dict(type='str', choices=['Linux', 'Windows']),
    hyper_v_generation=dict(type='str', choices=['V1', 'V2']),
    zone_resilient=dict(type='bool'),
    os_disk_encryption_set=dict(type='str'),
    data_disk_encryption_set=dict(type='str'),
    tags=dict(type='dict'),
    replace=dict(type='bool', default=False),
    timeout=dict(type='int', default=1800),
)


def main():
    azure = AzureModule(ARGSPEC, supports_check_mode=True, required_if=[('state', 'present', ['source'])])
    azure.run_plan(service, 'image')


if __name__ == '__main__':
    main()
