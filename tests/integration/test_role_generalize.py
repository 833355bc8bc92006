# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The generalize role through ansible-playbook.

generalize_target=azure runs against the ARM fake (strict mode), whose run_command_handler answers as the Linux
guest's script does. generalize_target=guest needs a real guest (the lead's build_local boots one with qemu):
linux_deprovision run online here would deprovision this machine. So the guest path runs here with a copy of the
collection whose linux_deprovision and win_sysprep are stubs that only record their arguments; what is tested is
the role's own logic - which module it picks, what it passes, and the wait for the power-off (a controller-side
command that watches a process the test starts, or a port the test closes)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.tests.integration import roletools
from ansible_collections.vmimage.azure.tests.integration.roletools import linux_guest, writes

STUB = r'''#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A test stub: records its arguments (and check mode) in $VMIMAGE_STUB_LOG, changes nothing."""
from __future__ import annotations

DOCUMENTATION = """
module: %s
short_description: VMIMAGE TEST STUB
description: A test stub.
author: vmimage.azure maintainers (@vmimage)
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=%s, supports_check_mode=True)
    with open(os.environ['VMIMAGE_STUB_LOG'], 'a') as log:
        log.write(json.dumps({'module': %r, 'params': module.params, 'check_mode': module.check_mode}) + '\n')
    module.exit_json(changed=True, stub=True)


if __name__ == '__main__':
    main()
'''
DEPROVISION_SPEC = dict(root=dict(type='path', default='/'), user=dict(type='str'), shutdown=dict(type='bool'),
                        shutdown_delay=dict(type='int'), ssh_host_keys=dict(type='str'),
                        root_password=dict(type='str'), skip=dict(type='list', elements='str'))
SYSPREP_SPEC = dict(timeout=dict(type='int'), shutdown=dict(type='bool'))


# --- generalize_target: azure -----------------------------------------------------------------------

def test_azure_target_generalizes_the_vm_and_records_the_result(arm, tmp_path):
    vm = arm.add_vm('rg', 'vm1')
    linux_guest(arm)
    play = roletools.role_playbook(tmp_path, 'generalize', dict(
        generalize_target='azure', generalize_resource_group='rg', generalize_vm_name='vm1',
        generalize_backup_prefix='keep-', generalize_deprovision_user=True, generalize_timeout=30))
    run = roletools.run(tmp_path, play, arm=arm)
    assert run.rc == 0, run
    assert writes(arm) == [('PUT', 'snapshots/keep-os'), ('POST', 'runCommand'), ('POST', 'deallocate'),
                           ('POST', 'generalize')]
    assert arm.run_commands[0]['script'][0] == 'VMIMAGE_DEPROVISION_USER=yes'
    result = run.fact('generalize_result')
    assert result['target'] == 'azure' and result['method'] == 'vm_generalize' and result['changed']
    assert result['powered_off'] and result['result']['os_state'] == 'generalized'
    assert result['result']['vm_id'].lower() == vm['id'].lower()

    arm.clear_requests()
    again = roletools.run(tmp_path, play, arm=arm)
    assert again.rc == 0 and again.stats['changed'] == 0, again
    assert arm.writes() == [] and not again.fact('generalize_result')['changed']


def test_azure_target_check_mode_sends_only_gets(arm, tmp_path):
    vm = arm.add_vm('rg', 'vm1')
    play = roletools.role_playbook(tmp_path, 'generalize', dict(
        generalize_target='azure', generalize_resource_group='rg', generalize_vm_name='vm1'))
    run = roletools.run(tmp_path, play, arm=arm, check=True)
    assert run.rc == 0, run
    assert arm.writes() == [] and arm.run_commands == []
    steps = [s['step'] for s in run.fact('generalize_result')['result']['steps']]
    assert steps[0] == 'backup' and 'generalize' in steps
    assert not arm._vm_state[vm['id'].lower()]['generalized']


