# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.vm_generalize through ansible-playbook, against the ARM fake in strict mode.

The fake runs no guest: its run_command_handler answers for it. A Linux guest's script starts the
deprovision detached and the guest powers itself off a moment later (a timer here); a Windows
guest's answer is what the Windows script prints for each Sysprep end state."""
from __future__ import annotations

import threading

from ansible_collections.vmimage.azure.plugins.module_utils._guest import scripts
from ansible_collections.vmimage.azure.tests.integration.armtools import check, methods
from ansible_collections.vmimage.azure.tests.support import powershell

STARTED = ('VMIMAGE_GENERALIZE {"outcome": "started", "message": "waagent -force -deprovision starts in 30 seconds; '
           'the VM powers off when it is done", "waagent": "/usr/sbin/waagent", "deprovision": "-deprovision", '
           '"cloud_init": true, "runner": "systemd-run"}')
NO_WAAGENT = ('VMIMAGE_GENERALIZE {"outcome": "failed", "message": "waagent (the Azure Linux agent) was not found on '
              'PATH", "waagent": "", "deprovision": "-deprovision", "cloud_init": false, "runner": ""}')


def gen(**args):
    return {'vmimage.azure.vm_generalize': dict(dict(resource_group='rg', name='vm1', timeout=30), **args)}


def linux_guest(arm, stdout=STARTED, stderr='', status=0, shutdown=True, delay=0.5):
    """The Linux guest's answer; with ``shutdown`` it powers itself off ``delay`` seconds later."""
    def handler(vm, command_id, script, parameters):
        if shutdown:
            timer = threading.Timer(delay, arm.set_power_state, (vm['id'], 'stopped'))
            timer.daemon = True
            timer.start()
        return stdout, stderr, status
    arm.run_command_handler = handler


def writes(arm):
    """The writes as (method, what): the last path segment, or the resource type and name."""
    out = []
    for r in arm.writes():
        parts = r.path.rstrip('/').split('/')
        kind = parts[-2] if r.method == 'PUT' else parts[-1]
        out.append((r.method, kind if r.method == 'POST' else '%s/%s' % (kind, parts[-1])))
    return out


def power(arm, vm):
    return arm._vm_state[vm['id'].lower()]['power']


def generalized(arm, vm):
    return arm._vm_state[vm['id'].lower()]['generalized']


def test_linux_order_of_calls_backups_and_four_step_idempotence(arm, arm_playbook):
    vm = arm.add_vm('rg', 'vm1', data_disks=(8, 16))
    linux_guest(arm)
    (r0,) = arm_playbook([check(gen())])[0]
    assert r0['changed'] and not r0.get('failed'), r0
    assert [s['step'] for s in r0['steps']] == [
        'backup', 'backup', 'backup', 'guest', 'guest_shutdown', 'deallocate', 'generalize', 'confirm']
    assert [(b['lun'], b['snapshot_id'], b['action']) for b in r0['backups']] == [
        (None, None, 'create'), (0, None, 'create'), (1, None, 'create')]
    assert r0['diff'] == {'before': {'os_state': 'specialized', 'power_state': 'running'},
                          'after': {'os_state': 'generalized', 'power_state': 'deallocated'}}
    assert methods(arm) == ['GET'] and arm.run_commands == [] and not generalized(arm, vm)

    arm.clear_requests()
    (r1,) = arm_playbook([dict(gen(), diff=True)])[0]
    assert r1['changed'] and not r1.get('failed'), r1
    assert writes(arm) == [('PUT', 'snapshots/vm1-pregen-os'), ('PUT', 'snapshots/vm1-pregen-lun0'),
                           ('PUT', 'snapshots/vm1-pregen-lun1'), ('POST', 'runCommand'), ('POST', 'deallocate'),
                           ('POST', 'generalize')]
    assert generalized(arm, vm) and power(arm, vm) == 'deallocated'
    assert r1['os_state'] == 'generalized' and r1['power_state'] == 'deallocated' and r1['guest'] == 'linux'
    disks = [vm['properties']['storageProfile']['osDisk']] + vm['properties']['storageProfile']['dataDisks']
    assert [(b['lun'], b['disk_id'].lower(), b['action']) for b in r1['backups']] == [
        (None, disks[0]['managedDisk']['id'].lower(), 'created'), (0, disks[1]['managedDisk']['id'].lower(), 'created'),
        (1, disks[2]['managedDisk']['id'].lower(), 'created')]
    for backup, lun in zip(r1['backups'], ('os', '0', '1')):
        stored = arm.get(backup['snapshot_id'])
        assert stored['tags'] == {'vmimage_backup_of': vm['id'], 'vmimage_backup_lun': lun}
        assert stored['properties']['creationData']['sourceResourceId'].lower() == backup['disk_id'].lower()
        assert stored['properties']['incremental'] is True
    (command,) = arm.run_commands
    assert command['command_id'] == 'RunShellScript'
    assert command['script'][:2] == ['VMIMAGE_DEPROVISION_USER=no', 'VMIMAGE_DELAY=30']
    assert any('-force "$deprovision"' in line for line in command['script'])
    assert r1['guest_result']['outcome'] == 'started' and STARTED in r1['guest_output']['stdout']
    assert [s['step'] for s in r1['steps']] == [s['step'] for s in r0['steps']]

    arm.clear_requests()
    (r2, r3) = arm_playbook([check(gen()), gen()])[0]
    assert [r2['changed'], r3['changed']] == [False, False], (r2, r3)
    assert r3['steps'] == [] and r3['os_state'] == 'generalized'
    assert [b['snapshot_id'].lower() for b in r3['backups']] == [b['snapshot_id'].lower() for b in r1['backups']]
    assert methods(arm) == ['GET'] and len(arm.run_commands) == 1


