# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the image and snapshot services compare: Resource Manager's JSON (as the SDK's models hold
it) reduced to the fields the modules manage."""
from __future__ import annotations

from azure.mgmt.compute import models

from ansible_collections.vmimage.azure.plugins.module_utils._compute import image, snapshot

SUB = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/'


def test_an_image_from_disks_keeps_each_data_disk_with_its_lun():
    body = {'id': SUB + 'images/i', 'name': 'i', 'location': 'westeurope', 'tags': {'a': 'b'}, 'properties': {
        'hyperVGeneration': 'V2', 'provisioningState': 'Succeeded', 'storageProfile': {
            'zoneResilient': True,
            'osDisk': {'osType': 'Linux', 'osState': 'Generalized', 'snapshot': {'id': SUB + 'snapshots/os'},
                       'diskEncryptionSet': {'id': SUB + 'diskEncryptionSets/des'}},
            'dataDisks': [{'lun': 1, 'blobUri': 'https://a.blob.core.windows.net/v/d1.vhd'},
                          {'lun': 0, 'managedDisk': {'id': SUB + 'disks/d0'}}]}}}
    got = image.normalize(models.Image(body))
    assert got['source'] == SUB + 'snapshots/os' and got['source_type'] == 'snapshot'
    assert got['data_disks'] == [dict(lun=0, source=SUB + 'disks/d0'),
                                 dict(lun=1, source='https://a.blob.core.windows.net/v/d1.vhd')]
    assert (got['os_type'], got['os_state'], got['hyper_v_generation'], got['zone_resilient']) == (
        'Linux', 'Generalized', 'V2', True)
    assert got['os_disk_encryption_set'] == SUB + 'diskEncryptionSets/des' and got['data_disk_encryption_set'] is None
    assert got['tags'] == {'a': 'b'}


def test_an_image_of_a_vm_names_the_vm_as_its_source():
    body = {'id': SUB + 'images/i', 'name': 'i', 'location': 'westeurope', 'properties': {
        'sourceVirtualMachine': {'id': SUB + 'virtualMachines/vm1'},
        'storageProfile': {'osDisk': {'osType': 'Windows', 'osState': 'Generalized',
                                      'managedDisk': {'id': SUB + 'disks/vm1-os'}}, 'dataDisks': []}}}
    got = image.normalize(models.Image(body))
    assert got['source'] == SUB + 'virtualMachines/vm1' and got['source_type'] == 'virtual_machine'
    assert got['tags'] == {} and got['data_disks'] == []


def test_a_snapshot():
    body = {'id': SUB + 'snapshots/s', 'name': 's', 'location': 'westeurope', 'sku': {'name': 'Standard_ZRS'},
            'properties': {'creationData': {'createOption': 'Copy', 'sourceResourceId': SUB + 'disks/d'},
                           'incremental': True, 'diskSizeGB': 30, 'osType': 'Linux'}}
    got = snapshot.normalize(models.Snapshot(body))
    assert (got['create_option'], got['source_id'], got['incremental'], got['sku'], got['disk_size_gb']) == (
        'Copy', SUB + 'disks/d', True, 'Standard_ZRS', 30)
    assert snapshot.normalize(None) == {} and image.normalize(None) == {}
