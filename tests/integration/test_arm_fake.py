# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ARM fake, driven by the real azure-mgmt-compute client and azure-identity credential.

Every client here is configured the way a user of a private cloud configures one: from the
metadata endpoint (login endpoint and audience), over TLS trusted through REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import models as m

from ansible_collections.vmimage.azure.tests.support.arm_fake import ArmFake, fixtures
from ansible_collections.vmimage.azure.tests.support.arm_fake.fixtures import compute_client

# The shared fixtures: one strict fake per module, reset before each test; a client factory.
arm, arm_compute = fixtures.arm, fixtures.arm_compute

WE = 'westeurope'


@pytest.fixture
def client(arm, arm_compute):
    arm.add_resource_group('rg', location=WE)
    return arm_compute(retry_backoff_factor=0.01)


_TOKENS = {}


def token(arm, scope=None):
    """A token from the fake's Entra (cached: each new credential costs a discovery round trip)."""
    scope = scope or arm.audience.rstrip('/') + '/.default'
    if (arm.url, scope) not in _TOKENS:
        credential = ClientSecretCredential(arm.tenant, arm.client_id, arm.client_secret,
                                            authority=arm.entra.authority_host, disable_instance_discovery=True)
        _TOKENS[arm.url, scope] = credential.get_token(scope).token
    return _TOKENS[arm.url, scope]


def raw(arm, method, path, body=None, api_version='2026-03-02', bearer=True, url=None):
    """A hand-made request (to look at status codes and headers the SDK hides)."""
    headers = {'Authorization': 'Bearer ' + token(arm)} if bearer is True else (
        {'Authorization': bearer} if bearer else {})
    target = url or '%s/subscriptions/%s%s' % (arm.url, arm.subscription_id, path)
    params = {'api-version': api_version} if api_version and not url else None
    return requests.request(method, target, params=params, json=body, headers=headers, timeout=10)


def disk_path(name, rg='rg', kind='disks'):
    return '/resourceGroups/%s/providers/Microsoft.Compute/%s/%s' % (rg, kind, name)


def snapshot_from(disk_id, **kwargs):
    return m.Snapshot(location=kwargs.pop('location', WE),
                      creation_data=m.CreationData(create_option='Copy', source_resource_id=disk_id), **kwargs)


# --- metadata and authentication ---------------------------------------------------------------

def test_metadata_endpoint_names_the_token_endpoint_and_audience(arm, arm_compute):
    meta = requests.get(arm.metadata_url, timeout=10).json()
    assert meta['authentication']['loginEndpoint'] == arm.entra.authority_host + '/'
    assert meta['authentication']['audiences'] == [arm.url + '/']
    assert {'galleryEndpoint', 'graphEndpoint', 'portalEndpoint', 'suffixes'} <= set(meta)
    assert meta['suffixes']['storage'] == 'core.windows.net'
    clouds = requests.get(arm.url + '/metadata/endpoints?api-version=2022-09-01', timeout=10).json()
    assert clouds[0]['resourceManager'] == arm.url + '/' and clouds[0]['authentication'] == meta['authentication']
    missing = requests.get(arm.url + '/metadata/endpoints', timeout=10)
    assert missing.status_code == 400 and missing.json()['error']['code'] == 'MissingApiVersionParameter'
    env = arm.env()
    assert env['AZURE_CLOUD_ENVIRONMENT'] == arm.url and env['AZURE_SECRET'] == arm.client_secret
    assert set(env) == {'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'AZURE_CLOUD_ENVIRONMENT', 'AZURE_SUBSCRIPTION_ID',
                        'AZURE_CLIENT_ID', 'AZURE_SECRET', 'AZURE_TENANT'}


def test_requests_without_a_valid_token_get_arm_401s(client, arm):
    arm.add_disk('rg', 'd1')
    missing = raw(arm, 'GET', disk_path('d1'), bearer=None)
    assert missing.status_code == 401 and missing.json()['error']['code'] == 'AuthenticationFailed'
    assert missing.headers['WWW-Authenticate'].startswith('Bearer authorization_uri="%s/' % arm.entra.authority_host)
    wrong = raw(arm, 'GET', disk_path('d1'), bearer='Bearer ' + token(arm, 'https://management.azure.com/.default'))
    assert wrong.status_code == 401 and wrong.json()['error']['code'] == 'InvalidAuthenticationTokenAudience'
    assert "'https://management.azure.com'" in wrong.json()['error']['message']
    head, body, _sig = token(arm).split('.')
    forged = raw(arm, 'GET', disk_path('d1'), bearer='Bearer %s.%s.%s' % (head, body, 'AAAA'))
    assert forged.json()['error']['code'] == 'InvalidAuthenticationToken'
    # The audience with its trailing slash (scope 'https://host:port//.default') is as good.
    slash = raw(arm, 'GET', disk_path('d1'), bearer='Bearer ' + token(arm, arm.audience + '/.default'))
    assert slash.status_code == 200
    # Through the SDK: a client asking for another audience fails to authenticate.
    sdk = compute_client(arm, credential_scopes=['https://management.azure.com/.default'])
    with pytest.raises(ClientAuthenticationError):
        sdk.disks.get('rg', 'd1')


