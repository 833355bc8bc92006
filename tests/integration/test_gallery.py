# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.gallery through ansible-playbook, against the ARM fake in strict mode."""
from __future__ import annotations

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests, check, methods


def gal(**args):
    return {'vmimage.azure.gallery': dict(dict(resource_group='rg', name='builds'), **args)}


def test_four_step_idempotence_and_an_unchanged_rerun_only_reads(arm, arm_playbook):
    task = gal(description='Images built by CI', tags={'team': 'platform'})
    (r0, r1) = arm_playbook([check(task), dict(task, diff=True)])[0]
    assert [r0['changed'], r1['changed']] == [True, True], (r0, r1)
    assert r0['action'] == 'create' and r0['id'] is None
    assert r0['diff']['before'] == {} and r0['diff']['after']['location'] == 'westeurope'  # the resource group's
    assert r0['diff']['after']['description'] == 'Images built by CI'
    assert r1['gallery']['description'] == 'Images built by CI' and r1['gallery']['tags'] == {'team': 'platform'}
    assert r1['gallery']['provisioning_state'] == 'Succeeded' and r1['gallery']['soft_delete'] is False
    assert r1['id'].endswith('/providers/Microsoft.Compute/galleries/builds') and r1['gallery']['unique_name']
    stored = arm.get(r1['id'])
    assert stored['properties']['description'] == 'Images built by CI' and stored['tags'] == {'team': 'platform'}
    assert 'softDeletePolicy' not in stored['properties']  # not managed unless asked

    arm.clear_requests()
    (r2, r3) = arm_playbook([check(task), task])[0]
    assert [r2['changed'], r3['changed']] == [False, False], (r2, r3)
    assert r3['action'] == 'none' and r3['id'].lower() == r1['id'].lower()
    assert methods(arm) == ['GET'], [(r.method, r.path) for r in arm_requests(arm)]


def test_description_tags_and_soft_delete_are_updated_in_place(arm, arm_playbook):
    arm.add_gallery('rg', 'builds', description='old', tags={'a': '1'})
    before = arm.get('/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/galleries/builds'
                     % arm.subscription_id)
    task = gal(description='new', tags={'a': '2'}, soft_delete=True)
    (r0, r1, r2) = arm_playbook([check(task), dict(task, diff=True), task])[0]
    assert r0['changed'] and r0['action'] == 'update'
    assert r1['changed'] and r1['action'] == 'update' and not r2['changed'], (r1, r2)
    diff = r1['diff']
    assert (diff['before']['description'], diff['after']['description']) == ('old', 'new')
    assert (diff['before']['tags'], diff['after']['tags']) == ({'a': '1'}, {'a': '2'})
    assert (diff['before']['soft_delete'], diff['after']['soft_delete']) == (False, True)
    assert r1['gallery']['soft_delete'] is True
    stored = arm.get(r1['id'])
    assert stored['properties']['softDeletePolicy']['isSoftDeleteEnabled'] is True
    assert stored['properties']['description'] == 'new' and stored['tags'] == {'a': '2'}
    assert stored['properties']['identifier'] == before['properties']['identifier']  # the same gallery
    assert [w.method for w in arm.writes()] == ['PATCH']


def test_a_description_differing_only_in_case_is_a_change(arm, arm_playbook):
    arm.add_gallery('rg', 'builds', description='ci images')
    (r0,) = arm_playbook([gal(description='CI images')])[0]
    assert r0['changed'] and r0['gallery']['description'] == 'CI images'


def test_another_location_fails_naming_it_unless_replace(arm, arm_playbook):
    arm.add_gallery('rg', 'builds', location='westeurope')
    arm.clear_requests()
    (r0,) = arm_playbook([gal(location='northeurope')])[0]
    assert r0['failed'] and 'location' in r0['msg'] and 'replace=true' in r0['msg'], r0
    assert arm.writes() == []
    (r1,) = arm_playbook([gal(location='northeurope', replace=True)])[0]
    assert r1['changed'] and r1['action'] == 'replace' and r1['gallery']['location'] == 'northeurope', r1
    assert [w.method for w in arm.writes()] == ['DELETE', 'PUT']


def test_absent(arm, arm_playbook):
    tasks = [gal(), check(gal(state='absent')), gal(state='absent'), gal(state='absent')]
    (r0, r1, r2, r3) = arm_playbook(tasks)[0]
    assert [r0['changed'], r1['changed'], r2['changed'], r3['changed']] == [True, True, True, False]
    assert r1['diff']['after'] == {} and r1['diff']['before']['name'] == 'builds'
    assert r2['action'] == 'delete' and r2['gallery'] == {} and r2['id'] is None
    assert arm.get(r0['id']) is None


def test_a_gallery_with_definitions_is_not_deleted_and_nothing_is_written(arm, arm_playbook):
    arm.add_gallery('rg', 'builds')
    arm.add_gallery_image('rg', 'builds', 'debian-12')
    arm.add_gallery_image('rg', 'builds', 'alma-9')
    arm.clear_requests()
    (r0, r1) = arm_playbook([check(gal(state='absent')), gal(state='absent')])[0]
    for result in (r0, r1):
        assert result['failed'] and 'alma-9, debian-12' in result['msg'] and 'gallery_image' in result['msg'], result
    assert arm.writes() == []
    (r2,) = arm_playbook([gal(location='northeurope', replace=True)])[0]
    assert r2['failed'] and 'replaced' in r2['msg'] and 'debian-12' in r2['msg'], r2
    assert arm.writes() == []


def test_bad_input_fails_before_any_write(arm, arm_playbook):
    tasks = [gal(resource_group='missing'),
             gal(name='has-hyphens'),
             gal(resource_group='missing', state='absent')]
    results = arm_playbook(tasks)[0]
    assert all(r['failed'] for r in results), results
    missing_rg, bad_name, missing_rg_absent = (r['msg'] for r in results)
    assert "'missing'" in missing_rg and 'resource group' in missing_rg.lower() and 'Create' in missing_rg
    assert "'has-hyphens'" in bad_name and 'hyphens' in bad_name
    assert "'missing'" in missing_rg_absent
    assert arm.writes() == []
