# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Managed images: plan (GETs only) and apply (the writes), for the ``image`` module.

A source is a VM (captured with its OS and data disks; it must be generalized), or a managed
disk, snapshot or VHD blob URL for the OS disk, plus ``data_disk_sources``. Every source is read
and checked before anything is written: it exists, is in the image's region, is generalized, its
Hyper-V generation agrees with hyper_v_generation, it is not Trusted Launch or confidential (which a
managed image cannot carry: the shared preflight says to publish to a gallery), and an OS disk is
within Azure's size limit.
"""

from __future__ import annotations

from ansible_collections.vmimage.azure.plugins.module_utils._azure import ids
from ansible_collections.vmimage.azure.plugins.module_utils._compute import preflight
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import (
    ComputeError, apply_plan, compare, get_or_none, immutable_error, is_blob_url, read_current,
    resource_group_location, same_location, source_id, wire)

VM, DISK, SNAPSHOT = 'Microsoft.Compute/virtualMachines', 'Microsoft.Compute/disks', 'Microsoft.Compute/snapshots'
GIB = 1024 ** 3
_DICT_TYPES = {'virtual_machines': VM, 'disks': DISK, 'snapshots': SNAPSHOT}
# Everything but the tags is fixed once an image exists.
IMMUTABLE = ('location', 'source', 'os_type', 'hyper_v_generation', 'zone_resilient', 'data_disks',
             'os_disk_encryption_set', 'data_disk_encryption_set')


def _ref(value):
    return (value or {}).get('id')


def normalize(image):
    """The fields the module manages, from an Image model (or None)."""
    if image is None:
        return {}
    body = wire(image)
    props = body.get('properties', {})
    storage = props.get('storageProfile') or {}
    os_disk = storage.get('osDisk') or {}
    vm = _ref(props.get('sourceVirtualMachine'))
    data_disks = [dict(lun=d.get('lun'), source=_ref(d.get('managedDisk')) or _ref(d.get('snapshot')) or d.get('blobUri'))
                  for d in storage.get('dataDisks') or []]
    data_sets = sorted({_ref(d.get('diskEncryptionSet')) for d in storage.get('dataDisks') or []} - {None})
    return dict(
        id=body.get('id'), name=body.get('name'), location=body.get('location'),
        source=vm or _ref(os_disk.get('snapshot')) or _ref(os_disk.get('managedDisk')) or os_disk.get('blobUri'),
        source_type='virtual_machine' if vm else _os_source_type(os_disk),
        os_type=os_disk.get('osType'), os_state=os_disk.get('osState'),
        hyper_v_generation=props.get('hyperVGeneration'), zone_resilient=storage.get('zoneResilient'),
        data_disks=sorted(data_disks, key=lambda d: d['lun']),
        os_disk_encryption_set=_ref(os_disk.get('diskEncryptionSet')),
        data_disk_encryption_set=data_sets[0] if data_sets else None,
        provisioning_state=props.get('provisioningState'), tags=body.get('tags') or {},
    )


def _os_source_type(os_disk):
    for key, name in (('snapshot', 'snapshot'), ('managedDisk', 'managed_disk'), ('blobUri', 'blob')):
        if os_disk.get(key):
            return name
    return None


# --- sources -------------------------------------------------------------------------------------

class Source(object):
    """A resolved source: ``kind`` (virtual_machine, managed_disk, snapshot, blob), ``id`` (or the URL)
    and what Azure knows of it."""

    def __init__(self, kind, ref, location=None, os_type=None, generation=None, resource=None, security_type=None,
                 size_bytes=None):
        self.kind, self.ref, self.location, self.os_type, self.generation = kind, ref, location, os_type, generation
        self.resource, self.security_type, self.size_bytes = resource, security_type, size_bytes

    def describe(self):
        """How messages name the source: "VM 'vm1'", "disk 'os'", "snapshot 's'", "VHD blob <url>"."""
        if self.kind == 'blob':
            return 'VHD blob %s' % self.ref
        label = {'virtual_machine': 'VM', 'managed_disk': 'disk', 'snapshot': 'snapshot'}[self.kind]
        parsed = ids.parse(self.ref) if self.ref else None
        return "%s '%s'" % (label, parsed.name if parsed is not None else self.ref)


def _generation_of_vm(vm):
    view = getattr(vm, 'instance_view', None)
    return getattr(view, 'hyper_v_generation', None)


def _is_generalized(vm):
    view = getattr(vm, 'instance_view', None)
    return any((s.code or '').lower() == 'osstate/generalized' for s in (getattr(view, 'statuses', None) or []))


def _read(client, resource_id):
    """The VM, disk or snapshot ``resource_id`` names, or None."""
    parsed = ids.parse(resource_id)
    if parsed is None or len(parsed.names) != 1:
        return None
    kind = parsed.type.lower()
    if kind == VM.lower():
        return get_or_none(client.virtual_machines.get, parsed.resource_group, parsed.name, expand='instanceView')
    if kind == DISK.lower():
        return get_or_none(client.disks.get, parsed.resource_group, parsed.name)
    if kind == SNAPSHOT.lower():
        return get_or_none(client.snapshots.get, parsed.resource_group, parsed.name)
    raise ComputeError("'%s' is a %s; an image source is a VM, a managed disk, a snapshot or a VHD blob URL."
                       % (resource_id, parsed.type), code='bad_source')


def _security_type(resource):
    """securityProfile.securityType of a VM (Standard, TrustedLaunch, ConfidentialVM) or of a disk or
    snapshot (TrustedLaunch, ConfidentialVM_...); None when it has none."""
    return getattr(getattr(resource, 'security_profile', None), 'security_type', None)


def _size_bytes(resource):
    size = getattr(resource, 'disk_size_bytes', None)
    if size is None and getattr(resource, 'disk_size_gb', None) is not None:
        size = resource.disk_size_gb * GIB
    return size


def _source(resource):
    kind = resource.type.lower()
    if kind == VM.lower():
        os_disk = resource.storage_profile.os_disk
        return Source('virtual_machine', resource.id, resource.location, os_disk.os_type, _generation_of_vm(resource),
                      resource, _security_type(resource))
    return Source('managed_disk' if kind == DISK.lower() else 'snapshot', resource.id, resource.location,
                  getattr(resource, 'os_type', None), getattr(resource, 'hyper_v_generation', None), resource,
                  _security_type(resource), _size_bytes(resource))


def candidates(subscription_id, resource_group, value, kinds, what):
    """The resource ids ``value`` may name (a name, id or dict {type, name, resource_group}), in the
    order they are tried; ``[value]`` for a blob URL."""
    if is_blob_url(value):
        return [value]
    if isinstance(value, dict) and value.get('type'):
        kind = _DICT_TYPES.get(value['type'])
        if kind is None or kind not in kinds:
            raise ComputeError('%s: type must be one of %s, not %r.' % (
                what, ', '.join(k for k, v in _DICT_TYPES.items() if v in kinds), value['type']), code='bad_source')
        return [source_id(value, subscription_id, resource_group, kind)]
    if isinstance(value, dict) or (isinstance(value, str) and not ids.looks_like_id(value)):
        return [source_id(value, subscription_id, resource_group, kind) for kind in kinds]
    if isinstance(value, str):
        return [source_id(value, subscription_id, resource_group, VM)]
    raise ComputeError('%s must be a name, a resource id, a dict or a blob URL, not %r.' % (what, value),
                       code='bad_source')


def resolve(client, subscription_id, resource_group, value, kinds, what):
    """Resolve ``value`` (a name, resource id, dict {type, name, resource_group} or blob URL) to a Source.

    ``kinds`` are the resource types a bare name may be (tried in order, as azure_rm_image does)."""
    if is_blob_url(value):
        return Source('blob', value)
    tried = candidates(subscription_id, resource_group, value, kinds, what)
    for candidate in tried:
        found = _read(client, candidate)
        if found is not None:
            return _source(found)
    name = value.get('name') if isinstance(value, dict) else value
    raise ComputeError("%s '%s' was not found (looked for a %s in resource group '%s'). Check the name or give its "
                       'resource id.' % (what, name, ' or '.join(k.split('/')[1][:-1] for k in kinds),
                                         ids.parse(tried[0]).resource_group), code='source_not_found')


def _names(subscription_id, resource_group, value, kinds, what, ref):
    """True when ``value`` names the resource (or blob) ``ref``."""
    return any(c == ref if is_blob_url(c) else ids.same(c, ref)
               for c in candidates(subscription_id, resource_group, value, kinds, what))


# --- plan and apply ------------------------------------------------------------------------------

def _check_source(source, location, what):
    if source.location and not same_location(source.location, location):
        raise ComputeError("%s '%s' is in %s but the image is to be in %s: an image is made from sources in its own "
                           'region. Omit location, or copy the source to %s first.'
                           % (what, source.ref, source.location, location, location), code='location_mismatch')


def _wanted(client, subscription_id, params):
    rg = params['resource_group']
    source = resolve(client, subscription_id, rg, params['source'], (VM, SNAPSHOT, DISK), 'source')
    location = params.get('location') or source.location or resource_group_location(client, subscription_id, rg)
    _check_source(source, location, 'The source')
    _preflight_source(source, 'The source ' + source.describe(), 'os_disk')
    _agree_generation(source, params.get('hyper_v_generation'))
    os_type = params.get('os_type')
    if source.os_type and os_type and source.os_type.lower() != os_type.lower():
        raise ComputeError("os_type %s conflicts with the source's %s." % (os_type, source.os_type),
                           code='os_type_mismatch')
    data_disks = []
    if source.kind == 'virtual_machine':
        if params.get('data_disk_sources'):
            raise ComputeError('An image of a VM captures its OS and data disks: remove data_disk_sources, or make the '
                               'image from the OS disk (or a snapshot of it) and give the data disks.', code='bad_source')
        if params.get('os_disk_encryption_set') or params.get('data_disk_encryption_set'):
            raise ComputeError('Disk encryption sets apply to images made from disks, snapshots or blobs, not from a '
                               'VM: make the image from the VM\'s disks instead.', code='bad_source')
        if not _is_generalized(source.resource):
            raise ComputeError("VM '%s' is not generalized: an image of it would not provision. Generalize the guest "
                               '(sysprep, or waagent -deprovision) and the VM (vmimage.azure.vm_generalize) first.'
                               % source.resource.name, code='not_generalized')
    else:
        if not (os_type or source.os_type):
            raise ComputeError('os_type is required: the source (%s) does not say which operating system it holds.'
                               % source.kind.replace('_', ' '), code='os_type_required')
        for lun, value in enumerate(params.get('data_disk_sources') or []):
            disk = resolve(client, subscription_id, rg, value, (SNAPSHOT, DISK), 'data_disk_sources[%d]' % lun)
            _check_source(disk, location, 'data_disk_sources[%d]' % lun)
            _preflight_source(disk, 'data_disk_sources[%d] (%s)' % (lun, disk.describe()), 'data_disk')
            data_disks.append(dict(lun=lun, source=disk.ref, kind=disk.kind))
    wanted = _fields(params, location, source, [dict(lun=d['lun'], source=d['source']) for d in data_disks])
    return wanted, source, data_disks


def _preflight_source(source, where, size_kind):
    """The shared preflight for one source: a managed image cannot carry Trusted Launch or a
    confidential VM (managed_image_security), and a disk must be within Azure's size limit."""
    preflight.check_security(source.security_type, source.generation, 'managed_image', where)
    sku = getattr(getattr(source.resource, 'sku', None), 'name', None)
    preflight.check_size(size_kind, source.size_bytes, where, sku=sku)


