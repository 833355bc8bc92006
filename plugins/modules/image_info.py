#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_info
short_description: List Azure images a build can start from or publish to
version_added: 0.1.0
description:
  - Lists managed images, Marketplace images, Azure Compute Gallery image definitions and versions, or community
    gallery images and versions, each with the RV(images[].id) a later task can use as its source.
  - The catalog follows from the options given. O(gallery_name) lists a gallery of yours; O(community_gallery) a
    community gallery; O(location) alone or with O(publisher) the Marketplace; anything else managed images (by
    O(name), in O(resource_group), or in the whole subscription). Options of two catalogs cannot be mixed.
  - In the Marketplace, omitting the narrower options lists names one level down, in RV(names) - publishers (with
    O(location) only), offers (with O(publisher)), SKUs (with O(offer)) - and with O(sku) lists its versions.
  - O(version=latest) picks the numerically highest version (V(1.10.0) is newer than V(1.9.0)). In a gallery or
    community gallery, versions excluded from latest, and versions whose provisioning has not succeeded, are not
    candidates.
  - A name that matches nothing gives an empty RV(images), as C(azure.azcollection)'s C(*_info) modules do. The
    scope of a listing that does not exist - a resource group, a gallery, a community gallery - is an error, so
    that a typo is not mistaken for "no image yet".
  - Options follow C(azure_rm_image_info), C(azure_rm_virtualmachineimage_info), C(azure_rm_galleryimage_info) and
    C(azure_rm_galleryimageversion_info); the gallery image definition is O(gallery_image_name) and its version
    O(version) in both gallery catalogs.
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
  name:
    description:
      - Name of a managed image. With O(resource_group) the image is read directly; without it, every managed image
        of the subscription with that name (compared without case) is returned.
    type: str
  resource_group:
    description:
      - Resource group of the managed images, or of the gallery (required with O(gallery_name)). It must exist.
      - Without it (and without O(gallery_name), O(location)) the managed images of the whole subscription are listed.
    type: str
  tags:
    description:
      - Return only the managed images, gallery image definitions or gallery image versions that have all these tags,
        each given as V(key) (the tag is set) or V(key:value) (set to that value), as C(azure_rm_image_info) takes
        them. Tag names compare without case, values exactly.
      - With O(version=latest), the latest of the versions that have the tags.
    type: list
    elements: str
  location:
    description:
      - Azure region of the Marketplace or of the community gallery, for example V(westeurope).
      - Alone, lists the Marketplace publishers of the region.
    type: str
  publisher:
    description: Marketplace publisher, for example V(Canonical). Without O(offer), lists the publisher's offers.
    type: str
  offer:
    description: Marketplace offer, for example V(ubuntu-24_04-lts). Without O(sku), lists the offer's SKUs.
    type: str
  sku:
    description: Marketplace SKU, for example V(server). Without O(version), lists the SKU's versions.
    type: str
  version:
    description:
      - Version of the Marketplace SKU (with O(sku)) or of the gallery image definition (with O(gallery_image_name)),
        or V(latest) for the newest one.
      - Without it, every version is listed.
    type: str
  gallery_name:
    description: Name of an Azure Compute Gallery in O(resource_group). Without O(gallery_image_name), lists its image
      definitions.
    type: str
  gallery_image_name:
    description:
      - Name of an image definition of O(gallery_name) or O(community_gallery). Lists its versions (or the one
        O(version) names), and returns the definition in RV(gallery_image).
    type: str
  community_gallery:
    description:
      - Public name of a community gallery (its prefix followed by a GUID, as shown in the portal), in O(location).
        Without O(gallery_image_name), lists its images.
    type: str
notes:
  - A Marketplace versions list is asked for with C($expand=properties); where Resource Manager does not expand it,
    the entries have only their id, URN, name and location (the other fields are null). Give O(version) (or
    V(latest)) to have the generation, architecture, OS and features in any case.
  - For a gallery, O(version=latest) honours the version's own C(exclude_from_latest), not that of a single target
    region (the module does not know where the image will be used); the regions' flags are in
    RV(images[].publishing_profile).
seealso:
  - module: vmimage.azure.image
  - module: vmimage.azure.snapshot