# --- DiskRP dialect: disks and snapshots ---------------------------------------------------------

def test_snapshot_from_a_disk_copies_its_size_and_os_through_diskrp_lro(client, arm):
    disk = arm.add_disk('rg', 'd1', size_gb=64, os_type='Linux', hyper_v_generation='V2')
    snap = client.snapshots.begin_create_or_update('rg', 'snap1', snapshot_from(disk['id'], incremental=True)).result()
    assert (snap.disk_size_gb, snap.os_type, snap.hyper_v_generation) == (64, 'Linux', 'V2')
    assert snap.incremental is True and snap.sku.name == 'Standard_LRS' and snap.provisioning_state == 'Succeeded'
    assert snap.creation_data.source_unique_id == disk['properties']['uniqueId'] and snap.unique_id
    put, first, second, final = arm.calls(path_regex='snap1|DiskOperations')
    assert put.method == 'PUT' and put.status == 202 and put.api_version == '2026-03-02'
    assert first.poll and second.poll and not final.poll and final.method == 'GET'

    # The raw dialect: 202 + Azure-AsyncOperation/Location at .../DiskOperations/{id}, then the status bodies.
    answer = raw(arm, 'PUT', disk_path('snap2', kind='snapshots'),
                 {'location': WE, 'properties': {'creationData': {'createOption': 'Copy',
                                                                  'sourceResourceId': disk['id']}}})
    assert answer.status_code == 202 and answer.json()['properties']['provisioningState'] == 'Creating'
    status_url = answer.headers['Azure-AsyncOperation']
    assert '/providers/Microsoft.Compute/locations/westeurope/DiskOperations/' in status_url
    assert 'monitor=true' in answer.headers['Location'] and answer.headers['Retry-After'] == '0'
    assert arm.get(answer.json()['id'])['properties']['provisioningState'] == 'Creating'
    running = raw(arm, 'GET', None, url=status_url).json()
    assert running['status'] == 'InProgress' and set(running) == {'startTime', 'status', 'name'}
    done = raw(arm, 'GET', None, url=status_url).json()
    assert done['status'] == 'Succeeded' and done['endTime'] and done['properties']['output']['name'] == 'snap2'
    assert arm.get(answer.json()['id'])['properties']['provisioningState'] == 'Succeeded'
    # Updating an existing snapshot answers 200; a PATCH for tags too goes through DiskRP's LRO.
    again = raw(arm, 'PUT', disk_path('snap2', kind='snapshots'),
                {'location': WE, 'tags': {'a': '1'}, 'properties': {'creationData': {
                    'createOption': 'Copy', 'sourceResourceId': disk['id']}}})
    assert again.status_code == 200 and 'Azure-AsyncOperation' in again.headers
    tagged = client.snapshots.begin_update('rg', 'snap1', m.SnapshotUpdate(tags={'k': 'v'})).result()
    assert tagged.tags == {'k': 'v'}


def test_snapshot_source_errors_are_diskrp_not_found(client, arm):
    arm.add_resource_group('east', location='eastus')
    far = arm.add_disk('east', 'far', location='eastus')
    for source in (far['id'], far['id'].replace('/far', '/ghost')):
        with pytest.raises(ResourceNotFoundError) as err:
            client.snapshots.begin_create_or_update('rg', 's', snapshot_from(source)).result()
        assert err.value.error.code == 'NotFound' and 'is not found' in err.value.error.message
    with pytest.raises(ResourceNotFoundError) as err:
        client.snapshots.get('nope', 's')
    assert err.value.error.code == 'ResourceGroupNotFound'
    with pytest.raises(ResourceNotFoundError) as err:
        client.snapshots.get('rg', 'absent')
    assert err.value.error.code == 'ResourceNotFound'
    assert err.value.error.message == ("The Resource 'Microsoft.Compute/snapshots/absent' under resource group 'rg' "
                                       "was not found. For more details please go to "
                                       "https://aka.ms/ARMResourceNotFoundFix")


