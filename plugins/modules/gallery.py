#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gallery
short_description: Create, update or delete an Azure Compute Gallery
version_added: 0.1.0
description:
  - Manages an Azure Compute Gallery (formerly Shared Image Gallery), the container of gallery image definitions
    (M(vmimage.azure.gallery_image)) and their versions (M(vmimage.azure.gallery_image_version)).
  - Options follow C(azure.azcollection.azure_rm_gallery), so a task moves over by renaming the module.
  - Idempotent. O(description), O(tags) and O(soft_delete) are updated in place. A gallery cannot move to another
    region; a different O(location) fails naming the field unless O(replace=true), which deletes and re-creates
    the gallery (only possible while it is empty).
  - Every input is checked before anything is written. Check mode and an unchanged run send only GET requests.
  - Deleting (O(state=absent)) is permanent, also with soft delete on (soft delete keeps deleted image versions,
    not galleries). Azure does not delete a gallery that still holds image definitions; the module fails before
    writing and lists them.
author:
  - vmimage.azure maintainers (@vmimage)
requirements:
  - azure-mgmt-compute >= 39.0.0 (gallery API version 2026-03-03)
extends_documentation_fragment:
  - vmimage.azure.azure_auth
  - vmimage.azure.attributes
  - vmimage.azure.attributes.azure_group
options:
  resource_group:
    description: Resource group of the gallery. It must exist.
    type: str
    required: true
  name:
    description:
      - Name of the gallery. Letters and digits, with dots and underscores allowed in the middle (no hyphens), at
        most 80 characters.
    type: str
    required: true
  state:
    description: V(present) creates or updates the gallery, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  location:
    description: Azure region of the gallery. Defaults to the resource group's (or, for an existing gallery, its own).
    type: str
  description:
    description: Description of the gallery.
    type: str
  soft_delete:
    description:
      - Turn the gallery's soft delete policy on or off (C(softDeletePolicy.isSoftDeleteEnabled), gallery API
        2025-03-03 and later). With it on, a deleted image version is kept for the retention period (7 days
        unless changed in Azure) and can be restored; a definition with soft-deleted versions cannot be deleted.
      - Not managed when omitted. The retention and grace periods set in Azure are kept.
    type: bool
  tags:
    description: Tags of the gallery. When given, they replace the gallery's tags.
    type: dict
  replace:
    description: Delete and re-create the gallery when its O(location) differs (the gallery must be empty).
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
  - module: vmimage.azure.gallery_image
  - module: vmimage.azure.gallery_image_version
"""

EXAMPLES = r"""
- name: A gallery for the images we build
  vmimage.azure.gallery:
    resource_group: images-rg
    name: builds
    location: westeurope
    description: Images built by the pipeline
    soft_delete: true
    tags:
      team: platform

- name: Delete it (its image definitions must be deleted first)
  vmimage.azure.gallery:
    resource_group: images-rg
    name: builds
    state: absent
"""

RETURN = r"""
id:
  description: Resource id of the gallery; null once deleted or when check mode would create it.
  returned: always
  type: str
  sample: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/images-rg/providers/Microsoft.Compute/galleries/builds
gallery:
  description: The gallery as managed by the module ({} when absent); in check mode, what it would be.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the gallery.
      type: str
    location:
      description: Azure region.
      type: str
    description:
      description: Description.
      type: str
    unique_name:
      description: Azure's unique name of the gallery (C(identifier.uniqueName)).
      type: str
    soft_delete:
      description: Whether the gallery's soft delete policy is on.
      type: bool
    soft_delete_retention_days:
      description: Retention period of soft-deleted image versions, when Azure reports one.
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
from ansible_collections.vmimage.azure.plugins.module_utils._compute import gallery as service

ARGSPEC = dict(
    resource_group=dict(type='str', required=True),
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    location=dict(type='str'),
    description=dict(type='str'),
    soft_delete=dict(type='bool'),
    tags=dict(type='dict'),
    replace=dict(type='bool', default=False),
    timeout=dict(type='int', default=1800),
)


def main():
    azure = AzureModule(ARGSPEC, supports_check_mode=True)
    azure.run_plan(service, 'gallery')


if __name__ == '__main__':
    main()