def _agree_generation(source, wanted):
    """The shared preflight's generation check between the source and the hyper_v_generation option."""
    try:
        return preflight.agree_generation([(source.generation, 'the source %s' % source.describe()),
                                           (wanted, 'the hyper_v_generation option')])
    except ComputeError as exc:
        raise ComputeError("%s Or omit hyper_v_generation: the source's is used." % exc, code=exc.code)


def _fields(params, location, source, data_disks):
    """The image state asked for: ``source`` (a Source) fills in what the options leave out."""
    return dict(location=location, source=source.ref, os_type=params.get('os_type') or source.os_type,
                hyper_v_generation=params.get('hyper_v_generation') or source.generation,
                zone_resilient=params.get('zone_resilient'),
                data_disks=None if source.kind == 'virtual_machine' else data_disks,
                os_disk_encryption_set=params.get('os_disk_encryption_set'),
                data_disk_encryption_set=params.get('data_disk_encryption_set'), tags=params.get('tags'))


def _same_disks(wanted, current):
    def key(disks):
        return [(d['lun'], (d['source'] or '').lower()) for d in disks or []]
    return key(wanted) == key(current)


def _recorded(before, subscription_id, params):
    """(wanted, source, data disks) taken from the existing image when it was made from the sources
    asked for, so that a rerun need not read them: a captured VM is often deleted afterwards.
    None when the sources differ (they are then read and checked)."""
    rg = params['resource_group']
    if not before.get('source') or not _names(subscription_id, rg, params['source'], (VM, SNAPSHOT, DISK), 'source',
                                              before['source']):
        return None
    given = params.get('data_disk_sources') or []
    current = before.get('data_disks') or []
    if before.get('source_type') == 'virtual_machine':
        if given:
            return None
    elif len(given) != len(current) or not all(
            d['lun'] == lun and _names(subscription_id, rg, value, (SNAPSHOT, DISK), 'data_disk_sources[%d]' % lun,
                                       d['source'])
            for lun, (value, d) in enumerate(zip(given, current))):
        return None
    source = Source(before['source_type'], before['source'], before.get('location'), before.get('os_type'),
                    before.get('hyper_v_generation'))
    wanted = _fields(params, params.get('location') or before.get('location'), source, [dict(d) for d in current])
    return wanted, source, None


