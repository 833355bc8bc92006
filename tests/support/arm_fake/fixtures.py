# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures for tests of the ARM fake itself (``from ...arm_fake.fixtures import arm, arm_compute``).

``arm``: the module's strict ArmFake (``arm_fake_server``, from tests/integration/conftest.py), reset
(no resources, requests, faults; knobs at their defaults) before each test. ``arm_compute``: a factory
``arm_compute(**client_kwargs) -> ComputeManagementClient`` talking to it (metadata, token and
CA trust as a real user's client would have). ``arm_uploads``: the fake's ``upload_backend`` set to an
``AzuriteUploads`` over the module's Azurite (``azurite_http``), so upload disks can be granted Write;
it works with whichever ``arm`` fixture the test module uses.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def arm(arm_fake_server):
    arm_fake_server.reset()
    return arm_fake_server


def compute_client(fake, **kwargs):
    """A ComputeManagementClient for ``fake``, configured from its metadata endpoint.

    The CA must already be trusted (REQUESTS_CA_BUNDLE / SSL_CERT_FILE, see ``fake.env()``)."""
    import requests
    from azure.identity import ClientSecretCredential
    from azure.mgmt.compute import ComputeManagementClient
    meta = requests.get(fake.metadata_url, timeout=10).json()
    auth = meta['authentication']
    credential = ClientSecretCredential(fake.tenant, fake.client_id, fake.client_secret,
                                        authority=auth['loginEndpoint'], disable_instance_discovery=True)
    kwargs.setdefault('polling_interval', 0)
    kwargs.setdefault('credential_scopes', [auth['audiences'][0].rstrip('/') + '/.default'])
    return ComputeManagementClient(credential, fake.subscription_id, base_url=fake.url, **kwargs)


@pytest.fixture
def arm_compute(arm, monkeypatch):
    for name, value in arm.env().items():
        if name in ('REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE'):
            monkeypatch.setenv(name, value)

    def make(**kwargs):
        return compute_client(arm, **kwargs)
    return make


@pytest.fixture
def arm_uploads(arm, azurite_http):
    """Upload disks of ``arm`` get page blobs (and SAS URLs) in the module's Azurite; returns the backend."""
    from .uploads import AzuriteUploads
    backend = AzuriteUploads(azurite_http)
    arm.upload_backend = backend
    return backend
