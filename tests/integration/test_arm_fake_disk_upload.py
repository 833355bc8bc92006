# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ARM fake's managed-disk upload flow, driven by the real azure-mgmt-compute client, with the
page blob in a real Azurite (tests/support/azurite.py) and written with azure-storage-blob.

Upload disk (ReadyToUpload) -> beginGetAccess Write (ActiveUpload, accessSAS) -> pages -> endGetAccess
(Unattached, the blob's content is the disk's); Read SAS; ARM's errors for wrong sizes, a blob that
is not a VHD, and a disk used before its upload is finished.
"""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import models as m

from ansible_collections.vmimage.azure.plugins.module_utils._vhd.footer import new_fixed_footer
from ansible_collections.vmimage.azure.tests.support.arm_fake import AzuriteUploads, fixtures
from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION

arm, arm_compute, arm_uploads = fixtures.arm, fixtures.arm_compute, fixtures.arm_uploads

WE = 'westeurope'
MIB = 1024 * 1024
SIZE = 24 * MIB + 512          # a fixed VHD of 24 MiB of disk data plus its footer
_TOKENS = {}


@pytest.fixture
def client(arm, arm_compute):
    arm.add_resource_group('rg', location=WE)
    return arm_compute(retry_backoff_factor=0.01)


@pytest.fixture
def uploads(arm_uploads):
    """The fake's upload_backend: page blobs in this module's Azurite (fixtures.arm_uploads)."""
    assert isinstance(arm_uploads, AzuriteUploads)
    return arm_uploads


def token(arm):
    if arm.url not in _TOKENS:
        credential = ClientSecretCredential(arm.tenant, arm.client_id, arm.client_secret,
                                            authority=arm.entra.authority_host, disable_instance_discovery=True)
        _TOKENS[arm.url] = credential.get_token(arm.audience.rstrip('/') + '/.default').token
    return _TOKENS[arm.url]


def raw(arm, method, path, body=None, api_version='2026-03-02', url=None):
    target = url or '%s/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute%s' % (
        arm.url, arm.subscription_id, path)
    return requests.request(method, target, params={'api-version': api_version} if not url else None, json=body,
                            headers={'Authorization': 'Bearer ' + token(arm)}, timeout=10)


def upload_disk(size=SIZE, **kwargs):
    return m.Disk(location=WE, sku=m.DiskSku(name='Standard_LRS'),
                  creation_data=m.CreationData(create_option='Upload', upload_size_bytes=size), **kwargs)


def blob(sas):
    from azure.storage.blob import BlobClient
    return BlobClient.from_blob_url(sas, api_version=API_VERSION)


def write_vhd(sas, size=SIZE, data=b'vmimage' * 64):
    """Data at offset 1 MiB and the fixed VHD footer in the last 512 bytes, as Put Page requests."""
    target = blob(sas)
    page = data + b'\0' * (-len(data) % 512)
    target.upload_page(page, offset=MIB, length=len(page))
    target.upload_page(new_fixed_footer(size - 512).pack(), offset=size - 512, length=512)
    return page


def write():
    return m.GrantAccessData(access='Write', duration_in_seconds=3600)


def read():
    return m.GrantAccessData(access='Read', duration_in_seconds=600)


def test_upload_flow_end_to_end_against_azurite(client, arm, uploads):
    disk = client.disks.begin_create_or_update('rg', 'up', upload_disk(os_type='Linux', hyper_v_generation='V2',
                                                                       tags={'vmimage_state': 'created'})).result()
    assert (disk.disk_state, disk.provisioning_state) == ('ReadyToUpload', 'Succeeded')
    assert disk.creation_data.upload_size_bytes == SIZE and disk.disk_size_bytes == SIZE - 512
    assert disk.disk_size_gb == 1
    put = arm.calls('PUT', r'/disks/up$')[0]
    assert put.status == 202 and put.api_version == '2026-03-02'

    # Tags change in every state (the engine keeps its own state there).
    def tag(value):
        return client.disks.begin_update('rg', 'up', m.DiskUpdate(tags={'vmimage_state': value})).result()
    assert tag('granting').disk_state == 'ReadyToUpload'

    access = client.disks.begin_grant_access('rg', 'up', write()).result()
    sas = access.access_sas
    assert sas.startswith(uploads.azurite.account_url + '/') and '/abcd?' in sas and 'sig=' in sas
    assert arm.upload_sas(disk.id) == sas
    grant = arm.calls('POST', r'/disks/up/beginGetAccess$')[0]
    assert grant.status == 202 and grant.body == {'access': 'Write', 'durationInSeconds': 3600}
    assert client.disks.get('rg', 'up').disk_state == 'ActiveUpload'
    assert tag('uploading').disk_state == 'ActiveUpload'
    properties = blob(sas).get_blob_properties()
    assert (properties.blob_type, properties.size) == ('PageBlob', SIZE)

    page = write_vhd(sas)
    client.disks.begin_revoke_access('rg', 'up').result()
    done = client.disks.get('rg', 'up')
    assert done.disk_state == 'Unattached' and done.tags == {'vmimage_state': 'uploading'}
    assert tag('uploaded').disk_state == 'Unattached'
    assert arm.upload_sas(disk.id) is None

    # The disk's content is the blob's: a Read SAS gives it back.
    read_sas = client.disks.begin_grant_access('rg', 'up', read()).result().access_sas
    assert client.disks.get('rg', 'up').disk_state == 'ActiveSAS'
    content = blob(read_sas).download_blob().readall()
    assert len(content) == SIZE and content[MIB:MIB + len(page)] == page and content[-512:][:8] == b'conectix'
    with pytest.raises(HttpResponseError):  # the read SAS cannot write
        blob(read_sas).upload_page(b'\1' * 512, offset=0, length=512)
    client.disks.begin_revoke_access('rg', 'up').result()
    assert client.disks.get('rg', 'up').disk_state == 'Unattached'

    # Now it is a disk like any other: a snapshot, a managed image and a gallery image version take it.
    snap = client.snapshots.begin_create_or_update('rg', 's', m.Snapshot(location=WE, creation_data=m.CreationData(
        create_option='Copy', source_resource_id=disk.id))).result()
    assert (snap.hyper_v_generation, snap.os_type) == ('V2', 'Linux')
    image = client.images.begin_create_or_update('rg', 'img', m.Image(location=WE, storage_profile=m.ImageStorageProfile(
        os_disk=m.ImageOSDisk(os_type='Linux', os_state='Generalized', managed_disk=m.SubResource(id=disk.id))))).result()
    assert image.hyper_v_generation == 'V2'
    arm.add_gallery('rg', 'gal')
    arm.add_gallery_image('rg', 'gal', 'def', hyper_v_generation='V2')
    version = client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersion(
        location=WE, storage_profile=m.GalleryImageVersionStorageProfile(os_disk_image=m.GalleryOSDiskImage(
            source=m.GalleryDiskImageSource(id=disk.id))))).result()
    assert version.provisioning_state == 'Succeeded' and version.storage_profile.os_disk_image.size_in_gb == 1


def test_access_operations_are_diskrp_long_running_operations(client, arm, uploads):
    client.disks.begin_create_or_update('rg', 'up', upload_disk()).result()
    answer = raw(arm, 'POST', '/disks/up/beginGetAccess', {'access': 'Write', 'durationInSeconds': 600})
    assert answer.status_code == 202 and answer.content == b''
    status_url, location = answer.headers['Azure-AsyncOperation'], answer.headers['Location']
    assert '/locations/westeurope/DiskOperations/' in status_url and 'monitor=true' in location
    assert answer.headers['Retry-After'] == '0'
    assert raw(arm, 'GET', None, url=location).status_code == 202
    done = raw(arm, 'GET', None, url=status_url).json()
    assert done['status'] == 'Succeeded' and done['properties']['output']['accessSAS'].startswith('http://127.0.0.1:')
    final = raw(arm, 'GET', None, url=location)
    assert final.status_code == 200 and final.json() == done['properties']['output']
    revoke = raw(arm, 'POST', '/disks/up/endGetAccess')
    assert revoke.status_code == 202 and 'monitor=true' in revoke.headers['Location']


def test_revoking_an_upload_that_is_not_a_vhd_fails_invalid_vhd(client, arm, uploads):
    client.disks.begin_create_or_update('rg', 'up', upload_disk()).result()
    sas = client.disks.begin_grant_access('rg', 'up', write()).result().access_sas
    blob(sas).upload_page(b'\1' * 512, offset=0, length=512)  # data, but no footer
    with pytest.raises(HttpResponseError) as err:
        client.disks.begin_revoke_access('rg', 'up').result()
    assert err.value.error.code == 'InvalidVhd'
    blob_url = sas.split('?', 1)[0]
    assert err.value.error.message == (
        "The specified cookie value in VHD footer indicates that disk 'abcd' with blob %s is not a supported VHD. "
        "Disk is expected to have cookie value 'conectix'." % blob_url)
    assert client.disks.get('rg', 'up').disk_state == 'ActiveUpload'  # still writable: finish and revoke again
    write_vhd(sas)
    client.disks.begin_revoke_access('rg', 'up').result()
    assert client.disks.get('rg', 'up').disk_state == 'Unattached'


def test_upload_sizes_arm_refuses(client, arm):
    for size in (SIZE + 1, 24 * MIB, 24 * MIB + 1024):
        with pytest.raises(HttpResponseError) as err:
            client.disks.begin_create_or_update('rg', 'bad', upload_disk(size))
        assert err.value.status_code == 400 and err.value.error.code == 'BadRequest'
        assert err.value.error.message == ('The upload size in bytes %d - 512 bytes for the VHD footer (%d in this '
                                           'case) must be a multiple of MiB.' % (size, size - 512))
    for size in (19 * MIB + 512, 32767 * 1024 ** 3 + MIB + 512):
        with pytest.raises(HttpResponseError) as err:
            client.disks.begin_create_or_update('rg', 'bad', upload_disk(size))
        assert err.value.error.code == 'BadRequest' and '20972032' in err.value.error.message
    for size in (20 * MIB + 512, 32767 * 1024 ** 3 + 512):  # the limits themselves are fine (35183298347520)
        name = 'ok%d' % size
        assert client.disks.begin_create_or_update('rg', name, upload_disk(size)).result().disk_state == 'ReadyToUpload'
    with pytest.raises(HttpResponseError) as err:
        client.disks.begin_create_or_update('rg', 'bad', m.Disk(location=WE, creation_data=m.CreationData(
            create_option='Upload')))
    assert err.value.error.code == 'InvalidParameter' and err.value.error.target == 'creationData.uploadSizeBytes'
    assert arm.get('/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/disks/bad'
                   % arm.subscription_id) is None
    # The upload size is immutable; the size of a disk being uploaded cannot be PATCHed.
    with pytest.raises(HttpResponseError) as err:
        client.disks.begin_create_or_update('rg', 'ok%d' % (20 * MIB + 512), upload_disk(SIZE))
    assert err.value.error.code == 'PropertyChangeNotAllowed'
    assert err.value.error.target == 'creationData.uploadSizeBytes'
    with pytest.raises(HttpResponseError) as err:
        client.disks.begin_update('rg', 'ok%d' % (20 * MIB + 512), m.DiskUpdate(disk_size_gb=64))
    assert err.value.status_code == 409 and err.value.error.code == 'OperationNotAllowed'


def test_a_disk_being_uploaded_is_not_a_source_until_revoked(client, arm, uploads):
    ready = client.disks.begin_create_or_update('rg', 'ready', upload_disk(hyper_v_generation='V2')).result()
    active = arm.add_upload_disk('rg', 'active', upload_size_bytes=SIZE, state='ActiveUpload', hyper_v_generation='V2')
    assert active['properties']['diskState'] == 'ActiveUpload' and arm.upload_sas(active['id'])
    arm.add_gallery('rg', 'gal')
    arm.add_gallery_image('rg', 'gal', 'def', hyper_v_generation='V2')
    for source, state in ((ready.id, 'ReadyToUpload'), (active['id'], 'ActiveUpload')):
        attempts = (
            lambda: client.snapshots.begin_create_or_update('rg', 's', m.Snapshot(
                location=WE, creation_data=m.CreationData(create_option='Copy', source_resource_id=source))),
            lambda: client.disks.begin_create_or_update('rg', 'copy', m.Disk(
                location=WE, creation_data=m.CreationData(create_option='Copy', source_resource_id=source))),
            lambda: client.images.begin_create_or_update('rg', 'img', m.Image(
                location=WE, storage_profile=m.ImageStorageProfile(os_disk=m.ImageOSDisk(
                    os_type='Linux', os_state='Generalized', managed_disk=m.SubResource(id=source))))),
            lambda: client.gallery_image_versions.begin_create_or_update('rg', 'gal', 'def', '1.0.0', m.GalleryImageVersion(
                location=WE, storage_profile=m.GalleryImageVersionStorageProfile(os_disk_image=m.GalleryOSDiskImage(
                    source=m.GalleryDiskImageSource(id=source))))))
        for attempt in attempts:
            with pytest.raises(ResourceExistsError) as err:
                attempt()
            assert err.value.status_code == 409 and err.value.error.code == 'OperationNotAllowed'
            assert "is in the '%s' state" % state in err.value.error.message
    write_vhd(arm.upload_sas(active['id']))
    client.disks.begin_revoke_access('rg', 'active').result()
    snap = client.snapshots.begin_create_or_update('rg', 's', m.Snapshot(location=WE, creation_data=m.CreationData(
        create_option='Copy', source_resource_id=active['id']))).result()
    assert snap.provisioning_state == 'Succeeded'


def test_grant_access_refusals(client, arm, uploads):
    arm.add_disk('rg', 'empty')
    client.disks.begin_create_or_update('rg', 'up', upload_disk()).result()
    with pytest.raises(ResourceExistsError) as err:  # Write only for an upload disk in ReadyToUpload
        client.disks.begin_grant_access('rg', 'empty', write())
    assert err.value.error.code == 'OperationNotAllowed' and "'Unattached' state" in err.value.error.message
    with pytest.raises(ResourceExistsError) as err:  # nothing to read yet
        client.disks.begin_grant_access('rg', 'up', read())
    assert "Read access cannot be granted to disk 'up' in the 'ReadyToUpload' state." == err.value.error.message
    first = client.disks.begin_grant_access('rg', 'up', write()).result().access_sas
    # Granted again while ActiveUpload (a SAS that expired, a killed upload): a new SAS to the same blob.
    again = client.disks.begin_grant_access('rg', 'up', write()).result().access_sas
    assert again.split('?')[0] == first.split('?')[0]
    assert client.disks.get('rg', 'up').disk_state == 'ActiveUpload'
    vm = arm.add_vm('rg', 'vm1')
    with pytest.raises(ResourceExistsError) as err:  # exporting needs the VM deallocated
        client.disks.begin_grant_access('rg', vm['properties']['storageProfile']['osDisk']['name'], read())
    assert 'is attached to VM' in err.value.error.message
    arm.set_power_state(vm['id'], 'deallocated')
    os_disk = vm['properties']['storageProfile']['osDisk']['name']
    assert client.disks.begin_grant_access('rg', os_disk, read()).result().access_sas
    assert client.disks.get('rg', os_disk).disk_state == 'ActiveSAS'
    client.disks.begin_revoke_access('rg', os_disk).result()
    assert client.disks.get('rg', os_disk).disk_state == 'Reserved'


def test_without_a_backend_write_is_refused_and_read_still_works(client, arm):
    assert arm.upload_backend is None
    disk = client.disks.begin_create_or_update('rg', 'up', upload_disk()).result()
    with pytest.raises(HttpResponseError) as err:
        client.disks.begin_grant_access('rg', 'up', write())
    assert err.value.status_code == 400 and err.value.error.code == 'FakeNotImplemented'
    assert 'upload_backend' in err.value.error.message
    assert client.disks.get('rg', 'up').disk_state == 'ReadyToUpload'
    with pytest.raises(ValueError):
        arm.add_upload_disk('rg', 'seeded', state='ActiveUpload')
    uploaded = arm.add_upload_disk('rg', 'seeded', state='Unattached')
    assert uploaded['properties']['diskState'] == 'Unattached' and disk.disk_state == 'ReadyToUpload'
    arm.add_disk('rg', 'plain')
    sas = client.disks.begin_grant_access('rg', 'plain', read()).result().access_sas
    assert sas.startswith('https://md-') and 'sig=' in sas
    client.disks.begin_revoke_access('rg', 'plain').result()
    assert client.disks.get('rg', 'plain').disk_state == 'Unattached'


def test_strict_mode_validates_grant_access_bodies(client, arm):
    arm.add_disk('rg', 'd1')
    missing = raw(arm, 'POST', '/disks/d1/beginGetAccess', {'access': 'Read'}).json()['error']
    assert missing['code'] == 'InvalidParameter' and missing['target'] == 'durationInSeconds'
    unknown = raw(arm, 'POST', '/disks/d1/beginGetAccess', {'access': 'Read', 'durationInSeconds': 60, 'x': 1})
    assert "Could not find member 'x' on object of type 'GrantAccessData'" in unknown.json()['error']['message']
    wrong = raw(arm, 'POST', '/disks/d1/beginGetAccess', {'access': 'Read', 'durationInSeconds': 'soon'})
    assert wrong.json()['error']['code'] == 'InvalidRequestContent'
    level = raw(arm, 'POST', '/disks/d1/beginGetAccess', {'access': 'Everything', 'durationInSeconds': 60})
    assert level.json()['error']['code'] == 'InvalidParameter' and level.json()['error']['target'] == 'access'
    body = raw(arm, 'POST', '/disks/d1/endGetAccess', {'access': 'Read'})
    assert body.json()['error']['code'] == 'InvalidRequestContent'
    assert arm.writes()[-1].status == 400 and arm.get(
        '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/disks/d1' % arm.subscription_id)[
        'properties']['diskState'] == 'Unattached'
