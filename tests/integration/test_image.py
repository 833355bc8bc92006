# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.image through ansible-playbook, against the ARM fake in strict mode."""
from __future__ import annotations

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests, check, methods


def image(**args):
    return {'vmimage.azure.image': dict(dict(resource_group='rg', name='img'), **args)}


def generalized_vm(arm, name='vm1', **kwargs):
    kwargs.setdefault('data_disks', (8, 16))
    return arm.add_vm('rg', name, power_state='deallocated', generalized=True, **kwargs)


def test_capture_a_generalized_vm_with_its_data_disks_four_steps(arm, arm_playbook):
    vm = generalized_vm(arm, hyper_v_generation='V2')
    task = image(source='vm1', tags={'build': '7'})
    (r0, r1) = arm_playbook([check(task), dict(task, diff=True)])[0]
    assert [r0['changed'], r1['changed']] == [True, True], (r0, r1)
    assert r0['action'] == 'create' and r0['diff']['after']['source_type'] == 'virtual_machine'
    assert r0['diff']['after']['hyper_v_generation'] == 'V2'
    assert r1['image']['source'].lower() == vm['id'].lower()
    assert [d['lun'] for d in r1['image']['data_disks']] == [0, 1]
    stored = arm.get(r1['id'])
    assert stored['properties']['sourceVirtualMachine']['id'].lower() == vm['id'].lower()
    assert stored['properties']['hyperVGeneration'] == 'V2'
    assert len(stored['properties']['storageProfile']['dataDisks']) == 2

    arm.clear_requests()
    (r2, r3) = arm_playbook([check(task), task])[0]
    assert [r2['changed'], r3['changed']] == [False, False], (r2, r3)
    assert methods(arm) == ['GET'], [(r.method, r.path) for r in arm_requests(arm)]


def test_a_vm_that_is_not_generalized_is_refused_before_any_write(arm, arm_playbook):
    arm.add_vm('rg', 'live', power_state='running')
    (r0,) = arm_playbook([image(source='live')])[0]
    assert r0['failed'] and 'not generalized' in r0['msg'] and 'vm_generalize' in r0['msg'], r0
    assert arm.writes() == []


def test_from_a_disk_with_data_disks_each_with_its_own_lun(arm, arm_playbook):
    arm.add_disk('rg', 'os', os_type='Linux', hyper_v_generation='V1')
    arm.add_disk('rg', 'data0')
    arm.add_disk('rg', 'data1')
    task = image(source=dict(type='disks', name='os'), data_disk_sources=['data0', 'data1'])
    swapped = image(source=dict(type='disks', name='os'), data_disk_sources=['data1', 'data0'])
    r0, r1, r2 = arm_playbook([task, task, swapped])[0]
    assert r0['changed'] and not r1['changed']
    assert [(d['lun'], d['source'].rsplit('/', 1)[1]) for d in r0['image']['data_disks']] == [(0, 'data0'), (1, 'data1')]
    assert r0['image']['hyper_v_generation'] == 'V1' and r0['image']['os_type'] == 'Linux'
    stored = arm.get(r0['id'])['properties']['storageProfile']
    assert [(d['lun'], d['managedDisk']['id'].rsplit('/', 1)[1]) for d in stored['dataDisks']] == [(0, 'data0'), (1, 'data1')]
    assert r2['failed'] and 'data_disks' in r2['msg']


def test_generation_and_location_conflicts_and_missing_os_type(arm, arm_playbook):
    generalized_vm(arm, hyper_v_generation='V2', data_disks=())
    arm.add_resource_group('east', location='eastus')
    arm.add_disk('east', 'far', location='eastus', os_type='Linux')
    tasks = [image(source='vm1', hyper_v_generation='V1'),
             image(source='/subscriptions/%s/resourceGroups/east/providers/Microsoft.Compute/disks/far'
                   % arm.subscription_id, location='westeurope'),
             image(source='https://acct.blob.core.windows.net/vhds/os.vhd', location='westeurope'),
             image(source='vm1', data_disk_sources=['x']),
             image(resource_group='nope', source='vm1'),
             image(source='ghost')]
    results = arm_playbook(tasks)[0]
    assert all(r['failed'] for r in results), results
    generation, location, os_type, vm_disks, rg, ghost = (r['msg'] for r in results)
    assert 'V1' in generation and 'V2' in generation and 'hyper_v_generation' in generation
    assert 'eastus' in location and 'westeurope' in location
    assert 'os_type is required' in os_type
    assert 'data_disk_sources' in vm_disks
    assert "'nope'" in rg and 'resource group' in rg.lower()
    assert "'ghost' was not found" in ghost
    assert arm.writes() == []


def test_tags_update_in_place_other_changes_need_replace(arm, arm_playbook):
    generalized_vm(arm, data_disks=())
    base = image(source='vm1', tags={'a': '1'})
    tasks = [base, dict(image(source='vm1', tags={'a': '2'}), diff=True), image(source='vm1', zone_resilient=True),
             image(source='vm1', zone_resilient=True, replace=True)]
    (r0, r1, r2, r3) = arm_playbook(tasks)[0]
    assert r0['changed'] and r1['changed'] and r1['action'] == 'update'
    assert r1['diff']['before']['tags'] == {'a': '1'} and r1['diff']['after']['tags'] == {'a': '2'}
    assert r2['failed'] and 'zone_resilient' in r2['msg'] and 'replace=true' in r2['msg']
    assert r3['changed'] and r3['action'] == 'replace' and r3['image']['zone_resilient'] is True