"""

EXAMPLES = r"""
- name: The newest Ubuntu 24.04 image in West Europe
  vmimage.azure.image_info:
    location: westeurope
    publisher: Canonical
    offer: ubuntu-24_04-lts
    sku: server
    version: latest
  register: base

- name: Its URN, generation and architecture
  ansible.builtin.debug:
    msg: "{{ base.images[0].urn }} is {{ base.images[0].hyper_v_generation }} {{ base.images[0].architecture }}"

- name: The SKUs of an offer
  vmimage.azure.image_info:
    location: westeurope
    publisher: Canonical
    offer: ubuntu-24_04-lts
  register: skus

- name: A managed image by name
  vmimage.azure.image_info:
    resource_group: images-rg
    name: debian-12-web
  register: managed

- name: Managed images of the subscription tagged as built by the pipeline
  vmimage.azure.image_info:
    tags:
      - built-by:pipeline
      - build
  register: built

- name: The latest version of a gallery image marked as stable
  vmimage.azure.image_info:
    resource_group: images-rg
    gallery_name: builds
    gallery_image_name: debian-12
    version: latest
    tags:
      - channel:stable
  register: gallery

- name: Stop when the image definition does not exist
  ansible.builtin.assert:
    that: gallery.gallery_image is not none

- name: The versions of a community gallery image
  vmimage.azure.image_info:
    location: westeurope
    community_gallery: debian-3f1c7a2e-8b1d-4c35-9a70-0d5f6b3c2e91
    gallery_image_name: debian-12
  register: community
"""

RETURN = r"""
catalog:
  description: The catalog listed, V(managed), V(marketplace), V(gallery) or V(community).
  returned: always
  type: str
  sample: marketplace
listed:
  description:
    - What RV(images) and RV(names) hold, V(managed_images), V(marketplace_publishers), V(marketplace_offers),
      V(marketplace_skus), V(marketplace_images), V(gallery_images), V(gallery_image_versions),
      V(community_gallery_images) or V(community_gallery_image_versions).
    - For the Marketplace publishers, offers and SKUs RV(images) is empty and RV(names) has the names.
  returned: always
  type: str
  sample: marketplace_images
names:
  description:
    - The names found - of Marketplace publishers, offers or SKUs, else the names of RV(images) (for versions, the
      version numbers).
    - Marketplace names are sorted without case; versions numerically, oldest first.
  returned: always
  type: list
  elements: str
  sample: [1.9.0, 1.10.0]