def test_disks_delete_and_attachment(client, arm):
    vm = arm.add_vm('rg', 'vm1', data_disks=(8,))
    os_disk = client.disks.get('rg', vm['properties']['storageProfile']['osDisk']['name'])
    assert os_disk.disk_state == 'Attached' and os_disk.managed_by.lower() == vm['id'].lower()
    with pytest.raises(HttpResponseError) as err:
        client.disks.begin_delete('rg', os_disk.name).result()
    assert err.value.status_code == 409 and err.value.error.code == 'OperationNotAllowed'
    empty = client.disks.begin_create_or_update('rg', 'e1', m.Disk(location=WE, disk_size_gb=4, creation_data=m.CreationData(
        create_option='Empty'), sku=m.DiskSku(name='Premium_LRS'))).result()
    assert empty.disk_state == 'Unattached' and empty.tier == 'P1' and empty.disk_size_bytes == 4 * 1024 ** 3
    client.disks.begin_delete('rg', 'e1').result()
    assert arm.get(empty.id) is None
    assert raw(arm, 'DELETE', disk_path('e1')).status_code == 204
    client.disks.begin_delete('rg', 'e1').result()  # absent: 204, nothing to wait for


# --- CRP dialect: VMs and images -----------------------------------------------------------------

def test_vm_power_actions_generalize_and_instance_view(client, arm):
    vm = arm.add_vm('rg', 'vm1', security_type='TrustedLaunch')
    assert vm['properties']['securityProfile']['uefiSettings'] == {'secureBootEnabled': True, 'vTpmEnabled': True}

    def power():
        return [s.code for s in client.virtual_machines.instance_view('rg', 'vm1').statuses if 'PowerState' in s.code]
    with pytest.raises(HttpResponseError) as err:
        client.virtual_machines.generalize('rg', 'vm1')
    assert err.value.status_code == 409 and err.value.error.code == 'OperationNotAllowed'
    client.virtual_machines.begin_power_off('rg', 'vm1').result()
    assert power() == ['PowerState/stopped']
    client.virtual_machines.begin_start('rg', 'vm1').result()
    client.virtual_machines.begin_restart('rg', 'vm1').result()
    assert power() == ['PowerState/running']
    client.virtual_machines.begin_deallocate('rg', 'vm1').result()
    assert power() == ['PowerState/deallocated']
    assert client.disks.get('rg', vm['properties']['storageProfile']['osDisk']['name']).disk_state == 'Reserved'
    assert client.virtual_machines.generalize('rg', 'vm1') is None
    got = client.virtual_machines.get('rg', 'vm1', expand='instanceView')
    codes = [s.code for s in got.instance_view.statuses]
    assert codes == ['ProvisioningState/succeeded', 'OSState/generalized', 'PowerState/deallocated']
    assert got.instance_view.hyper_v_generation == 'V2' and got.security_profile.security_type == 'TrustedLaunch'
    with pytest.raises(HttpResponseError) as err:
        client.virtual_machines.begin_start('rg', 'vm1').result()
    assert err.value.error.code == 'OperationNotAllowed' and 'generalized' in err.value.error.message

    # The raw CRP action dialect: 202 with both headers; the Location URL ends with 200 and no body.
    arm.set_power_state(vm['id'], 'running')
    arm.set_generalized(vm['id'], False)
    answer = raw(arm, 'POST', disk_path('vm1', kind='virtualMachines') + '/powerOff', api_version='2026-04-01')
    assert answer.status_code == 202 and answer.content == b''
    assert '/locations/westeurope/operations/' in answer.headers['Azure-AsyncOperation']
    location = answer.headers['Location']
    assert 'monitor=true' in location
    assert raw(arm, 'GET', None, url=location).status_code == 202
    final = raw(arm, 'GET', None, url=location)
    assert final.status_code == 200 and final.content == b''
    assert power() == ['PowerState/stopped']


def test_run_command_output_and_record(client, arm):
    arm.add_vm('rg', 'lin')
    arm.add_vm('rg', 'win', os_type='Windows', power_state='running')
    arm.add_vm('rg', 'off', power_state='deallocated')
    arm.run_command_handler = lambda vm, command_id, script, parameters: ('out of %s' % vm['name'], 'warn')
    result = client.virtual_machines.begin_run_command(
        'rg', 'lin', m.RunCommandInput(command_id='RunShellScript', script=['echo a', 'echo b'])).result()
    assert result.value[0].code == 'ProvisioningState/succeeded'
    assert result.value[0].message == 'Enable succeeded: \n[stdout]\nout of lin\n[stderr]\nwarn'
    result = client.virtual_machines.begin_run_command(
        'rg', 'win', m.RunCommandInput(command_id='RunPowerShellScript', script=['Get-Date'],
                                       parameters=[m.RunCommandInputParameter(name='a', value='1')])).result()
    assert [(s.code, s.message) for s in result.value] == [('ComponentStatus/StdOut/succeeded', 'out of win'),
                                                           ('ComponentStatus/StdErr/succeeded', 'warn')]
    assert [(r['vm'].rsplit('/', 1)[1], r['command_id'], r['script']) for r in arm.run_commands] == [
        ('lin', 'RunShellScript', ['echo a', 'echo b']), ('win', 'RunPowerShellScript', ['Get-Date'])]
    assert arm.run_commands[1]['parameters'] == [{'name': 'a', 'value': '1'}]
    with pytest.raises(HttpResponseError) as err:
        client.virtual_machines.begin_run_command('rg', 'off', m.RunCommandInput(command_id='RunShellScript'))
    assert err.value.status_code == 409
    assert err.value.error.message == 'The operation requires the VM to be running (or set to run).'


