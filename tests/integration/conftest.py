# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared integration fixtures.

vhd_upload (Azurite): ``azurite_http`` (one plain-HTTP Azurite per test module, random account key),
``fixed_vhd`` (factory writing sparse fixed VHDs), ``upload_playbook`` (runs vhd_upload tasks through
a real ansible-playbook and returns their results and the full output).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Collection code is imported inside the fixtures, not here: this file is loaded before
# pytest-ansible installs Ansible's collection finder, and importing a package of the collection
# now would leave it unknown to that finder (test modules could then not import its siblings).
ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


# --- vhd_upload: Azurite --------------------------------------------------------------------------

def _require_azurite():
    from ansible_collections.vmimage.azure.tests.support.azurite import find_azurite
    if find_azurite() is None:
        pytest.skip('Azurite is not installed: run "npm install --prefix tests/azurite" or set AZURITE_BIN')


@pytest.fixture(scope='module')
def azurite_http(tmp_path_factory):
    """A running plain-HTTP Azurite blob service on 127.0.0.1 (in memory), per test module."""
    _require_azurite()
    from ansible_collections.vmimage.azure.tests.support.azurite import Azurite
    with Azurite(tmp_path_factory.mktemp('azurite')) as azurite:
        yield azurite


# --- vhd_upload: source images --------------------------------------------------------------------

def write_fixed_vhd(path, size, chunks):
    """Write a sparse fixed VHD of ``size`` bytes of disk data (plus the footer) holding
    ``chunks`` ({offset: bytes}); everything else is a hole. Returns the path."""
    from ansible_collections.vmimage.azure.plugins.module_utils._vhd.footer import new_fixed_footer
    from ansible_collections.vmimage.azure.tests.support.images import write_sparse
    write_sparse(path, size + 512, sorted(chunks.items()) + [(size, new_fixed_footer(size).pack())])
    return Path(path)


@pytest.fixture
def fixed_vhd(tmp_path):
    """Factory: ``fixed_vhd(name, size, chunks)`` -> path of a new sparse fixed VHD in tmp_path."""
    def make(name, size, chunks):
        return write_fixed_vhd(tmp_path / name, size, chunks)
    return make


# --- vhd_upload: ansible-playbook runner ----------------------------------------------------------

def _tool(name):
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.skip('%s not found next to %s or on PATH' % (name, sys.executable))
    return found


def playbook_command(workdir, tasks, verbosity=0):
    """Write a playbook running ``tasks`` (each registered as r0, r1, ... with ignore_errors) and
    saving their results to results.json; return (argv, env, results path)."""
    workdir = Path(workdir)
    out = workdir / 'results.json'
    tasks = [dict(t, name=t.get('name', 'Step %d' % i), register='r%d' % i, ignore_errors=True)
             for i, t in enumerate(tasks)]
    names = ', '.join('r%d' % i for i in range(len(tasks)))
    tasks.append({'name': 'Save results', 'ansible.builtin.copy': {
        'content': '{{ [%s] | to_json }}' % names, 'dest': str(out), 'mode': '0600'}})
    playbook = workdir / 'playbook.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]))
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_NOCOLOR='1',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='False')
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / '.build' / 'collections'))
    argv = [_tool('ansible-playbook'), '-i', 'localhost,', '-c', 'local',
            '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)]
    if verbosity:
        argv.append('-' + 'v' * verbosity)
    return argv, env, out


def run_playbook(argv, env, out, cwd):
    """Run a playbook made by playbook_command; return (results, output)."""
    if out.exists():
        out.unlink()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(cwd), check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or not out.exists():
        raise AssertionError('ansible-playbook failed (%d):\n%s' % (proc.returncode, output[-6000:]))
    return json.loads(out.read_text()), output


@pytest.fixture
def upload_playbook(tmp_path):
    """``run(tasks, verbosity=0) -> (results, output)``: run tasks in one ansible-playbook."""
    def run(tasks, verbosity=0):
        argv, env, out = playbook_command(tmp_path, tasks, verbosity)
        return run_playbook(argv, env, out, tmp_path)
    return run


@pytest.fixture
def upload_playbook_command():
    """``playbook_command(workdir, tasks, verbosity=0) -> (argv, env, results path)``, for tests
    that start (and kill) ansible-playbook themselves."""
    return playbook_command


# --- Azure Resource Manager modules: the ARM fake --------------------------------------------------

@pytest.fixture(scope='module')
def arm_fake_server(tmp_path_factory):
    """One ARM fake (strict: request bodies are validated against the REST spec's schemas) per test module."""
    from ansible_collections.vmimage.azure.tests.support.arm_fake import ArmFake
    from ansible_collections.vmimage.azure.tests.support.tls import make_tls
    with ArmFake(make_tls(tmp_path_factory.mktemp('arm-tls')), strict=True) as fake:
        yield fake


@pytest.fixture
def arm(arm_fake_server):
    """The ARM fake, emptied, with one resource group ``rg`` in westeurope.

    Long-running operations answer Retry-After: 1 (an integer, as ARM sends it) so that a test
    proves the poller honours it without waiting long."""
    arm_fake_server.reset()
    arm_fake_server.retry_after = 1
    arm_fake_server.lro_polls = 1
    arm_fake_server.add_resource_group('rg', location='westeurope')
    return arm_fake_server


@pytest.fixture
def arm_playbook(tmp_path, arm_fake_server):
    """``run(tasks, verbosity=0, env=None, auth=True) -> (results, output)``: run tasks in one
    ansible-playbook with the environment AWX's Azure credential would inject (``arm.env()``),
    and the CA of the fake trusted. ``env`` adds or (with None values) removes variables."""
    def run(tasks, verbosity=0, env=None, auth=True):
        argv, base_env, out = playbook_command(tmp_path, tasks, verbosity)
        # Nothing of the developer's or CI's own Azure setup may leak in: no AZURE_* variables, and a
        # HOME of its own (~/.azure/credentials and the Azure CLI's profile are credential sources).
        for name in [n for n in base_env if n.startswith(('AZURE_', 'ANSIBLE_AZURE_', 'IDENTITY_', 'MSI_'))]:
            del base_env[name]
        home = tmp_path / 'home'
        home.mkdir(exist_ok=True)
        base_env['HOME'] = str(home)
        base_env.update(arm_fake_server.env() if auth else dict(
            (k, v) for k, v in arm_fake_server.env().items() if k in ('REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE')))
        for name, value in (env or {}).items():
            if value is None:
                base_env.pop(name, None)
            else:
                base_env[name] = value
        return run_playbook(argv, base_env, out, tmp_path)
    return run