def _differences(wanted, before):
    """(changed fields, immutable ones among them), every field compared."""
    changed, immutable = compare(dict((k, v) for k, v in wanted.items() if k != 'data_disks'), before, IMMUTABLE)
    if wanted['data_disks'] is not None and not _same_disks(wanted['data_disks'], before.get('data_disks')):
        changed.append('data_disks')
        immutable.append('data_disks')
    return changed, immutable


def plan(client, subscription_id, params):
    """Decide what to do; only GETs. Returns a dict with ``action`` (none/create/update/replace/delete)."""
    rg, name = params['resource_group'], params['name']
    current, before, absent = read_current(client.images.get, normalize, params)
    if absent is not None:
        return absent
    recorded = _recorded(before, subscription_id, params) if current is not None else None
    wanted, source, data_disks = recorded or _wanted(client, subscription_id, params)
    changed, immutable = _differences(wanted, before) if current is not None else ([], [])
    if immutable and recorded is not None and params.get('replace'):
        # Re-creating reads and checks the real sources, as a first creation does.
        wanted, source, data_disks = _wanted(client, subscription_id, params)
        changed, immutable = _differences(wanted, before)
    after = dict(wanted, source_type=source.kind, os_state='Generalized')
    after = dict((k, v) for k, v in after.items() if v is not None)
    planned = dict(resource_group=rg, name=name, wanted=wanted, source=source, data_disks=data_disks, before=before)
    if current is None:
        return dict(planned, action='create', after=after)
    if immutable and not params.get('replace'):
        raise immutable_error('Image', name, immutable, wanted, before)
    action = 'replace' if immutable else ('update' if changed else 'none')
    return dict(planned, action=action, after=dict(before, **after) if action != 'replace' else after,
                changed_fields=changed, current=before)


