# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""The one factory for Azure Resource Manager clients.

Retries are azure-core's RetryPolicy (the SDK's default pipeline: 408/429/500/502/503/504 and
connection errors, honouring Retry-After); long-running operations are azure-core's pollers,
which sleep for the server's Retry-After and use ``POLL_FALLBACK`` only when an answer has none.
"""

from __future__ import annotations

from ansible_collections.vmimage.azure.plugins.module_utils._azure.auth import AuthConfigError

USER_AGENT = 'vmimage.azure'
# Seconds between polls when Resource Manager sends no Retry-After (it normally does).
POLL_FALLBACK = 5
# Default bound on every wait for a long-running operation, in seconds.
DEFAULT_TIMEOUT = 1800
RETRY = dict(retry_total=6, retry_backoff_factor=0.8, retry_backoff_max=60)


def compute_factory():
    """ComputeManagementClient, imported on first use (it is the largest import of a module)."""
    from azure.mgmt.compute import ComputeManagementClient
    return ComputeManagementClient


def arm_client(factory, resolved, **kwargs):
    """``factory`` (an azure-mgmt-* client class) bound to the resolved cloud, credential and subscription."""
    if not resolved.subscription_id:
        raise AuthConfigError('subscription_id is required for Azure Resource Manager calls: set subscription_id '
                              '(or AZURE_SUBSCRIPTION_ID), or the subscription_id of the credentials file profile.')
    options = dict(RETRY, polling_interval=POLL_FALLBACK, user_agent=USER_AGENT)
    if not resolved.connection_verify:
        options['connection_verify'] = False
    options.update(kwargs)
    return factory(resolved.credential, resolved.subscription_id, base_url=resolved.cloud.resource_manager,
                   credential_scopes=[resolved.cloud.arm_scope], **options)