def test_deprovision_user_is_passed_to_the_script(arm, arm_playbook):
    arm.add_vm('rg', 'vm1')
    linux_guest(arm)
    (r0,) = arm_playbook([gen(deprovision_user=True, backup=False)])[0]
    assert r0['changed'] and not r0.get('failed'), r0
    assert arm.run_commands[0]['script'][0] == 'VMIMAGE_DEPROVISION_USER=yes'
    assert r0['backups'] == [] and not arm.calls('PUT', r'/snapshots/')


def test_a_failed_script_leaves_the_vm_running_and_a_rerun_reuses_the_backups(arm, arm_playbook):
    vm = arm.add_vm('rg', 'vm1', data_disks=(8,))
    linux_guest(arm, stdout='looking for waagent\n' + NO_WAAGENT, stderr='vmimage-generalize: waagent ... not found',
                status=1, shutdown=False)
    (r0,) = arm_playbook([gen()])[0]
    assert r0['failed'] and r0['step'] == 'guest', r0
    assert "step 'guest'" in r0['msg'] and 'waagent (the Azure Linux agent) was not found' in r0['msg']
    assert 'left running and not generalized' in r0['msg'] and 'backups are reused' in r0['msg']
    assert power(arm, vm) == 'running' and not generalized(arm, vm)
    assert [w for w in writes(arm) if w[0] == 'POST'] == [('POST', 'runCommand')]
    assert [b['action'] for b in r0['backups']] == ['created', 'created']
    assert r0['guest_result']['outcome'] == 'failed' and 'not found' in r0['guest_output']['stderr']
    first = [arm.get(b['snapshot_id'])['properties']['uniqueId'] for b in r0['backups']]

    arm.clear_requests()
    linux_guest(arm)
    (r1,) = arm_playbook([gen()])[0]
    assert r1['changed'] and not r1.get('failed'), r1
    assert [b['action'] for b in r1['backups']] == ['reused', 'reused']
    assert [b['snapshot_id'].lower() for b in r1['backups']] == [b['snapshot_id'].lower() for b in r0['backups']]
    assert [arm.get(b['snapshot_id'])['properties']['uniqueId'] for b in r1['backups']] == first
    assert writes(arm) == [('POST', 'runCommand'), ('POST', 'deallocate'), ('POST', 'generalize')]
    assert generalized(arm, vm)


def test_no_result_line_and_an_agent_error_fail_the_guest_step(arm, arm_playbook):
    vms = [arm.add_vm('rg', n) for n in ('quiet', 'agent')]
    linux_guest(arm, stdout='', stderr='/bin/sh: 1: waagent: not found', status=127, shutdown=False)
    arm.inject('lro_failed', path=r'/virtualMachines/agent/runCommand$', code='VMAgentStatusCommunicationError',
               message="VM 'agent' has not reported status for VM agent or extensions. Verify that the OS is up and "
                       'healthy, the VM has a running VM agent, and that it can establish outbound connections to '
                       'Azure storage.')
    results = arm_playbook([gen(name='quiet', backup=False), gen(name='agent', backup=False)])[0]
    quiet, agent = results
    assert quiet['failed'] and quiet['step'] == 'guest', quiet
    assert 'printed no result line' in quiet['msg'] and 'exit status=127' in quiet['msg']
    assert agent['failed'] and agent['step'] == 'guest', agent
    assert 'VMAgentStatusCommunicationError' in agent['msg'] and 'left running and not generalized' in agent['msg']
    for vm in vms:
        assert power(arm, vm) == 'running' and not generalized(arm, vm)
    assert not [w for w in writes(arm) if w[1] in ('powerOff', 'deallocate', 'generalize')]


