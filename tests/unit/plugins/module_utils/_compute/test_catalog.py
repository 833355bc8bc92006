# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure parts of the image listing: which catalog the options select, version order, tag
filters, and Resource Manager's JSON normalised to the entries image_info returns."""
from __future__ import annotations

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._compute import catalog
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import ComputeError

SUB = '/subscriptions/00000000-0000-0000-0000-000000000001'
GALLERY = SUB + '/resourceGroups/rg/providers/Microsoft.Compute/galleries/builds'
MARKET = (SUB.replace('/subscriptions/', '/Subscriptions/') + '/Providers/Microsoft.Compute/Locations/westeurope'
          '/Publishers/Canonical/ArtifactTypes/VMImage/Offers/ubuntu-24_04-lts/Skus/server/Versions/')


@pytest.mark.parametrize('params, expected', [
    ({}, 'managed'),
    ({'resource_group': 'rg', 'name': 'img'}, 'managed'),
    ({'tags': ['a']}, 'managed'),
    ({'location': 'westeurope'}, 'marketplace'),
    ({'location': 'westeurope', 'publisher': 'Canonical', 'offer': 'o', 'sku': 's', 'version': 'latest'}, 'marketplace'),
    ({'resource_group': 'rg', 'gallery_name': 'g'}, 'gallery'),
    ({'resource_group': 'rg', 'gallery_name': 'g', 'gallery_image_name': 'i', 'version': '1.0.0'}, 'gallery'),
    ({'location': 'westeurope', 'community_gallery': 'pub-1'}, 'community'),
])
def test_the_options_given_select_the_catalog(params, expected):
    assert catalog.validate(params) == expected


@pytest.mark.parametrize('params, words', [
    ({'resource_group': 'rg', 'gallery_image_name': 'i'}, 'gallery_name'),
    ({'location': 'westeurope', 'gallery_image_name': 'i'}, 'community_gallery'),
    ({'location': 'westeurope', 'publisher': 'p', 'offer': 'o', 'version': '1.0.0'}, 'sku'),
    ({'resource_group': 'rg', 'gallery_name': 'g', 'version': 'latest'}, 'gallery_image_name'),
    ({'location': 'westeurope', 'community_gallery': 'pub-1', 'version': '1.0.0'}, 'gallery_image_name'),
    ({'resource_group': 'rg', 'version': '1.0.0'}, 'managed images have no versions'),
])
def test_what_the_argument_spec_cannot_express_is_refused_with_the_missing_option_named(params, words):
    with pytest.raises(ComputeError) as caught:
        catalog.validate(params)
    assert words in str(caught.value)


def test_versions_sort_numerically_part_by_part():
    names = ['1.9.0', '1.10.0', '1.2.3', '0.99.999', '1.10', '24.04.202501140', '24.04.202412010']
    assert sorted(names, key=catalog.version_key) == [
        '0.99.999', '1.2.3', '1.9.0', '1.10', '1.10.0', '24.04.202412010', '24.04.202501140']
    assert catalog.newest(['1.9.0', '1.10.0', '1.1.0']) == '1.10.0'
    assert catalog.newest([]) is None
    # A part that is not a number sorts after the numbers rather than failing.
    assert catalog.newest(['1.0.0', '1.0.beta']) == '1.0.beta'


def test_tags_are_key_or_key_colon_value_names_without_case_values_exactly():
    wanted = catalog.parse_tags(['build', 'channel:stable', 'url:https://x/y'])
    assert wanted == [('build', None), ('channel', 'stable'), ('url', 'https://x/y')]
    assert catalog.tags_match({'Build': '7', 'channel': 'stable', 'url': 'https://x/y'}, wanted)
    assert not catalog.tags_match({'build': '7', 'channel': 'Stable', 'url': 'https://x/y'}, wanted)
    assert not catalog.tags_match({'channel': 'stable', 'url': 'https://x/y'}, wanted)
    assert catalog.tags_match(None, [])
    assert catalog.parse_tags(['empty:']) == [('empty', '')]