def test_image_from_a_generalized_vm_holds_its_disks(client, arm):
    vm = arm.add_vm('rg', 'vm1', data_disks=(8, 16), power_state='deallocated', generalized=True,
                    hyper_v_generation='V1')
    live = arm.add_vm('rg', 'live')
    image = client.images.begin_create_or_update('rg', 'img', m.Image(
        location=WE, source_virtual_machine=m.SubResource(id=vm['id']), tags={'a': '1'})).result()
    osd = image.storage_profile.os_disk
    assert (osd.os_type, osd.os_state, osd.disk_size_gb) == ('Linux', 'Generalized', 30)
    assert osd.managed_disk.id == vm['properties']['storageProfile']['osDisk']['managedDisk']['id']
    assert [(d.lun, d.disk_size_gb) for d in image.storage_profile.data_disks] == [(0, 8), (1, 16)]
    assert image.hyper_v_generation == 'V1' and image.storage_profile.zone_resilient is False
    put = arm.calls('PUT', r'/images/img$')[0]
    assert put.status == 201 and put.body == {'location': WE, 'tags': {'a': '1'},
                                              'properties': {'sourceVirtualMachine': {'id': vm['id']}}}

    # Tags change in place (200); another source is an immutable change (409).
    answer = raw(arm, 'PUT', disk_path('img', kind='images'), {
        'location': WE, 'tags': {'a': '2'}, 'properties': {'sourceVirtualMachine': {'id': vm['id']}}},
        api_version='2026-04-01')
    assert answer.status_code == 200 and 'Location' not in answer.headers
    assert '/operations/' in answer.headers['Azure-AsyncOperation']
    assert answer.json()['properties']['provisioningState'] == 'Updating'
    with pytest.raises(HttpResponseError) as err:
        client.images.begin_create_or_update('rg', 'img', m.Image(
            location=WE, source_virtual_machine=m.SubResource(id=live['id'])))
    assert err.value.status_code == 409 and err.value.error.code == 'PropertyChangeNotAllowed'
    assert err.value.error.message == "Changing property 'sourceVirtualMachine' is not allowed."
    with pytest.raises(HttpResponseError) as err:
        client.images.begin_create_or_update('rg', 'img2', m.Image(
            location=WE, source_virtual_machine=m.SubResource(id=live['id'])))
    assert err.value.error.code == 'OperationNotAllowed'
    assert err.value.error.message == "The operation 'Create Image' requires the Virtual Machine 'live' to be " \
                                      "Generalized."


def test_image_from_disks_and_a_blob(client, arm):
    os_disk = arm.add_disk('rg', 'os', size_gb=32, os_type='Windows', hyper_v_generation='V2')
    data = arm.add_disk('rg', 'data', size_gb=10)
    snap = arm.add_snapshot('rg', 'snap', source='data')
    image = client.images.begin_create_or_update('rg', 'img', m.Image(location=WE, storage_profile=m.ImageStorageProfile(
        os_disk=m.ImageOSDisk(os_type='Windows', os_state='Generalized', managed_disk=m.SubResource(id=os_disk['id'])),
        data_disks=[m.ImageDataDisk(lun=3, snapshot=m.SubResource(id=snap['id'])),
                    m.ImageDataDisk(lun=1, managed_disk=m.SubResource(id=data['id']))]))).result()
    assert image.hyper_v_generation == 'V2' and image.storage_profile.os_disk.disk_size_gb == 32
    assert [(d.lun, d.disk_size_gb) for d in image.storage_profile.data_disks] == [(3, 10), (1, 10)]
    blob = 'https://acct.blob.core.windows.net/vhds/os.vhd'
    from_blob = client.images.begin_create_or_update('rg', 'blob', m.Image(location=WE, storage_profile=m.ImageStorageProfile(
        os_disk=m.ImageOSDisk(os_type='Linux', os_state='Generalized', blob_uri=blob)))).result()
    assert from_blob.storage_profile.os_disk.blob_uri == blob and from_blob.hyper_v_generation == 'V1'
    with pytest.raises(HttpResponseError) as err:
        client.images.begin_create_or_update('rg', 'blob', m.Image(location=WE, storage_profile=m.ImageStorageProfile(
            os_disk=m.ImageOSDisk(os_type='Linux', os_state='Generalized', blob_uri=blob + '2'))))
    assert err.value.error.code == 'PropertyChangeNotAllowed'
    with pytest.raises(ResourceNotFoundError):
        client.images.begin_create_or_update('rg', 'x', m.Image(location=WE, storage_profile=m.ImageStorageProfile(
            os_disk=m.ImageOSDisk(os_type='Linux', os_state='Generalized',
                                  managed_disk=m.SubResource(id=os_disk['id'] + 'x')))))
    client.images.begin_delete('rg', 'blob').result()
    assert arm.get(from_blob.id) is None
    assert arm.calls('DELETE')[0].status == 202


