#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gallery_image_version
short_description: Publish, update or delete an Azure Compute Gallery image version
version_added: 0.1.0
description:
  - Publishes an image version into a gallery image definition (M(vmimage.azure.gallery_image)) from a managed image,
    a VM or another version (O(storage_profile.source_image)), or from an OS disk and data disks, each a managed disk,
    a snapshot or a VHD blob (O(storage_profile.os_disk), O(storage_profile.data_disks)), and waits until it has
    replicated to every target region.
  - Options follow C(azure.azcollection.azure_rm_galleryimageversion), so a task moves over by renaming the module.
    Unlike it, an OS disk B(and) data disks work together, each data disk sent with its own lun and source, and a VM
    source is sent as C(source.virtualMachineId).
  - Before anything is written, the definition is read (it must exist) and every source is read and checked against
    it; a failure names what differs and what to do. The Hyper-V generation of the source (a VM's from its instance
    view, a disk's or snapshot's, a managed image's, or a version's definition) must agree with the definition's; a
    VM's generalized state, a managed image's or a version's definition's OS state with the definition's
    O(vmimage.azure.gallery_image#module:os_state);
    a Trusted Launch or confidential source needs a definition whose SecurityType takes it; and the disks must be
    within the gallery's size limits for the O(publishing_profile.replication_mode). A VHD blob is not read (its
    generation cannot be checked here).
  - Idempotent. The target regions, replica counts, O(publishing_profile.exclude_from_latest),
    O(publishing_profile.end_of_life_date) and O(tags) are updated in place; a different source, host caching,
    storage account type, replication mode or location fails naming the field unless O(replace=true), which deletes
    and re-creates the version. A version whose creation failed is re-created only with O(replace=true). Check mode
    and an unchanged run send only GET requests.
  - With O(wait=true) a run that finds the version still replicating (because an earlier run timed out, or ran with
    O(wait=false)) sends nothing and only waits for it.
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
    description: Resource group of the gallery. It must exist.
    type: str
    required: true
  gallery_name:
    description: Name of the Azure Compute Gallery. It must exist.
    type: str
    required: true
  gallery_image_name:
    description: Name of the gallery image definition the version belongs to. It must exist.
    type: str
    required: true
  name:
    description:
      - Name of the version, C(Major.Minor.Patch), each an integer from 0 to 2147483647 (for example V(1.0.0)).
    type: str
    required: true
  state:
    description: V(present) publishes or updates the version, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  location:
    description:
      - Azure region of the version; defaults to the definition's region, the only one Azure accepts. List other
        regions in O(publishing_profile.target_regions) to replicate the version there.
    type: str
  storage_profile:
    description:
      - What the version is made of. Required to create the version; when omitted for an existing version, its
        sources are not compared.
      - Give either O(storage_profile.source_image), or O(storage_profile.os_disk) (and optionally
        O(storage_profile.data_disks)).
    type: dict
    suboptions:
      source_image:
        description:
          - A managed image, a VM or another gallery image version, by resource id; by name (a managed image, then a
            VM, in O(resource_group)); or as a dict with C(name) (and C(resource_group), and C(type) V(images) or
            V(virtual_machines)), or with C(gallery_name), C(gallery_image_name) and C(version) (and
            C(resource_group)) for a version.
          - A VM must be generalized for a Generalized definition (and not for a Specialized one); it is sent as
            C(source.virtualMachineId) and brings its data disks.
          - Mutually exclusive with O(storage_profile.os_disk) and O(storage_profile.data_disks).
        type: raw
      os_disk:
        description: The OS disk of the version.
        type: dict
        suboptions:
          source:
            description:
              - A managed disk or snapshot (resource id; name in O(resource_group), a snapshot first; or a dict with
                C(name), C(resource_group) and C(type) V(snapshots) or V(disks)), or the C(https://) URL of a VHD page
                blob (then O(storage_profile.os_disk.storage_account_id) is required).
            type: raw
            required: true
          storage_account_id:
            description:
              - For a VHD blob source, the resource id of the storage account that holds it (or its name, in
                O(resource_group)); sent with the URL, as Azure requires. It cannot be derived from the URL, since the
                account may be in any resource group or subscription.
            type: str
          host_caching:
            description: Host caching of the disk. Azure's default applies when omitted.
            type: str
            choices: ['None', ReadOnly, ReadWrite]
      data_disks:
        description:
          - The data disks of the version, each with its own lun and source (as O(storage_profile.os_disk.source)).
          - Needs O(storage_profile.os_disk).
        type: list
        elements: dict
        suboptions:
          lun:
            description: Logical unit number of the data disk; each disk needs its own.
            type: int
            required: true
          source:
            description: A managed disk, a snapshot or a VHD blob URL, as O(storage_profile.os_disk.source).
            type: raw
            required: true
          storage_account_id:
            description: For a VHD blob source, as O(storage_profile.os_disk.storage_account_id).
            type: str
          host_caching:
            description: Host caching of the disk. Azure's default applies when omitted.
            type: str
            choices: ['None', ReadOnly, ReadWrite]
  publishing_profile:
    description: Where and how the version is published.
    type: dict
    suboptions:
      target_regions:
        description:
          - The regions the version is replicated to; must include its own region. Azure's default is its own region
            alone. Updatable; order does not matter.
        type: list
        elements: dict
        suboptions:
          name:
            description: Region name (V(westeurope) or V(West Europe)).
            type: str
            required: true
          regional_replica_count:
            description: Number of replicas in this region; defaults to O(publishing_profile.replica_count).
            type: int
          storage_account_type:
            description: Storage of the replicas in this region.
            type: str
            choices: [Standard_LRS, Standard_ZRS, Premium_LRS, PremiumV2_LRS]
          encryption:
            description: Customer-managed keys for the disks in this region.
            type: dict
            suboptions:
              os_disk_image:
                description: Encryption of the OS disk image.
                type: dict
                suboptions:
                  disk_encryption_set_id:
                    description: Resource id of the disk encryption set.
                    type: str
                  security_profile:
                    description: Confidential VM encryption of the OS disk image.
                    type: dict
                    suboptions:
                      confidential_vm_encryption_type:
                        description: Confidential VM encryption type.
                        type: str
                        choices: [EncryptedVMGuestStateOnlyWithPmk, EncryptedWithPmk, EncryptedWithCmk, NonPersistedTPM]
                      secure_vm_disk_encryption_set_id:
                        description: Resource id of the disk encryption set for the confidential VM.
                        type: str
              data_disk_images:
                description: Encryption of the data disk images.
                type: list
                elements: dict
                suboptions:
                  lun:
                    description: Lun of the data disk.
                    type: int
                    required: true
                  disk_encryption_set_id:
                    description: Resource id of the disk encryption set.
                    type: str
      replica_count:
        description: Number of replicas per region where no O(publishing_profile.target_regions[].regional_replica_count)
          is given. Updatable.
        type: int
      exclude_from_latest:
        description: When V(true), VMs deployed from the definition's latest version do not use this one. Updatable.
        type: bool
      end_of_life_date:
        description: End of life of the version, an ISO 8601 date or date-time (UTC unless an offset is given), e.g.
          V(2030-12-31). Updatable.
        type: str
      storage_account_type:
        description:
          - Storage of the replicas. Azure's default (API 2025-03-03 and later) is zone-redundant storage where the
            region has zones, else locally redundant. Cannot be changed.
        type: str
        choices: [Standard_LRS, Standard_ZRS, Premium_LRS, PremiumV2_LRS]
      replication_mode:
        description:
          - V(Full) replicates the image (the default), V(Shallow) publishes it faster without replicas beyond the
            source region (for testing). Cannot be changed.
        type: str
        choices: [Full, Shallow]
  tags:
    description: Tags of the version. When given, they replace the version's tags.
    type: dict
  replace:
    description: Delete and re-create the version when a property that cannot change in place differs, or when its
      creation failed.
    type: bool
    default: false
  wait:
    description:
      - V(true) waits until the version has replicated to every target region (or O(timeout) passes; the task then
        fails naming the regions still replicating, and running it again with O(wait=true) keeps waiting without
        sending anything again).
      - V(false) returns as soon as Azure has accepted the request; RV(replication_status) is then null. Applies to
        deletion too.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait in all (the write and the replication), with O(wait=true). There is no upper limit, since replicating
        a large image to many regions can take hours.
      - The replication status is read every 1/120 of it (between 0.5 and 30 seconds).
    type: int
    default: 3600
attributes:
  check_mode:
    details: Only GET requests are sent; check mode does not wait for replication.
seealso:
  - module: vmimage.azure.gallery
  - module: vmimage.azure.gallery_image
  - module: vmimage.azure.image
"""

EXAMPLES = r"""
- name: Publish a generalized VM, replicated to two regions
  vmimage.azure.gallery_image_version:
    resource_group: images-rg
    gallery_name: images
    gallery_image_name: debian-12
    name: 1.0.0
    storage_profile:
      source_image: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/build-rg/providers/Microsoft.Compute/virtualMachines/build-vm
    publishing_profile:
      target_regions:
        - name: westeurope
        - name: northeurope
          regional_replica_count: 2
      end_of_life_date: "2027-12-31"
    timeout: 7200

- name: Publish from an OS disk snapshot and two data disk snapshots
  vmimage.azure.gallery_image_version:
    resource_group: images-rg
    gallery_name: images
    gallery_image_name: app-server
    name: 2.1.0
    storage_profile:
      os_disk:
        source: app-os-snapshot
        host_caching: ReadWrite
      data_disks:
        - lun: 0
          source: app-data0-snapshot
        - lun: 1
          source:
            name: app-data1-snapshot
            resource_group: other-rg

- name: Publish an uploaded VHD without waiting for replication
  vmimage.azure.gallery_image_version:
    resource_group: images-rg
    gallery_name: images
    gallery_image_name: debian-12
    name: 1.1.0
    storage_profile:
      os_disk:
        source: https://myaccount.blob.core.windows.net/vhds/debian-12.vhd
        storage_account_id: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/images-rg/providers/Microsoft.Storage/storageAccounts/myaccount
    wait: false

- name: Later, wait for that replication to end
  vmimage.azure.gallery_image_version:
    resource_group: images-rg
    gallery_name: images
    gallery_image_name: debian-12
    name: 1.1.0
  register: published

- name: Take it out of "latest"
  vmimage.azure.gallery_image_version:
    resource_group: images-rg
    gallery_name: images
    gallery_image_name: debian-12
    name: 1.0.0
    publishing_profile:
      exclude_from_latest: true

- name: Delete it
  vmimage.azure.gallery_image_version:
    resource_group: images-rg
    gallery_name: images
    gallery_image_name: debian-12
    name: 1.0.0
    state: absent
"""

RETURN = r"""
id:
  description: Resource id of the version; null once deleted or when check mode would create it.
  returned: always
  type: str
  sample: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/images-rg/providers/Microsoft.Compute/galleries/g/images/debian-12/versions/1.0.0
gallery_image_version:
  description: The version as managed by the module ({} when absent); in check mode, what it would be.
  returned: always
  type: dict
  contains:
    name:
      description: The version name.
      type: str
    location:
      description: Azure region.
      type: str
    source:
      description: Resource id (or URL) of what the version was made from (the source image, or the OS disk's source).
      type: str
    source_type:
      description: V(virtual_machine), V(managed_image), V(gallery_image_version), V(managed_disk), V(snapshot) or
        V(blob).
      type: str
    storage_profile:
      description: C(source_image), C(os_disk) (C(source), C(storage_account_id), C(host_caching), C(size_gb)) and
        C(data_disks) (each with C(lun) as well).
      type: dict
    publishing_profile:
      description: C(target_regions) (each C(name), C(regional_replica_count), C(storage_account_type),
        C(exclude_from_latest), C(encryption)), C(replica_count), C(exclude_from_latest), C(end_of_life_date),
        C(storage_account_type), C(storage_account_strategy), C(replication_mode), C(published_date).
      type: dict
    provisioning_state:
      description: Azure's provisioning state (V(Creating) while replicating, then V(Succeeded)).
      type: str
    tags:
      description: Tags.
      type: dict
replication_status:
  description:
    - The replication status Azure last reported (also returned when the task fails on O(timeout)); null when not
      waited for (O(wait=false), or the version is absent).
  returned: always
  type: dict
  contains:
    aggregated_state:
      description: V(Unknown), V(InProgress), V(Completed) or V(Failed).
      type: str
    regions:
      description: One entry per target region, with C(region), C(state) (V(Replicating), V(Completed), V(Failed)),
        C(progress) (percent) and C(details).
      type: list
      elements: dict
  sample:
    aggregated_state: InProgress
    regions:
      - {region: West Europe, state: Completed, progress: 100, details: ""}
      - {region: North Europe, state: Replicating, progress: 40, details: ""}
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
from ansible_collections.vmimage.azure.plugins.module_utils._compute import gallery_version as service

HOST_CACHING = ['None', 'ReadOnly', 'ReadWrite']
SKUS = ['Standard_LRS', 'Standard_ZRS', 'Premium_LRS', 'PremiumV2_LRS']
DISK_OPTIONS = dict(source=dict(type='raw', required=True), storage_account_id=dict(type='str'),
                    host_caching=dict(type='str', choices=HOST_CACHING))
ENCRYPTION = dict(
    os_disk_image=dict(type='dict', options=dict(
        disk_encryption_set_id=dict(type='str'),
        security_profile=dict(type='dict', options=dict(
            confidential_vm_encryption_type=dict(type='str', choices=[
                'EncryptedVMGuestStateOnlyWithPmk', 'EncryptedWithPmk', 'EncryptedWithCmk', 'NonPersistedTPM']),
            secure_vm_disk_encryption_set_id=dict(type='str'))))),
    data_disk_images=dict(type='list', elements='dict', options=dict(
        lun=dict(type='int', required=True), disk_encryption_set_id=dict(type='str'))),
)
ARGSPEC = dict(
    resource_group=dict(type='str', required=True),
    gallery_name=dict(type='str', required=True),
    gallery_image_name=dict(type='str', required=True),
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    location=dict(type='str'),
    storage_profile=dict(type='dict', options=dict(
        source_image=dict(type='raw'),
        os_disk=dict(type='dict', options=DISK_OPTIONS),
        data_disks=dict(type='list', elements='dict', options=dict(DISK_OPTIONS, lun=dict(type='int', required=True))),
    ), mutually_exclusive=[('source_image', 'os_disk'), ('source_image', 'data_disks')]),
    publishing_profile=dict(type='dict', options=dict(
        target_regions=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True),
            regional_replica_count=dict(type='int'),
            storage_account_type=dict(type='str', choices=SKUS),
            encryption=dict(type='dict', options=ENCRYPTION),
        )),
        replica_count=dict(type='int'),
        exclude_from_latest=dict(type='bool'),
        end_of_life_date=dict(type='str'),
        storage_account_type=dict(type='str', choices=SKUS),
        replication_mode=dict(type='str', choices=['Full', 'Shallow']),
    )),
    tags=dict(type='dict'),
    replace=dict(type='bool', default=False),
    wait=dict(type='bool', default=True),
    timeout=dict(type='int', default=3600),
)


def main():
    azure = AzureModule(ARGSPEC, supports_check_mode=True)
    planned = None
    try:
        planned = service.plan(azure.compute(), azure.resolved().subscription_id, azure.params)
        if azure.check_mode:
            outcome = dict(version=planned['after'], replication_status=planned['replication_status'])
        else:
            outcome = service.apply(azure.compute(), planned, azure.wait)
    except service.ReplicationTimeout as exc:  # the modules' main(): the one place exceptions become failures
        azure.fail(exc, changed=planned is not None and planned['action'] != 'none', id=exc.version_id,
                   replication_status=exc.status)
    except Exception as exc:
        azure.fail(exc)
    changed = planned['action'] != 'none'
    state = outcome['version']
    result = dict(changed=changed, action=planned['action'], id=state.get('id'), gallery_image_version=state,
                  replication_status=outcome['replication_status'])
    if changed:
        result['diff'] = dict(before=planned['before'], after=planned['after'])
    azure.exit(**result)


if __name__ == '__main__':
    main()
