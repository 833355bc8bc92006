# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Azure resource ids: parse, build, compare (case-insensitively, as Resource Manager does)."""

from __future__ import annotations

import re

_ID = re.compile(r'^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)'
                 r'/providers/(?P<namespace>[^/]+)/(?P<rest>.+)$', re.I)


class ResourceId(object):
    """A parsed ``/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}...]``."""

    __slots__ = ('subscription', 'resource_group', 'namespace', 'types', 'names')

    def __init__(self, subscription, resource_group, namespace, types, names):
        self.subscription, self.resource_group, self.namespace = subscription, resource_group, namespace
        self.types, self.names = tuple(types), tuple(names)

    @property
    def name(self):
        return self.names[-1]

    @property
    def type(self):
        """``Microsoft.Compute/disks`` (child types joined: ``Microsoft.Compute/galleries/images``)."""
        return '/'.join((self.namespace,) + self.types)

    def __str__(self):
        parts = ['/subscriptions', self.subscription, 'resourceGroups', self.resource_group, 'providers', self.namespace]
        for kind, name in zip(self.types, self.names):
            parts += [kind, name]
        return '/'.join(parts)

    def __repr__(self):
        return 'ResourceId(%r)' % str(self)


def parse(value):
    """A ResourceId, or None when ``value`` is not a resource id."""
    match = _ID.match(value or '')
    if not match:
        return None
    rest = match.group('rest').strip('/').split('/')
    if len(rest) % 2 or not all(rest):
        return None
    return ResourceId(match.group('subscription'), match.group('resource_group'), match.group('namespace'),
                      rest[0::2], rest[1::2])


def looks_like_id(value):
    return bool(value) and value.startswith('/')


def build(subscription, resource_group, kind, name):
    """``kind`` like ``Microsoft.Compute/disks``."""
    namespace, resource_type = kind.split('/', 1)
    return str(ResourceId(subscription, resource_group, namespace, [resource_type], [name]))


def same(a, b):
    """True when two resource ids name the same resource (ARM ids are case-insensitive)."""
    if not a or not b:
        return a == b
    return a.rstrip('/').lower() == b.rstrip('/').lower()


def same_type(resource_id, kind):
    return resource_id is not None and resource_id.type.lower() == kind.lower()