# --- galleries, marketplace, community galleries -----------------------------------------------

def test_gallery_dialect_and_image_versions(client, arm):
    vm = arm.add_vm('rg', 'vm1', data_disks=(4,), power_state='stopped', generalized=True)
    gallery = client.galleries.begin_create_or_update('rg', 'gal', m.Gallery(location=WE, description='d')).result()
    assert gallery.identifier.unique_name == '%s-GAL' % arm.subscription_id
    definition = client.gallery_images.begin_create_or_update('rg', 'gal', 'def', m.GalleryImage(
        location=WE, os_type='Linux', os_state='Generalized', hyper_v_generation='V2',
        identifier=m.GalleryImageIdentifier(publisher='p', offer='o', sku='s'), architecture='x64')).result()
    assert definition.identifier.sku == 's' and definition.provisioning_state == 'Succeeded'
    version = client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersion(
        location=WE, storage_profile=m.GalleryImageVersionStorageProfile(
            source=m.GalleryArtifactVersionFullSource(virtual_machine_id=vm['id'])),
        publishing_profile=m.GalleryImageVersionPublishingProfile(exclude_from_latest=True))).result()
    assert version.storage_profile.os_disk_image.size_in_gb == 30
    assert [d.lun for d in version.storage_profile.data_disk_images] == [0]
    assert version.publishing_profile.exclude_from_latest is True
    assert version.publishing_profile.target_regions[0].name == 'West Europe'
    assert [v.name for v in client.gallery_image_versions.list_by_gallery_image('rg', 'gal', 'def')] == ['1.0.0']

    creates = [r for r in arm.writes() if r.method == 'PUT']
    assert [r.status for r in creates] == [201, 201, 201]
    assert all(r.api_version == '2026-03-03' for r in creates)
    answer = raw(arm, 'PUT', '/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal', {'location': WE},
                 api_version='2026-03-03')
    assert answer.status_code == 200 and '/capsOperations/' in answer.headers['Azure-AsyncOperation']
    assert 'Location' not in answer.headers
    with pytest.raises(HttpResponseError) as err:
        client.gallery_images.begin_create_or_update('rg', 'gal', 'def', m.GalleryImage(
            location=WE, os_type='Linux', os_state='Specialized',
            identifier=m.GalleryImageIdentifier(publisher='p', offer='o', sku='s')))
    assert err.value.error.code == 'PropertyChangeNotAllowed'
    with pytest.raises(HttpResponseError) as err:
        client.galleries.begin_delete('rg', 'gal').result()
    assert err.value.status_code == 409
    deleted = raw(arm, 'DELETE', '/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal/images/def/versions/'
                  '1.0.0', api_version='2026-03-03')
    assert deleted.status_code == 202 and 'Location' in deleted.headers and 'Azure-AsyncOperation' in deleted.headers


def test_gallery_version_source_must_match_the_definition(client, arm):
    arm.add_gallery('rg', 'gal')
    arm.add_gallery_image('rg', 'gal', 'def', os_state='Generalized', hyper_v_generation='V2')
    live = arm.add_vm('rg', 'live', power_state='stopped')
    with pytest.raises(HttpResponseError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersion(
            location=WE, storage_profile=m.GalleryImageVersionStorageProfile(
                source=m.GalleryArtifactVersionFullSource(virtual_machine_id=live['id'])))).result()
    assert "different OS state ['Specialized']" in err.value.error.message
    # A VM given in source.id is refused up front, as real ARM does (Azure/azure-cli#28700).
    with pytest.raises(HttpResponseError) as err:
        client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.1', m.GalleryImageVersion(
            location=WE, storage_profile=m.GalleryImageVersionStorageProfile(
                source=m.GalleryArtifactVersionFullSource(id=live['id']))))
    assert err.value.status_code == 400 and err.value.error.code == 'InvalidParameter'
    assert err.value.error.message == ("The gallery image version source id: '%s' must be specified in "
                                       "'galleryImageVersion.properties.storageProfile.source.virtualMachineId'."
                                       % live['id'])
    assert arm.get(live['id'].rsplit('/virtualMachines/', 1)[0] + '/galleries/gal/images/def/versions/1.0.1') is None
    with pytest.raises(HttpResponseError) as err:
        client.gallery_images.begin_create_or_update('rg', 'missing', 'def', m.GalleryImage(
            location=WE, os_type='Linux', os_state='Generalized',
            identifier=m.GalleryImageIdentifier(publisher='p', offer='o', sku='s')))
    assert err.value.error.code == 'ParentResourceNotFound'


