# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Waiting for Azure long-running operations.

azure-core's LROPoller does the polling (it follows Azure-AsyncOperation / Location and sleeps
for the server's Retry-After); this module only bounds the wait and names the operation when
it fails or times out.
"""

from __future__ import annotations


class OperationTimeout(Exception):
    """A long-running operation did not finish in time."""

    def __init__(self, operation, timeout, status):
        self.operation, self.timeout, self.status = operation, timeout, status
        super(OperationTimeout, self).__init__(
            '%s did not finish within %d seconds (last status: %s). It may still be running in Azure: '
            'check the resource, then run the task again or raise timeout.' % (operation, timeout, status or 'unknown'))


class OperationFailed(Exception):
    """A long-running operation ended Failed or Canceled, or a request it made failed."""

    def __init__(self, operation, error):
        self.operation, self.error = operation, error
        self.status_code = getattr(error, 'status_code', None)
        super(OperationFailed, self).__init__('%s failed' % operation)


def wait(poller, operation, timeout):
    """Wait up to ``timeout`` seconds for ``poller`` (an azure-core LROPoller); return its result.

    Raises OperationTimeout (naming ``operation`` and the last status seen) or OperationFailed
    (wrapping the HttpResponseError azure-core raised, which carries ARM's error code)."""
    try:
        poller.wait(timeout)
    except Exception as exc:  # azure-core re-raises the polling thread's error here
        raise OperationFailed(operation, exc)
    if not poller.done():
        raise OperationTimeout(operation, timeout, _status(poller))
    try:
        return poller.result(0)
    except Exception as exc:
        raise OperationFailed(operation, exc)


def _status(poller):
    try:
        return poller.status()
    except Exception:  # the status is only a detail of the timeout message
        return None
