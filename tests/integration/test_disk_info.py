# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.disk_info through ansible-playbook, against the ARM fake in strict mode."""
from __future__ import annotations

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests, check, methods

GIB = 1024 ** 3
MIB = 1024 ** 2


def disk_info(**args):
    return {'vmimage.azure.disk_info': args}


def test_the_disks_of_a_vm_with_role_lun_and_generation(arm, arm_playbook):
    vm = arm.add_vm('rg', 'vm1', hyper_v_generation='V2', data_disks=(8, 16), security_type='TrustedLaunch',
                    os_disk_size_gb=64)
    arm.add_disk('rg', 'other', size_gb=4)
    arm.clear_requests()
    (r0, r1) = arm_playbook([disk_info(resource_group='rg', vm_name='vm1'),
                             check(disk_info(resource_group='rg', vm_name='vm1'))])[0]
    assert not r0['changed'] and not r1['changed'], (r0, r1)
    assert r0['disks'] == r1['disks']
    disks = r0['disks']
    assert [(d['role'], d['lun']) for d in disks] == [('os', None), ('data', 0), ('data', 1)], disks
    os_disk, data0, data1 = disks
    assert os_disk['id'].lower() == vm['properties']['storageProfile']['osDisk']['managedDisk']['id'].lower()
    assert os_disk['hyper_v_generation'] == 'V2' and os_disk['os_type'] == 'Linux'
    assert os_disk['security_type'] == 'TrustedLaunch' and os_disk['size_gb'] == 64
    assert os_disk['disk_size_bytes'] == 64 * GIB and os_disk['disk_state'] == 'Attached'
    assert os_disk['managed_by'].lower() == vm['id'].lower() and os_disk['sku'] == 'Premium_LRS'
    assert os_disk['create_option'] == 'FromImage' and os_disk['location'] == 'westeurope'
    assert [data0['name'], data0['size_gb'], data1['name'], data1['size_gb']] == ['vm1_DataDisk_0', 8, 'vm1_DataDisk_1', 16]
    assert data0['os_type'] is None and data0['security_type'] is None
    assert 'other' not in [d['name'] for d in disks]
    assert r0['vm']['hyper_v_generation'] == 'V2' and r0['vm']['security_type'] == 'TrustedLaunch'
    assert r0['vm']['id'].lower() == vm['id'].lower() and r0['vm']['os_type'] == 'Linux'
    assert methods(arm) == ['GET'] and arm.writes() == []


def test_a_gen1_vm_and_one_of_its_disks_by_name(arm, arm_playbook):
    arm.add_vm('rg', 'old', hyper_v_generation='V1', data_disks=(4,), os_type='Windows')
    (r0,) = arm_playbook([disk_info(resource_group='rg', vm_name='old', name='OLD_DATADISK_0')])[0]
    assert [(d['name'], d['role'], d['lun']) for d in r0['disks']] == [('old_DataDisk_0', 'data', 0)], r0
    assert r0['vm']['hyper_v_generation'] == 'V1' and r0['vm']['os_type'] == 'Windows'


def test_one_disk_by_name_and_an_upload_disk(arm, arm_playbook):
    arm.add_disk('rg', 'd1', size_gb=30, os_type='Linux', hyper_v_generation='V1', sku='StandardSSD_LRS',
                 tags={'build': '7'})
    size = 64 * MIB + 512
    arm.add_disk('rg', 'up', size_gb=None, create_option='Upload', diskState='ReadyToUpload',
                 creationData={'createOption': 'Upload', 'uploadSizeBytes': size})
    arm.clear_requests()
    (r0, r1, r2) = arm_playbook([disk_info(resource_group='rg', name='d1'), disk_info(resource_group='rg', name='up'),
                                 disk_info(resource_group='rg', name='nothing')])[0]
    (d1,) = r0['disks']
    assert d1['name'] == 'd1' and d1['resource_group'] == 'rg' and d1['hyper_v_generation'] == 'V1'
    assert d1['sku'] == 'StandardSSD_LRS' and d1['tags'] == {'build': '7'} and d1['disk_state'] == 'Unattached'
    assert d1['role'] is None and d1['lun'] is None and d1['upload_size_bytes'] is None
    (up,) = r1['disks']
    assert up['upload_size_bytes'] == size and up['disk_state'] == 'ReadyToUpload' and up['create_option'] == 'Upload'
    assert not r2.get('failed') and r2['disks'] == [], r2
    assert methods(arm) == ['GET']


def test_a_resource_group_the_subscription_and_tags(arm, arm_playbook):
    arm.add_resource_group('east', location='eastus')
    arm.add_disk('rg', 'b', tags={'build': '7', 'Team': 'img'})
    arm.add_disk('rg', 'a', tags={'build': '8'})
    arm.add_disk('east', 'b', location='eastus')
    (r0, r1, r2, r3, r4) = arm_playbook([
        disk_info(resource_group='rg'), disk_info(), disk_info(name='B'),
        disk_info(resource_group='rg', tags=['build:7']), disk_info(tags=['team']),
    ])[0]
    assert [d['name'] for d in r0['disks']] == ['a', 'b'], r0
    assert [(d['resource_group'], d['name']) for d in r1['disks']] == [('east', 'b'), ('rg', 'a'), ('rg', 'b')], r1
    assert [(d['resource_group'], d['location']) for d in r2['disks']] == [('east', 'eastus'), ('rg', 'westeurope')]
    assert [d['name'] for d in r3['disks']] == ['b']
    assert [(d['resource_group'], d['name']) for d in r4['disks']] == [('rg', 'b')]


def test_missing_resource_group_or_vm_is_an_error(arm, arm_playbook):
    arm.clear_requests()
    results = arm_playbook([disk_info(resource_group='nope'), disk_info(resource_group='nope', name='x'),
                            disk_info(resource_group='rg', vm_name='ghost'), disk_info(vm_name='ghost')])[0]
    assert all(r['failed'] for r in results), results
    rg_list, rg_get, vm, no_rg = (r['msg'] for r in results)
    assert "'nope'" in rg_list and 'resource group' in rg_list.lower()
    assert "'nope'" in rg_get and 'resource group' in rg_get.lower()
    assert "VM 'ghost' was not found" in vm and "'rg'" in vm
    assert 'resource_group' in no_rg
    assert all(r.method == 'GET' for r in arm_requests(arm))