def test_marketplace_lists_are_plain_arrays(client, arm):
    for version in ('1.0.2', '1.0.10', '1.0.9'):
        arm.add_marketplace_image(WE, 'Canonical', 'ubuntu-24_04-lts', 'server', version)
    arm.add_marketplace_image(WE, 'Canonical', 'ubuntu-24_04-lts', 'server-gen1', '1.0.0', hyper_v_generation='V1')
    images = client.virtual_machine_images
    assert [p.name for p in images.list_publishers(WE)] == ['Canonical']
    assert [o.name for o in images.list_offers(WE, 'canonical')] == ['ubuntu-24_04-lts']
    assert [s.name for s in images.list_skus(WE, 'Canonical', 'ubuntu-24_04-lts')] == ['server', 'server-gen1']
    assert [v.name for v in images.list(WE, 'Canonical', 'ubuntu-24_04-lts', 'server')] == ['1.0.2', '1.0.9', '1.0.10']
    newest = images.list(WE, 'Canonical', 'ubuntu-24_04-lts', 'server', top=1, orderby='name desc')
    assert [v.name for v in newest] == ['1.0.10']
    assert arm.calls(path_regex='/versions$')[-1].query['$orderby'] == 'name desc'
    detail = images.get(WE, 'Canonical', 'ubuntu-24_04-lts', 'server-gen1', '1.0.0')
    assert detail.hyper_v_generation == 'V1' and detail.os_disk_image.operating_system == 'Linux'
    assert detail.architecture == 'x64' and detail.id.startswith('/Subscriptions/')
    with pytest.raises(ResourceNotFoundError):
        images.get(WE, 'Canonical', 'ubuntu-24_04-lts', 'server', '9.9.9')


def test_community_gallery(client, arm):
    arm.add_community_gallery('pub-1234', WE, images=[
        {'name': 'deb12', 'hyper_v_generation': 'V2', 'publisher': 'p', 'offer': 'o', 'sku': 's',
         'versions': ['1.0.0', {'name': '1.1.0', 'size_gb': 8}, '1.0.1']}])
    gallery = client.community_galleries.get(WE, 'pub-1234')
    assert gallery.identifier.unique_id == '/CommunityGalleries/pub-1234'
    image = client.community_gallery_images.get(WE, 'pub-1234', 'deb12')
    assert image.properties.hyper_v_generation == 'V2' and image.properties.identifier.sku == 's'
    versions = list(client.community_gallery_image_versions.list(WE, 'pub-1234', 'deb12'))
    assert [v.name for v in versions] == ['1.0.0', '1.0.1', '1.1.0']  # three items, two pages
    assert versions[2].unique_id == '/CommunityGalleries/pub-1234/Images/deb12/Versions/1.1.0'
    with pytest.raises(ResourceNotFoundError):
        client.community_galleries.get('eastus', 'pub-1234')


# --- ARM conventions: paging, api-versions, case ------------------------------------------------

def test_lists_page_with_next_link(client, arm):
    for i in range(5):
        arm.add_disk('rg', 'd%d' % i)
    arm.add_resource_group('other')
    arm.add_disk('other', 'o1')
    assert [d.name for d in client.disks.list_by_resource_group('rg')] == ['d0', 'd1', 'd2', 'd3', 'd4']
    pages = arm.calls('GET', r'/resourceGroups/rg/providers/Microsoft.Compute/disks$')
    assert [r.query.get('$skiptoken') for r in pages] == [None, '2', '4']
    assert len(list(client.disks.list())) == 6
    assert raw(arm, 'GET', '/resourceGroups/rg/providers/Microsoft.Compute/disks').json()['nextLink'].startswith(
        arm.url + '/subscriptions/')