def test_from_a_blob_and_absent(arm, arm_playbook):
    blob = 'https://acct.blob.core.windows.net/vhds/os.vhd'
    task = image(source=blob, os_type='Linux', hyper_v_generation='V2')
    tasks = [task, task, check(image(state='absent')), image(state='absent'), image(state='absent')]
    results = arm_playbook(tasks)[0]
    assert [r['changed'] for r in results] == [True, False, True, True, False], results
    assert results[0]['image']['source'] == blob and results[0]['image']['source_type'] == 'blob'
    assert results[0]['image']['location'] == 'westeurope'  # the resource group's
    assert arm.get(results[0]['id']) is None


def test_a_rerun_after_the_captured_vm_is_deleted_changes_nothing(arm, arm_playbook):
    vm = generalized_vm(arm)
    (r0,) = arm_playbook([image(source='vm1')])[0]
    assert r0['changed'], r0
    assert arm.remove(vm['id'])
    arm.clear_requests()
    r1, r2 = arm_playbook([image(source='vm1'), image(source='vm1', tags={'a': '1'})])[0]
    assert not r1['changed'] and r2['changed'] and r2['action'] == 'update', (r1, r2)


def test_generation_mismatch_names_both_values_and_where_each_came_from(arm, arm_playbook):
    arm.add_disk('rg', 'gen1', os_type='Linux', hyper_v_generation='V1')
    (r0,) = arm_playbook([image(source=dict(type='disks', name='gen1'), hyper_v_generation='V2')])[0]
    assert r0['failed'], r0
    assert "V1 from the source disk 'gen1'" in r0['msg'] and 'V2 from the hyper_v_generation option' in r0['msg'], r0
    assert 'omit hyper_v_generation' in r0['msg']
    assert arm.writes() == []


def test_the_same_generation_in_another_case_is_no_conflict(arm, arm_playbook):
    arm.add_disk('rg', 'gen2', os_type='Linux', hyper_v_generation='v2')
    (r0,) = arm_playbook([image(source=dict(type='disks', name='gen2'), hyper_v_generation='V2')])[0]
    assert r0['changed'] and r0['image']['hyper_v_generation'].upper() == 'V2', r0


def test_trusted_launch_and_confidential_sources_are_refused_before_any_write(arm, arm_playbook):
    generalized_vm(arm, 'tl', security_type='TrustedLaunch', data_disks=())
    generalized_vm(arm, 'cvm', security_type='ConfidentialVM', data_disks=())
    arm.add_disk('rg', 'tldisk', os_type='Linux', hyper_v_generation='V2', security_type='TrustedLaunch')
    arm.add_disk('rg', 'cvmdisk', os_type='Linux', hyper_v_generation='V2',
                 security_type='ConfidentialVM_DiskEncryptedWithPlatformKey')
    arm.add_disk('rg', 'plain', os_type='Linux', hyper_v_generation='V2')
    tasks = [image(source='tl'), image(source='cvm'), image(source=dict(type='disks', name='tldisk')),
             image(source=dict(type='disks', name='cvmdisk')),
             image(source=dict(type='disks', name='plain'), data_disk_sources=['tldisk'])]
    arm.clear_requests()
    results = arm_playbook(tasks)[0]
    assert all(r['failed'] for r in results), results
    vm_tl, vm_cvm, disk_tl, disk_cvm, data_tl = (r['msg'] for r in results)
    for msg, what, value in ((vm_tl, "VM 'tl'", 'TrustedLaunch'), (vm_cvm, "VM 'cvm'", 'ConfidentialVM'),
                             (disk_tl, "disk 'tldisk'", 'TrustedLaunch'),
                             (disk_cvm, "disk 'cvmdisk'", 'ConfidentialVM_DiskEncryptedWithPlatformKey'),
                             (data_tl, "data_disk_sources[0] (disk 'tldisk')", 'TrustedLaunch')):
        assert what in msg and value in msg, msg
        assert 'managed image cannot carry' in msg and 'gallery_image_version' in msg, msg
    assert arm.writes() == []
    assert methods(arm) == ['GET']


def test_a_trusted_launch_snapshot_is_refused(arm, arm_playbook):
    arm.add_disk('rg', 'tldisk', os_type='Linux', hyper_v_generation='V2', security_type='TrustedLaunch')
    snap = arm.add_snapshot('rg', 'tlsnap', source='tldisk')
    assert snap['properties']['securityProfile'] == {'securityType': 'TrustedLaunch'}  # copied from the disk
    (r0,) = arm_playbook([image(source=dict(type='snapshots', name='tlsnap'))])[0]
    assert r0['failed'] and "snapshot 'tlsnap'" in r0['msg'] and 'TrustedLaunch' in r0['msg'], r0
    assert arm.writes() == []


def test_a_standard_security_type_is_no_obstacle(arm, arm_playbook):
    generalized_vm(arm, 'std', security_type='Standard', data_disks=())
    (r0,) = arm_playbook([image(source='std')])[0]
    assert r0['changed'] and r0['image']['source_type'] == 'virtual_machine', r0


def test_an_os_disk_over_the_limit_is_refused_before_any_write(arm, arm_playbook):
    arm.add_disk('rg', 'huge', os_type='Linux', hyper_v_generation='V2', size_gb=8192, sku='Premium_LRS')
    (r0,) = arm_playbook([image(source=dict(type='disks', name='huge'))])[0]
    assert r0['failed'] and "disk 'huge'" in r0['msg'] and '8 TiB' in r0['msg'] and '4095 GiB' in r0['msg'], r0
    assert arm.writes() == []