def test_argument_validation(arm, tmp_path):
    cases = [({}, 'generalize_target'),
             ({'generalize_target': 'cloud'}, 'generalize_target'),
             ({'generalize_target': 'azure', 'generalize_vm_name': 'vm1'}, 'generalize_resource_group'),
             ({'generalize_target': 'azure', 'generalize_resource_group': 'rg', 'generalize_timeout': 'soon'},
              'generalize_timeout')]
    for variables, word in cases:
        run = roletools.run(tmp_path, roletools.role_playbook(tmp_path, 'generalize', variables), arm=arm)
        assert run.rc != 0, (variables, run)
        assert word in run.failed[0][1]['msg'], (variables, run.failed)
    assert [r for r in arm.requests if '/subscriptions/' in r.path.lower()] == []


# --- generalize_target: guest (stubbed guest modules) ------------------------------------------------

@pytest.fixture
def stubbed(tmp_path):
    """A copy of the collection (roles and meta linked) whose guest modules are stubs; returns (env, log path)."""
    top = tmp_path / 'stubcoll' / 'ansible_collections' / 'vmimage' / 'azure'
    (top / 'plugins' / 'modules').mkdir(parents=True)
    for name in ('roles', 'meta', 'galaxy.yml'):
        os.symlink(str(roletools.ROOT / name), str(top / name))
    for module, spec in (('linux_deprovision', DEPROVISION_SPEC), ('win_sysprep', SYSPREP_SPEC)):
        (top / 'plugins' / 'modules' / ('%s.py' % module)).write_text(STUB % (module, repr(spec), module))
    log = tmp_path / 'stub.log'
    env = roletools.base_env(tmp_path, env={'ANSIBLE_COLLECTIONS_PATH': str(tmp_path / 'stubcoll')})
    for module in ('linux_deprovision', 'win_sysprep'):
        # Safety: never let the real linux_deprovision run on this machine.
        doc = subprocess.run([str(Path(sys.executable).parent / 'ansible-doc'), '-t', 'module', '--json',
                              'vmimage.azure.' + module], capture_output=True, text=True, env=env, check=True)
        found = json.loads(doc.stdout)['vmimage.azure.' + module]['doc']
        assert found['short_description'] == 'VMIMAGE TEST STUB', found
        assert found['filename'].startswith(str(tmp_path)), found['filename']
    return {'ANSIBLE_COLLECTIONS_PATH': str(tmp_path / 'stubcoll'), 'VMIMAGE_STUB_LOG': str(log)}, log