def test_api_versions(client, arm):
    arm.add_disk('rg', 'd1')
    bad = raw(arm, 'GET', disk_path('d1'), api_version='2019-01-01')
    assert bad.status_code == 400 and bad.json()['error']['code'] == 'InvalidApiVersionParameter'
    assert "'2019-01-01' is invalid" in bad.json()['error']['message'] and '2026-03-02' in bad.json()['error']['message']
    missing = raw(arm, 'GET', disk_path('d1'), api_version=None)
    assert missing.json()['error']['code'] == 'MissingApiVersionParameter'
    # Compute's version is not DiskRP's; an older DiskRP version is fine.
    assert raw(arm, 'GET', disk_path('d1'), api_version='2026-04-01').status_code == 400
    assert client.disks.get('rg', 'd1', api_version='2025-01-02').name == 'd1'
    group = raw(arm, 'GET', '/resourcegroups/RG', api_version='2021-04-01').json()
    assert group['name'] == 'rg' and group['type'] == 'Microsoft.Resources/resourceGroups'
    assert raw(arm, 'HEAD', '/resourcegroups/nope', api_version='2021-04-01').status_code == 404


def test_ids_and_names_are_case_insensitive(client, arm):
    arm.add_resource_group('MyRG')
    disk = arm.add_disk('MyRG', 'Disk1')
    got = client.disks.get('myrg', 'DISK1')
    assert got.id == disk['id'] and got.name == 'Disk1'
    lower = raw(arm, 'GET', '/resourcegroups/myrg/providers/microsoft.compute/DISKS/disk1')
    assert lower.status_code == 200 and lower.json()['id'] == disk['id']
    assert arm.get(disk['id'].upper())['name'] == 'Disk1'
    updated = client.disks.begin_update('MYRG', 'disk1', m.DiskUpdate(tags={'t': '1'})).result()
    assert updated.id == disk['id'] and [d.name for d in client.disks.list_by_resource_group('myrg')] == ['Disk1']


# --- strict mode ---------------------------------------------------------------------------------

def test_strict_mode_validates_bodies_like_arm(client, arm):
    disk = arm.add_disk('rg', 'd1')
    snake = {'location': WE, 'creation_data': {'create_option': 'Copy', 'source_resource_id': disk['id']}}
    with pytest.raises(HttpResponseError) as err:
        client.snapshots.begin_create_or_update('rg', 's1', snake)
    assert err.value.status_code == 400 and err.value.error.code == 'InvalidRequestContent'
    assert "Could not find member 'creation_data' on object of type 'ResourceDefinition'. Path 'creation_data'" in \
        err.value.error.message
    unknown = {'location': WE, 'properties': {'foo': 1, 'creationData': {'createOption': 'Copy',
                                                                         'sourceResourceId': disk['id']}}}
    with pytest.raises(HttpResponseError) as err:
        client.snapshots.begin_create_or_update('rg', 's1', unknown)
    assert "'Could not find member 'foo' on object of type 'SnapshotProperties'. Path 'properties.foo', line 1" \
        in err.value.error.message
    with pytest.raises(HttpResponseError) as err:
        client.snapshots.begin_create_or_update('rg', 's1', {'location': WE, 'properties': {}})
    assert err.value.error.code == 'InvalidParameter' and err.value.error.target == 'properties.creationData'
    bad_enum = {'location': WE, 'properties': {'osType': 'Solaris', 'creationData': {'createOption': 'Empty'}}}
    with pytest.raises(HttpResponseError) as err:
        client.disks.begin_create_or_update('rg', 'x', bad_enum)
    assert err.value.error.code == 'InvalidRequestContent' and "'OperatingSystemTypes'" in err.value.error.message
    with pytest.raises(HttpResponseError) as err:
        client.virtual_machines.begin_run_command('rg', 'vm', {'command_id': 'RunShellScript'})
    assert err.value.error.code == 'InvalidRequestContent'
    # Enums compare case-insensitively, read-only members are ignored, SDK models pass.
    fine = {'location': WE, 'properties': {'osType': 'linux', 'provisioningState': 'x', 'creationData': {
        'createOption': 'copy', 'sourceResourceId': disk['id']}}}
    assert client.snapshots.begin_create_or_update('rg', 's2', fine).result().os_type == 'linux'
    assert client.snapshots.begin_create_or_update('rg', 's3', snapshot_from(disk['id'])).result().name == 's3'
    assert arm.writes()[0].status == 400 and arm.writes()[0].body == snake
    arm.strict = False
    try:
        assert client.snapshots.begin_create_or_update('rg', 's4', dict(unknown)).result().name == 's4'
        with pytest.raises(HttpResponseError) as err:  # not strict: the snake_case body misses creationData
            client.snapshots.begin_create_or_update('rg', 's5', snake)
        assert err.value.error.code == 'InvalidParameter'
    finally:
        arm.strict = True


# --- faults --------------------------------------------------------------------------------------

