#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot
short_description: Create, update or delete a snapshot of an Azure managed disk
version_added: 0.1.0
description:
  - Makes a full or incremental snapshot of a managed disk (O(source) or O(creation_data.create_option=Copy)),
    or imports a VHD blob as a snapshot (O(creation_data.create_option=Import)); a backup before a VM is
    generalized, or the source of an image.
  - Options follow C(azure.azcollection.azure_rm_snapshot), so a task moves over by renaming the module; O(source)
    is a shorthand for a copy of a disk given by name or id.
  - Idempotent on the snapshot's state, not on its tags alone. A snapshot is a point in time, so its source,
    creation option, incrementality and location cannot change; a difference fails naming the field unless
    O(replace=true), which deletes and re-creates it. Tags, O(sku) and O(os_type) are updated in place.
  - Every input is checked before anything is written, the source disk included (it must exist, in the same
    region). Check mode and an unchanged run send only GET requests.
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
    description: Resource group of the snapshot. It must exist.
    type: str
    required: true
  name:
    description: Name of the snapshot.
    type: str
    required: true
  state:
    description: V(present) creates or updates the snapshot, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  location:
    description:
      - Azure region of the snapshot. Defaults to the source disk's region (a copy must be made in its source's
        region), or for an import to the resource group's.
    type: str
  source:
    description:
      - Shorthand for O(creation_data) with V(Copy) from a managed disk or snapshot, given by name (in
        O(resource_group)) or resource id; a C(https://) VHD blob URL means V(Import).
      - Mutually exclusive with O(creation_data).
    type: str
  creation_data:
    description: Where the snapshot's data comes from, as C(azure_rm_snapshot) takes it.
    type: dict
    suboptions:
      create_option:
        description: V(Copy) a managed disk or snapshot, or V(Import) a VHD blob.
        type: str
        choices: [Copy, Import]
        required: true
      source_id:
        description: Resource id (or name, in O(resource_group)) of the disk or snapshot to copy.
        type: str
      source_uri:
        description: URL of the VHD page blob to import.
        type: str
      storage_account_id:
        description: Resource id of the storage account holding O(creation_data.source_uri), needed when it is in
          another subscription.
        type: str
  incremental:
    description:
      - Make an incremental snapshot (only the blocks changed since the disk's previous snapshot are stored).
      - Cannot be changed on an existing snapshot.
    type: bool
    default: false
  sku:
    description: Storage type of the snapshot. Azure's default is V(Standard_LRS).
    type: str
    choices: [Standard_LRS, Premium_LRS, Standard_ZRS]
  os_type:
    description: Operating system of the disk, when the snapshot is of an OS disk. Defaults to the source disk's.
    type: str
    choices: [Linux, Windows]
  tags:
    description: Tags of the snapshot. When given, they replace the snapshot's tags.
    type: dict
  replace:
    description: Delete and re-create the snapshot when a property that cannot change in place differs.
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
  - module: vmimage.azure.image
"""

EXAMPLES = r"""
- name: Back up a VM's OS disk before generalizing it
  vmimage.azure.snapshot:
    resource_group: images-rg
    name: build-vm-osdisk-backup
    source: build-vm_OsDisk_1
    incremental: true
    tags:
      purpose: pre-generalize backup

- name: The same, written as for azure.azcollection.azure_rm_snapshot
  vmimage.azure.snapshot:
    resource_group: images-rg
    name: build-vm-osdisk-backup
    incremental: true
    creation_data:
      create_option: Copy
      source_id: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/images-rg/providers/Microsoft.Compute/disks/build-vm_OsDisk_1

- name: Import an uploaded VHD as a snapshot
  vmimage.azure.snapshot:
    resource_group: images-rg
    name: debian-12-import
    location: westeurope
    os_type: Linux
    creation_data:
      create_option: Import
      source_uri: https://myaccount.blob.core.windows.net/vhds/debian-12.vhd

- name: Delete it
  vmimage.azure.snapshot:
    resource_group: images-rg
    name: debian-12-import
    state: absent
"""

RETURN = r"""
id:
  description: Resource id of the snapshot; null once deleted or when check mode would create it.
  returned: always
  type: str
  sample: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/images-rg/providers/Microsoft.Compute/snapshots/backup
snapshot:
  description: The snapshot as managed by the module ({} when absent); in check mode, what it would be.
  returned: always
  type: dict
  contains:
    location:
      description: Azure region.
      type: str
    create_option:
      description: V(Copy) or V(Import).
      type: str
    source_id:
      description: Resource id of the disk or snapshot copied.
      type: str
    source_uri:
      description: URL of the blob imported.
      type: str
    incremental:
      description: Whether the snapshot is incremental.
      type: bool
    sku:
      description: Storage type.
      type: str
    os_type:
      description: Operating system of the disk.
      type: str
    hyper_v_generation:
      description: V(V1) or V(V2), taken from the source disk.
      type: str
    disk_size_gb:
      description: Size of the disk snapshotted, in GiB.
      type: int
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
from ansible_collections.vmimage.azure.plugins.module_utils._compute import snapshot as service

ARGSPEC = dict(
    resource_group=dict(type='str', required=True),
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    location=dict(type='str'),
    source=dict(type='str'),
    creation_data=dict(type='dict', options=dict(
        create_option=dict(type='str', required=True, choices=['Copy', 'Import']),
        source_id=dict(type='str'),
        source_uri=dict(type='str'),
        storage_account_id=dict(type='str'),
    ), required_if=[('create_option', 'Copy', ['source_id']), ('create_option', 'Import', ['source_uri'])]),
    incremental=dict(type='bool', default=False),
    sku=dict(type='str', choices=['Standard_LRS', 'Premium_LRS', 'Standard_ZRS']),
    os_type=dict(type='str', choices=['Linux', 'Windows']),
    tags=dict(type='dict'),
    replace=dict(type='bool', default=False),
    timeout=dict(type='int', default=1800),
)


def main():
    azure = AzureModule(ARGSPEC, supports_check_mode=True, mutually_exclusive=[('source', 'creation_data')],
                        required_if=[('state', 'present', ('source', 'creation_data'), True)])
    azure.run_plan(service, 'snapshot')


if __name__ == '__main__':
    main()
