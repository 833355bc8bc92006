# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""What the Compute services share: errors, GET-or-None, source resolution, state comparison.

Services take an SDK client (azure-mgmt-compute's ComputeManagementClient) and plain data, know
nothing of AnsibleModule, and raise; only a module's main() turns an exception into a failure.
"""

from __future__ import annotations

from ansible_collections.vmimage.azure.plugins.module_utils._azure import ids

# The api-version of Microsoft.Resources used to read a resource group.
RESOURCE_GROUP_API = '2021-04-01'


class ComputeError(Exception):
    """A request that cannot be carried out as given; the message says what to do.

    Raised before anything is written (bad input, missing or unsuitable source)."""

    def __init__(self, message, code='invalid'):
        super(ComputeError, self).__init__(message)
        self.code = code


def arm_code(exc):
    """ARM's error code of an azure-core HttpResponseError, or None."""
    error = getattr(exc, 'error', None)
    return getattr(error, 'code', None)


def is_resource_group_not_found(exc):
    """True when ARM answered ResourceGroupNotFound (any request under a missing resource group)."""
    return (arm_code(exc) or '').lower() == 'resourcegroupnotfound'


def resource_group_not_found(resource_group=None, subscription_id=None, exc=None):
    """The error for a resource group that does not exist: ARM's own sentence when ``exc`` has one."""
    said = getattr(getattr(exc, 'error', None), 'message', None)
    if not said:
        said = "Resource group '%s' could not be found%s." % (
            resource_group, ' in subscription %s' % subscription_id if subscription_id else '')
    return ComputeError('%s Create the resource group first, or correct resource_group.' % said.rstrip(),
                        code='resource_group_not_found')


def get_or_none(call, *args, **kwargs):
    """``call(*args, **kwargs)``, or None when Resource Manager says the resource does not exist.

    A missing resource group is not "absent": it is an error that says so."""
    from azure.core.exceptions import ResourceNotFoundError
    try:
        return call(*args, **kwargs)
    except ResourceNotFoundError as exc:
        if is_resource_group_not_found(exc):
            raise resource_group_not_found(exc=exc)
        return None


def wire(model):
    """A model as Resource Manager's JSON (camelCase, ``properties`` nested); {} for None."""
    return model.as_dict() if model is not None else {}


def resource_group_location(client, subscription_id, resource_group):
    """The location of ``resource_group``; ComputeError when it does not exist."""
    from azure.core.rest import HttpRequest
    url = '/subscriptions/%s/resourcegroups/%s?api-version=%s' % (subscription_id, resource_group, RESOURCE_GROUP_API)
    response = client.send_request(HttpRequest('GET', url))
    if response.status_code == 404:
        raise resource_group_not_found(resource_group, subscription_id)
    response.raise_for_status()
    return response.json().get('location')


def source_id(value, subscription_id, resource_group, kind):
    """The resource id of ``value``: a resource id, a name in ``resource_group``, or a dict with
    ``name`` (and optionally ``resource_group``), as azure.azcollection accepts sources."""
    if isinstance(value, dict):
        name = value.get('name')
        if not name:
            raise ComputeError('A source given as a dict needs a name (and optionally resource_group and type).')
        return ids.build(subscription_id, value.get('resource_group') or resource_group, kind, name)
    if ids.looks_like_id(value):
        parsed = ids.parse(value)
        if parsed is None:
            raise ComputeError("'%s' is not an Azure resource id (/subscriptions/.../resourceGroups/.../providers/...)."
                               % value)
        return str(parsed)
    return ids.build(subscription_id, resource_group, kind, value)


def is_blob_url(value):
    return isinstance(value, str) and value.lower().startswith(('https://', 'http://'))


def same_location(a, b):
    """Locations compare without case and spaces ("West Europe" is "westeurope")."""
    def norm(value):
        return (value or '').replace(' ', '').lower()
    return norm(a) == norm(b)


def compare(wanted, current, immutable):
    """Compare the fields of ``wanted`` that are not None with ``current`` (both plain dicts).

    Returns (changed field names, immutable field names among them), every field compared."""
    def equal(name, a, b):
        if name.endswith('_id') or name == 'source':
            return ids.same(a, b) if isinstance(a, str) and isinstance(b, str) else a == b
        if name == 'location':
            return same_location(a, b)
        if isinstance(a, str) and isinstance(b, str):
            return a.lower() == b.lower()
        return a == b
    changed = [name for name, value in wanted.items() if value is not None and not equal(name, value, current.get(name))]
    return changed, [name for name in changed if name in immutable]


def immutable_error(kind, name, fields, wanted, current):
    """The error for immutable differences: names each field, its current and wanted value."""
    details = '; '.join('%s is %r, wanted %r' % (f, current.get(f), wanted.get(f)) for f in fields)
    return ComputeError("%s '%s' exists with different %s (%s). These cannot be changed in place: set replace=true "
                        'to delete and re-create it, or choose another name.' % (kind, name, ', '.join(fields), details),
                        code='immutable')


def read_current(get, normalize, params):
    """The first step of a service's plan: (current model or None, its normalized state, the whole plan
    when ``state=absent`` (delete or nothing) else None). ``get(resource_group, name)`` is the SDK's."""
    rg, name = params['resource_group'], params['name']
    current = get_or_none(get, rg, name)
    before = normalize(current)
    if params.get('state') != 'absent':
        return current, before, None
    return current, before, dict(action='delete' if current is not None else 'none', resource_group=rg, name=name,
                                 before=before, after={}, current=before)


def apply_plan(operations, planned, wait, kind, normalize, create_body, update_body):
    """Carry out a service's plan on ``operations`` (e.g. ``client.snapshots``) and return the
    resource's normalized state ({} once deleted).

    ``wait(poller, operation)`` waits for a long-running operation; ``create_body(planned)`` and
    ``update_body(planned)`` build the SDK models sent."""
    action, rg, name = planned['action'], planned['resource_group'], planned['name']
    label = "%s '%s' in resource group '%s'" % (kind, name, rg)
    if action == 'none':
        return planned.get('current') or {}
    if action in ('delete', 'replace'):
        wait(operations.begin_delete(rg, name), 'delete ' + label)
        if action == 'delete':
            return {}
    if action == 'update':
        return normalize(wait(operations.begin_update(rg, name, update_body(planned)), 'update ' + label))
    return normalize(wait(operations.begin_create_or_update(rg, name, create_body(planned)), 'create ' + label))
