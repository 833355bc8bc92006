#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gallery_image
short_description: Create, update or delete an Azure Compute Gallery image definition
version_added: 0.1.0
description:
  - Manages a gallery image definition, what the versions of an image (M(vmimage.azure.gallery_image_version)) have in
    common - operating system and its state, Hyper-V generation, CPU architecture, security type, publisher/offer/SKU
    identifier - and its metadata.
  - Options follow C(azure.azcollection.azure_rm_galleryimage), so a task moves over by renaming the module
    (O(hypervgeneration) is an alias of O(hyper_v_generation); O(os_type) and O(os_state) take either case).
  - Idempotent; every field is compared. O(os_type), O(os_state), O(hyper_v_generation), O(architecture),
    O(identifier) and O(location) cannot change once the definition exists (Azure answers PropertyChangeNotAllowed);
    a difference fails naming each field unless O(replace=true), which deletes and re-creates the definition. A
    definition that has image versions cannot be deleted, so that fails too, before anything is written.
  - O(description), O(eula), O(privacy_statement_uri), O(release_note_uri), O(end_of_life_date), O(recommended),
    O(features) and O(tags) are updated in place (the whole definition is sent again; a change of features is sent
    with C(allowUpdateImage)).
  - Defaults of a new definition. Since gallery API version 2025-03-03 Azure makes a definition created without a
    generation V(V2), and a V2 one without a SecurityType feature C(SecurityType=TrustedLaunchSupported) (it can
    then hold Trusted Launch and Standard images). The module sends those defaults explicitly when the options are
    omitted - O(hyper_v_generation=V2), O(architecture=x64), and for V2 the feature
    C(SecurityType=TrustedLaunchSupported) unless O(features) names a SecurityType - so that what is created is what
    check mode shows and does not depend on the API version. With O(hyper_v_generation=V1) no SecurityType is sent.
    On an existing definition an omitted option is not managed, and a SecurityType the definition has is kept when
    O(features) does not name one.
  - Every input is checked before anything is written (the gallery must exist; Trusted Launch and confidential VM
    security types and Arm64 need generation V2; the identifier must be unique in the gallery). Check mode and an
    unchanged run send only GET requests.
  - Deleting (O(state=absent)) is permanent, also in a gallery with soft delete on (soft delete keeps deleted image
    versions, not definitions). Azure does not delete a definition that has versions, live or soft-deleted; the
    module fails before writing, lists them and, for soft-deleted ones, until when they are recoverable.
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
    description: Resource group of the gallery.
    type: str
    required: true
  gallery_name:
    description: Name of the gallery (M(vmimage.azure.gallery)). It must exist.
    type: str
    required: true
  name:
    description:
      - Name of the image definition. Letters and digits, with dots, hyphens and underscores allowed in the middle,
        at most 80 characters.
    type: str
    required: true
  state:
    description: V(present) creates or updates the definition, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  location:
    description: Azure region of the definition. Defaults to the gallery's. Cannot be changed.
    type: str
  os_type:
    description:
      - Operating system of the images. Required to create the definition; cannot be changed.
      - Either case is taken (C(azure_rm_galleryimage) spells it in lower case).
    type: str
    choices: [Linux, Windows, linux, windows]
  os_state:
    description:
      - Whether the images are V(generalized) (sysprep / waagent -deprovision; VMs made from them are provisioned
        anew) or V(specialized) (VMs keep the source's identity). Required to create the definition; cannot be changed.
    type: str
    choices: [generalized, specialized, Generalized, Specialized]
  hyper_v_generation:
    description:
      - Hyper-V generation of the images, V(V1) (BIOS) or V(V2) (UEFI). Cannot be changed.
      - Defaults to V(V2) for a new definition (Azure's own default since gallery API 2025-03-03, sent explicitly).
    type: str
    choices: [V1, V2]
    aliases: [hypervgeneration]
  architecture:
    description:
      - CPU architecture of the images. V(Arm64) needs generation V(V2). Cannot be changed.
      - Defaults to V(x64) for a new definition.
    type: str
    choices: [x64, Arm64]
  identifier:
    description:
      - Publisher, offer and SKU of the definition, unique in the gallery. Required to create the definition; cannot
        be changed.
    type: dict
    suboptions:
      publisher:
        description: Publisher name.
        type: str
        required: true
      offer:
        description: Offer name.
        type: str
        required: true
      sku:
        description: SKU name.
        type: str
        required: true
  features:
    description:
      - Features of the definition, as C(azure_rm_galleryimage) takes them, e.g. V(SecurityType) (V(Standard),
        V(TrustedLaunch), V(TrustedLaunchSupported), V(ConfidentialVM), V(ConfidentialVmSupported),
        V(TrustedLaunchAndConfidentialVmSupported)), V(IsAcceleratedNetworkSupported) (V(True)/V(False)),
        V(DiskControllerTypes) (e.g. V(SCSI, NVMe)), V(IsHibernateSupported).
      - Compared as a set (order and case do not matter). When the list does not name V(SecurityType), the
        definition's SecurityType is kept, or for a new V2 definition V(TrustedLaunchSupported) is sent.
      - Any SecurityType but V(Standard) needs generation V(V2).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the feature.
        type: str
        required: true
      value:
        description: Value of the feature.
        type: str
        required: true
  recommended:
    description:
      - Recommended VM configuration, as C(azure_rm_galleryimage) takes it. Only the bounds given are managed; the
        others keep their value.
    type: dict
    suboptions:
      v_cpus:
        description: Recommended number of vCPUs.
        type: dict
        suboptions:
          min:
            description: Minimum.
            type: int
          max:
            description: Maximum.
            type: int
      memory:
        description: Recommended memory, in GiB.
        type: dict
        suboptions:
          min:
            description: Minimum.
            type: int
          max:
            description: Maximum.
            type: int
  description:
    description: Description of the definition.
    type: str
  eula:
    description: The EULA of the images.
    type: str
  privacy_statement_uri:
    description: URI of the privacy statement.
    type: str
  release_note_uri:
    description: URI of the release notes.
    type: str
  end_of_life_date:
    description:
      - End of life date of the definition, ISO 8601 (V(2030-12-31) is midnight UTC, or V(2030-12-31T12:00:00Z)).
        Compared as a point in time and returned as C(2030-12-31T00:00:00+00:00).
    type: str
  tags:
    description: Tags of the definition. When given, they replace the definition's tags.
    type: dict
  replace:
    description:
      - Delete and re-create the definition when a property that cannot change in place differs.
      - Refused, before anything is written, while the definition has image versions (live or soft-deleted).
      - When the generation changes and O(features) names no SecurityType, the new definition gets a new
        definition's default (V(TrustedLaunchSupported) for V2, none for V1).
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
  - module: vmimage.azure.gallery
  - module: vmimage.azure.gallery_image_version
"""

EXAMPLES = r"""
- name: A Trusted Launch capable Linux definition (V2 and SecurityType TrustedLaunchSupported by default)
  vmimage.azure.gallery_image:
    resource_group: images-rg
    gallery_name: builds
    name: debian-12
    os_type: Linux
    os_state: Generalized
    identifier:
      publisher: example
      offer: debian
      sku: "12"
    features:
      - name: IsAcceleratedNetworkSupported
        value: "True"
    recommended:
      v_cpus:
        min: 2
        max: 16
      memory:
        min: 4
        max: 64
    end_of_life_date: "2028-06-30"

- name: A generation 1 definition, written as for azure.azcollection.azure_rm_galleryimage
  vmimage.azure.gallery_image:
    resource_group: images-rg
    gallery_name: builds
    name: legacy-bios
    os_type: windows
    os_state: generalized
    hypervgeneration: V1
    identifier:
      publisher: example
      offer: windows
      sku: 2019-bios

- name: Delete a definition (its versions must be deleted first)
  vmimage.azure.gallery_image:
    resource_group: images-rg
    gallery_name: builds
    name: legacy-bios
    state: absent
"""

RETURN = r"""
id:
  description: Resource id of the definition; null once deleted or when check mode would create it.
  returned: always
  type: str
  sample: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/images-rg/providers/Microsoft.Compute/galleries/builds/images/debian-12
gallery_image:
  description: The definition as managed by the module ({} when absent); in check mode, what it would be.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the definition.
      type: str
    location:
      description: Azure region.
      type: str
    os_type:
      description: V(Linux) or V(Windows).
      type: str
    os_state:
      description: V(Generalized) or V(Specialized).
      type: str
    hyper_v_generation:
      description: V(V1) or V(V2).
      type: str
    architecture:
      description: V(x64) or V(Arm64).
      type: str
    identifier:
      description: C(publisher), C(offer) and C(sku).
      type: dict
    features:
      description: The features, each C(name) and C(value), as Azure has them (defaults included).
      type: list
      elements: dict
      sample: [{name: SecurityType, value: TrustedLaunchSupported}]
    recommended:
      description: C(v_cpus) and C(memory), each with the C(min) and C(max) set ({} when none).
      type: dict
    description:
      description: Description.
      type: str
    eula:
      description: EULA.
      type: str
    privacy_statement_uri:
      description: Privacy statement URI.
      type: str
    release_note_uri:
      description: Release notes URI.
      type: str
    end_of_life_date:
      description: End of life date, as C(YYYY-MM-DDTHH:MM:SS+00:00).
      type: str
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
from ansible_collections.vmimage.azure.plugins.module_utils._compute.gallery import DEFINITIONS

RANGE = dict(type='dict', options=dict(min=dict(type='int'), max=dict(type='int')))

ARGSPEC = dict(
    resource_group=dict(type='str', required=True),
    gallery_name=dict(type='str', required=True),
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    location=dict(type='str'),
    os_type=dict(type='str', choices=['Linux', 'Windows', 'linux', 'windows']),
    os_state=dict(type='str', choices=['generalized', 'specialized', 'Generalized', 'Specialized']),
    hyper_v_generation=dict(type='str', choices=['V1', 'V2'], aliases=['hypervgeneration']),
    architecture=dict(type='str', choices=['x64', 'Arm64']),
    identifier=dict(type='dict', options=dict(
        publisher=dict(type='str', required=True),
        offer=dict(type='str', required=True),
        sku=dict(type='str', required=True),
    )),
    features=dict(type='list', elements='dict', options=dict(
        name=dict(type='str', required=True),
        value=dict(type='str', required=True),
    )),
    recommended=dict(type='dict', options=dict(v_cpus=dict(RANGE), memory=dict(RANGE))),
    description=dict(type='str'),
    eula=dict(type='str'),
    privacy_statement_uri=dict(type='str'),
    release_note_uri=dict(type='str'),
    end_of_life_date=dict(type='str'),
    tags=dict(type='dict'),
    replace=dict(type='bool', default=False),
    timeout=dict(type='int', default=1800),
)


def main():
    azure = AzureModule(ARGSPEC, supports_check_mode=True)
    azure.run_plan(DEFINITIONS, 'gallery_image')


if __name__ == '__main__':
    main()
