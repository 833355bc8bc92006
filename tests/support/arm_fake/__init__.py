# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stateful fake of Azure Resource Manager (Microsoft.Compute) for the test suite.

The real azure-mgmt-compute ``ComputeManagementClient`` and azure-identity
``ClientSecretCredential`` talk to it unpatched, over TLS on 127.0.0.1, the way a user reaches a
private cloud (Azure Stack Hub style): ``cloud_environment`` is ``arm.url``, whose
``/metadata/endpoints?api-version=2015-01-01`` names the token endpoint (a FakeEntra) and the
audience::

    with ArmFake(make_tls(tmp), strict=True) as arm:
        arm.url, arm.metadata_url, arm.audience
        arm.subscription_id, arm.tenant, arm.client_id, arm.client_secret   # a service principal
        arm.entra                                   # the FakeEntra (its .requests, .inject)
        arm.env()                                   # what AWX's Azure credential injects (+ CA trust)
        arm.retry_after = 0; arm.lro_polls = 1; arm.page_size = 2           # knobs (these defaults)

        arm.add_resource_group('rg')                # seed helpers return the stored ARM JSON
        vm = arm.add_vm('rg', 'vm1', data_disks=(8, 16), power_state='deallocated', generalized=True)
        arm.get(vm['id'])                           # stored JSON (case-insensitive id) or None
        arm.requests, arm.calls('PUT', r'/snapshots/'), arm.writes(), arm.clear_requests()
        arm.inject('throttle', method='GET', path=r'/disks/d1$', times=3, retry_after=1)
        arm.faults_served
        arm.run_command_handler = lambda vm, command_id, script, parameters: ('stdout', 'stderr')
        arm.run_commands                            # every run command received
        arm.reset()                                 # empty again (knobs back to defaults)

Modules: server.py (HTTP, auth, request log, faults, long-running operations, routing),
compute.py (resources and their behaviour), schemas.py (strict-mode request body schemas),
fixtures.py (pytest fixture ``arm``).
"""

from __future__ import annotations

from .server import FAULT_KINDS, ArmFake, Operation, Request  # noqa: F401

__all__ = ['ArmFake', 'FAULT_KINDS', 'Operation', 'Request']
