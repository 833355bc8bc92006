# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Managed disks as the ``disk_info`` module reports them: one by name, those of a resource group or
of the subscription, or the OS and data disks of a VM (with their role and lun). Only GETs.
"""

from __future__ import annotations

from ansible_collections.vmimage.azure.plugins.module_utils._azure import ids
from ansible_collections.vmimage.azure.plugins.module_utils._compute.catalog import parse_tags, tags_match
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import (
    ComputeError, get_or_none, resource_group_not_found, wire)

GIB = 1024 ** 3


def normalize(disk, role=None, lun=None):
    """The fields the module returns, from a Disk model (or its JSON)."""
    body = disk if isinstance(disk, dict) else wire(disk)
    props = body.get('properties') or {}
    creation = props.get('creationData') or {}
    size_gb = props.get('diskSizeGB')
    size_bytes = props.get('diskSizeBytes')
    if size_bytes is None and size_gb is not None:
        size_bytes = size_gb * GIB
    parsed = ids.parse(body.get('id') or '')
    return dict(
        id=body.get('id'), name=body.get('name'), resource_group=parsed.resource_group if parsed else None,
        location=body.get('location'), zones=body.get('zones') or [],
        size_gb=size_gb, disk_size_bytes=size_bytes,
        os_type=props.get('osType'), hyper_v_generation=props.get('hyperVGeneration'),
        architecture=(props.get('supportedCapabilities') or {}).get('architecture'),
        security_type=(props.get('securityProfile') or {}).get('securityType'),
        disk_state=props.get('diskState'), sku=(body.get('sku') or {}).get('name'),
        managed_by=body.get('managedBy'), create_option=creation.get('createOption'),
        source_id=creation.get('sourceResourceId'), upload_size_bytes=creation.get('uploadSizeBytes'),
        provisioning_state=props.get('provisioningState'), tags=body.get('tags') or {},
        role=role, lun=lun, vhd_uri=None,
    )


def _from_vm_only(ref, role, lun):
    """An entry for a disk the VM names but that could not be read (or an unmanaged VHD)."""
    managed = ref.get('managedDisk') or {}
    entry = normalize({'id': managed.get('id'), 'name': ref.get('name'),
                       'sku': {'name': managed.get('storageAccountType')} if managed.get('storageAccountType') else None,
                       'properties': {'diskSizeGB': ref.get('diskSizeGB'), 'osType': ref.get('osType')}},
                      role=role, lun=lun)
    entry.update(disk_state=None, vhd_uri=(ref.get('vhd') or {}).get('uri'))
    return entry


def _vm_disks(client, resource_group, vm_name):
    """(the VM's summary, its disks: the OS disk first, then the data disks by lun)."""
    vm = get_or_none(client.virtual_machines.get, resource_group, vm_name, expand='instanceView')
    if vm is None:
        raise ComputeError("VM '%s' was not found in resource group '%s'. Check vm_name and resource_group."
                           % (vm_name, resource_group), code='vm_not_found')
    body = wire(vm)
    props = body.get('properties') or {}
    storage = props.get('storageProfile') or {}
    view = props.get('instanceView') or {}
    summary = dict(id=body.get('id'), name=body.get('name'), location=body.get('location'),
                   hyper_v_generation=view.get('hyperVGeneration'),
                   security_type=(props.get('securityProfile') or {}).get('securityType'),
                   os_type=(storage.get('osDisk') or {}).get('osType'))
    refs = [('os', None, storage.get('osDisk') or {})]
    refs += [('data', d.get('lun'), d) for d in sorted(storage.get('dataDisks') or [], key=lambda d: d.get('lun') or 0)]
    disks = []
    for role, lun, ref in refs:
        disk_id = (ref.get('managedDisk') or {}).get('id')
        parsed = ids.parse(disk_id) if disk_id else None
        found = get_or_none(client.disks.get, parsed.resource_group, parsed.name) if parsed is not None else None
        disks.append(normalize(found, role=role, lun=lun) if found is not None else _from_vm_only(ref, role, lun))
    return summary, disks


def _listed(client, resource_group, name):
    from azure.core.exceptions import ResourceNotFoundError
    if name and resource_group:
        found = get_or_none(client.disks.get, resource_group, name)
        return [normalize(found)] if found is not None else []
    try:
        disks = list(client.disks.list_by_resource_group(resource_group) if resource_group else client.disks.list())
    except ResourceNotFoundError:
        if resource_group:
            raise resource_group_not_found(resource_group)
        raise
    entries = [normalize(d) for d in disks]
    return sorted(entries, key=lambda e: ((e['resource_group'] or '').lower(), (e['name'] or '').lower()))


def run(client, params):
    """The module's result: ``disks`` (and ``vm`` with ``vm_name``). Raises ComputeError."""
    rg, name, vm_name = params.get('resource_group'), params.get('name'), params.get('vm_name')
    if vm_name and not rg:
        raise ComputeError('vm_name needs resource_group (the VM\'s resource group).', code='invalid')
    wanted = parse_tags(params.get('tags'))
    result = {}
    if vm_name:
        result['vm'], disks = _vm_disks(client, rg, vm_name)
    else:
        disks = _listed(client, rg, name)
    if name:
        disks = [d for d in disks if (d['name'] or '').lower() == name.lower()]
    result['disks'] = [d for d in disks if tags_match(d['tags'], wanted)]
    return result
