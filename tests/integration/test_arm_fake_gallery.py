# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ARM fake's Azure Compute Gallery, driven by the real azure-mgmt-compute client.

Galleries, image definitions and image versions in the gallery dialect (201/200 with
Azure-AsyncOperation only, integer Retry-After), replication region by region with
$expand=ReplicationStatus, the knobs a test controls it with, ARM's errors, soft delete and
strict-mode bodies. Hand-made requests (``raw``) look at what the SDK hides.
"""

from __future__ import annotations

import datetime

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import models as m

from ansible_collections.vmimage.azure.tests.support.arm_fake import fixtures

arm, arm_compute = fixtures.arm, fixtures.arm_compute

WE = 'westeurope'
API = '2026-03-03'
GAL = '/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal'
_TOKENS = {}
EOL = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture
def client(arm, arm_compute):
    arm.add_resource_group('rg', location=WE)
    return arm_compute(retry_backoff_factor=0.01)


def token(arm):
    if arm.url not in _TOKENS:
        credential = ClientSecretCredential(arm.tenant, arm.client_id, arm.client_secret,
                                            authority=arm.entra.authority_host, disable_instance_discovery=True)
        _TOKENS[arm.url] = credential.get_token(arm.audience.rstrip('/') + '/.default').token
    return _TOKENS[arm.url]


def raw(arm, method, path, body=None, api_version=API, url=None, params=None):
    target = url or '%s/subscriptions/%s%s' % (arm.url, arm.subscription_id, path)
    query = dict(params or {})
    if api_version and not url:
        query['api-version'] = api_version
    return requests.request(method, target, params=query or None, json=body,
                            headers={'Authorization': 'Bearer ' + token(arm)}, timeout=10)


def definition(**kwargs):
    kwargs.setdefault('location', WE)
    kwargs.setdefault('os_type', 'Linux')
    kwargs.setdefault('os_state', 'Generalized')
    kwargs.setdefault('identifier', m.GalleryImageIdentifier(publisher='p', offer='o', sku='s'))
    return m.GalleryImage(**kwargs)


def from_snapshot(snapshot_id, regions=None, **publishing):
    profile = m.GalleryImageVersionPublishingProfile(
        target_regions=[m.TargetRegion(name=r) for r in regions] if regions else None, **publishing)
    return m.GalleryImageVersion(location=WE, publishing_profile=profile,
                                 storage_profile=m.GalleryImageVersionStorageProfile(
                                     os_disk_image=m.GalleryOSDiskImage(source=m.GalleryDiskImageSource(
                                         id=snapshot_id))))


def seed(arm, hyper_v='V2', regions=('westeurope', 'northeurope')):
    """A gallery, a V2 definition and a V2 snapshot; returns the snapshot id."""
    arm.add_gallery('rg', 'gal')
    arm.add_gallery_image('rg', 'gal', 'def', hyper_v_generation=hyper_v)
    disk = arm.add_disk('rg', 'os', size_gb=16, os_type='Linux', hyper_v_generation=hyper_v)
    return arm.add_snapshot('rg', 'snap', source=disk['id'])['id']


def version_body(snapshot_id, regions=('West Europe', 'North Europe'), **pp):
    return {'location': WE, 'properties': {
        'publishingProfile': dict({'targetRegions': [{'name': r} for r in regions]}, **pp),
        'storageProfile': {'osDiskImage': {'source': {'id': snapshot_id}}}}}


def summary(status):
    return [(s['region'], s['state'], s['progress']) for s in status['summary']]


# --- galleries -------------------------------------------------------------------------------------

def test_gallery_put_get_patch_list_delete_in_the_gallery_dialect(client, arm):
    created = client.galleries.begin_create_or_update('rg', 'gal', m.Gallery(
        location=WE, description='builds', tags={'a': '1'},
        soft_delete_policy=m.SoftDeletePolicy(is_soft_delete_enabled=True))).result()
    assert created.provisioning_state == 'Succeeded' and created.identifier.unique_name == (
        '%s-GAL' % arm.subscription_id)
    assert created.soft_delete_policy.is_soft_delete_enabled is True and created.tags == {'a': '1'}
    put = arm.calls('PUT', r'/galleries/gal$')[0]
    assert (put.status, put.api_version) == (201, API)

    answer = raw(arm, 'PUT', GAL, {'location': WE, 'properties': {'description': 'again'}})
    assert answer.status_code == 200 and answer.json()['properties']['provisioningState'] == 'Updating'
    assert '/capsOperations/' in answer.headers['Azure-AsyncOperation'] and 'Location' not in answer.headers
    assert answer.headers['Retry-After'] == '0'
    status = raw(arm, 'GET', None, url=answer.headers['Azure-AsyncOperation'])
    assert status.json()['status'] == 'InProgress'
    assert raw(arm, 'GET', None, url=answer.headers['Azure-AsyncOperation']).json()['status'] == 'Succeeded'

    patched = client.galleries.begin_update('rg', 'gal', m.GalleryUpdate(tags={'b': '2'})).result()
    assert patched.tags == {'b': '2'} and patched.description == 'again'
    patch = arm.calls('PATCH', r'/galleries/gal$')[0]
    assert patch.status == 200
    arm.add_gallery('rg', 'other')
    arm.add_resource_group('rg2')
    arm.add_gallery('rg2', 'third')
    assert [g.name for g in client.galleries.list_by_resource_group('rg')] == ['gal', 'other']
    assert sorted(g.name for g in client.galleries.list()) == ['gal', 'other', 'third']

    deleted = raw(arm, 'DELETE', GAL[:-3] + 'other')
    assert deleted.status_code == 202 and 'Azure-AsyncOperation' in deleted.headers and 'Location' in deleted.headers
    client.galleries.begin_delete('rg', 'gal').result()
    assert raw(arm, 'DELETE', GAL).status_code == 204
    with pytest.raises(ResourceNotFoundError) as err:
        client.galleries.get('rg', 'gal')
    assert err.value.error.code == 'ResourceNotFound'


def test_a_gallery_or_definition_with_children_cannot_be_deleted(client, arm):
    snapshot = seed(arm)
    arm.add_gallery_image_version('rg', 'gal', 'def', '1.0.0', source_id=snapshot)
    with pytest.raises(ResourceExistsError) as err:
        client.galleries.begin_delete('rg', 'gal')
    assert err.value.status_code == 409 and err.value.error.code == 'CannotDeleteResource'
    assert err.value.error.message == (
        "Cannot delete resource while nested resources exist. Some existing nested resource IDs include: "
        "'Microsoft.Compute/galleries/gal/images/def'. Please delete all nested resources before deleting this "
        "resource.")
    with pytest.raises(ResourceExistsError) as err:
        client.gallery_images.begin_delete('rg', 'gal', 'def')
    assert "'Microsoft.Compute/galleries/gal/images/def/versions/1.0.0'" in err.value.error.message
    client.gallery_image_versions.begin_delete('rg', 'gal', 'def', '1.0.0').result()
    client.gallery_images.begin_delete('rg', 'gal', 'def').result()
    client.galleries.begin_delete('rg', 'gal').result()
    assert arm.get('/subscriptions/%s%s' % (arm.subscription_id, GAL)) is None


# --- image definitions -----------------------------------------------------------------------------

def test_trusted_launch_default_follows_the_api_version(client, arm):
    arm.add_gallery('rg', 'gal')
    # 2026-03-03 (what the SDK sends): no hyperVGeneration -> V2 + SecurityType TrustedLaunchSupported.
    tlad = client.gallery_images.begin_create_or_update('rg', 'gal', 'tlad', definition()).result()
    assert tlad.hyper_v_generation == 'V2' and tlad.architecture == 'x64'
    assert [(f.name, f.value) for f in tlad.features] == [('SecurityType', 'TrustedLaunchSupported')]
    gen1 = client.gallery_images.begin_create_or_update('rg', 'gal', 'gen1', definition(
        hyper_v_generation='V1', identifier=m.GalleryImageIdentifier(publisher='p', offer='o', sku='g1'))).result()
    assert gen1.hyper_v_generation == 'V1' and not gen1.features
    confidential = client.gallery_images.begin_create_or_update('rg', 'gal', 'cvm', definition(
        identifier=m.GalleryImageIdentifier(publisher='p', offer='o', sku='cvm'),
        features=[m.GalleryImageFeature(name='SecurityType', value='ConfidentialVmSupported')])).result()
    assert [(f.name, f.value) for f in confidential.features] == [('SecurityType', 'ConfidentialVmSupported')]
    # An older api-version: V1 and no feature added.
    old = raw(arm, 'PUT', GAL + '/images/old', {'location': WE, 'properties': {
        'osType': 'Linux', 'osState': 'Generalized', 'identifier': {'publisher': 'p', 'offer': 'o', 'sku': 'old'}}},
        api_version='2024-03-03')
    assert old.status_code == 201 and old.json()['properties']['hyperVGeneration'] == 'V1'
    assert 'features' not in old.json()['properties']


def test_definition_immutable_properties_and_feature_updates(client, arm):
    arm.add_gallery('rg', 'gal')
    client.gallery_images.begin_create_or_update('rg', 'gal', 'def', definition(hyper_v_generation='V2')).result()
    changes = {'os_type': 'Windows', 'os_state': 'Specialized', 'hyper_v_generation': 'V1', 'architecture': 'Arm64',
               'identifier': m.GalleryImageIdentifier(publisher='p', offer='o', sku='other')}
    names = {'os_type': 'osType', 'os_state': 'osState', 'hyper_v_generation': 'hyperVGeneration',
             'architecture': 'architecture', 'identifier': 'identifier'}
    for attribute, value in changes.items():
        with pytest.raises(HttpResponseError) as err:
            client.gallery_images.begin_create_or_update('rg', 'gal', 'def', definition(
                **dict({'hyper_v_generation': 'V2'}, **{attribute: value})))
        prop = 'galleryImage.properties.%s' % names[attribute]
        assert err.value.status_code == 409 and err.value.error.code == 'PropertyChangeNotAllowed', attribute
        assert err.value.error.message == "Changing property '%s' is not allowed." % prop
        assert err.value.error.target == prop
    with pytest.raises(HttpResponseError) as err:  # a PATCH too
        client.gallery_images.begin_update('rg', 'gal', 'def', m.GalleryImageUpdate(
            os_type='Linux', os_state='Specialized',
            identifier=m.GalleryImageIdentifier(publisher='p', offer='o', sku='s')))
    assert err.value.error.code == 'PropertyChangeNotAllowed'
    tagged = client.gallery_images.begin_update('rg', 'gal', 'def', m.GalleryImageUpdate(tags={'p': '1'})).result()
    assert tagged.tags == {'p': '1'} and arm.calls('PATCH', r'/images/def$')[-1].status == 200
    # What is updatable changes in place (200).
    updated = client.gallery_images.begin_create_or_update('rg', 'gal', 'def', definition(
        description='d', eula='e', release_note_uri='https://example.invalid/notes', tags={'t': '1'},
        end_of_life_date=EOL,
        recommended=m.RecommendedMachineConfiguration(v_cp_us=m.ResourceRange(min=2, max=8)))).result()
    assert (updated.description, updated.eula, updated.tags, updated.recommended.v_cp_us.max) == ('d', 'e', {'t': '1'}, 8)
    assert updated.hyper_v_generation == 'V2' and arm.calls('PUT', r'/images/def$')[-1].status == 200
    # Features change only with allowUpdateImage; not naming SecurityType keeps it.
    accelerated = [m.GalleryImageFeature(name='IsAcceleratedNetworkSupported', value='True')]
    with pytest.raises(HttpResponseError) as err:
        client.gallery_images.begin_create_or_update('rg', 'gal', 'def', definition(features=accelerated))
    assert err.value.error.target == 'galleryImage.properties.features'
    changed = client.gallery_images.begin_create_or_update('rg', 'gal', 'def', definition(
        features=accelerated, allow_update_image=True)).result()
    assert sorted((f.name, f.value) for f in changed.features) == [('IsAcceleratedNetworkSupported', 'True'),
                                                                   ('SecurityType', 'TrustedLaunchSupported')]
    # The (publisher, offer, sku) identifier is unique in the gallery.
    with pytest.raises(ResourceExistsError) as err:
        client.gallery_images.begin_create_or_update('rg', 'gal', 'twin', definition())
    assert err.value.error.target == 'galleryImage.properties.identifier'


# --- image versions: replication -------------------------------------------------------------------

def test_replication_progresses_one_step_per_poll_or_get(client, arm):
    snapshot = seed(arm)
    arm.replication_steps = 2
    answer = raw(arm, 'PUT', GAL + '/images/def/versions/1.0.0', version_body(snapshot))
    assert answer.status_code == 201 and answer.json()['properties']['provisioningState'] == 'Creating'
    assert 'replicationStatus' not in answer.json()['properties'] and 'Location' not in answer.headers
    status_url = answer.headers['Azure-AsyncOperation']
    assert '/capsOperations/' in status_url and answer.headers['Retry-After'].isdigit()
    path = GAL + '/images/def/versions/1.0.0'
    expand = {'$expand': 'ReplicationStatus'}

    seen = []

    def get():
        body = raw(arm, 'GET', path, params=expand).json()
        seen.append(('get', body['properties']['provisioningState'], body['properties']['replicationStatus']))

    def poll():
        seen.append(('poll', raw(arm, 'GET', None, url=status_url).json()['status']))
    get()
    poll()
    get()
    poll()
    get()
    assert [s[:2] for s in seen] == [('get', 'Creating'), ('poll', 'InProgress'), ('get', 'Creating'),
                                     ('poll', 'Succeeded'), ('get', 'Succeeded')]
    assert summary(seen[0][2]) == [('West Europe', 'Replicating', 50), ('North Europe', 'Replicating', 0)]
    assert seen[0][2]['aggregatedState'] == 'InProgress'
    assert summary(seen[2][2]) == [('West Europe', 'Completed', 100), ('North Europe', 'Replicating', 50)]
    assert summary(seen[4][2]) == [('West Europe', 'Completed', 100), ('North Europe', 'Completed', 100)]
    assert seen[4][2]['aggregatedState'] == 'Completed' and seen[4][2]['summary'][0]['details'] == ''
    assert 'replicationStatus' not in raw(arm, 'GET', path).json()['properties']

    # Through the SDK's poller: it polls until the last region is done, then GETs the version.
    arm.replication_steps = 1
    arm.clear_requests()
    version = client.gallery_image_versions.begin_create_or_update(
        'rg', 'gal', 'def', '1.1.0', from_snapshot(snapshot, ['westeurope', 'northeurope'])).result()
    assert version.provisioning_state == 'Succeeded' and version.publishing_profile.published_date
    assert [r.name for r in version.publishing_profile.target_regions] == ['West Europe', 'North Europe']
    assert [r.poll for r in arm.requests] == [False, True, True, False]
    assert [r.status for r in arm.requests] == [201, 200, 200, 200]
    status = client.gallery_image_versions.get('rg', 'gal', 'def', '1.1.0', expand='ReplicationStatus')
    assert status.replication_status.aggregated_state == 'Completed'
    assert [(s.region, s.state, s.progress) for s in status.replication_status.summary] == [
        ('West Europe', 'Completed', 100), ('North Europe', 'Completed', 100)]
    assert [v.name for v in client.gallery_image_versions.list_by_gallery_image('rg', 'gal', 'def')] == [
        '1.0.0', '1.1.0']


def test_held_replication_times_a_client_out_and_a_later_client_resumes(client, arm, arm_compute):
    snapshot = seed(arm)
    arm.hold_replication()
    poller = client.gallery_image_versions.begin_create_or_update(
        'rg', 'gal', 'def', '2.0.0', from_snapshot(snapshot, ['westeurope', 'northeurope']), polling_interval=0.05)
    poller.wait(timeout=1)
    assert not poller.done() and poller.status() == 'InProgress'
    held = client.gallery_image_versions.get('rg', 'gal', 'def', '2.0.0', expand='ReplicationStatus')
    assert held.provisioning_state == 'Creating' and held.replication_status.aggregated_state == 'InProgress'
    assert [(s.state, s.progress) for s in held.replication_status.summary] == [('Replicating', 0), ('Replicating', 0)]
    token = poller.continuation_token()
    polls = arm.calls('GET', '/capsOperations/')
    assert len(polls) > 3 and len({r.path for r in polls}) == 1

    # A test can also move it along itself.
    assert summary(arm.step_replication(held.id)) == [('West Europe', 'Completed', 100),
                                                      ('North Europe', 'Replicating', 0)]
    arm.release_replication()
    later = arm_compute()
    resumed = later.gallery_image_versions.begin_create_or_update(
        'rg', 'gal', 'def', '2.0.0', from_snapshot(snapshot), continuation_token=token)
    assert resumed.result().provisioning_state == 'Succeeded'
    assert {r.path for r in arm.calls('GET', '/capsOperations/')} == {polls[0].path}
    assert arm.replication_status(held.id)['aggregatedState'] == 'Completed'


def test_seeded_versions_replicating_and_one_version_held(client, arm):
    seed(arm)
    done = arm.add_gallery_image_version('rg', 'gal', 'def', '1.0.0', target_regions=['westeurope', 'eastus'])
    assert done['properties']['provisioningState'] == 'Succeeded'
    assert summary(arm.replication_status(done['id'])) == [('West Europe', 'Completed', 100),
                                                           ('East US', 'Completed', 100)]
    busy = arm.add_gallery_image_version('rg', 'gal', 'def', '1.1.0', target_regions=['westeurope', 'eastus'],
                                         replicating=True)
    other = arm.add_gallery_image_version('rg', 'gal', 'def', '1.2.0', replicating=True)
    arm.hold_replication(busy['id'])
    assert client.gallery_image_versions.get('rg', 'gal', 'def', '1.1.0').provisioning_state == 'Creating'
    assert client.gallery_image_versions.get('rg', 'gal', 'def', '1.2.0').provisioning_state == 'Succeeded'
    arm.release_replication(busy['id'])
    states = [client.gallery_image_versions.get('rg', 'gal', 'def', '1.1.0', expand='ReplicationStatus')
              for dummy in range(2)]
    assert [s.replication_status.aggregated_state for s in states] == ['InProgress', 'Completed']
    assert states[-1].provisioning_state == 'Succeeded' and other['name'] == '1.2.0'


# --- image versions: what ARM refuses --------------------------------------------------------------

def test_version_name_definition_and_source_errors(client, arm):
    snapshot = seed(arm)
    for name in ('1.0', '1.0.x', '2147483648.0.0', 'v1.0.0'):
        with pytest.raises(HttpResponseError) as err:
            client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', name, from_snapshot(snapshot))
        assert err.value.status_code == 400 and err.value.error.code == 'InvalidParameter', name
        assert err.value.error.target == 'galleryImageVersionName'
        assert err.value.error.message.startswith('The image version name is invalid. The image version name should '
                                                  'follow Major(int).Minor(int).Patch(int) format, where int is '
                                                  'between 0 and 2,147,483,647 (inclusive).')
    assert client.gallery_image_versions.begin_create_or_update(
        'rg', 'gal', 'def', '2147483647.0.0', from_snapshot(snapshot)).result().name == '2147483647.0.0'
    with pytest.raises(ResourceNotFoundError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'nodef', '1.0.0', from_snapshot(snapshot))
    assert err.value.error.code == 'ParentResourceNotFound'
    with pytest.raises(ResourceNotFoundError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0',
                                                             from_snapshot(snapshot + 'gone'))
    assert err.value.error.code == 'NotFound' and err.value.error.message == 'Resource snapgone is not found.'
    with pytest.raises(HttpResponseError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersion(
            location=WE, storage_profile=m.GalleryImageVersionStorageProfile()))
    assert err.value.error.code == 'InvalidParameter' and err.value.error.target == 'storageProfile'
    with pytest.raises(HttpResponseError) as err:  # a version is always replicated to its own region
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0',
                                                             from_snapshot(snapshot, ['northeurope']))
    assert err.value.error.target == 'galleryImageVersion.properties.publishingProfile.targetRegions'


def test_a_source_of_the_other_generation_fails_the_operation_with_conflict(client, arm):
    gen1_snapshot = seed(arm, hyper_v='V1')
    arm.add_gallery_image('rg', 'gal', 'gen2', hyper_v_generation='V2', sku='gen2')
    for image, snapshot, message in (
            ('gen2', gen1_snapshot, "different Hypervisor generation ['V1'] than the parent gallery image Hypervisor "
                                    "generation ['V2']."),):
        poller = client.gallery_image_versions.begin_create_or_update('rg', 'gal', image, '1.0.0',
                                                                      from_snapshot(snapshot))
        with pytest.raises(HttpResponseError) as err:
            poller.result()
        assert err.value.error.code == 'Conflict' and err.value.error.message.endswith(message)
        assert err.value.error.message.startswith("The resource with id '%s'" % snapshot)
    put = arm.calls('PUT', r'/versions/1\.0\.0$')[0]
    assert put.status == 201  # accepted, then the operation fails
    failed = client.gallery_image_versions.get('rg', 'gal', 'gen2', '1.0.0', expand='ReplicationStatus')
    assert failed.provisioning_state == 'Failed' and failed.replication_status.aggregated_state == 'Failed'
    assert 'Hypervisor generation' in failed.replication_status.summary[0].details
    # A V2 source into the V1 definition, and a managed image of the other generation, likewise.
    disk = arm.add_disk('rg', 'gen2os', os_type='Linux', hyper_v_generation='V2')
    with pytest.raises(HttpResponseError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersion(
            location=WE, storage_profile=m.GalleryImageVersionStorageProfile(os_disk_image=m.GalleryOSDiskImage(
                source=m.GalleryDiskImageSource(id=disk['id']))))).result()
    assert "['V2'] than the parent gallery image Hypervisor generation ['V1']" in err.value.error.message
    image = arm.add_image('rg', 'img', os_disk=gen1_snapshot, hyper_v_generation='V1')
    with pytest.raises(HttpResponseError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'gen2', '2.0.0', m.GalleryImageVersion(
            location=WE, storage_profile=m.GalleryImageVersionStorageProfile(
                source=m.GalleryArtifactVersionFullSource(id=image['id'])))).result()
    assert err.value.error.code == 'Conflict'
    # The failed version stays until it is deleted.
    client.gallery_image_versions.begin_delete('rg', 'gal', 'gen2', '1.0.0').result()
    with pytest.raises(ResourceNotFoundError):
        client.gallery_image_versions.get('rg', 'gal', 'gen2', '1.0.0')


def test_version_sources_sizes_and_immutable_publishing(client, arm):
    snapshot = seed(arm)
    data = arm.add_disk('rg', 'data', size_gb=8)
    version = client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersion(
        location=WE, publishing_profile=m.GalleryImageVersionPublishingProfile(
            target_regions=[m.TargetRegion(name='westeurope'), m.TargetRegion(name='westus', regional_replica_count=2)],
            exclude_from_latest=True, end_of_life_date=EOL),
        storage_profile=m.GalleryImageVersionStorageProfile(
            os_disk_image=m.GalleryOSDiskImage(source=m.GalleryDiskImageSource(id=snapshot)),
            data_disk_images=[m.GalleryDataDiskImage(lun=0, host_caching='ReadOnly',
                                                     source=m.GalleryDiskImageSource(id=data['id']))]))).result()
    sp, pp = version.storage_profile, version.publishing_profile
    assert (sp.os_disk_image.size_in_gb, sp.os_disk_image.host_caching) == (16, 'ReadWrite')
    assert [(d.lun, d.size_in_gb, d.host_caching) for d in sp.data_disk_images] == [(0, 8, 'ReadOnly')]
    # From 2025-03-03 PreferStandard_ZRS: ZRS where the region has zones (West Europe), LRS elsewhere.
    assert pp.storage_account_strategy == 'PreferStandard_ZRS' and pp.storage_account_type is None
    assert [(r.name, r.regional_replica_count, r.storage_account_type) for r in pp.target_regions] == [
        ('West Europe', 1, 'Standard_ZRS'), ('West US', 2, 'Standard_LRS')]
    assert pp.exclude_from_latest is True and pp.replica_count == 1
    assert version.safety_profile.allow_deletion_of_replicated_locations is True
    old = raw(arm, 'PUT', GAL + '/images/def/versions/1.0.1', version_body(snapshot, ['westeurope']),
              api_version='2024-03-03').json()['properties']['publishingProfile']
    assert old['storageAccountType'] == 'Standard_LRS' and old['targetRegions'][0]['storageAccountType'] == \
        'Standard_LRS' and 'storageAccountStrategy' not in old

    # Updatable: regions, replica counts, excludeFromLatest, end of life; new regions replicate.
    updated = client.gallery_image_versions.begin_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersionUpdate(
        publishing_profile=m.GalleryImageVersionPublishingProfile(
            target_regions=[m.TargetRegion(name='West Europe'), m.TargetRegion(name='West US'),
                            m.TargetRegion(name='northeurope')], exclude_from_latest=False),
        storage_profile=m.GalleryImageVersionStorageProfile())).result()
    assert [r.name for r in updated.publishing_profile.target_regions] == ['West Europe', 'West US', 'North Europe']
    assert updated.publishing_profile.exclude_from_latest is False
    assert [(s['state'], s['progress']) for s in arm.replication_status(updated.id)['summary']] == [
        ('Completed', 100), ('Completed', 100), ('Completed', 100)]
    for change, prop in ((dict(storage_account_type='Premium_LRS'), 'storageAccountType'),
                         (dict(replication_mode='Shallow'), 'replicationMode')):
        with pytest.raises(HttpResponseError) as err:
            client.gallery_image_versions.begin_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersionUpdate(
                publishing_profile=m.GalleryImageVersionPublishingProfile(**change),
                storage_profile=m.GalleryImageVersionStorageProfile()))
        assert err.value.error.code == 'PropertyChangeNotAllowed'
        assert err.value.error.target == 'galleryImageVersion.properties.publishingProfile.%s' % prop
    other = arm.add_snapshot('rg', 'snap2', source=arm.add_disk('rg', 'os2', hyper_v_generation='V2')['id'])
    with pytest.raises(HttpResponseError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', from_snapshot(other['id']))
    assert err.value.error.target == 'galleryImageVersion.properties.storageProfile.source.id'
    with pytest.raises(HttpResponseError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.2', from_snapshot(
            snapshot, storage_account_type='Standard_LRS', storage_account_strategy='DefaultStandard_LRS'))
    assert err.value.error.code == 'InvalidParameter'


def test_vm_and_managed_image_sources(client, arm):
    arm.add_gallery('rg', 'gal')
    arm.add_gallery_image('rg', 'gal', 'def', hyper_v_generation='V2')
    vm = arm.add_vm('rg', 'vm1', data_disks=(4, 8), power_state='deallocated', generalized=True)
    version = client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersion(
        location=WE, storage_profile=m.GalleryImageVersionStorageProfile(
            source=m.GalleryArtifactVersionFullSource(virtual_machine_id=vm['id'])))).result()
    assert version.storage_profile.source.virtual_machine_id == vm['id']
    with pytest.raises(HttpResponseError) as err:  # real ARM wants a VM in source.virtualMachineId
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.1', m.GalleryImageVersion(
            location=WE, storage_profile=m.GalleryImageVersionStorageProfile(
                source=m.GalleryArtifactVersionFullSource(id=vm['id']))))
    assert err.value.status_code == 400 and err.value.error.code == 'InvalidParameter'
    assert err.value.error.target == 'galleryImageVersion.properties.storageProfile.source.id'
    assert "must be specified in 'galleryImageVersion.properties.storageProfile.source.virtualMachineId'" in \
        err.value.error.message
    seeded = arm.add_gallery_image_version('rg', 'gal', 'def', '9.0.0', source_id=vm['id'])
    assert seeded['properties']['storageProfile']['source'] == {'virtualMachineId': vm['id']}
    assert [(d.lun, d.size_in_gb) for d in version.storage_profile.data_disk_images] == [(0, 4), (1, 8)]
    image = arm.add_image('rg', 'img', source_vm='vm1')
    from_image = client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.1.0', m.GalleryImageVersion(
        location=WE, storage_profile=m.GalleryImageVersionStorageProfile(
            source=m.GalleryArtifactVersionFullSource(id=image['id'])))).result()
    assert from_image.storage_profile.os_disk_image.size_in_gb == 30
    # Another version as the source.
    copy = client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.2.0', m.GalleryImageVersion(
        location=WE, storage_profile=m.GalleryImageVersionStorageProfile(
            source=m.GalleryArtifactVersionFullSource(id=from_image.id)))).result()
    assert copy.provisioning_state == 'Succeeded'
    # A VHD blob in a storage account (the fake takes the blob's size from arm.blob_sizes, in GiB).
    uri = 'https://acct.blob.core.windows.net/vhds/os.vhd'
    arm.blob_sizes[uri] = 12
    account = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct' % (
        arm.subscription_id)
    vhd = client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.3.0', m.GalleryImageVersion(
        location=WE, storage_profile=m.GalleryImageVersionStorageProfile(os_disk_image=m.GalleryOSDiskImage(
            host_caching='ReadOnly', source=m.GalleryDiskImageSource(uri=uri, storage_account_id=account))))).result()
    osd = vhd.storage_profile.os_disk_image
    assert (osd.source.uri, osd.source.storage_account_id, osd.size_in_gb, osd.host_caching) == (
        uri, account, 12, 'ReadOnly')


# --- soft delete ---------------------------------------------------------------------------------

def test_soft_deleted_versions_are_listed_restored_and_purged(client, arm):
    snapshot = seed(arm)
    client.galleries.begin_update('rg', 'gal', m.GalleryUpdate(
        soft_delete_policy=m.SoftDeletePolicy(is_soft_delete_enabled=True))).result()
    arm.add_gallery_image_version('rg', 'gal', 'def', '1.0.0', source_id=snapshot)
    version_id = arm.get('/subscriptions/%s%s/images/def/versions/1.0.0' % (arm.subscription_id, GAL))['id']
    client.gallery_image_versions.begin_delete('rg', 'gal', 'def', '1.0.0').result()
    with pytest.raises(ResourceNotFoundError):
        client.gallery_image_versions.get('rg', 'gal', 'def', '1.0.0')
    assert list(client.gallery_image_versions.list_by_gallery_image('rg', 'gal', 'def')) == []
    listed = list(client.soft_deleted_resource.list_by_artifact_name('rg', 'gal', 'images', 'def'))
    assert [(r.name, r.type, r.resource_arm_id, r.soft_deleted_artifact_type) for r in listed] == [
        ('1.0.0', 'Microsoft.Compute/galleries/softDeletedArtifactTypes/artifacts/versions', version_id, 'Images')]
    assert listed[0].id.endswith('/galleries/gal/softDeletedArtifactTypes/Images/artifacts/def/versions/1.0.0')
    assert listed[0].soft_deleted_time and listed[0].consumption_end_time
    # Deleting the definition or the gallery with soft-deleted versions is not supported.
    with pytest.raises(ResourceExistsError) as err:
        client.gallery_images.begin_delete('rg', 'gal', 'def')
    assert "'Microsoft.Compute/galleries/gal/images/def/versions/1.0.0'" in err.value.error.message
    # A plain PUT of that name is refused; a PATCH (or PUT) with restore: true brings it back (200),
    # as GalleryImageVersion_Update_RestoreSoftDeleted.json.
    with pytest.raises(HttpResponseError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', from_snapshot(snapshot))
    assert err.value.status_code == 409
    restored = raw(arm, 'PATCH', GAL + '/images/def/versions/1.0.0', {'properties': {
        'restore': True, 'storageProfile': {}}})
    assert restored.status_code == 200 and restored.json()['properties']['provisioningState'] == 'Updating'
    assert '/capsOperations/' in restored.headers['Azure-AsyncOperation']
    back = client.gallery_image_versions.get('rg', 'gal', 'def', '1.0.0')
    assert back.storage_profile.os_disk_image.source.id == snapshot
    assert list(client.soft_deleted_resource.list_by_artifact_name('rg', 'gal', 'images', 'def')) == []
    # bypassSoftDelete deletes for good; so does a gallery without the policy.
    client.gallery_image_versions.begin_delete('rg', 'gal', 'def', '1.0.0', bypass_soft_delete=True).result()
    assert arm.calls('DELETE')[-1].query['bypassSoftDelete'] == 'true'
    assert list(client.soft_deleted_resource.list_by_artifact_name('rg', 'gal', 'images', 'def')) == []
    assert arm.soft_deleted(version_id) is None
    client.gallery_images.begin_delete('rg', 'gal', 'def').result()


# --- strict mode, faults, request log ------------------------------------------------------------

def test_strict_mode_validates_gallery_bodies(client, arm):
    snapshot = seed(arm)
    path = GAL + '/images/def/versions/1.0.0'
    unknown = version_body(snapshot, foo=1)
    answer = raw(arm, 'PUT', path, unknown).json()['error']
    assert answer['code'] == 'InvalidRequestContent'
    assert "Could not find member 'foo' on object of type 'GalleryImageVersionPublishingProfile'. Path " \
           "'properties.publishingProfile.foo'" in answer['message']
    caching = version_body(snapshot)
    caching['properties']['storageProfile']['osDiskImage']['hostCaching'] = 'Sometimes'
    assert raw(arm, 'PUT', path, caching).json()['error']['code'] == 'InvalidRequestContent'
    region = version_body(snapshot)
    region['properties']['publishingProfile']['targetRegions'] = [{'regionalReplicaCount': 1}]
    error = raw(arm, 'PUT', path, region).json()['error']
    assert error['code'] == 'InvalidParameter' and error['target'] == 'properties.publishingProfile.targetRegions[0].name'
    no_identifier = raw(arm, 'PUT', GAL + '/images/x', {'location': WE, 'properties': {
        'osType': 'Linux', 'osState': 'Generalized'}})
    assert no_identifier.json()['error']['target'] == 'properties.identifier'
    policy = raw(arm, 'PATCH', GAL, {'properties': {'softDeletePolicy': {'isSoftDeleteEnabled': 'yes'}}})
    assert policy.json()['error']['code'] == 'InvalidRequestContent'
    # Read-only members are ignored; the SDK's own models pass.
    fine = version_body(snapshot)
    fine['properties']['replicationStatus'] = {'aggregatedState': 'Completed'}
    fine['properties']['publishingProfile']['publishedDate'] = '2020-01-01T00:00:00Z'
    des = '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des'
    fine['properties']['publishingProfile']['targetRegions'][0].update(
        regionalReplicaCount=2, storageAccountType='Premium_LRS',
        encryption={'osDiskImage': {'diskEncryptionSetId': des}, 'dataDiskImages': [{'lun': 0,
                                                                                    'diskEncryptionSetId': des}]})
    assert raw(arm, 'PUT', path, fine).status_code == 201


def test_faults_and_the_request_log_cover_gallery_resources(client, arm):
    snapshot = seed(arm)
    arm.inject('throttle', method='GET', path=r'/versions/1\.0\.0$', times=1, retry_after=0)
    arm.inject('lro_failed', method='PUT', path=r'/versions/1\.0\.0$', code='InternalExecutionError',
               message='An internal execution error occurred.')
    with pytest.raises(HttpResponseError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0',
                                                             from_snapshot(snapshot)).result()
    assert err.value.error.code == 'InternalExecutionError'
    got = client.gallery_image_versions.get('rg', 'gal', 'def', '1.0.0')
    assert got.provisioning_state == 'Failed' and arm.faults_served == 2
    gets = arm.calls('GET', r'/versions/1\.0\.0$')
    assert [(r.status, r.fault) for r in gets] == [(429, 'throttle'), (200, None)]
    put = arm.calls('PUT', r'/versions/1\.0\.0$')[0]
    assert put.body['properties']['storageProfile']['osDiskImage']['source']['id'] == snapshot
    assert put.api_version == API and not put.poll
    arm.inject('lro_stuck', method='PUT', path=r'/versions/1\.1\.0$')
    poller = client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.1.0', from_snapshot(snapshot),
                                                                  polling_interval=0.05)
    poller.wait(timeout=0.5)
    assert not poller.done()
    stuck = client.gallery_image_versions.get('rg', 'gal', 'def', '1.1.0', expand='ReplicationStatus')
    assert stuck.replication_status.aggregated_state == 'InProgress'  # a stuck operation replicates nothing
    arm.unstick()
    assert poller.result(timeout=5).provisioning_state == 'Succeeded'
