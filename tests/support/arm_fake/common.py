# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pieces shared by the ARM fake: errors, api-versions, ids, times."""

from __future__ import annotations

import datetime
import uuid

# api-versions each resource type accepts; the first is what azure-mgmt-compute 39 sends.
COMPUTE_VERSIONS = ('2026-04-01', '2025-04-01', '2024-11-01', '2024-07-01', '2024-03-01')
DISK_VERSIONS = ('2026-03-02', '2025-01-02', '2024-03-02', '2023-10-02')
GALLERY_VERSIONS = ('2026-03-03', '2025-03-03', '2024-03-03', '2023-07-03')
# Microsoft.Resources (resource groups).
RESOURCES_VERSIONS = ('2025-04-01', '2025-03-01', '2024-11-01', '2024-07-01', '2024-03-01', '2023-07-01',
                      '2022-09-01', '2021-04-01', '2021-01-01', '2020-10-01', '2020-06-01', '2019-10-01')
METADATA_VERSIONS = ('2022-09-01', '2020-06-01', '2019-05-01', '2015-01-01')

NOT_FOUND_FIX = 'For more details please go to https://aka.ms/ARMResourceNotFoundFix'


class ArmError(Exception):
    """An ARM error answer: HTTP status plus the ``{"error": {"code", "message"[, "target"]}}`` body."""

    def __init__(self, status, code, message, target=None, headers=None, details=None):
        super().__init__('%d %s: %s' % (status, code, message))
        self.status, self.code, self.message, self.target = status, code, message, target
        self.headers = dict(headers or {})
        self.details = details

    def body(self):
        error = {'code': self.code, 'message': self.message}
        if self.target:
            error['target'] = self.target
        if self.details:
            error['details'] = self.details
        return {'error': error}


def not_found(type_path, name, resource_group):
    """ARM's own 404 for a tracked resource, e.g. type_path 'Microsoft.Compute/disks'."""
    return ArmError(404, 'ResourceNotFound', "The Resource '%s/%s' under resource group '%s' was not found. %s"
                    % (type_path, name, resource_group, NOT_FOUND_FIX))


def rg_not_found(name):
    return ArmError(404, 'ResourceGroupNotFound', "Resource group '%s' could not be found." % name)


def source_not_found(resource_id):
    """What DiskRP / CRP answer when a referenced source (disk, snapshot, VM) does not exist."""
    return ArmError(404, 'NotFound', 'Resource %s is not found.' % resource_id.rstrip('/').rsplit('/', 1)[-1])


def conflict(code, message, target=None):
    return ArmError(409, code, message, target=target)


def bad_request(code, message, target=None):
    return ArmError(400, code, message, target=target)


def check_api_version(value, supported):
    if not value:
        raise ArmError(400, 'MissingApiVersionParameter',
                       'The api-version query parameter (?api-version=) is required for all requests.')
    if value not in supported:
        raise ArmError(400, 'InvalidApiVersionParameter', "The api-version '%s' is invalid. The supported versions "
                       "are '%s'." % (value, ','.join(supported)))
    return value


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def timestamp(when=None):
    """ARM's timestamp format: seven fractional digits and an explicit +00:00."""
    when = when or now()
    return when.strftime('%Y-%m-%dT%H:%M:%S.%f') + '0+00:00'


def new_id():
    return str(uuid.uuid4())


def norm_location(location):
    """ARM stores 'West Europe' as 'westeurope'."""
    return (location or '').replace(' ', '').lower()


def lower(value):
    return (value or '').lower()


def id_eq(a, b):
    return lower(a).rstrip('/') == lower(b).rstrip('/')


def parse_id(resource_id):
    """Split a Compute resource id into (resource_group, [(type, name), ...]); types lowercased.

    '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i' ->
    ('rg', [('galleries', 'g'), ('images', 'i')]); None when it is not such an id."""
    parts = [p for p in (resource_id or '').split('/') if p]
    low = [p.lower() for p in parts]
    if len(parts) < 8 or low[0] != 'subscriptions' or low[2] != 'resourcegroups' or low[4] != 'providers':
        return None
    pairs = list(zip(low[6::2], parts[7::2]))
    return parts[3], pairs