def test_each_step_that_does_not_finish_fails_naming_it(arm, arm_playbook):
    names = ('snap', 'cmd', 'noshutdown', 'off', 'dealloc', 'confirm')
    vms = dict((n, arm.add_vm('rg', n)) for n in names)
    arm.inject('lro_stuck', method='PUT', path=r'/snapshots/snap-pregen-os$')
    arm.inject('lro_stuck', path=r'/virtualMachines/cmd/runCommand$')
    arm.inject('lro_stuck', path=r'/virtualMachines/off/powerOff$')
    arm.inject('lro_stuck', path=r'/virtualMachines/dealloc/deallocate$')

    def handler(vm, command_id, script, parameters):
        if vm['name'] != 'noshutdown':
            arm.set_power_state(vm['id'], 'stopped')
        return STARTED, ''
    arm.run_command_handler = handler
    tasks = [gen(name='snap'), gen(name='cmd', backup=False), gen(name='noshutdown', backup=False),
             gen(name='off', backup=False, guest='none'), gen(name='dealloc', backup=False),
             gen(name='confirm', backup=False)]
    for task in tasks:
        task['vmimage.azure.vm_generalize']['timeout'] = 3
    arm.hold_generalize = True
    results = dict(zip(names, arm_playbook(tasks)[0]))
    expected = {'snap': 'backup', 'cmd': 'guest', 'noshutdown': 'guest_shutdown', 'off': 'power_off',
                'dealloc': 'deallocate', 'confirm': 'confirm'}
    for name, step in expected.items():
        r = results[name]
        assert r['failed'] and r['step'] == step, (name, r)
        assert "step '%s'" % step in r['msg'] and ('3 seconds' in r['msg']), (name, r['msg'])
        assert not generalized(arm, vms[name]) or name == 'confirm'
    assert 'vmimage-generalize.log' in results['noshutdown']['msg']
    assert 'guest=none' in results['dealloc']['msg'] and 'do not start the VM' in results['dealloc']['msg']
    for name in ('snap', 'cmd', 'noshutdown'):
        assert power(arm, vms[name]) in ('running', 'stopped')
        assert not arm.calls('POST', r'/virtualMachines/%s/(powerOff|deallocate|generalize)$' % name), name
    arm.release_generalize()
    assert generalized(arm, vms['confirm'])


def test_guest_none_skips_run_command_and_a_stopped_vm_needs_it(arm, arm_playbook):
    running = arm.add_vm('rg', 'running')
    stopped = arm.add_vm('rg', 'stopped', power_state='deallocated')
    tasks = [gen(name='running', guest='none', backup=False), gen(name='stopped', backup=False),
             gen(name='stopped', guest='none', backup=False)]
    r0, r1, r2 = arm_playbook(tasks)[0]
    assert r0['changed'] and r0['guest'] == 'none', r0
    assert [s['step'] for s in r0['steps']] == ['power_off', 'deallocate', 'generalize', 'confirm']
    assert r1['failed'] and 'guest=none' in r1['msg'] and 'deallocated' in r1['msg'], r1
    assert r2['changed'] and [s['step'] for s in r2['steps']] == ['generalize', 'confirm'], r2
    assert arm.run_commands == []
    assert writes(arm) == [('POST', 'powerOff'), ('POST', 'deallocate'), ('POST', 'generalize'), ('POST', 'generalize')]
    assert generalized(arm, running) and generalized(arm, stopped)


