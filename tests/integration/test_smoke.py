# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Smoke tests: one storage module and one Resource Manager module through a real ansible-playbook.

`make compat` runs this file (and the unit tests) once per supported ansible-core release, each
in its own virtualenv, with VMIMAGE_EXPECT_CORE set to the release it installed there: the first
test proves that the ansible-playbook the suite runs is that release, not the main venv's.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

from ansible_collections.vmimage.azure.tests.integration.armtools import check
from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION

MIB = 1024 * 1024


def test_ansible_playbook_is_the_expected_ansible_core():
    proc = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '--version'],
                          capture_output=True, text=True, check=True)
    found = re.search(r'\[core ([0-9]+\.[0-9]+)\.', proc.stdout)
    assert found, proc.stdout
    expected = os.environ.get('VMIMAGE_EXPECT_CORE')
    if expected:
        assert found.group(1) == expected, proc.stdout
    import ansible  # the controller and the suite use the same ansible-core
    assert ansible.__version__.startswith(found.group(1) + '.'), (ansible.__version__, proc.stdout)


def test_vhd_upload_four_steps(azurite_http, fixed_vhd, upload_playbook):
    rng = random.Random(7)
    src = fixed_vhd('smoke.vhd', 32 * MIB, {0: rng.randbytes(5000), 30 * MIB: rng.randbytes(MIB)})
    task = {'vmimage.azure.vhd_upload': dict(
        path=str(src), account_url=azurite_http.account_url, container='smoke', blob='smoke.vhd',
        account_key=azurite_http.account_key, api_version=API_VERSION, create_container=True)}
    results = upload_playbook([check(task), task, check(task), task])[0]
    assert [r['changed'] for r in results] == [True, True, False, False], results
    assert results[1]['action'] == 'create' and results[3]['action'] == 'none'
    blob = azurite_http.service_client().get_blob_client('smoke', 'smoke.vhd')
    assert blob.download_blob().readall() == src.read_bytes()


def test_snapshot_four_steps(arm, arm_playbook):
    disk = arm.add_disk('rg', 'smoke-os', size_gb=30, os_type='Linux')
    task = {'vmimage.azure.snapshot': dict(resource_group='rg', name='smoke', source='smoke-os')}
    results = arm_playbook([check(task), task, check(task), task])[0]
    assert [r['changed'] for r in results] == [True, True, False, False], results
    stored = arm.get(results[1]['id'])
    assert stored['properties']['creationData']['sourceResourceId'].lower() == disk['id'].lower()
