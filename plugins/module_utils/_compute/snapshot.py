# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Managed disk snapshots: plan (GETs only) and apply (the writes), for the ``snapshot`` module.

    planned = plan(client, subscription_id, params)   # reads; raises ComputeError on bad input
    result = apply(client, planned, wait)              # writes, unless planned['action'] == 'none'
"""

from __future__ import annotations

from ansible_collections.vmimage.azure.plugins.module_utils._azure import ids
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import (
    ComputeError, apply_plan, compare, get_or_none, immutable_error, is_blob_url, read_current,
    resource_group_location, same_location, source_id, wire)

DISK = 'Microsoft.Compute/disks'
# Fields that a snapshot cannot change once made.
IMMUTABLE = ('create_option', 'source_id', 'source_uri', 'storage_account_id', 'incremental', 'location')


def normalize(snapshot):
    """The fields the module manages, from a Snapshot model (or None)."""
    if snapshot is None:
        return {}
    body = wire(snapshot)
    props = body.get('properties', {})
    creation = props.get('creationData', {})
    return dict(
        id=body.get('id'), name=body.get('name'), location=body.get('location'),
        create_option=creation.get('createOption'), source_id=creation.get('sourceResourceId'),
        source_uri=creation.get('sourceUri'), storage_account_id=creation.get('storageAccountId'),
        incremental=bool(props.get('incremental', False)), sku=(body.get('sku') or {}).get('name'),
        os_type=props.get('osType'), hyper_v_generation=props.get('hyperVGeneration'),
        disk_size_gb=props.get('diskSizeGB'), provisioning_state=props.get('provisioningState'),
        time_created=props.get('timeCreated'), tags=body.get('tags') or {},
    )


def _wanted_source(params, subscription_id):
    """(create_option, source_id, source_uri, storage_account_id) from ``source`` or ``creation_data``."""
    data = params.get('creation_data') or {}
    source = params.get('source')
    if source and data:
        raise ComputeError('Give either source (a disk name or id) or creation_data, not both.')
    if source:
        if is_blob_url(source):
            return 'Import', None, source, None
        return 'Copy', source_id(source, subscription_id, params['resource_group'], DISK), None, None
    option = data.get('create_option')
    if option == 'Copy':
        if not data.get('source_id'):
            raise ComputeError('creation_data.create_option=Copy needs creation_data.source_id (the disk or snapshot '
                               'to copy).')
        return 'Copy', source_id(data['source_id'], subscription_id, params['resource_group'], DISK), None, None
    if option == 'Import':
        if not data.get('source_uri'):
            raise ComputeError('creation_data.create_option=Import needs creation_data.source_uri (the VHD blob URL).')
        return 'Import', None, data['source_uri'], data.get('storage_account_id')
    raise ComputeError('A snapshot needs a source: set source (a disk name or id, or a VHD blob URL) or '
                       'creation_data.')


def _read_source(client, source):
    """The disk or snapshot a Copy starts from; ComputeError when it does not exist."""
    parsed = ids.parse(source)
    if parsed is None or len(parsed.names) != 1:
        raise ComputeError("The snapshot source '%s' is not a disk or snapshot id." % source)
    kind = parsed.types[0].lower()
    if kind == 'disks':
        found = get_or_none(client.disks.get, parsed.resource_group, parsed.name)
    elif kind == 'snapshots':
        found = get_or_none(client.snapshots.get, parsed.resource_group, parsed.name)
    else:
        raise ComputeError("The snapshot source '%s' is a %s; give a managed disk or a snapshot." % (source, parsed.type))
    if found is None:
        raise ComputeError("The snapshot source %s '%s' was not found in resource group '%s'. Check source."
                           % (kind[:-1], parsed.name, parsed.resource_group), code='source_not_found')
    return found


def plan(client, subscription_id, params):
    """Decide what to do; only GETs. Returns a dict with ``action`` (none/create/update/replace/delete)."""
    rg, name = params['resource_group'], params['name']
    current, before, absent = read_current(client.snapshots.get, normalize, params)
    if absent is not None:
        return absent

    option, source, uri, account = _wanted_source(params, subscription_id)
    location = params.get('location')
    if option == 'Copy' and current is not None and ids.same(source, before.get('source_id')):
        # Already made from this source: no need to read it (a backed-up disk may be gone by now).
        source, location = before['source_id'], location or before.get('location')
    elif option == 'Copy':
        origin = _read_source(client, source)
        source = origin.id  # the casing Azure has
        if location and not same_location(location, origin.location):
            raise ComputeError("The source '%s' is in %s but location is %s: a snapshot must be made in its source's "
                               'region. Omit location, or copy the disk to %s first.'
                               % (origin.name, origin.location, location, location), code='location_mismatch')
        location = location or origin.location
    elif not location:
        location = before.get('location') or resource_group_location(client, subscription_id, rg)

    wanted = dict(create_option=option, source_id=source, source_uri=uri, storage_account_id=account,
                  incremental=bool(params.get('incremental')), location=location,
                  sku=params.get('sku'), os_type=params.get('os_type'), tags=params.get('tags'))
    if current is None:
        after = dict((k, v) for k, v in wanted.items() if v is not None)
        return dict(action='create', resource_group=rg, name=name, wanted=wanted, before={}, after=after)

    changed, immutable = compare(wanted, before, IMMUTABLE)
    after = dict(before, **dict((k, v) for k, v in wanted.items() if v is not None))
    if immutable and not params.get('replace'):
        raise immutable_error('Snapshot', name, immutable, wanted, before)
    if immutable and option == 'Copy':
        _read_source(client, source)  # a replace deletes first: the source must still be there
    action = 'replace' if immutable else ('update' if changed else 'none')
    return dict(action=action, resource_group=rg, name=name, wanted=wanted, before=before, after=after,
                changed_fields=changed, current=before)


def _create_body(planned):
    from azure.mgmt.compute import models
    wanted = planned['wanted']
    creation = models.CreationData(create_option=wanted['create_option'], source_resource_id=wanted['source_id'],
                                   source_uri=wanted['source_uri'], storage_account_id=wanted['storage_account_id'])
    return models.Snapshot(
        location=wanted['location'], tags=wanted['tags'],
        sku=models.SnapshotSku(name=wanted['sku']) if wanted['sku'] else None,
        properties=models.SnapshotProperties(creation_data=creation, incremental=wanted['incremental'],
                                             os_type=wanted['os_type']))


def _update_body(planned):
    from azure.mgmt.compute import models
    wanted = planned['wanted']
    return models.SnapshotUpdate(
        tags=wanted['tags'], sku=models.SnapshotSku(name=wanted['sku']) if wanted['sku'] else None,
        properties=models.SnapshotUpdateProperties(os_type=wanted['os_type']) if wanted['os_type'] else None)


def apply(client, planned, wait):
    """Carry out ``planned``; ``wait(poller, operation)`` waits for a long-running operation.

    Returns the snapshot's normalized state ({} once deleted)."""
    return apply_plan(client.snapshots, planned, wait, 'snapshot', normalize, _create_body, _update_body)
