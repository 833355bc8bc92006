# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The capture role and playbooks/capture_vm.yml through ansible-playbook, against the ARM fake (strict mode).

The fake runs no guest: its run_command_handler answers as the Linux guest's script does, and the
guest powers itself off a moment later (a timer)."""
from __future__ import annotations

from ansible_collections.vmimage.azure.tests.integration import roletools
from ansible_collections.vmimage.azure.tests.integration.roletools import linux_guest, writes

PLAYBOOK = roletools.PLAYBOOKS / 'capture_vm.yml'


def playbook_vars(**extra):
    base = dict(capture_vm_resource_group='rg', capture_vm_name='vm1', capture_vm_gallery_name='gal',
                capture_vm_gallery_image_name='debian-12', capture_vm_gallery_image_version='1.0.0',
                capture_vm_timeout=30, capture_vm_publish_timeout=60)
    base.update(extra)
    return base


def version_id(arm, gallery='gal', image='debian-12', version='1.0.0'):
    return '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/galleries/%s/images/%s/versions/%s' % (
        arm.subscription_id, gallery, image, version)


def test_playbook_publishes_a_gallery_version_in_order_then_reruns_get_only(arm, tmp_path):
    vm = arm.add_vm('rg', 'vm1', data_disks=(8,))
    linux_guest(arm)

    preview = roletools.run(tmp_path, PLAYBOOK, playbook_vars(), arm=arm, check=True)
    assert preview.rc == 0, preview
    assert arm.writes() == [] and arm.run_commands == []

    arm.clear_requests()
    first = roletools.run(tmp_path, PLAYBOOK, playbook_vars(), arm=arm)
    assert first.rc == 0, first
    assert writes(arm) == [('PUT', 'galleries/gal'), ('PUT', 'images/debian-12'),
                           ('PUT', 'snapshots/vm1-pregen-os'), ('PUT', 'snapshots/vm1-pregen-lun0'),
                           ('POST', 'runCommand'), ('POST', 'deallocate'), ('POST', 'generalize'),
                           ('PUT', 'versions/1.0.0')]
    stored = arm.get(version_id(arm))
    assert stored is not None
    assert stored['properties']['storageProfile']['source']['virtualMachineId'].lower() == vm['id'].lower()
    definition = arm.get(version_id(arm).rsplit('/versions/', 1)[0])
    assert definition['properties']['hyperVGeneration'] == 'V2'

    arm.clear_requests()
    second = roletools.run(tmp_path, PLAYBOOK, playbook_vars(), arm=arm)
    assert second.rc == 0, second
    assert second.stats['changed'] == 0, second.changed()
    assert arm.writes() == [] and len(arm.run_commands) == 1


def role_vars(**extra):
    base = dict(capture_resource_group='rg', capture_vm_name='vm1', capture_generalize_timeout=30,
                capture_publish_timeout=60)
    base.update(extra)
    return base


def test_trusted_launch_vm_and_a_managed_image_fail_before_any_write(arm, tmp_path):
    vm = arm.add_vm('rg', 'vm1', security_type='TrustedLaunch')
    linux_guest(arm)
    play = roletools.role_playbook(tmp_path, 'capture', role_vars(
        capture_image_name='img', capture_gallery_name='gal', capture_gallery_image_name='d',
        capture_gallery_image_version='1.0.0'))
    run = roletools.run(tmp_path, play, arm=arm)
    assert run.rc != 0, run
    (name, failed), = run.failed
    assert 'Trusted Launch' in name or 'managed image' in name, name
    assert 'TrustedLaunch' in failed['msg'] and 'Publish it to an Azure Compute Gallery' in failed['msg']
    assert arm.writes() == [] and arm.run_commands == []
    assert not arm._vm_state[vm['id'].lower()]['generalized']


def test_trusted_launch_vm_goes_to_a_gallery_definition_that_takes_it(arm, tmp_path):
    vm = arm.add_vm('rg', 'vm1', security_type='TrustedLaunch')
    linux_guest(arm)
    play = roletools.role_playbook(tmp_path, 'capture', role_vars(
        capture_gallery_name='gal', capture_gallery_image_name='tl', capture_gallery_image_version='2.0.0',
        capture_target_regions=['northeurope'], capture_tags={'build': '7'}))
    run = roletools.run(tmp_path, play, arm=arm)
    assert run.rc == 0, run
    definition = arm.get(version_id(arm, image='tl').rsplit('/versions/', 1)[0])
    features = dict((f['name'], f['value']) for f in definition['properties'].get('features', []))
    assert features.get('SecurityType') == 'TrustedLaunchSupported'
    stored = arm.get(version_id(arm, image='tl', version='2.0.0'))
    regions = sorted(r['name'].replace(' ', '').lower() for r in stored['properties']['publishingProfile']['targetRegions'])
    assert regions == ['northeurope', 'westeurope']
    assert stored['tags'] == {'build': '7'}
    result = run.fact('capture_result')
    assert result['gallery_image_version_id'].lower() == version_id(arm, image='tl', version='2.0.0').lower()
    assert result['vm']['id'].lower() == vm['id'].lower() and result['generalize']['changed']


def test_existing_definition_of_another_generation_or_security_fails_before_any_write(arm, tmp_path):
    arm.add_vm('rg', 'vm1', hyper_v_generation='V2')
    arm.add_vm('rg', 'tlvm', security_type='TrustedLaunch')
    arm.add_gallery('rg', 'gal')
    arm.add_gallery_image('rg', 'gal', 'gen1', hyper_v_generation='V1')
    arm.add_gallery_image('rg', 'gal', 'std', hyper_v_generation='V2',
                          features=[{'name': 'SecurityType', 'value': 'Standard'}])
    linux_guest(arm)
    for vm_name, definition in (('vm1', 'gen1'), ('tlvm', 'std')):
        play = roletools.role_playbook(tmp_path, 'capture', role_vars(
            capture_vm_name=vm_name, capture_gallery_name='gal', capture_gallery_image_name=definition,
            capture_gallery_image_version='1.0.0'))
        run = roletools.run(tmp_path, play, arm=arm)
        assert run.rc != 0, run
        assert len(run.failed) == 1, run.failed
        failed = run.failed[0][1]
        assert "definition '%s' cannot take VM '%s'" % (definition, vm_name) in failed['msg'], failed['msg']
        assert 'Nothing was changed' in failed['msg']
    assert arm.writes() == [] and arm.run_commands == []


def test_managed_image_and_a_version_made_from_it_then_idempotent_and_check_mode_get_only(arm, tmp_path):
    vm = arm.add_vm('rg', 'vm1', hyper_v_generation='V1')
    arm.add_gallery('rg', 'gal')
    linux_guest(arm)
    variables = role_vars(capture_image_name='img', capture_gallery_name='gal', capture_gallery_image_name='g1',
                          capture_gallery_image_version='1.2.3', capture_gallery_version_source='image',
                          capture_backup=False)
    play = roletools.role_playbook(tmp_path, 'capture', variables)
    run = roletools.run(tmp_path, play, arm=arm)
    assert run.rc == 0, run
    assert writes(arm) == [('PUT', 'images/g1'), ('POST', 'runCommand'), ('POST', 'deallocate'),
                           ('POST', 'generalize'), ('PUT', 'images/img'), ('PUT', 'versions/1.2.3')]
    image = arm.get('/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/images/img' % arm.subscription_id)
    assert image['properties']['sourceVirtualMachine']['id'].lower() == vm['id'].lower()
    assert image['properties']['hyperVGeneration'] == 'V1'
    stored = arm.get(version_id(arm, image='g1', version='1.2.3'))
    assert stored['properties']['storageProfile']['source']['id'].lower() == image['id'].lower()
    assert arm.get(version_id(arm, image='g1', version='1.2.3').rsplit('/versions/', 1)[0])[
        'properties']['hyperVGeneration'] == 'V1'

    for check in (True, False):
        arm.clear_requests()
        again = roletools.run(tmp_path, play, arm=arm, check=check)
        assert again.rc == 0, again
        assert again.stats['changed'] == 0, again.changed()
        assert arm.writes() == [], (check, writes(arm))
        # a generalized VM lets check mode preview the image and the version too
        for task in ('Capture the managed image', 'Publish the gallery image version'):
            result = again.result(task)
            assert not result.get('skipped') and not result['changed'] and result['id'], (task, result)


def test_bad_variables_fail_before_any_request(arm, tmp_path):
    arm.add_vm('rg', 'vm1')
    cases = [role_vars(), role_vars(capture_gallery_name='gal'),
             role_vars(capture_gallery_name='gal', capture_gallery_image_name='d', capture_gallery_image_version='1.0'),
             role_vars(capture_gallery_name='gal', capture_gallery_image_name='d', capture_gallery_image_version='1.0.0',
                       capture_gallery_version_source='image')]
    for variables in cases:
        run = roletools.run(tmp_path, roletools.role_playbook(tmp_path, 'capture', variables), arm=arm)
        assert run.rc != 0 and run.failed[0][0].endswith('Check the variables'), run
    run = roletools.run(tmp_path, roletools.role_playbook(tmp_path, 'capture', {'capture_vm_name': 'vm1'}), arm=arm)
    assert run.rc != 0 and 'capture_resource_group' in run.failed[0][1]['msg'], run
    arm.clear_requests()
    assert [r for r in arm.requests if '/subscriptions/' in r.path.lower()] == []
