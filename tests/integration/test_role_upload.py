# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The upload role and playbooks/upload_vhd.yml through ansible-playbook: a raw disk -> fixed VHD -> a page blob
in Azurite (or a managed disk of the ARM fake, its pages in Azurite) -> a gallery image version (and a managed
image) in the ARM fake (strict mode) whose source is the blob or the disk."""
from __future__ import annotations

import random
import struct

import pytest

from ansible_collections.vmimage.azure.tests.integration import roletools
from ansible_collections.vmimage.azure.tests.support.arm_fake import fixtures
from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION
from ansible_collections.vmimage.azure.tests.support.images import write_sparse

arm_uploads = fixtures.arm_uploads

MIB = 1024 * 1024
PLAYBOOK = roletools.PLAYBOOKS / 'upload_vhd.yml'
# gallery_image_version checks the storage account against the blob URL's account: for Azurite's
# path-style URL (http://127.0.0.1:<port>/<account>/...) the first path segment.
EMULATOR_ACCOUNT = 'vmimagetest'  # tests/support/azurite.py's account


def mbr():
    """Sector 0 with one bootable Linux partition: a generation 1 disk."""
    sector = bytearray(512)
    struct.pack_into('<B3sB3sII', sector, 446, 0x80, b'\0\0\0', 0x83, b'\0\0\0', 2048, 8192)
    sector[510:512] = b'\x55\xaa'
    return bytes(sector)


def raw_disk(path, size=32 * MIB, seed=1):
    rng = random.Random(seed)
    chunks = [(0, mbr()), (3 * MIB, rng.randbytes(MIB)), (20 * MIB + 4096, rng.randbytes(65536))]
    write_sparse(path, size, [(offset, data) for offset, data in chunks if offset + len(data) <= size])
    return path


def blob_bytes(azurite, container, blob):
    return azurite.service_client().get_blob_client(container, blob).download_blob().readall()


def version_id(arm, image='debian-12', version='1.0.0'):
    return '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal/images/%s/versions/%s' % (
        arm.subscription_id, image, version)


def playbook_vars(disk, **extra):
    base = dict(upload_vhd_file=str(disk), upload_vhd_resource_group='rg', upload_vhd_gallery_name='gal',
                upload_vhd_gallery_image_name='debian-12', upload_vhd_gallery_image_version='1.0.0',
                upload_vhd_container='vhds', upload_vhd_create_container=True,
                upload_vhd_storage_account_id=EMULATOR_ACCOUNT, upload_vhd_api_version=API_VERSION,
                upload_vhd_publish_timeout=60)
    base.update(extra)
    return base


@pytest.fixture
def storage_env(azurite_http):
    return {'AZURE_STORAGE_CONNECTION_STRING': azurite_http.connection_string}


def test_playbook_raw_disk_to_blob_to_gallery_version_then_idempotent(arm, azurite_http, storage_env, tmp_path):
    disk = raw_disk(tmp_path / 'debian.raw')
    variables = playbook_vars(disk)

    preview = roletools.run(tmp_path, PLAYBOOK, variables, arm=arm, env=storage_env, check=True)
    assert preview.rc == 0, preview
    assert not (tmp_path / 'debian.vhd').exists() and arm.writes() == []

    arm.clear_requests()
    first = roletools.run(tmp_path, PLAYBOOK, variables, arm=arm, env=storage_env)
    assert first.rc == 0, first
    assert azurite_http.connection_string not in first.output + str(first.data)
    assert azurite_http.account_key not in first.output + str(first.data)
    result = first.fact('upload_result')
    vhd = tmp_path / 'debian.vhd'
    assert result['vhd'] == str(vhd) and result['vhd_action'] == 'append_footer' and result['hyper_v_generation'] == 'V1'
    assert result['url'] == '%s/vhds/debian.vhd' % azurite_http.account_url
    assert blob_bytes(azurite_http, 'vhds', 'debian.vhd') == vhd.read_bytes()
    stored = arm.get(version_id(arm))
    os_image = stored['properties']['storageProfile']['osDiskImage']['source']
    assert os_image['uri'] == result['url']
    assert os_image['storageAccountId'].lower().endswith('/storageaccounts/%s' % EMULATOR_ACCOUNT)
    definition = arm.get(version_id(arm).rsplit('/versions/', 1)[0])
    assert definition['properties']['hyperVGeneration'] == 'V1' and definition['properties']['osType'] == 'Linux'
    puts = [r.path.rsplit('/', 2)[-2:] for r in arm.writes()]
    assert puts == [['galleries', 'gal'], ['images', 'debian-12'], ['versions', '1.0.0']], puts

    for check in (True, False):
        arm.clear_requests()
        again = roletools.run(tmp_path, PLAYBOOK, variables, arm=arm, env=storage_env, check=check)
        assert again.rc == 0, again
        assert again.stats['changed'] == 0, (check, again.changed())
        assert arm.writes() == []
        assert again.fact('upload_result')['upload_action'] == 'none'


def test_a_disk_azure_would_refuse_fails_before_the_upload(arm, azurite_http, storage_env, tmp_path):
    small = raw_disk(tmp_path / 'small.raw', size=8 * MIB)
    run = roletools.run(tmp_path, PLAYBOOK, playbook_vars(small, upload_vhd_container='refused'), arm=arm,
                        env=storage_env)
    assert run.rc != 0, run
    (name, failed), = run.failed
    assert name.endswith("Refuse a VHD that Azure would not take"), name
    assert 'not Azure-ready, so nothing was uploaded' in failed['msg'] and '20 MiB' in failed['msg']
    assert 'refused' not in [c.name for c in azurite_http.service_client().list_containers()]
    assert arm.writes() == [] and [r for r in arm.requests if '/subscriptions/' in r.path.lower()] == []


def test_role_uploads_into_a_managed_disk_then_image_and_version_from_the_disk(arm, arm_uploads, tmp_path):
    arm.retry_after = 0
    disk = raw_disk(tmp_path / 'srv.img', seed=2)
    variables = dict(upload_path=str(disk), upload_dest=str(tmp_path / 'out.vhd'), upload_destination='disk',
                     upload_disk_name='srv-os', upload_resource_group='rg', upload_image_name='srv',
                     upload_gallery_name='gal', upload_gallery_image_name='srv', upload_gallery_image_version='0.1.0',
                     upload_api_version=API_VERSION, upload_target_regions=['northeurope'],
                     upload_tags={'build': '9'}, upload_publish_timeout=60)
    play = roletools.role_playbook(tmp_path, 'upload', variables)
    run = roletools.run(tmp_path, play, arm=arm)
    assert run.rc == 0, run
    result = run.fact('upload_result')
    disk_id = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/disks/srv-os' % arm.subscription_id
    assert result['disk_id'].lower() == disk_id.lower()
    stored_disk = arm.get(disk_id)
    assert stored_disk['properties']['diskState'] == 'Unattached'
    assert stored_disk['properties']['hyperVGeneration'] == 'V1'
    image = arm.get(result['image_id'])
    assert image['properties']['storageProfile']['osDisk']['managedDisk']['id'].lower() == disk_id.lower()
    version = arm.get(result['gallery_image_version_id'])
    assert version['properties']['storageProfile']['osDiskImage']['source']['id'].lower() == disk_id.lower()
    regions = sorted(r['name'].replace(' ', '').lower() for r in version['properties']['publishingProfile']['targetRegions'])
    assert regions == ['northeurope', 'westeurope'] and version['tags'] == {'build': '9'}

    arm.clear_requests()
    again = roletools.run(tmp_path, play, arm=arm)
    assert again.rc == 0 and again.stats['changed'] == 0, (again, again.changed())
    assert arm.writes() == []


def test_existing_definition_of_another_generation_fails_before_the_upload(arm, azurite_http, storage_env, tmp_path):
    arm.add_gallery('rg', 'gal')
    arm.add_gallery_image('rg', 'gal', 'debian-12', hyper_v_generation='V2')
    disk = raw_disk(tmp_path / 'gen1.raw')
    run = roletools.run(tmp_path, PLAYBOOK, playbook_vars(disk, upload_vhd_container='gen1'), arm=arm, env=storage_env)
    assert run.rc != 0, run
    assert len(run.failed) == 1, run.failed
    failed = run.failed[0][1]
    assert "definition 'debian-12' cannot take" in failed['msg'] and 'generation V1' in failed['msg'], failed['msg']
    assert 'gen1' not in [c.name for c in azurite_http.service_client().list_containers()]
    assert arm.writes() == []
