# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.linux_deprovision online, on a real Debian 12 VM booted with qemu (TCG here), over SSH
as the very user it removes.

The play must finish (the removal is deferred to the shutdown), the VM must power off by itself
(``shutdown: true``), and the disk afterwards must hold no SSH host keys, an empty machine-id and no
trace of the user: not in passwd/shadow/group/gshadow, not in their ``-`` backups, no home, no sudoers
rule. The build host's hostname is the same before and after.
"""
from __future__ import annotations

import json
import os
import subprocess

from ansible_collections.vmimage.azure.tests.support import guests
from ansible_collections.vmimage.azure.tests.integration.conftest import _tool

USER = 'azureuser'


def play(tmp_path, inventory, tasks, name):
    """Run ``tasks`` on the guest with become; returns (rc, output, results of each task)."""
    out = tmp_path / ('%s.json' % name)
    tasks = [dict(t, register='r%d' % i) for i, t in enumerate(tasks)]
    tasks.append({'name': 'Save results', 'delegate_to': 'localhost', 'become': False, 'ansible.builtin.copy': {
        'content': '{{ [%s] | to_json }}' % ', '.join('r%d' % i for i in range(len(tasks))), 'dest': str(out), 'mode': '0600'}})
    book = tmp_path / ('%s.yml' % name)
    book.write_text(json.dumps([{'hosts': 'guest', 'gather_facts': False, 'become': True, 'tasks': tasks}]))
    env = {'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_HOST_KEY_CHECKING': 'False', 'ANSIBLE_PIPELINING': 'True'}
    proc = subprocess.run([_tool('ansible-playbook'), '-i', str(inventory), str(book)], capture_output=True, text=True,
                          env=dict(os.environ, **env), cwd=str(tmp_path), timeout=600, check=False)
    output = proc.stdout + proc.stderr
    return proc.returncode, output, (json.loads(out.read_text()) if out.exists() else None)


def step(result, name):
    return next(s for s in result['steps'] if s['name'] == name)


def test_online_deprovision_as_the_connected_user_then_shutdown(tmp_path):
    manifest = guests.debian12_disk()
    host_before = guests.host_identity()
    guest = guests.Guest(manifest, tmp_path / 'vm')
    try:
        guest.start(direct_kernel=True)
        guest.wait_ssh(timeout=300)
        keys_before = guest.host_keys()
        machine_id_before = guest.ssh('cat /etc/machine-id').stdout.strip()
        assert machine_id_before, 'the booted disk has a machine-id'
        inventory = guest.inventory()

        # Check mode first: it lists the work, defers nothing and changes nothing on the guest.
        rc, output, res = play(tmp_path, inventory, [{'vmimage.azure.linux_deprovision': {'user': USER, 'shutdown': True}, 'check_mode': True}],
                               'check')
        assert rc == 0, output[-4000:]
        checked = res[0]
        assert checked['changed'] is True and checked['online'] is True
        keys_step = step(checked, 'ssh_host_keys')
        assert keys_step['changed'] and any('ssh_host_' in p for p in keys_step['removed']), keys_step
        assert guest.ssh('cat /etc/machine-id').stdout.strip() == machine_id_before
        assert guest.ssh('getent passwd %s' % USER).returncode == 0
        assert guest.ssh('sudo systemctl list-timers --all --no-legend').stdout.count('vmimage') == 0

        # The real run, connected as azureuser (sudo): the play finishes, the removal is deferred.
        rc, output, res = play(tmp_path, inventory, [{'vmimage.azure.linux_deprovision': {'user': USER, 'shutdown': True, 'shutdown_delay': 15}}],
                               'apply')
        assert rc == 0, output[-4000:]
        done = res[0]
        assert done['changed'] is True
        user_step = step(done, 'user')
        assert user_step.get('deferred') is True, user_step
        assert done['deferred'] and USER in done['deferred'][0]
        assert 'the user this play is connected as' in done['deferred'][0]
        assert any('poweroff' in c for c in step(done, 'shutdown').get('commands', [])), 'shutdown: true schedules the power-off'

        # The VM powers off by itself, and at that shutdown the deferred unit removes the user.
        guest.wait_exit(timeout=240)
    finally:
        guest.stop()

    assert guests.host_identity() == host_before, 'the build host was renamed'
    with guests.Ext4Reader(guest.disk) as disk:
        assert [n for n in disk.listdir('/etc/ssh') if n.startswith('ssh_host_')] == []
        assert disk.read('/etc/machine-id') == ''
        assert disk.exists('/var/lib/dbus/machine-id') is False or disk.read('/var/lib/dbus/machine-id') in ('', None)
        for path in ('/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow', '/etc/passwd-', '/etc/shadow-', '/etc/group-', '/etc/gshadow-'):
            text = disk.read(path)
            if text is None:
                continue
            names = [line.split(':', 1)[0] for line in text.splitlines()]
            members = [m for line in text.splitlines() for m in line.split(':')[-1].split(',')] if 'group' in path else []
            assert USER not in names and USER not in members, '%s still names %s' % (path, USER)
        assert 'root' in disk.read('/etc/passwd')
        assert disk.exists('/home/%s' % USER) is False
        sudoers = disk.read('/etc/sudoers.d/waagent')
        assert sudoers is None or USER not in sudoers
        assert disk.read('/root/.bash_history') in (None, '')
        assert disk.listdir('/var/lib/waagent') in (None, [])
        hostname = disk.read('/etc/hostname')
        assert hostname.strip() in ('localhost', 'localhost.localdomain'), hostname
        # What runs at the shutdown lives under /run: nothing of it reached the disk.
        assert not disk.exists('/etc/systemd/system/vmimage-remove-user-%s.service' % USER)
    assert keys_before, 'ssh-keyscan saw the keys the guest had before'
