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
        arm.replication_steps = 1; arm.upload_backend = None

        arm.add_resource_group('rg')                # seed helpers return the stored ARM JSON
        vm = arm.add_vm('rg', 'vm1', data_disks=(8, 16), power_state='deallocated', generalized=True)
        arm.get(vm['id'])                           # stored JSON (case-insensitive id) or None
        arm.requests, arm.calls('PUT', r'/snapshots/'), arm.writes(), arm.clear_requests()
        arm.inject('throttle', method='GET', path=r'/disks/d1$', times=3, retry_after=1)
        arm.faults_served
        arm.run_command_handler = lambda vm, command_id, script, parameters: ('stdout', 'stderr')
        arm.run_commands                            # every run command received
        arm.reset()                                 # empty again (knobs back to defaults)

Azure Compute Gallery (galleries.py)::

        arm.add_gallery('rg', 'gal', soft_delete=True)
        arm.add_gallery_image('rg', 'gal', 'def', hyper_v_generation='V2')
        arm.add_gallery_image_version('rg', 'gal', 'def', '1.0.0', target_regions=['westeurope', 'northeurope'],
                                      replicating=True)
        arm.replication_steps = 4                   # steps per target region (progress 25, 50, 75, 100)
        arm.hold_replication(version_id=None)       # freeze replication (polls InProgress, GETs no progress)
        arm.release_replication(); arm.step_replication(version_id, steps=1)
        arm.replication_status(version_id); arm.soft_deleted(version_id)

Managed-disk upload (uploads.py)::

        ArmFake(tls, upload_backend=AzuriteUploads(azurite))    # or arm.upload_backend = ...
        arm.add_upload_disk('rg', 'up', upload_size_bytes=32 * MiB + 512, state='ReadyToUpload')
        arm.upload_sas(disk_id)                     # the write SAS of an ActiveUpload disk

Modules: server.py (HTTP, auth, request log, faults, long-running operations, routing),
compute.py (disks, snapshots, images, VMs, marketplace, community galleries), galleries.py
(galleries, definitions, versions, replication, soft delete), uploads.py (upload disks, grant and
revoke access, ``AzuriteUploads``), schemas.py (strict-mode request body schemas), fixtures.py
(pytest fixtures ``arm``, ``arm_compute``, ``arm_uploads``).
"""

from __future__ import annotations

from .server import FAULT_KINDS, ArmFake, Operation, Request  # noqa: F401
from .uploads import AzuriteUploads  # noqa: F401

__all__ = ['ArmFake', 'AzuriteUploads', 'FAULT_KINDS', 'Operation', 'Request']