def _model(planned):
    from azure.mgmt.compute import models
    wanted, source = planned['wanted'], planned['source']

    def sub(resource_id):
        return models.SubResource(id=resource_id) if resource_id else None

    def encryption(resource_id):
        return models.DiskEncryptionSetParameters(id=resource_id) if resource_id else None

    def disk_refs(kind, ref):
        return dict(managed_disk=sub(ref) if kind == 'managed_disk' else None,
                    snapshot=sub(ref) if kind == 'snapshot' else None,
                    blob_uri=ref if kind == 'blob' else None)

    if source.kind == 'virtual_machine':
        props = models.ImageProperties(
            source_virtual_machine=sub(source.ref), hyper_v_generation=wanted['hyper_v_generation'],
            storage_profile=models.ImageStorageProfile(zone_resilient=wanted['zone_resilient'])
            if wanted['zone_resilient'] is not None else None)
    else:
        os_disk = models.ImageOSDisk(os_type=wanted['os_type'], os_state='Generalized',
                                     disk_encryption_set=encryption(wanted['os_disk_encryption_set']),
                                     **disk_refs(source.kind, source.ref))
        data = [models.ImageDataDisk(lun=d['lun'], disk_encryption_set=encryption(wanted['data_disk_encryption_set']),
                                     **disk_refs(d['kind'], d['source'])) for d in planned['data_disks']]
        props = models.ImageProperties(
            hyper_v_generation=wanted['hyper_v_generation'],
            storage_profile=models.ImageStorageProfile(os_disk=os_disk, data_disks=data or None,
                                                       zone_resilient=wanted['zone_resilient']))
    return models.Image(location=wanted['location'], tags=wanted['tags'], properties=props)


def _update_body(planned):  # only the tags differ
    from azure.mgmt.compute import models
    return models.ImageUpdate(tags=planned['wanted']['tags'])


def apply(client, planned, wait):
    """Carry out ``planned``; ``wait(poller, operation)`` waits for a long-running operation.

    Returns the image's normalized state ({} once deleted)."""
    return apply_plan(client.images, planned, wait, 'image', normalize, _model, _update_body)