images:
  description:
    - The images found, each with its RV(images[].id) and the fields an image build needs, in snake_case. Fields that
      an entry's kind does not have are null.
    - Managed images and image definitions are sorted by name, versions numerically, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(managed_image), V(marketplace_image), V(gallery_image), V(gallery_image_version),
        V(community_gallery_image) or V(community_gallery_image_version).
      type: str
      returned: always
      sample: gallery_image_version
    id:
      description:
        - What a later task gives as the source, a resource id.
        - For the Marketplace, the id Resource Manager returns, C(/Subscriptions/{subscription}/Providers/Microsoft.Compute)
          followed by C(/Locations/{location}/Publishers/{publisher}/ArtifactTypes/VMImage/Offers/{offer}/Skus/{sku})
          and C(/Versions/{version}).
        - For a community gallery, its unique id, C(/CommunityGalleries/{public name}/Images/{image}[/Versions/{version}]).
      type: str
      returned: always
      sample: /subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx/resourceGroups/rg/providers/Microsoft.Compute/galleries/builds/images/debian12/versions/1.0.3
    name:
      description: Name of the image, definition or version.
      type: str
      returned: always
      sample: 1.0.3
    location:
      description: Azure region.
      type: str
      returned: always
      sample: westeurope
    tags:
      description: Tags ({} when none or when the kind has none).
      type: dict
      returned: always
    os_type:
      description: V(Linux) or V(Windows). For a version, its image definition's.
      type: str
      returned: always
      sample: Linux
    os_state:
      description: V(Generalized) or V(Specialized); null for the Marketplace, which does not report it.
      type: str
      returned: always
      sample: Generalized
    hyper_v_generation:
      description: V(V1) (BIOS) or V(V2) (UEFI). For a gallery version, its image definition's.
      type: str
      returned: always
      sample: V2
    architecture:
      description: V(x64) or V(Arm64); null for managed images, which do not record it.
      type: str
      returned: always
      sample: x64
    security_type:
      description: The C(SecurityType) feature, for example V(TrustedLaunchSupported), V(TrustedLaunch) or
        V(ConfidentialVM); null when not set.
      type: str
      returned: always
      sample: TrustedLaunchSupported
    features:
      description:
        - The image's features as Azure names them (for example C(SecurityType), C(IsAcceleratedNetworkSupported),
          C(DiskControllerTypes)), name to value; null when not reported.
        - For a gallery version, the definition's features that apply from that version on.
      type: dict
      returned: always
      sample: {"SecurityType": "TrustedLaunchSupported", "IsAcceleratedNetworkSupported": "True"}
    provisioning_state:
      description: Azure's provisioning state (managed images, gallery definitions and versions).
      type: str
      returned: always
      sample: Succeeded
    resource_group:
      description: Resource group (managed images, gallery definitions and versions).
      type: str
      returned: for managed and gallery images
    source:
      description: Resource id (or blob URL) of what the managed image or gallery version was made from.
      type: str
      returned: for managed images and gallery image versions
    source_type:
      description: V(virtual_machine), V(managed_disk), V(snapshot), V(blob), V(managed_image),
        V(gallery_image_version) or V(community_gallery_image).
      type: str
      returned: for managed images and gallery image versions
    zone_resilient:
      description: Whether the managed image is stored zone-redundantly.
      type: bool
      returned: for managed images
    data_disks:
      description: The data disks of a managed image, each with C(lun) and C(source).
      type: list
      elements: dict
      returned: for managed images
    os_disk_encryption_set:
      description: Resource id of the OS disk's encryption set.
      type: str
      returned: for managed images
    data_disk_encryption_set:
      description: Resource id of the data disks' encryption set.
      type: str
      returned: for managed images
    publisher:
      description: Marketplace publisher, as Resource Manager spells it.
      type: str
      returned: for Marketplace images
      sample: Canonical
    offer:
      description: Marketplace offer.
      type: str
      returned: for Marketplace images
      sample: ubuntu-24_04-lts
    sku:
      description: Marketplace SKU.
      type: str
      returned: for Marketplace images
      sample: server
    version:
      description: The version (also the RV(images[].name)).
      type: str
      returned: for Marketplace images and gallery versions
      sample: 24.04.202501140
    urn:
      description: C(publisher:offer:sku:version), as the Azure CLI takes it.
      type: str
      returned: for Marketplace images
      sample: Canonical:ubuntu-24_04-lts:server:24.04.202501140
    plan:
      description: The purchase plan (C(name), C(publisher), C(product)) a VM of a paid image must accept; null if
        none.
      type: dict
      returned: for Marketplace images
    data_disk_luns:
      description: LUNs of the data disks the Marketplace image brings.
      type: list
      elements: int
      returned: for Marketplace images
    image_state:
      description: V(Active), V(ScheduledForDeprecation) or V(Deprecated).
      type: str
      returned: for Marketplace images and community gallery versions
    scheduled_deprecation_time:
      description: When a Marketplace image is to be deprecated.
      type: str
      returned: for Marketplace images
    automatic_os_upgrade_supported:
      description: Whether the Marketplace image supports automatic OS upgrades.
      type: bool
      returned: for Marketplace images
    disallowed_vm_disk_type:
      description: V(Unmanaged) when the Marketplace image cannot be used with unmanaged disks, else V(None).
      type: str
      returned: for Marketplace images
    gallery_name:
      description: Name of the gallery.
      type: str
      returned: for gallery images and versions
    gallery_image_name:
      description: Name of the image definition of a version.
      type: str
      returned: for gallery and community gallery versions
    gallery_image_id:
      description: Id of the image definition of a version (a VM made from it gets the latest version).
      type: str
      returned: for gallery and community gallery versions
    community_gallery:
      description: Public name of the community gallery.
      type: str
      returned: for community gallery images and versions
    identifier:
      description: The image definition's C(publisher), C(offer) and C(sku) (for a version, its definition's).
      type: dict
      returned: for gallery and community gallery images and versions
      sample: {"publisher": "contoso", "offer": "debian", "sku": "12-gen2"}
    description:
      description: Description of the image definition.
      type: str
      returned: for gallery images
    end_of_life_date:
      description: End of life of the definition or version, as Azure returns it (ISO 8601).
      type: str
      returned: for gallery and community gallery images and versions
    eula:
      description: End-user license agreement of the definition.
      type: str
      returned: for gallery and community gallery images
    privacy_statement_uri:
      description: Privacy statement of the definition.
      type: str
      returned: for gallery and community gallery images
    release_note_uri:
      description: Release notes of the definition.
      type: str
      returned: for gallery images
    disclaimer:
      description: Disclaimer of a community gallery image or version.
      type: str
      returned: for community gallery images and versions
    artifact_tags:
      description: Artifact tags of a community gallery image or version.
      type: dict
      returned: for community gallery images and versions
    recommended:
      description: Recommended C(v_cpus) and C(memory) (GiB), each with C(min) and C(max) or null.
      type: dict
      returned: for gallery and community gallery images
    disallowed_disk_types:
      description: Disk types a VM of the definition cannot use.
      type: list
      elements: str
      returned: for gallery and community gallery images
    purchase_plan:
      description: The definition's purchase plan (C(name), C(publisher), C(product)); null if none.
      type: dict
      returned: for gallery and community gallery images
    allow_update_image:
      description: Whether the definition's properties may be updated.
      type: bool
      returned: for gallery images
    exclude_from_latest:
      description: Whether the version is excluded from V(latest).
      type: bool
      returned: for gallery and community gallery versions
    published_date:
      description: When the version was published (ISO 8601).
      type: str
      returned: for gallery and community gallery versions
    publishing_profile:
      description: Where and how the gallery version is replicated, C(target_regions) (each C(name),
        C(regional_replica_count), C(storage_account_type), C(exclude_from_latest)), C(replica_count),
        C(exclude_from_latest), C(storage_account_type), C(replication_mode), C(published_date), C(end_of_life_date).
      type: dict
      returned: for gallery versions
    storage_profile:
      description: The version's disks, C(os_disk_size_gb), C(os_disk_host_caching), C(data_disk_luns) (and for a
        gallery version its C(source)).
      type: dict
      returned: for gallery and community gallery versions
    allow_deletion_of_replicated_locations:
      description: Whether replicas of the gallery version may be removed from a region.
      type: bool
      returned: for gallery versions
