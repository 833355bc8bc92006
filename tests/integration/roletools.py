# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the collection's roles and playbooks/*.yml with ansible-playbook, against the ARM fake (and Azurite).

``run(workdir, playbook, extra_vars, arm=None, check=False, env=None)`` runs a playbook file with the
ansible.posix.json callback and returns a ``Run``: ``rc``, ``output`` (stderr and, when the JSON does not parse,
stdout), ``tasks`` (``[(task name, result of localhost)]`` in order), ``stats`` (localhost's counters), and
``fact(name)`` (the last value a set_fact gave ``name``). With ``arm`` the environment is the one AWX's Azure
credential would inject for the fake (``arm.env()``), with nothing of the caller's own Azure setup.
``role_playbook(workdir, role, role_vars)`` writes a playbook that runs one role of the collection on localhost;
``linux_guest(arm)`` makes the fake answer Run Command as the Linux guest does (then power off); ``writes(arm)``
lists the writes as (method, what).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / 'playbooks'
# What the Linux guest's script of vm_generalize prints when it has started the deprovision.
STARTED = ('VMIMAGE_GENERALIZE {"outcome": "started", "message": "waagent -force -deprovision starts in 30 seconds; '
           'the VM powers off when it is done", "waagent": "/usr/sbin/waagent", "deprovision": "-deprovision", '
           '"cloud_init": true, "runner": "systemd-run"}')


class Run(object):
    def __init__(self, rc, output, data):
        self.rc, self.output, self.data = rc, output, data or {}
        self.tasks = []
        for play in self.data.get('plays', []):
            for task in play.get('tasks', []):
                for host, result in task.get('hosts', {}).items():
                    if host == 'localhost':
                        self.tasks.append((task['task']['name'], result))
        self.stats = self.data.get('stats', {}).get('localhost', {})

    def results(self, name):
        """The results of the tasks whose name contains ``name``."""
        return [r for n, r in self.tasks if name in n]

    def result(self, name):
        found = self.results(name)
        assert found, 'no task named %r ran: %s' % (name, [n for n, r in self.tasks])
        return found[-1]

    def fact(self, name):
        values = [r['ansible_facts'][name] for n, r in self.tasks if name in (r.get('ansible_facts') or {})]
        assert values, 'no task set %r' % name
        return values[-1]

    @property
    def failed(self):
        return [(n, r) for n, r in self.tasks if r.get('failed') and not r.get('ignore_errors')]

    def changed(self):
        """Names of the tasks that reported a change."""
        return [n for n, r in self.tasks if r.get('changed')]

    def __repr__(self):
        return 'Run(rc=%d, failed=%s, output=%s)' % (self.rc, [(n, r.get('msg')) for n, r in self.failed],
                                                     self.output[-3000:])


def base_env(workdir, arm=None, env=None):
    out = dict(os.environ, ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_NOCOLOR='1',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='False', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_RETRY_FILES_ENABLED='False')
    out.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / '.build' / 'collections'))
    for name in [n for n in out if n.startswith(('AZURE_', 'ANSIBLE_AZURE_', 'IDENTITY_', 'MSI_'))]:
        del out[name]
    home = Path(workdir) / 'home'
    home.mkdir(exist_ok=True)
    out['HOME'] = str(home)
    if arm is not None:
        out.update(arm.env())
    for name, value in (env or {}).items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def run(workdir, playbook, extra_vars=None, arm=None, check=False, env=None, inventory='localhost,', args=()):
    workdir = Path(workdir)
    tool = Path(sys.executable).parent / 'ansible-playbook'
    varfile = workdir / 'extra_vars.json'
    varfile.write_text(json.dumps(dict(extra_vars or {}, ansible_python_interpreter=sys.executable)))
    argv = [str(tool), '-i', inventory, '-e', '@%s' % varfile, str(playbook)] + list(args)
    if check:
        argv.append('--check')
    proc = subprocess.run(argv, capture_output=True, text=True, env=base_env(workdir, arm, env), cwd=str(workdir),
                          check=False)
    try:
        data = json.loads(proc.stdout)
        output = proc.stderr
    except ValueError:
        data, output = None, proc.stdout + proc.stderr
    return Run(proc.returncode, output, data)


def role_playbook(workdir, role, role_vars, name='role.yml', hosts='localhost', connection='local', pre_tasks=()):
    """A playbook running role vmimage.azure.<role> with ``role_vars`` (as include_role vars)."""
    path = Path(workdir) / name
    tasks = list(pre_tasks) + [{'name': 'Run the role', 'ansible.builtin.include_role': {'name': 'vmimage.azure.' + role},
                                'vars': role_vars}]
    play = {'name': 'Role %s' % role, 'hosts': hosts, 'gather_facts': False, 'tasks': tasks}
    if connection:
        play['connection'] = connection
    path.write_text(json.dumps([play]))
    return path


def linux_guest(arm, delay=0.3):
    def handler(vm, command_id, script, parameters):
        timer = threading.Timer(delay, arm.set_power_state, (vm['id'], 'stopped'))
        timer.daemon = True
        timer.start()
        return STARTED, '', 0
    arm.run_command_handler = handler


def writes(arm):
    """The writes as (method, what): the resource type and name of a PUT, the action of a POST."""
    out = []
    for r in arm.writes():
        parts = r.path.rstrip('/').split('/')
        out.append((r.method, parts[-1] if r.method == 'POST' else '%s/%s' % (parts[-2], parts[-1])))
    return out