def test_throttling_is_waited_out_with_retry_after(client, arm):
    arm.add_disk('rg', 'd1')
    arm.inject('throttle', method='GET', path=r'/disks/d1$', times=2, retry_after=1)
    assert client.disks.get('rg', 'd1').name == 'd1'
    gets = arm.calls('GET', r'/disks/d1$')
    assert [r.status for r in gets] == [429, 429, 200] and arm.faults_served == 2
    assert [r.fault for r in gets] == ['throttle', 'throttle', None]
    assert min(b.timestamp - a.timestamp for a, b in zip(gets, gets[1:])) >= 0.9


def test_lro_retry_after_is_honoured(client, arm):
    disk = arm.add_disk('rg', 'd1')
    arm.retry_after = 1
    start = time.time()
    client.snapshots.begin_create_or_update('rg', 's', snapshot_from(disk['id'])).result()
    # azure-core polls once right after the PUT, then waits the Retry-After of each InProgress answer.
    assert time.time() - start >= 0.9
    polls = [r.timestamp for r in arm.requests if r.poll]
    assert len(polls) == 2 and polls[1] - polls[0] >= 0.9


def test_server_errors_on_polls_and_a_reset_are_retried(client, arm):
    disk = arm.add_disk('rg', 'd1')
    arm.inject('server_error', poll=True, times=2, status=503)
    arm.inject('reset', method='GET', path=r'/snapshots/s$')
    snap = client.snapshots.begin_create_or_update('rg', 's', snapshot_from(disk['id'])).result()
    assert snap.provisioning_state == 'Succeeded' and arm.faults_served == 3
    assert [r.status for r in arm.requests if r.poll][:2] == [503, 503]
    reset = arm.calls('GET', r'/snapshots/s$')
    assert reset[0].fault == 'reset' and reset[0].status is None and reset[1].status == 200
    arm.inject('server_error', method='GET', path='/disks/')
    with pytest.raises(HttpResponseError) as err:
        compute_client(arm, retry_total=0).disks.get('rg', 'd1')
    assert err.value.status_code == 500 and err.value.error.code == 'InternalServerError'


def test_failed_and_stuck_operations(client, arm):
    disk = arm.add_disk('rg', 'd1')
    arm.inject('lro_failed', code='InternalDiskManagementError', message='An internal disk error occurred.')
    with pytest.raises(HttpResponseError) as err:
        client.snapshots.begin_create_or_update('rg', 'bad', snapshot_from(disk['id'])).result()
    assert 'InternalDiskManagementError' in str(err.value) and 'An internal disk error occurred.' in str(err.value)
    stored = arm.get(disk['id'].replace('/disks/d1', '/snapshots/bad'))
    assert stored['properties']['provisioningState'] == 'Failed'

    arm.inject('lro_stuck', method='PUT')
    poller = client.snapshots.begin_create_or_update('rg', 'slow', snapshot_from(disk['id']), polling_interval=0.05)
    poller.wait(timeout=1)
    assert not poller.done() and poller.status() == 'InProgress'
    assert client.snapshots.get('rg', 'slow').provisioning_state == 'Creating'
    arm.unstick()
    assert poller.result(timeout=5).provisioning_state == 'Succeeded'
    assert arm.faults_served == 2


# --- request log ---------------------------------------------------------------------------------

def test_request_log_records_everything_but_secrets(client, arm):
    disk = arm.add_disk('rg', 'd1')
    arm.clear_requests()
    client.snapshots.begin_create_or_update('rg', 's', snapshot_from(disk['id'], tags={'a': 'b'})).result()
    client.disks.get('rg', 'd1')
    put = arm.requests[0]
    assert (put.method, put.status, put.poll, put.api_version) == ('PUT', 202, False, '2026-03-02')
    assert put.path.endswith('/snapshots/s') and put.query == {'api-version': '2026-03-02'}
    assert put.body['properties']['creationData']['sourceResourceId'] == disk['id'] and put['status'] == 202
    assert [r.method for r in arm.writes()] == ['PUT']
    assert all(r.timestamp >= put.timestamp for r in arm.requests)
    log = json.dumps([r.as_dict() for r in arm.requests])
    issued = token(arm)
    assert issued.split('.')[1] not in log and 'Bearer' not in log and arm.client_secret not in log
    assert arm.calls('GET', r'/disks/d1$')[0].status == 200
    arm.reset()
    assert arm.requests == [] and arm.get(disk['id']) is None and arm.retry_after == 0


def test_a_second_fake_is_independent(tmp_path):
    from ansible_collections.vmimage.azure.tests.support.tls import make_tls
    with ArmFake(make_tls(tmp_path), strict=False, page_size=5) as other:
        assert other.page_size == 5 and other.strict is False and other.url.startswith('https://127.0.0.1:')
        assert other.subscription_id and other.tenant == other.entra.tenant