def test_a_marketplace_image_has_its_id_urn_and_the_names_resource_manager_spells():
    body = {'id': MARKET + '1.10.0', 'name': '1.10.0', 'location': 'westeurope', 'properties': {
        'osDiskImage': {'operatingSystem': 'Linux'}, 'hyperVGeneration': 'V2', 'architecture': 'x64',
        'features': [{'name': 'SecurityType', 'value': 'TrustedLaunchSupported'},
                     {'name': 'IsAcceleratedNetworkSupported', 'value': 'True'}],
        'plan': {'name': 'p', 'publisher': 'pub', 'product': 'prod'}, 'dataDiskImages': [{'lun': 0}],
        'imageDeprecationStatus': {'imageState': 'Active'},
        'automaticOSUpgradeProperties': {'automaticOSUpgradeSupported': False}}}
    got = catalog.marketplace_image(body, 'WestEurope', 'canonical', 'UBUNTU-24_04-LTS', 'Server')
    assert got['id'] == MARKET + '1.10.0'
    assert got['urn'] == 'Canonical:ubuntu-24_04-lts:server:1.10.0'
    assert (got['kind'], got['version'], got['os_type'], got['hyper_v_generation'], got['architecture']) == (
        'marketplace_image', '1.10.0', 'Linux', 'V2', 'x64')
    assert got['security_type'] == 'TrustedLaunchSupported'
    assert got['features'] == {'SecurityType': 'TrustedLaunchSupported', 'IsAcceleratedNetworkSupported': 'True'}
    assert got['plan'] == {'name': 'p', 'publisher': 'pub', 'product': 'prod'}
    assert got['data_disk_luns'] == [0] and got['image_state'] == 'Active'
    assert got['automatic_os_upgrade_supported'] is False
    assert set(catalog.COMMON) <= set(got)


def test_a_version_list_entry_has_no_properties_so_its_details_are_null_not_empty():
    got = catalog.marketplace_image({'id': MARKET + '1.0.0', 'name': '1.0.0', 'location': 'westeurope'})
    assert got['urn'] == 'Canonical:ubuntu-24_04-lts:server:1.0.0'
    assert got['os_type'] is None and got['features'] is None and got['security_type'] is None


def test_a_gallery_version_carries_what_its_definition_says_and_a_source_type():
    definition = {'id': GALLERY + '/images/debian-12', 'name': 'debian-12', 'location': 'westeurope', 'properties': {
        'osType': 'Linux', 'osState': 'Generalized', 'hyperVGeneration': 'V2', 'architecture': 'x64',
        'identifier': {'publisher': 'contoso', 'offer': 'debian', 'sku': '12'},
        'features': [{'name': 'SecurityType', 'value': 'TrustedLaunch'},
                     {'name': 'DiskControllerTypes', 'value': 'SCSI, NVMe', 'startsAtVersion': '2.0.0'}],
        'provisioningState': 'Succeeded'}}
    source = SUB + '/resourceGroups/rg/providers/Microsoft.Compute/images/debian-12-web'
    version = {'id': GALLERY + '/images/debian-12/versions/1.10.0', 'name': '1.10.0', 'location': 'westeurope',
               'tags': {'channel': 'stable'}, 'properties': {
                   'provisioningState': 'Succeeded',
                   'publishingProfile': {'targetRegions': [{'name': 'West Europe', 'regionalReplicaCount': 1,
                                                            'storageAccountType': 'Standard_LRS'}],
                                         'replicaCount': 1, 'publishedDate': '2025-01-14T10:00:00+00:00'},
                   'storageProfile': {'source': {'id': source}, 'osDiskImage': {'sizeInGB': 30, 'hostCaching': 'ReadWrite'},
                                      'dataDiskImages': [{'lun': 1}, {'lun': 0}]},
                   'safetyProfile': {'allowDeletionOfReplicatedLocations': False}}}
    got = catalog.gallery_image_version(version, definition)
    assert (got['kind'], got['version'], got['resource_group'], got['gallery_name'], got['gallery_image_name']) == (
        'gallery_image_version', '1.10.0', 'rg', 'builds', 'debian-12')
    assert got['gallery_image_id'] == GALLERY + '/images/debian-12'
    assert (got['os_type'], got['os_state'], got['hyper_v_generation'], got['architecture']) == (
        'Linux', 'Generalized', 'V2', 'x64')
    assert got['security_type'] == 'TrustedLaunch'
    # DiskControllerTypes starts at 2.0.0: not a feature of 1.10.0.
    assert got['features'] == {'SecurityType': 'TrustedLaunch'}
    assert got['identifier'] == {'publisher': 'contoso', 'offer': 'debian', 'sku': '12'}
    assert got['source'] == source and got['source_type'] == 'managed_image'
    assert got['storage_profile'] == {'source': source, 'os_disk_size_gb': 30, 'os_disk_host_caching': 'ReadWrite',
                                      'data_disk_luns': [0, 1]}
    assert got['publishing_profile']['target_regions'] == [dict(
        name='West Europe', regional_replica_count=1, storage_account_type='Standard_LRS', exclude_from_latest=None)]
    assert got['exclude_from_latest'] is False and got['published_date'] == '2025-01-14T10:00:00+00:00'
    assert got['allow_deletion_of_replicated_locations'] is False and got['tags'] == {'channel': 'stable'}

    image = catalog.gallery_image(definition)
    assert (image['kind'], image['gallery_name'], image['resource_group']) == ('gallery_image', 'builds', 'rg')
    assert image['features'] == {'SecurityType': 'TrustedLaunch', 'DiskControllerTypes': 'SCSI, NVMe'}


