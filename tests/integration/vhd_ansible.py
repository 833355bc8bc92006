# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run collection modules through a real ``ansible-playbook`` and hand back their results.

Several steps run in one playbook (one Ansible start-up); every step has ``ignore_errors`` so a
failing step's result (``failed``, ``msg``, ``code``) comes back like any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tool(name):
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError('%s not found next to %s or on PATH' % (name, sys.executable))
    return found


def step(module, check=False, diff=False, environment=None, **args):
    return {'module': module, 'args': args, 'check': check, 'diff': diff, 'environment': environment}


def run_steps(workdir, steps):
    """Run ``steps`` (from ``step()``) in one playbook on localhost; return their results in order."""
    out = Path(workdir) / 'results.json'
    tasks = []
    for i, s in enumerate(steps):
        task = {'name': 'Step %d' % i, s['module']: s['args'], 'register': 'r%d' % i, 'ignore_errors': True,
                'check_mode': s['check'], 'diff': s['diff']}
        if s['environment']:
            task['environment'] = s['environment']
        tasks.append(task)
    names = ', '.join('r%d' % i for i in range(len(steps)))
    tasks.append({'name': 'Save results', 'ansible.builtin.copy': {'content': '{{ [%s] | to_json }}' % names, 'dest': str(out), 'mode': '0600'}})
    playbook = Path(workdir) / 'playbook.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]))
    env = dict(os.environ)
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / '.build' / 'collections'))
    env.update(ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False', ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([_tool('ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                           '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)],
                          capture_output=True, text=True, env=env, cwd=str(workdir), check=False)
    if proc.returncode != 0 or not out.exists():
        raise AssertionError('ansible-playbook failed (%d):\n%s\n%s' % (proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
    results = json.loads(out.read_text())
    out.unlink()
    return results


def fingerprint(path):
    """Size, mtime and content hash: proof that a file was not touched."""
    st = os.stat(path)
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b''):
            digest.update(chunk)
    return st.st_size, st.st_mtime_ns, digest.hexdigest()


def qemu_info(path, fmt=None):
    cmd = ['qemu-img', 'info', '--output', 'json'] + (['-f', fmt] if fmt else []) + [str(path)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def qemu_compare(a, fmt_a, b, fmt_b):
    return subprocess.run(['qemu-img', 'compare', '-f', fmt_a, '-F', fmt_b, str(a), str(b)], capture_output=True, text=True, check=False)
