# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults Resource Manager really produces, through a module run by ansible-playbook: throttling,
server errors on calls and on long-running-operation polls, connection resets, operations that
end Failed and operations that never end. Retries and polling are azure-core's; these tests show
the module survives what is transient and names the operation when it is not."""
from __future__ import annotations

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests


def snap(**args):
    return {'vmimage.azure.snapshot': dict(dict(resource_group='rg', name='backup', source='d1'), **args)}


def test_a_429_storm_is_waited_out_with_retry_after(arm, arm_playbook):
    arm.add_disk('rg', 'd1')
    arm.inject('throttle', method='GET', path=r'/disks/d1$', times=3, retry_after=1)
    (r0,) = arm_playbook([snap()])[0]
    assert r0['changed'] and not r0.get('failed'), r0
    assert arm.faults_served == 3
    gets = [r for r in arm_requests(arm) if r.method == 'GET' and r.path.lower().endswith('/disks/d1')]
    assert [r.status for r in gets] == [429, 429, 429, 200]
    # Each retry came no sooner than the Retry-After the fake asked for.
    gaps = [b.timestamp - a.timestamp for a, b in zip(gets, gets[1:])]
    assert min(gaps) >= 0.9, gaps


def test_server_errors_on_a_poll_and_a_reset_are_retried(arm, arm_playbook):
    arm.add_disk('rg', 'd1')
    arm.inject('server_error', poll=True, times=2, status=503)
    arm.inject('reset', method='GET', path=r'/snapshots/backup$', times=1)
    (r0,) = arm_playbook([snap()])[0]
    assert r0['changed'] and not r0.get('failed'), r0
    assert arm.faults_served == 3
    assert arm.get(r0['id'])['properties']['provisioningState'] == 'Succeeded'


def test_an_operation_that_fails_reports_arm_code_and_the_operation(arm, arm_playbook):
    arm.add_disk('rg', 'd1')
    arm.inject('lro_failed', code='InternalDiskManagementError', message='An internal disk error occurred.')
    (r0,) = arm_playbook([snap()])[0]
    assert r0['failed'], r0
    assert "create snapshot 'backup'" in r0['msg'] and 'InternalDiskManagementError' in r0['msg'], r0['msg']
    assert 'An internal disk error occurred' in r0['msg']


def test_an_operation_that_never_ends_times_out_naming_it(arm, arm_playbook):
    arm.add_disk('rg', 'd1')
    arm.inject('lro_stuck')
    (r0,) = arm_playbook([snap(timeout=3)])[0]
    assert r0['failed'], r0
    assert "create snapshot 'backup'" in r0['msg'] and 'within 3 seconds' in r0['msg'], r0['msg']
    assert 'InProgress' in r0['msg']