def test_bad_input_fails_before_any_write(arm, arm_playbook):
    vm = arm.add_vm('rg', 'vm1')
    arm.add_vm('rg', 'win', os_type='Windows')
    arm.add_disk('rg', 'other')
    arm.add_snapshot('rg', 'taken-os', source='other')
    tasks = [gen(name='nope'), gen(guest='windows'), gen(name='win', deprovision_user=True),
             gen(backup_prefix='-bad'), gen(backup_prefix='taken-'), gen(timeout=0),
             gen(resource_group='missing')]
    results = arm_playbook(tasks)[0]
    assert all(r.get('failed') for r in results), results
    nope, wrong_guest, user_on_windows, bad_prefix, taken, zero, missing_rg = (r['msg'] for r in results)
    assert "VM 'nope' was not found" in nope
    assert 'guest=windows' in wrong_guest and 'Linux' in wrong_guest
    assert 'deprovision_user' in user_on_windows
    assert "'-bados'" in bad_prefix and 'backup_prefix' in bad_prefix
    assert "'taken-os'" in taken and 'backup_prefix' in taken and 'not the backup' in taken
    assert 'timeout' in zero
    assert "'missing'" in missing_rg
    assert arm.writes() == [] and arm.run_commands == [] and not generalized(arm, vm)


# --- Windows ---------------------------------------------------------------------------------------------

def _render(result):
    """What the Windows script prints for ``result``: some progress, then its result line."""
    return 'Sysprep progress...\n' + scripts.format_result_line(result) + '\n'


def _result(image_state, failed, outcome, message, log_tail=''):
    return {'image_state': image_state, 'outcome': outcome, 'changed': True, 'failed': failed, 'message': message,
            'log_tail': log_tail, 'prechecks': [], 'steps': []}


def test_windows_sysprep_then_power_off_deallocate_generalize(arm, arm_playbook):
    from ansible_collections.vmimage.azure.plugins.module_utils._guest import sysprep
    vm = arm.add_vm('rg', 'win', os_type='Windows', data_disks=(8,))
    good = _render(_result(sysprep.GOOD_STATE, False, 'generalized', 'Sysprep generalized Windows.'))
    arm.run_command_handler = lambda vm, command_id, script, parameters: (good, '')
    (r0,) = arm_playbook([gen(name='win')])[0]
    assert r0['changed'] and not r0.get('failed'), r0
    assert writes(arm) == [('PUT', 'snapshots/win-pregen-os'), ('PUT', 'snapshots/win-pregen-lun0'),
                           ('POST', 'runCommand'), ('POST', 'powerOff'), ('POST', 'deallocate'), ('POST', 'generalize')]
    assert generalized(arm, vm) and power(arm, vm) == 'deallocated'
    assert r0['guest'] == 'windows' and r0['guest_result']['image_state'] == sysprep.GOOD_STATE
    (command,) = arm.run_commands
    assert command['command_id'] == 'RunPowerShellScript'
    # timeout 30 (at most 120): the script's own wait is half of it.
    assert command['script'] == list(scripts.windows_run_command_script(15, shutdown=False))
    assert powershell.problems(powershell.new_parser(), '\n'.join(command['script'])) == []


def test_every_other_sysprep_end_state_fails_and_leaves_the_vm_running(arm, arm_playbook):
    from ansible_collections.vmimage.azure.plugins.module_utils._guest import sysprep
    ends = [s for s in sysprep.IMAGE_STATES if s != sysprep.GOOD_STATE] + ['IMAGE_STATE_MADE_UP']
    answers = {}
    for index, state in enumerate(ends):
        name = 'win%d' % index
        arm.add_vm('rg', name, os_type='Windows')
        answers[name] = _render(_result(state, True, 'sysprep_failed', sysprep.outcome(state)['message'],
                                        log_tail='2026-01-01 Error SYSPRP tail of setupact.log %d' % index))
    # A script that claims success from a state that is not the good one is not believed either.
    arm.add_vm('rg', 'liar', os_type='Windows')
    answers['liar'] = _render(_result('IMAGE_STATE_COMPLETE', False, 'generalized', 'all good'))
    arm.run_command_handler = lambda vm, command_id, script, parameters: (answers[vm['name']], '')
    names = sorted(answers)
    results = dict(zip(names, arm_playbook([gen(name=n, backup=False) for n in names])[0]))
    for index, state in enumerate(ends):
        r = results['win%d' % index]
        assert r['failed'] and r['step'] == 'guest', (state, r)
        assert state in r['msg'] and sysprep.GOOD_STATE in r['msg'], r['msg']
        assert 'tail of setupact.log %d' % index in r['msg'], r['msg']
        assert 'left running and not generalized' in r['msg']
    assert results['liar']['failed'] and 'IMAGE_STATE_COMPLETE' in results['liar']['msg']
    for name in names:
        vm = arm.get('/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/%s'
                     % (arm.subscription_id, name))
        assert power(arm, vm) == 'running' and not generalized(arm, vm), name
    assert [w[1] for w in writes(arm)] == ['runCommand'] * len(names)
