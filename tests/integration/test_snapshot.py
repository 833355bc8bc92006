# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.snapshot through ansible-playbook, against the ARM fake in strict mode.

The module reaches the fake as a user reaches a private cloud: cloud_environment is the fake's URL
(AZURE_CLOUD_ENVIRONMENT, as AWX injects it), its metadata endpoint names the token endpoint."""
from __future__ import annotations

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests, check, methods


def snap(**args):
    return {'vmimage.azure.snapshot': dict(dict(resource_group='rg', name='backup'), **args)}


def test_four_step_idempotence_and_an_unchanged_rerun_only_reads(arm, arm_playbook):
    disk = arm.add_disk('rg', 'vm1-os', size_gb=30, os_type='Linux', hyper_v_generation='V2')
    task = snap(source='vm1-os', incremental=True, tags={'purpose': 'backup'})
    (r0, r1) = arm_playbook([check(task), dict(task, diff=True)])[0]
    assert [r0['changed'], r1['changed']] == [True, True], (r0, r1)
    assert r0['action'] == 'create' and r0['id'] is None
    assert r0['diff']['before'] == {} and r0['diff']['after']['source_id'].lower() == disk['id'].lower()
    assert r1['snapshot']['incremental'] is True and r1['snapshot']['disk_size_gb'] == 30
    assert r1['snapshot']['os_type'] == 'Linux' and r1['snapshot']['hyper_v_generation'] == 'V2'
    stored = arm.get(r1['id'])
    assert stored['properties']['creationData']['sourceResourceId'].lower() == disk['id'].lower()
    assert stored['properties']['incremental'] is True and stored['tags'] == {'purpose': 'backup'}
    assert r1['auth_source'] == 'env'

    arm.clear_requests()
    (r2, r3) = arm_playbook([check(task), task])[0]
    assert [r2['changed'], r3['changed']] == [False, False], (r2, r3)
    assert r3['action'] == 'none' and r3['id'].lower() == r1['id'].lower()
    assert methods(arm) == ['GET'], [(r.method, r.path) for r in arm_requests(arm)]


def test_tags_are_updated_in_place(arm, arm_playbook):
    arm.add_disk('rg', 'd1')
    r0, r1 = arm_playbook([snap(source='d1', tags={'a': '1'}),
                           dict(snap(source='d1', tags={'a': '2'}), diff=True)])[0]
    assert r0['changed'] and r1['changed'] and r1['action'] == 'update'
    assert r1['diff']['before']['tags'] == {'a': '1'} and r1['diff']['after']['tags'] == {'a': '2'}
    assert arm.get(r1['id'])['tags'] == {'a': '2'}
    assert 'PATCH' in methods(arm) and 'DELETE' not in methods(arm)


def test_a_different_source_fails_naming_the_field_unless_replace(arm, arm_playbook):
    arm.add_disk('rg', 'd1')
    arm.add_disk('rg', 'd2')
    (r0,) = arm_playbook([snap(source='d1')])[0]
    first = arm.get(r0['id'])
    arm.clear_requests()
    (r1,) = arm_playbook([snap(source='d2')])[0]
    assert r1['failed'] and 'source_id' in r1['msg'] and 'replace=true' in r1['msg'], r1
    assert methods(arm) == ['GET']
    (r2,) = arm_playbook([snap(source='d2', replace=True)])[0]
    assert r2['changed'] and r2['action'] == 'replace'
    replaced = arm.get(r2['id'])
    assert replaced['properties']['creationData']['sourceResourceId'].lower().endswith('/disks/d2')
    assert replaced['properties']['uniqueId'] != first['properties']['uniqueId']


def test_creation_data_copy_and_import_as_azure_rm_snapshot_takes_them(arm, arm_playbook):
    disk = arm.add_disk('rg', 'd1', os_type='Windows')
    blob = 'https://acct.blob.core.windows.net/vhds/os.vhd'
    tasks = [snap(name='copy', creation_data=dict(create_option='Copy', source_id=disk['id'])),
             snap(name='import', location='westeurope', os_type='Linux',
                  creation_data=dict(create_option='Import', source_uri=blob)),
             snap(name='import', location='westeurope', os_type='Linux',
                  creation_data=dict(create_option='Import', source_uri=blob))]
    (r0, r1, r2) = arm_playbook(tasks)[0]
    assert r0['changed'] and r0['snapshot']['os_type'] == 'Windows' and r0['snapshot']['create_option'] == 'Copy'
    assert r1['changed'] and r1['snapshot']['source_uri'] == blob and r1['snapshot']['create_option'] == 'Import'
    assert not r2['changed']


def test_absent(arm, arm_playbook):
    arm.add_disk('rg', 'd1')
    tasks = [snap(source='d1'), check(snap(state='absent')), snap(state='absent'), snap(state='absent')]
    (r0, r1, r2, r3) = arm_playbook(tasks)[0]
    assert [r0['changed'], r1['changed'], r2['changed'], r3['changed']] == [True, True, True, False]
    assert r1['diff']['after'] == {} and r1['diff']['before']['name'] == 'backup'
    assert arm.get(r0['id']) is None


def test_bad_input_fails_before_any_write(arm, arm_playbook):
    arm.add_resource_group('east', location='eastus')
    arm.add_disk('east', 'far', location='eastus')
    tasks = [snap(resource_group='missing', source='d1'),
             snap(source='nope'),
             snap(source='/subscriptions/%s/resourceGroups/east/providers/Microsoft.Compute/disks/far'
                  % arm.subscription_id, location='westeurope'),
             snap(creation_data=dict(create_option='Copy')),
             snap(source='d1', creation_data=dict(create_option='Copy', source_id='d1'))]
    results = arm_playbook(tasks)[0]
    assert all(r['failed'] for r in results), results
    missing_rg, no_source, far, no_id, both = (r['msg'] for r in results)
    assert "'missing'" in missing_rg and 'resource group' in missing_rg.lower() and 'Create' in missing_rg
    assert "'nope' was not found" in no_source and 'source' in no_source
    assert 'eastus' in far and 'westeurope' in far and 'region' in far
    assert 'source_id' in no_id
    assert 'mutually exclusive' in both
    assert arm.writes() == []


def test_a_rerun_after_the_source_disk_is_deleted_changes_nothing(arm, arm_playbook):
    disk = arm.add_disk('rg', 'd1')
    (r0,) = arm_playbook([snap(source='d1')])[0]
    assert arm.remove(disk['id'])
    r1, r2 = arm_playbook([snap(source='d1'), snap(source='d2')])[0]
    assert r0['changed'] and not r1['changed'], (r0, r1)
    assert r2['failed'] and "'d2' was not found" in r2['msg'], r2  # another source is still read and checked
    arm.clear_requests()
    (r3,) = arm_playbook([snap(source='d1', incremental=True, replace=True)])[0]
    assert r3['failed'] and "'d1' was not found" in r3['msg'], r3  # nothing deleted for a re-creation that cannot work
    assert arm.writes() == [] and arm.get(r0['id']) is not None