def calls(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def guest_play(tmp_path, variables, host_vars=''):
    inventory = tmp_path / 'inventory'
    # ansible_become=false: the stubs need no root (the role asks for become on linux_deprovision).
    inventory.write_text('guest ansible_connection=local ansible_become=false ansible_python_interpreter=%s %s\n'
                         % (sys.executable, host_vars))
    play = roletools.role_playbook(tmp_path, 'generalize', dict(variables, generalize_target='guest'),
                                   hosts='guest', connection=None)
    return play, str(inventory)


def run_guest(tmp_path, env, variables, host_vars='', check=False):
    play, inventory = guest_play(tmp_path, variables, host_vars)
    started = time.monotonic()
    run = roletools.run(tmp_path, play, env=env, inventory=inventory, check=check)
    run.seconds = time.monotonic() - started
    # roletools keeps localhost's results; the guest's are wanted here
    run.guest = [(t['task']['name'], t['hosts']['guest']) for p in (run.data or {}).get('plays', [])
                 for t in p.get('tasks', []) if 'guest' in t.get('hosts', {})]
    return run


def guest_fact(run, name):
    values = [r['ansible_facts'][name] for n, r in run.guest if name in (r.get('ansible_facts') or {})]
    assert values, run.guest
    return values[-1]


def test_linux_guest_deprovisions_with_shutdown_then_waits_for_a_controller_side_check(tmp_path, stubbed):
    env, log = stubbed
    vm = subprocess.Popen([shutil.which('sleep'), '4'])
    reaper = threading.Thread(target=vm.wait, daemon=True)
    reaper.start()
    run = run_guest(tmp_path, env, dict(
        generalize_deprovision_user=True, generalize_user='builder', generalize_poweroff_delay=1,
        generalize_poweroff_timeout=60, generalize_poweroff_check=['sh', '-c', '! kill -0 %d 2>/dev/null' % vm.pid]))
    assert run.rc == 0, (run, run.guest)
    (call,) = calls(log)
    assert call['module'] == 'linux_deprovision' and not call['check_mode']
    assert call['params']['shutdown'] is True and call['params']['user'] == 'builder'
    assert call['params']['root'] == '/' and call['params']['shutdown_delay'] == 10
    assert vm.poll() is not None and run.seconds >= 3
    check = [r for n, r in run.guest if n.endswith('Wait for the VM to be off (controller-side check)')][0]
    assert check['attempts'] >= 2 and check['rc'] == 0
    result = guest_fact(run, 'generalize_result')
    assert result['method'] == 'linux_deprovision' and result['powered_off'] and result['target'] == 'guest'


def test_deprovision_user_without_a_user_to_remove_fails_before_anything_runs(tmp_path, stubbed):
    env, log = stubbed
    run = run_guest(tmp_path, env, dict(generalize_deprovision_user=True, generalize_poweroff_check='true'))
    assert run.rc != 0
    failed = [r for n, r in run.guest if r.get('failed')]
    assert failed and 'there is no user to remove: set generalize_user' in failed[-1]['msg'], run.guest
    assert calls(log) == []


def test_a_check_that_never_passes_fails_after_the_timeout(tmp_path, stubbed):
    env = stubbed[0]
    run = run_guest(tmp_path, env, dict(generalize_poweroff_delay=1, generalize_poweroff_timeout=2,
                                        generalize_poweroff_check='false'))
    assert run.rc != 0
    failed = [r for n, r in run.guest if r.get('failed')]
    assert failed and 'did not power off within 2 seconds' in failed[-1]['msg'], run.guest
    assert 'do not start it again' in failed[-1]['msg']


def test_without_a_check_the_role_waits_for_the_port_to_close(tmp_path, stubbed):
    env = stubbed[0]
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    port = server.getsockname()[1]
    threading.Timer(3, server.close).start()
    run = run_guest(tmp_path, env, dict(generalize_poweroff_delay=1, generalize_poweroff_timeout=30),
                    host_vars='ansible_host=127.0.0.1 ansible_port=%d' % port)
    assert run.rc == 0, (run, run.guest)
    assert run.seconds >= 2.5
    assert guest_fact(run, 'generalize_result')['powered_off']


def test_windows_guest_picks_win_sysprep_and_refuses_deprovision_user(tmp_path, stubbed):
    env, log = stubbed
    run = run_guest(tmp_path, env, dict(generalize_poweroff_wait=False, generalize_sysprep_timeout=900),
                    host_vars='ansible_os_family=Windows')
    assert run.rc == 0, (run, run.guest)
    (call,) = calls(log)
    assert call['module'] == 'win_sysprep' and call['params'] == {'timeout': 900, 'shutdown': True}
    result = guest_fact(run, 'generalize_result')
    assert result['method'] == 'win_sysprep' and not result['powered_off']

    log.unlink()
    refused = run_guest(tmp_path, env, dict(generalize_deprovision_user=True), host_vars='ansible_os_family=Windows')
    assert refused.rc != 0 and calls(log) == []


def test_guest_check_mode_runs_the_module_in_check_mode_and_does_not_wait(tmp_path, stubbed):
    env, log = stubbed
    run = run_guest(tmp_path, env, dict(generalize_poweroff_check='false', generalize_poweroff_timeout=600), check=True)
    assert run.rc == 0, (run, run.guest)
    (call,) = calls(log)
    assert call['module'] == 'linux_deprovision' and call['check_mode']
    assert run.seconds < 60 and not guest_fact(run, 'generalize_result')['powered_off']
