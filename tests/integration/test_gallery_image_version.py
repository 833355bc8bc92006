# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.gallery_image_version through ansible-playbook, against the ARM fake in strict mode.

The fake replicates one step per poll of the version's operation or GET of the version
(``arm.replication_steps`` steps per region, regions in turn); ``hold_replication`` freezes it."""
from __future__ import annotations

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests, check, methods

VERSION_PATH = r'/galleries/gal/images/def/versions/1\.0\.0$'


def seed(arm, hyper_v='V2', os_state='Generalized', features=None, name='def'):
    if arm.get('/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal' % arm.subscription_id) is None:
        arm.add_gallery('rg', 'gal')
    return arm.add_gallery_image('rg', 'gal', name, hyper_v_generation=hyper_v, os_state=os_state, features=features,
                                 sku=name)


def os_snapshot(arm, name='os-snap', size_gb=16, hyper_v='V2', **kwargs):
    disk = arm.add_disk('rg', name + '-disk', size_gb=size_gb, os_type='Linux', hyper_v_generation=hyper_v, **kwargs)
    return arm.add_snapshot('rg', name, source=disk['id'])


def giv(**args):
    return {'vmimage.azure.gallery_image_version': dict(dict(
        resource_group='rg', gallery_name='gal', gallery_image_name='def', name='1.0.0', timeout=120), **args)}


def from_snapshot(name='os-snap', **args):
    return giv(storage_profile=dict(os_disk=dict(source=name)), **args)


def version_id(arm, name='1.0.0'):
    return '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal/images/def/versions/%s' % (
        arm.subscription_id, name)


def puts(arm):
    return arm.calls('PUT', VERSION_PATH)


def regions(status):
    return [(r['region'], r['state'], r['progress']) for r in status['regions']]


def test_four_step_idempotence_and_an_unchanged_rerun_only_reads(arm, arm_playbook):
    seed(arm)
    snapshot = os_snapshot(arm)
    task = from_snapshot(tags={'build': '42'}, publishing_profile=dict(
        target_regions=[dict(name='westeurope')], end_of_life_date='2030-12-31', exclude_from_latest=False))
    (r0, r1) = arm_playbook([check(task), dict(task, diff=True)])[0]
    assert [r0['changed'], r1['changed']] == [True, True], (r0, r1)
    assert r0['action'] == 'create' and r0['id'] is None and r0['diff']['before'] == {}
    assert r0['diff']['after']['source'].lower() == snapshot['id'].lower() and r0['diff']['after']['source_type'] == \
        'snapshot'
    version = r1['gallery_image_version']
    assert version['provisioning_state'] == 'Succeeded' and version['source_type'] == 'snapshot'
    assert version['storage_profile']['os_disk']['size_gb'] == 16
    assert version['publishing_profile']['end_of_life_date'] == '2030-12-31T00:00:00Z'
    assert regions(r1['replication_status']) == [('West Europe', 'Completed', 100)]
    stored = arm.get(r1['id'])
    assert stored['tags'] == {'build': '42'}
    assert stored['properties']['storageProfile']['osDiskImage']['source']['id'].lower() == snapshot['id'].lower()
    assert len(puts(arm)) == 1

    arm.clear_requests()
    (r2, r3) = arm_playbook([check(task), task])[0]
    assert [r2['changed'], r3['changed']] == [False, False], (r2, r3)
    assert r3['action'] == 'none' and r3['id'].lower() == r1['id'].lower()
    assert r3['replication_status']['aggregated_state'] == 'Completed'
    assert methods(arm) == ['GET'], [(r.method, r.path) for r in arm_requests(arm)]


def test_os_disk_and_two_data_disks_are_sent_each_with_its_own_lun_and_source(arm, arm_playbook):
    seed(arm)
    snapshot = os_snapshot(arm)
    data0 = arm.add_disk('rg', 'data0', size_gb=8)
    data3 = arm.add_snapshot('rg', 'data3', source=arm.add_disk('rg', 'data3-disk', size_gb=4)['id'])
    task = giv(storage_profile=dict(
        os_disk=dict(source=snapshot['id'], host_caching='ReadWrite'),
        data_disks=[dict(lun=0, source='data0'),
                    dict(lun=3, source=dict(name='data3', resource_group='rg', type='snapshots'),
                         host_caching='ReadOnly')]))
    (r0, r1) = arm_playbook([task, task])[0]
    assert r0['changed'] and not r1['changed'], (r0, r1)
    (put,) = puts(arm)
    sp = put.body['properties']['storageProfile']
    assert 'source' not in sp
    assert sp['osDiskImage'] == {'hostCaching': 'ReadWrite', 'source': {'id': snapshot['id']}}
    assert sp['dataDiskImages'] == [{'lun': 0, 'source': {'id': data0['id']}},
                                    {'lun': 3, 'hostCaching': 'ReadOnly', 'source': {'id': data3['id']}}]
    disks = r0['gallery_image_version']['storage_profile']['data_disks']
    assert [(d['lun'], d['source'].lower(), d['size_gb']) for d in disks] == [
        (0, data0['id'].lower(), 8), (3, data3['id'].lower(), 4)]
    # A third data disk is a different set of sources: refused in place.
    arm.add_disk('rg', 'data5', size_gb=2)
    changed = giv(storage_profile=dict(os_disk=dict(source=snapshot['id'], host_caching='ReadWrite'),
                                       data_disks=task['vmimage.azure.gallery_image_version']['storage_profile'][
                                           'data_disks'] + [dict(lun=5, source='data5')]))
    (r2,) = arm_playbook([changed])[0]
    assert r2['failed'] and 'storage_profile.data_disks' in r2['msg'] and 'replace=true' in r2['msg'], r2
    assert len(puts(arm)) == 1


def test_a_vm_source_is_sent_as_virtual_machine_id(arm, arm_playbook):
    seed(arm)
    vm = arm.add_vm('rg', 'build-vm', data_disks=(4,), power_state='deallocated', generalized=True)
    task = giv(storage_profile=dict(source_image='build-vm'))
    (r0,) = arm_playbook([task])[0]
    assert r0['changed'] and r0['gallery_image_version']['source_type'] == 'virtual_machine', r0
    (put,) = puts(arm)
    assert put.body['properties']['storageProfile'] == {'source': {'virtualMachineId': vm['id']}}
    assert [d['lun'] for d in r0['gallery_image_version']['storage_profile']['data_disks']] == [0]
    # The VM is usually deleted once published: a rerun does not need it.
    assert arm.remove(vm['id'])
    arm.clear_requests()
    (r1,) = arm_playbook([task])[0]
    assert not r1['changed'] and r1['action'] == 'none', r1
    assert methods(arm) == ['GET']


def test_a_managed_image_and_another_version_are_sent_as_source_id(arm, arm_playbook):
    seed(arm)
    arm.add_vm('rg', 'vm1', power_state='deallocated', generalized=True)
    image = arm.add_image('rg', 'img', source_vm='vm1')
    (r0, r1) = arm_playbook([giv(storage_profile=dict(source_image=dict(name='img', resource_group='rg'))),
                             giv(name='1.1.0', storage_profile=dict(source_image=dict(
                                 gallery_name='gal', gallery_image_name='def', version='1.0.0')))])[0]
    assert r0['changed'] and r1['changed'], (r0, r1)
    bodies = [r.body['properties']['storageProfile'] for r in arm.calls('PUT', r'/versions/')]
    assert bodies == [{'source': {'id': image['id']}}, {'source': {'id': r0['id']}}]
    assert [r0['gallery_image_version']['source_type'], r1['gallery_image_version']['source_type']] == [
        'managed_image', 'gallery_image_version']


def test_a_vhd_blob_is_sent_with_its_storage_account(arm, arm_playbook):
    seed(arm)
    uri = 'https://acct.blob.core.windows.net/vhds/os.vhd'
    arm.blob_sizes[uri] = 12
    task = giv(storage_profile=dict(os_disk=dict(source=uri, storage_account_id='acct')))
    (r0, r1) = arm_playbook([task, task])[0]
    assert r0['changed'] and not r1['changed'], (r0, r1)
    account = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct' % arm.subscription_id
    assert puts(arm)[0].body['properties']['storageProfile'] == {
        'osDiskImage': {'source': {'uri': uri, 'storageAccountId': account}}}
    assert r0['gallery_image_version']['source_type'] == 'blob'


def test_replication_is_waited_for_in_every_target_region(arm, arm_playbook):
    seed(arm)
    os_snapshot(arm)
    arm.replication_steps = 3
    task = from_snapshot(publishing_profile=dict(target_regions=[dict(name='westeurope'),
                                                                 dict(name='northeurope', regional_replica_count=2)]))
    (r0,) = arm_playbook([task])[0]
    assert r0['changed'] and r0['gallery_image_version']['provisioning_state'] == 'Succeeded', r0
    assert r0['replication_status']['aggregated_state'] == 'Completed'
    assert regions(r0['replication_status']) == [('West Europe', 'Completed', 100), ('North Europe', 'Completed', 100)]
    # Six steps in all (three per region), one per poll or GET: the module went on polling until the last one.
    steps = [r for r in arm_requests(arm) if r.poll or (r.method == 'GET' and '/versions/1.0.0' in r.path)]
    assert len([r for r in steps if r.poll]) >= 3 and len(steps) >= 6, [(r.method, r.path) for r in steps]
    target = r0['gallery_image_version']['publishing_profile']['target_regions']
    assert [(t['name'], t['regional_replica_count']) for t in target] == [('West Europe', 1), ('North Europe', 2)]


def test_a_timeout_names_the_version_and_regions_and_a_rerun_resumes_without_a_second_put(arm, arm_playbook):
    seed(arm)
    os_snapshot(arm)
    arm.replication_steps = 2
    arm.hold_replication()
    task = from_snapshot(publishing_profile=dict(target_regions=[dict(name='westeurope'), dict(name='northeurope')]))
    (r0,) = arm_playbook([dict(task, **{'vmimage.azure.gallery_image_version': dict(
        task['vmimage.azure.gallery_image_version'], timeout=3)})])[0]
    assert r0['failed'] and r0['changed'], r0
    msg = r0['msg']
    assert "'1.0.0'" in msg and "'def'" in msg and "'gal'" in msg and 'within 3 seconds' in msg, msg
    assert 'West Europe (Replicating, 0%)' in msg and 'North Europe (Replicating, 0%)' in msg, msg
    assert 'wait=true' in msg
    assert r0['replication_status']['aggregated_state'] == 'InProgress'
    assert regions(r0['replication_status']) == [('West Europe', 'Replicating', 0), ('North Europe', 'Replicating', 0)]
    assert r0['id'].lower().endswith('/versions/1.0.0')
    assert len(puts(arm)) == 1

    arm.release_replication()
    arm.clear_requests()
    (r1,) = arm_playbook([task])[0]
    assert not r1.get('failed') and not r1['changed'] and r1['action'] == 'none', r1
    assert r1['replication_status']['aggregated_state'] == 'Completed'
    assert regions(r1['replication_status']) == [('West Europe', 'Completed', 100), ('North Europe', 'Completed', 100)]
    assert r1['gallery_image_version']['provisioning_state'] == 'Succeeded'
    assert arm.writes() == [] and methods(arm) == ['GET']


def test_wait_false_returns_before_replication_ends(arm, arm_playbook):
    seed(arm)
    os_snapshot(arm)
    arm.hold_replication()
    task = from_snapshot(publishing_profile=dict(target_regions=[dict(name='westeurope'), dict(name='northeurope')]))
    (r0,) = arm_playbook([dict(task, **{'vmimage.azure.gallery_image_version': dict(
        task['vmimage.azure.gallery_image_version'], wait=False)})])[0]
    assert r0['changed'] and r0['action'] == 'create', r0
    assert r0['gallery_image_version']['provisioning_state'] == 'Creating' and r0['replication_status'] is None
    assert [r for r in arm_requests(arm) if r.poll] == []  # the operation was not polled
    stored = arm.get(r0['id'])
    assert stored['properties']['provisioningState'] == 'Creating'
    assert arm.replication_status(r0['id'])['aggregatedState'] == 'InProgress'
    arm.release_replication()
    arm.clear_requests()
    (r1,) = arm_playbook([task])[0]
    assert not r1['changed'] and r1['replication_status']['aggregated_state'] == 'Completed', r1
    assert arm.writes() == []


def test_target_regions_and_publishing_fields_are_updated_in_place(arm, arm_playbook):
    seed(arm)
    os_snapshot(arm)
    first = from_snapshot(tags={'a': '1'}, publishing_profile=dict(target_regions=[dict(name='westeurope')]))
    second = from_snapshot(tags={'a': '2'}, publishing_profile=dict(
        target_regions=[dict(name='West Europe'), dict(name='northeurope', regional_replica_count=2)],
        exclude_from_latest=True, end_of_life_date='2031-01-01T00:00:00Z', replica_count=1))
    (r0, r1, r2) = arm_playbook([first, dict(second, diff=True), second])[0]
    assert [r0['changed'], r1['changed'], r2['changed']] == [True, True, False], (r0, r1, r2)
    assert r1['action'] == 'update'
    assert [r['name'] for r in r1['diff']['before']['publishing_profile']['target_regions']] == ['West Europe']
    after = r1['diff']['after']['publishing_profile']['target_regions']
    assert [r['name'] for r in after] == ['West Europe', 'northeurope']
    assert r1['diff']['after']['tags'] == {'a': '2'}
    patches = arm.calls('PATCH', VERSION_PATH)
    assert len(patches) == 1 and len(puts(arm)) == 1 and not arm.calls('DELETE')
    pp = patches[0].body['properties']['publishingProfile']
    assert pp['excludeFromLatest'] is True and pp['endOfLifeDate'].startswith('2031-01-01T00:00:00')
    stored = arm.get(r1['id'])
    assert [(t['name'], t['regionalReplicaCount']) for t in stored['properties']['publishingProfile']['targetRegions']] \
        == [('West Europe', 1), ('North Europe', 2)]
    assert stored['tags'] == {'a': '2'} and stored['properties']['publishingProfile']['excludeFromLatest'] is True
    assert regions(r1['replication_status']) == [('West Europe', 'Completed', 100), ('North Europe', 'Completed', 100)]
    # The publishing profile alone, without storage_profile, updates too.
    (r3,) = arm_playbook([giv(publishing_profile=dict(exclude_from_latest=False))])[0]
    assert r3['changed'] and r3['action'] == 'update', r3
    assert arm.get(r1['id'])['properties']['publishingProfile']['excludeFromLatest'] is False


def test_a_different_source_fails_naming_the_field_unless_replace(arm, arm_playbook):
    seed(arm)
    os_snapshot(arm)
    second = os_snapshot(arm, name='os-snap2')
    (r0,) = arm_playbook([from_snapshot()])[0]
    assert r0['changed']
    arm.clear_requests()
    (r1, r2) = arm_playbook([from_snapshot('os-snap2'),
                             from_snapshot(publishing_profile=dict(storage_account_type='Premium_LRS'))])[0]
    assert r1['failed'] and 'storage_profile.os_disk.source' in r1['msg'] and 'replace=true' in r1['msg'], r1
    assert r2['failed'] and 'publishing_profile.storage_account_type' in r2['msg'], r2
    assert methods(arm) == ['GET']
    (r3,) = arm_playbook([from_snapshot('os-snap2', replace=True)])[0]
    assert r3['changed'] and r3['action'] == 'replace', r3
    assert arm.get(r3['id'])['properties']['storageProfile']['osDiskImage']['source']['id'].lower() == \
        second['id'].lower()
    assert [r.method for r in arm.writes()] == ['DELETE', 'PUT']


def test_absent(arm, arm_playbook):
    seed(arm)
    os_snapshot(arm)
    tasks = [from_snapshot(), check(giv(state='absent')), giv(state='absent'), giv(state='absent')]
    (r0, r1, r2, r3) = arm_playbook(tasks)[0]
    assert [r0['changed'], r1['changed'], r2['changed'], r3['changed']] == [True, True, True, False]
    assert r1['diff']['after'] == {} and r1['diff']['before']['name'] == '1.0.0'
    assert arm.get(r0['id']) is None


def test_every_preflight_error_fails_before_any_write(arm, arm_playbook):
    seed(arm)
    seed(arm, name='std', features=[{'name': 'SecurityType', 'value': 'Standard'}])
    seed(arm, name='special', os_state='Specialized')
    os_snapshot(arm, name='gen1', hyper_v='V1')
    os_snapshot(arm, name='big', size_gb=5000)
    os_snapshot(arm, name='tl', security_type='TrustedLaunch')
    os_snapshot(arm)
    arm.add_vm('rg', 'live', power_state='stopped')
    arm.add_vm('rg', 'tlvm', power_state='deallocated', generalized=True, security_type='TrustedLaunch')
    arm.add_resource_group('east', location='eastus')
    tasks = [
        from_snapshot('gen1'),                                                       # generation
        from_snapshot(gallery_image_name='nodef'),                                   # missing definition
        from_snapshot(gallery_name='nogal'),                                         # missing gallery
        from_snapshot('tl', gallery_image_name='std'),                               # security (disk)
        giv(gallery_image_name='std', storage_profile=dict(source_image='tlvm')),   # security (VM)
        from_snapshot('big'),                                                        # size
        giv(storage_profile=dict(source_image='live')),                              # not generalized
        giv(gallery_image_name='special', storage_profile=dict(source_image='tlvm')),  # generalized into specialized
        from_snapshot('missing'),                                                    # no such source
        giv(storage_profile=dict(os_disk=dict(source='https://acct.blob.core.windows.net/v/os.vhd'))),
        from_snapshot(location='eastus'),                                            # not the definition's region
        from_snapshot(publishing_profile=dict(target_regions=[dict(name='northeurope')])),
        giv(storage_profile=dict(os_disk=dict(source='os-snap'), data_disks=[dict(lun=1, source='os-snap'),
                                                                             dict(lun=1, source='os-snap')])),
        giv(storage_profile=dict(data_disks=[dict(lun=0, source='os-snap')])),
        giv(name='1.0', storage_profile=dict(os_disk=dict(source='os-snap'))),
        giv(),
        giv(storage_profile=dict(os_disk=dict(source='https://acct.blob.core.windows.net/v/os.vhd?sv=1&sig=SECRETSIG',
                                              storage_account_id='acct'))),
    ]
    results = arm_playbook(tasks)[0]
    assert all(r.get('failed') for r in results), [r for r in results if not r.get('failed')]
    (gen, nodef, nogal, sec_disk, sec_vm, size, live, special, missing, vhd, location, own_region, luns, no_os,
     bad_name, no_storage, sas) = (r['msg'] for r in results)
    assert 'Hyper-V generation mismatch' in gen and "V1 from the snapshot 'gen1'" in gen and \
        "V2 from gallery image definition 'def'" in gen, gen
    assert "Gallery image definition 'nodef' was not found in gallery 'gal'" in nodef and 'gallery_image' in nodef
    assert "Gallery 'nogal' was not found in resource group 'rg'" in nogal
    assert 'Security type mismatch' in sec_disk and 'TrustedLaunch' in sec_disk and "'std'" in sec_disk, sec_disk
    assert 'Security type mismatch' in sec_vm and "VM 'tlvm'" in sec_vm, sec_vm
    assert "snapshot 'big'" in size and 'over the maximum' in size and 'gallery image version' in size, size
    assert "VM 'live'" in live and 'Specialized' in live and 'Generalize' in live, live
    assert "VM 'tlvm'" in special and "'special' takes Specialized" in special, special
    assert "'missing' was not found" in missing
    assert 'storage_account_id' in vhd and "'acct'" in vhd
    assert 'eastus' in location and 'westeurope' in location and 'target_regions' in location
    assert 'target_regions must include' in own_region and 'westeurope' in own_region
    assert 'lun 1 is given more than once' in luns
    assert 'os_disk' in no_os and 'source_image' in no_os
    assert 'Major.Minor.Patch' in bad_name
    assert 'storage_profile is required' in no_storage
    assert 'without a query string' in sas and 'SECRETSIG' not in sas
    assert arm.writes() == []


def test_a_failed_version_is_re_created_only_with_replace(arm, arm_playbook):
    seed(arm)
    os_snapshot(arm)
    arm.inject('lro_failed', method='PUT', path=VERSION_PATH, code='InternalOperationError',
               message='Replication failed in this region.')
    (r0, r1, r2) = arm_playbook([from_snapshot(), from_snapshot(), from_snapshot(replace=True)])[0]
    assert r0['failed'] and 'create gallery image version' in r0['msg'], r0
    assert r1['failed'] and 'creation failed' in r1['msg'] and 'replace=true' in r1['msg'], r1
    assert r2['changed'] and r2['action'] == 'replace', r2
    assert r2['gallery_image_version']['provisioning_state'] == 'Succeeded'
    assert [r.method for r in arm.writes()] == ['PUT', 'DELETE', 'PUT']