gallery_image:
  description:
    - The image definition named by O(gallery_image_name), in the shape of RV(images) entries of kind
      V(gallery_image) or V(community_gallery_image); null when it does not exist.
  returned: when O(gallery_image_name) is given
  type: dict
auth_source:
  description: Which credential source was used (see O(auth_source)); never the credential itself.
  returned: always
  type: str
  sample: env
"""

from ansible_collections.vmimage.azure.plugins.module_utils._azure.module import AzureModule
from ansible_collections.vmimage.azure.plugins.module_utils._compute import catalog as service

ARGSPEC = dict(
    name=dict(type='str'),
    resource_group=dict(type='str'),
    tags=dict(type='list', elements='str'),
    location=dict(type='str'),
    publisher=dict(type='str'),
    offer=dict(type='str'),
    sku=dict(type='str'),
    version=dict(type='str'),
    gallery_name=dict(type='str'),
    gallery_image_name=dict(type='str'),
    community_gallery=dict(type='str'),
)

# Options of different catalogs (see catalog.catalog_of): managed images (name, tags, resource_group),
# gallery (gallery_name, resource_group, tags), Marketplace and community gallery (location).
MUTUALLY_EXCLUSIVE = [
    ('name', 'gallery_name', 'location'),
    ('name', 'gallery_image_name'),
    ('resource_group', 'location'),
    ('tags', 'location'),
    ('publisher', 'community_gallery'),
]
REQUIRED_BY = dict(
    gallery_name='resource_group',
    community_gallery='location',
    publisher='location',
    offer='publisher',
    sku='offer',
)


def main():
    azure = AzureModule(ARGSPEC, supports_check_mode=True, mutually_exclusive=MUTUALLY_EXCLUSIVE,
                        required_by=REQUIRED_BY)
    try:
        result = service.run(azure.compute(), azure.params)  # validates the options first, before any request
    except Exception as exc:  # only main() turns exceptions into failures
        azure.fail(exc)
    azure.exit(changed=False, **result)


if __name__ == '__main__':
    main()