@pytest.mark.parametrize('reference, expected', [
    (SUB + '/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm', 'virtual_machine'),
    (SUB + '/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s', 'snapshot'),
    (SUB + '/resourceGroups/rg/providers/Microsoft.Compute/disks/d', 'managed_disk'),
    (GALLERY + '/images/i/versions/1.0.0', 'gallery_image_version'),
    ('/CommunityGalleries/pub-1/Images/i/Versions/1.0.0', 'community_gallery_image'),
    ('https://a.blob.core.windows.net/vhds/os.vhd', 'blob'),
    (None, None),
])
def test_a_source_reference_says_what_it_is(reference, expected):
    assert catalog.source_type(reference) == expected


def test_a_community_image_and_version_are_known_by_their_unique_ids():
    image = {'name': 'debian-12', 'location': 'westeurope', 'type': 'Microsoft.Compute/locations/communityGalleryImages',
             'identifier': {'uniqueId': '/CommunityGalleries/debian-3f1c/Images/debian-12'},
             'properties': {'osType': 'Linux', 'osState': 'Generalized', 'hyperVGeneration': 'V2',
                            'architecture': 'Arm64', 'identifier': {'publisher': 'debian', 'offer': 'd', 'sku': '12'},
                            'artifactTags': {'a': 'b'}}}
    version = {'name': '2.0.0', 'location': 'westeurope',
               'identifier': {'uniqueId': '/CommunityGalleries/debian-3f1c/Images/debian-12/Versions/2.0.0'},
               'properties': {'excludeFromLatest': True, 'storageProfile': {'osDiskImage': {'diskSizeGB': 8}}}}
    got = catalog.community_gallery_image(image)
    assert (got['id'], got['community_gallery'], got['architecture'], got['artifact_tags']) == (
        '/CommunityGalleries/debian-3f1c/Images/debian-12', 'debian-3f1c', 'Arm64', {'a': 'b'})
    got = catalog.community_gallery_image_version(version, image)
    assert got['id'] == '/CommunityGalleries/debian-3f1c/Images/debian-12/Versions/2.0.0'
    assert (got['gallery_image_id'], got['gallery_image_name'], got['community_gallery']) == (
        '/CommunityGalleries/debian-3f1c/Images/debian-12', 'debian-12', 'debian-3f1c')
    assert got['exclude_from_latest'] is True and got['storage_profile']['os_disk_size_gb'] == 8
    assert (got['os_type'], got['hyper_v_generation'], got['architecture']) == ('Linux', 'V2', 'Arm64')


def test_latest_is_the_highest_version_not_excluded_and_provisioned():
    def v(name, **kwargs):
        return dict(dict(version=name, exclude_from_latest=False, provisioning_state='Succeeded'), **kwargs)
    versions = [v('1.9.0'), v('1.10.0'), v('1.11.0', exclude_from_latest=True), v('1.12.0', provisioning_state='Failed'),
                v('1.13.0', provisioning_state='Creating')]
    assert [x['version'] for x in catalog.latest(versions)] == ['1.10.0']
    # Community versions have no provisioning state.
    assert [x['version'] for x in catalog.latest([v('1.0.0', provisioning_state=None)])] == ['1.0.0']
    assert catalog.latest([]) == []
