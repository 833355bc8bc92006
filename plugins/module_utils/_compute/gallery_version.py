# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Azure Compute Gallery image versions: plan (GETs only) and apply (the writes, then the wait for
replication), for the ``gallery_image_version`` module.

    planned = plan(client, subscription_id, params)   # reads; raises ComputeError on bad input
    result = apply(client, planned, wait)              # writes unless planned['action'] == 'none', then
                                                       # waits for replication when planned['wait']
    # result: {'version': normalized state, 'replication_status': {...} or None}

A version is made from a managed image, a VM or another version (``storage_profile.source_image``),
or from an OS disk plus data disks, each a managed disk, a snapshot or a VHD blob (``os_disk``,
``data_disks``). Before anything is written the definition is read and every source is read and
checked against it (the shared preflight: generation, OS state, security type, sizes).

Waiting: the PUT or PATCH is a long-running operation that GalleryRP ends when every target region
has replicated; azure-core's poller waits for it (``wait``, bounded by the time left), then a
bounded loop reads the version with ``$expand=ReplicationStatus`` until every region is Completed.
A run that finds the version still replicating (a previous run timed out, or ran with wait=false)
sends nothing and only runs that loop. The loop's interval is derived from ``timeout``
(``poll_interval``): a hundred-and-twentieth of it, between 0.5 and 30 seconds.
"""

from __future__ import annotations

import datetime
import re
import time
from urllib.parse import urlsplit

from ansible_collections.vmimage.azure.plugins.module_utils._azure import ids
from ansible_collections.vmimage.azure.plugins.module_utils._azure.lro import OperationTimeout
from ansible_collections.vmimage.azure.plugins.module_utils._compute import preflight
from ansible_collections.vmimage.azure.plugins.module_utils._compute.gallery import gallery_not_found
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import (
    ComputeError, get_or_none, is_blob_url, same_location, wire)

VM = 'Microsoft.Compute/virtualMachines'
IMAGE = 'Microsoft.Compute/images'
VERSION = 'Microsoft.Compute/galleries/images/versions'
DISK = 'Microsoft.Compute/disks'
SNAPSHOT = 'Microsoft.Compute/snapshots'
STORAGE_ACCOUNT = 'Microsoft.Storage/storageAccounts'
BLOB = 'blob'
GIB = 1024 ** 3
KIND_NAMES = {VM: 'virtual_machine', IMAGE: 'managed_image', VERSION: 'gallery_image_version', DISK: 'managed_disk',
              SNAPSHOT: 'snapshot', BLOB: 'blob'}
# ``type`` of a source given as a dict, as azure.azcollection spells resource types.
DICT_TYPES = {'virtual_machines': VM, 'images': IMAGE, 'disks': DISK, 'snapshots': SNAPSHOT}
VERSION_NAME = re.compile(r'^\d+\.\d+\.\d+$')
INT32_MAX = 2147483647
# Publishing and source fields a version cannot change (GalleryRP answers PropertyChangeNotAllowed).
IMMUTABLE = ('location', 'storage_profile.source_image', 'storage_profile.os_disk.source',
             'storage_profile.os_disk.storage_account_id', 'storage_profile.os_disk.host_caching',
             'storage_profile.data_disks', 'publishing_profile.storage_account_type',
             'publishing_profile.replication_mode')
BUSY_STATES = ('creating', 'updating', 'migrating')


class ReplicationTimeout(ComputeError):
    """Replication did not end within ``timeout``; ``status`` is the last replication status seen."""

    def __init__(self, message, status, version_id):
        super(ReplicationTimeout, self).__init__(message, code='replication_timeout')
        self.status, self.version_id = status, version_id


def poll_interval(timeout):
    """Seconds between two reads of the replication status: 1/120 of ``timeout``, 0.5 to 30."""
    return min(30.0, max(0.5, float(timeout) / 120.0))


# --- normalized state ----------------------------------------------------------------------------

def _drop_none(d):
    return dict((k, v) for k, v in d.items() if v is not None)


def _disk_source(source):
    source = source or {}
    return source.get('id') or source.get('uri')


def _encryption(value):
    """TargetRegion.encryption (wire form) in the module's snake_case form, or None."""
    if not value:
        return None
    osd = value.get('osDiskImage') or {}
    security = osd.get('securityProfile') or {}
    os_out = _drop_none(dict(disk_encryption_set_id=osd.get('diskEncryptionSetId'), security_profile=_drop_none(dict(
        confidential_vm_encryption_type=security.get('confidentialVMEncryptionType'),
        secure_vm_disk_encryption_set_id=security.get('secureVMDiskEncryptionSetId'))) or None))
    data = [_drop_none(dict(lun=d.get('lun'), disk_encryption_set_id=d.get('diskEncryptionSetId')))
            for d in value.get('dataDiskImages') or []]
    return _drop_none(dict(os_disk_image=os_out or None, data_disk_images=data or None)) or None


def normalize(version):
    """The fields the module manages, from a GalleryImageVersion model (or None)."""
    if version is None:
        return {}
    body = wire(version)
    props = body.get('properties') or {}
    storage = props.get('storageProfile') or {}
    publishing = props.get('publishingProfile') or {}
    source = storage.get('source') or {}
    osd = storage.get('osDiskImage') or {}
    source_image = source.get('virtualMachineId') or source.get('id')
    os_disk = None
    if osd:
        os_disk = dict(source=_disk_source(osd.get('source')), storage_account_id=(osd.get('source') or {}).get(
            'storageAccountId'), host_caching=osd.get('hostCaching'), size_gb=osd.get('sizeInGB'))
    data_disks = sorted([dict(lun=d.get('lun'), source=_disk_source(d.get('source')),
                              storage_account_id=(d.get('source') or {}).get('storageAccountId'),
                              host_caching=d.get('hostCaching'), size_gb=d.get('sizeInGB'))
                         for d in storage.get('dataDiskImages') or []], key=lambda d: d['lun'])
    regions = [dict(name=r.get('name'), regional_replica_count=r.get('regionalReplicaCount'),
                    storage_account_type=r.get('storageAccountType'), exclude_from_latest=r.get('excludeFromLatest'),
                    encryption=_encryption(r.get('encryption')))
               for r in publishing.get('targetRegions') or []]
    ref = source_image or (os_disk or {}).get('source')
    return dict(
        id=body.get('id'), name=body.get('name'), location=body.get('location'),
        source=ref, source_type=_source_type(ref),
        storage_profile=dict(source_image=source_image, os_disk=os_disk, data_disks=data_disks),
        publishing_profile=dict(
            target_regions=regions, replica_count=publishing.get('replicaCount'),
            exclude_from_latest=publishing.get('excludeFromLatest'),
            end_of_life_date=_date_text(publishing.get('endOfLifeDate')),
            storage_account_type=publishing.get('storageAccountType'),
            storage_account_strategy=publishing.get('storageAccountStrategy'),
            replication_mode=publishing.get('replicationMode'), published_date=publishing.get('publishedDate')),
        provisioning_state=props.get('provisioningState'), tags=body.get('tags') or {},
    )


def _source_type(ref):
    if not ref:
        return None
    if is_blob_url(ref):
        return 'blob'
    parsed = ids.parse(ref)
    for kind, name in KIND_NAMES.items():
        if parsed is not None and parsed.type.lower() == kind.lower():
            return name
    return None


def replication_status(version):
    """{'aggregated_state', 'regions': [{region, state, progress, details}]} of a version read with
    $expand=ReplicationStatus; None when it has none."""
    if version is None:
        return None
    status = (wire(version).get('properties') or {}).get('replicationStatus')
    if not status:
        return None
    return dict(aggregated_state=status.get('aggregatedState'),
                regions=[dict(region=s.get('region'), state=s.get('state'), progress=s.get('progress'),
                              details=s.get('details') or '') for s in status.get('summary') or []])


def _replicating(status):
    """The regions of ``status`` not yet Completed."""
    return [r for r in (status or {}).get('regions') or [] if (r.get('state') or '').lower() != 'completed']


# --- dates ---------------------------------------------------------------------------------------

_DATE = re.compile(r'^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*'
                   r'(Z|z|[+-]\d{2}:?\d{2})?$')


def parse_date(value, what='publishing_profile.end_of_life_date'):
    """An ISO 8601 date or date-time (UTC when no offset is given) as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    match = _DATE.match(str(value).strip())
    if not match:
        raise ComputeError("%s %r is not an ISO 8601 date: write it as 2030-12-31 or 2030-12-31T00:00:00Z."
                           % (what, value))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = datetime.timezone.utc
    if zone and zone.lower() != 'z':
        sign = -1 if zone[0] == '-' else 1
        digits = zone[1:].replace(':', '')
        tz = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                                 int((fraction or '0')[:6].ljust(6, '0')), tzinfo=tz)
    except ValueError as exc:
        raise ComputeError('%s %r is not a valid date (%s).' % (what, value, exc))


def _date_text(value):
    if value is None:
        return None
    try:
        return parse_date(value).astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    except ComputeError:
        return str(value)


# --- sources -------------------------------------------------------------------------------------

class Source(object):
    """A source read from Azure: ``kind`` (one of VM, IMAGE, VERSION, DISK, SNAPSHOT, BLOB), ``ref``
    (its id as Azure spells it, or the URL), ``where`` (how messages name it) and the facts the
    preflight checks."""

    def __init__(self, kind, ref, where, generation=None, os_state=None, security_type=None, os_size=None,
                 data_sizes=(), location=None):
        self.kind, self.ref, self.where = kind, ref, where
        self.generation, self.os_state, self.security_type = generation, os_state, security_type
        self.os_size, self.data_sizes, self.location = os_size, list(data_sizes), location


def _kind_of(resource_type):
    """The constant (VM, IMAGE, ...) of a resource type however it is cased."""
    return next((k for k in KIND_NAMES if k.lower() == resource_type.lower()), resource_type)


def _kind_label(kind):
    return {VM: 'VM', IMAGE: 'managed image', VERSION: 'gallery image version', DISK: 'managed disk',
            SNAPSHOT: 'snapshot', BLOB: 'VHD blob URL'}.get(kind, kind)


def candidates(subscription_id, resource_group, value, kinds, what):
    """The resource ids ``value`` may name, in the order they are tried; ``[url]`` for a blob URL.

    ``value``: a resource id, a name in ``resource_group`` (each of ``kinds`` is tried), a blob URL,
    or a dict: {id}, {uri}, {name, resource_group, type}, or for a version {resource_group,
    gallery_name, gallery_image_name, version} (azure_rm_galleryimageversion's forms)."""
    allowed = ' or '.join(_kind_label(k) for k in kinds)
    if isinstance(value, dict) and (value.get('id') or value.get('uri')):
        value = value.get('id') or value.get('uri')
    if is_blob_url(value):
        if BLOB not in kinds:
            raise ComputeError('%s is a URL; it must be a %s (a name or resource id).' % (what, allowed), code='bad_source')
        return [value]
    names = [k for k in kinds if k not in (BLOB, VERSION)]
    if isinstance(value, dict):
        rg = value.get('resource_group') or resource_group
        if value.get('gallery_name') or value.get('gallery_image_name') or value.get('version'):
            missing = [k for k in ('gallery_name', 'gallery_image_name', 'version') if not value.get(k)]
            if VERSION not in kinds or missing:
                raise ComputeError('%s names a gallery image version: give gallery_name, gallery_image_name and version '
                                   '(and optionally resource_group)%s.' % (
                                       what, '' if VERSION in kinds else ', but it must be a %s' % allowed),
                                   code='bad_source')
            return ['/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s/images/%s/versions/%s'
                    % (subscription_id, rg, value['gallery_name'], value['gallery_image_name'], value['version'])]
        if not value.get('name'):
            raise ComputeError('%s given as a dict needs name (and optionally resource_group and type), id or uri.' % what,
                               code='bad_source')
        if value.get('type'):
            kind = DICT_TYPES.get(str(value['type']).lower())
            if kind is None or kind not in kinds:
                raise ComputeError('%s: type must be one of %s, not %r.' % (
                    what, ', '.join(t for t, k in DICT_TYPES.items() if k in kinds), value['type']), code='bad_source')
            names = [kind]
        return [ids.build(subscription_id, rg, kind, value['name']) for kind in names]
    if not isinstance(value, str) or not value:
        raise ComputeError('%s must be a name, a resource id or a dict, not %r.' % (what, value), code='bad_source')
    if ids.looks_like_id(value):
        parsed = ids.parse(value)
        if parsed is None:
            raise ComputeError("%s '%s' is not an Azure resource id (/subscriptions/.../resourceGroups/.../providers/...)."
                               % (what, value), code='bad_source')
        if not any(parsed.type.lower() == k.lower() for k in kinds):
            raise ComputeError("%s '%s' is a %s; it must be a %s." % (what, value, parsed.type, allowed), code='bad_source')
        return [str(parsed)]
    return [ids.build(subscription_id, resource_group, kind, value) for kind in names]


def _names(subscription_id, resource_group, value, kinds, what, ref):
    """True when ``value`` names ``ref`` (a resource id or URL) without reading anything."""
    if not ref:
        return False
    return any(c == ref if is_blob_url(c) else ids.same(c, ref)
               for c in candidates(subscription_id, resource_group, value, kinds, what))


def _size(resource):
    size = getattr(resource, 'disk_size_bytes', None)
    if size:
        return size
    size_gb = getattr(resource, 'disk_size_gb', None)
    return size_gb * GIB if size_gb else None


def _gb(size_gb):
    return size_gb * GIB if size_gb else None


def _text(value):
    """An SDK enum member as its plain string (str() of one is 'HyperVGeneration.V2'); None stays None."""
    return getattr(value, 'value', value)


def _security_type(resource):
    return _text(getattr(getattr(resource, 'security_profile', None), 'security_type', None))


def _vm_source(vm):
    view = getattr(vm, 'instance_view', None)
    statuses = getattr(view, 'statuses', None) or []
    generalized = any((s.code or '').lower() == 'osstate/generalized' for s in statuses)
    storage = vm.storage_profile
    return Source(VM, vm.id, "the source VM '%s' (instance view)" % vm.name,
                  generation=_text(getattr(view, 'hyper_v_generation', None)),
                  os_state='Generalized' if generalized else 'Specialized', security_type=_security_type(vm),
                  os_size=_gb(storage.os_disk.disk_size_gb),
                  data_sizes=[(d.lun, _gb(d.disk_size_gb)) for d in storage.data_disks or []], location=vm.location)


def _image_source(image):
    storage = image.storage_profile
    osd = storage.os_disk if storage is not None else None
    return Source(IMAGE, image.id, "the source managed image '%s'" % image.name, generation=_text(image.hyper_v_generation),
                  os_state=_text(getattr(osd, 'os_state', None)), os_size=_gb(getattr(osd, 'disk_size_gb', None)),
                  data_sizes=[(d.lun, _gb(d.disk_size_gb)) for d in getattr(storage, 'data_disks', None) or []],
                  location=image.location)


def _version_source(client, parsed, version):
    rg, gallery, definition_name = parsed.resource_group, parsed.names[0], parsed.names[1]
    parent = get_or_none(client.gallery_images.get, rg, gallery, definition_name)
    where = "the source gallery image version '%s/%s/%s' (its definition)" % (gallery, definition_name, version.name)
    storage = version.storage_profile
    osd = storage.os_disk_image if storage is not None else None
    return Source(VERSION, version.id, where, generation=_text(getattr(parent, 'hyper_v_generation', None)),
                  os_state=_text(getattr(parent, 'os_state', None)),
                  security_type=preflight.definition_security_type(getattr(parent, 'features', None)),
                  os_size=_gb(getattr(osd, 'size_in_gb', None)),
                  data_sizes=[(d.lun, _gb(d.size_in_gb)) for d in getattr(storage, 'data_disk_images', None) or []],
                  location=version.location)


def _read(client, resource_id, what):
    """The Source ``resource_id`` names, or None when it does not exist."""
    parsed = ids.parse(resource_id)
    kind = parsed.type.lower()
    if kind == VM.lower():
        vm = get_or_none(client.virtual_machines.get, parsed.resource_group, parsed.name, expand='instanceView')
        return _vm_source(vm) if vm is not None else None
    if kind == IMAGE.lower():
        image = get_or_none(client.images.get, parsed.resource_group, parsed.name)
        return _image_source(image) if image is not None else None
    if kind == VERSION.lower():
        version = get_or_none(client.gallery_image_versions.get, parsed.resource_group, parsed.names[0],
                              parsed.names[1], parsed.names[2])
        return _version_source(client, parsed, version) if version is not None else None
    get = client.disks.get if kind == DISK.lower() else client.snapshots.get
    found = get_or_none(get, parsed.resource_group, parsed.name)
    if found is None:
        return None
    label = 'managed disk' if kind == DISK.lower() else 'snapshot'
    return Source(DISK if kind == DISK.lower() else SNAPSHOT, found.id, "the %s '%s' (%s)" % (label, found.name, what),
                  generation=_text(found.hyper_v_generation), security_type=_security_type(found),
                  os_size=_size(found), location=found.location)


def resolve(client, subscription_id, resource_group, value, kinds, what):
    """Read the source ``value`` names (see ``candidates``); ComputeError when it does not exist."""
    tried = candidates(subscription_id, resource_group, value, kinds, what)
    if is_blob_url(tried[0]):
        return Source(BLOB, tried[0], "the VHD blob '%s' (%s)" % (tried[0].split('?', 1)[0], what))
    for candidate in tried:
        found = _read(client, candidate, what)
        if found is not None:
            return found
    name = value.get('name') or value.get('version') if isinstance(value, dict) else value
    looked = []
    for candidate in tried:
        label = _kind_label(_kind_of(ids.parse(candidate).type))
        if label not in looked:
            looked.append(label)
    raise ComputeError("%s '%s' was not found (looked for a %s in resource group '%s'). Check the name or give its "
                       'resource id.' % (what, name, ' or '.join(looked), ids.parse(tried[0]).resource_group),
                       code='source_not_found')


# --- the wanted state ----------------------------------------------------------------------------

def blob_account(url):
    """The storage account of a blob URL: the host's first label (https://ACCOUNT.blob.core.windows.net/...),
    or, for an emulator's path-style URL (an IP address or localhost as host: Azurite), the first path segment."""
    parts = urlsplit(url if '://' in url else 'https://' + url)
    host = parts.hostname or ''
    if host == 'localhost' or ':' in host or re.match(r'^[0-9.]+$', host):
        segment = parts.path.lstrip('/').split('/', 1)[0]
        if segment:
            return segment
    return host.split('.', 1)[0]


def _storage_account(subscription_id, resource_group, given, url, what):
    """The resource id of the storage account holding ``url``: ``given`` (an id, or a name in
    ``resource_group``) is required, Azure needs it since 2025 and it cannot be derived reliably from
    the URL (the account may be in any resource group or subscription)."""
    account = blob_account(url)
    if not given:
        raise ComputeError("%s is a VHD blob URL: give %s.storage_account_id too, the resource id (or, in resource_group, "
                           "the name) of storage account '%s' that holds it. Azure needs it with the URL."
                           % (what, what, account), code='storage_account_required')
    resolved = given if ids.looks_like_id(given) else ids.build(subscription_id, resource_group, STORAGE_ACCOUNT, given)
    parsed = ids.parse(resolved)
    if parsed is None or parsed.type.lower() != STORAGE_ACCOUNT.lower():
        raise ComputeError("%s.storage_account_id '%s' is not a storage account id (.../providers/Microsoft.Storage/"
                           'storageAccounts/NAME).' % (what, given), code='bad_source')
    if parsed.name.lower() != account.lower():
        raise ComputeError("%s.storage_account_id names storage account '%s' but the blob URL is in account '%s'. "
                           'Correct one of them.' % (what, parsed.name, account), code='bad_source')
    return str(parsed)


def _check_layout(storage):
    """Which sources the storage profile gives: errors for combinations Azure refuses."""
    source_image = storage.get('source_image')
    os_disk = storage.get('os_disk') or None
    data = storage.get('data_disks') or []
    if source_image and (os_disk or data):
        raise ComputeError('storage_profile.source_image (a managed image, VM or version, which brings its own disks) '
                           'cannot be combined with storage_profile.os_disk or data_disks: give either source_image, '
                           'or os_disk (and data_disks).', code='bad_source')
    if not source_image and not (os_disk and os_disk.get('source')):
        raise ComputeError('storage_profile needs a source: source_image (a managed image, VM or gallery image version) '
                           'or os_disk.source (a managed disk, snapshot or VHD blob URL)%s.'
                           % (', data_disks alone are not a version' if data else ''), code='bad_source')
    luns = []
    for index, disk in enumerate(data):
        if disk.get('lun') is None or not disk.get('source'):
            raise ComputeError('storage_profile.data_disks[%d] needs lun and source.' % index, code='bad_source')
        if disk['lun'] < 0:
            raise ComputeError('storage_profile.data_disks[%d].lun must be 0 or more, not %d.' % (index, disk['lun']))
        luns.append(disk['lun'])
    twice = sorted({lun for lun in luns if luns.count(lun) > 1})
    if twice:
        raise ComputeError('storage_profile.data_disks: lun %s is given more than once; each data disk needs its own '
                           'lun.' % ', '.join(str(lun) for lun in twice), code='bad_source')


def _wanted_storage(client, subscription_id, rg, storage, read):
    """(storage_profile as compared, the Sources read or None). ``read=False`` takes the references as
    given (used when they match the existing version, so that nothing is read)."""
    _check_layout(storage)
    if storage.get('source_image'):
        what = 'storage_profile.source_image'
        if read:
            source = resolve(client, subscription_id, rg, storage['source_image'], (IMAGE, VM, VERSION), what)
            return dict(source_image=source.ref, os_disk=None, data_disks=None), [source]
        return dict(source_image=None, os_disk=None, data_disks=None), None
    sources, disks = [], []
    entries = [('storage_profile.os_disk', storage['os_disk'], None)] + [
        ('storage_profile.data_disks[%d]' % i, d, d['lun']) for i, d in enumerate(storage.get('data_disks') or [])]
    for what, entry, lun in entries:
        ref, account = None, None
        value = entry['source']
        if is_blob_url(value if not isinstance(value, dict) else value.get('uri')):
            url = value if not isinstance(value, dict) else value['uri']
            if '?' in url:
                # Also keeps a SAS token out of requests, results and messages.
                raise ComputeError('%s: give the VHD blob URL without a query string (no SAS token); Azure reads the blob '
                                   'through storage_account_id.' % what, code='bad_source')
            given = entry.get('storage_account_id') or (value.get('storage_account_id') if isinstance(value, dict) else None)
            account = _storage_account(subscription_id, rg, given, url, what)
            ref = url
            if read:
                sources.append(Source(BLOB, url, "the VHD blob '%s' (%s)" % (url.split('?', 1)[0], what)))
        elif read:
            found = resolve(client, subscription_id, rg, value, (SNAPSHOT, DISK), what + '.source')
            ref = found.ref
            sources.append(found)
        disks.append(_drop_none(dict(lun=lun, source=ref, storage_account_id=account,
                                     host_caching=entry.get('host_caching'))))
    os_disk = disks[0]
    os_disk.pop('lun', None)
    return dict(source_image=None, os_disk=os_disk, data_disks=disks[1:]), sources if read else None


def _same_sources(subscription_id, rg, storage, before):
    """True when ``storage`` (the option) names the sources the existing version was made from."""
    sp = before.get('storage_profile') or {}
    if storage.get('source_image'):
        return bool(sp.get('source_image')) and _names(subscription_id, rg, storage['source_image'], (IMAGE, VM, VERSION),
                                                       'storage_profile.source_image', sp['source_image'])
    if sp.get('source_image') or not sp.get('os_disk'):
        return False
    given = [storage['os_disk']] + list(storage.get('data_disks') or [])
    current = [sp['os_disk']] + [d for d in sp.get('data_disks') or [] if d.get('source')]
    by_lun = dict((d['lun'], d) for d in current[1:])
    if len(given) != len(current):
        return False
    pairs = [(given[0], current[0])] + [(d, by_lun.get(d['lun'])) for d in given[1:]]
    for entry, disk in pairs:
        if disk is None:
            return False
        value = entry['source']
        if not _names(subscription_id, rg, value, (SNAPSHOT, DISK, BLOB), 'storage_profile.os_disk.source', disk['source']):
            return False
    return True


def _recorded_storage(subscription_id, rg, storage, before):
    """The storage profile as compared, with the references of the existing version (nothing read)."""
    sp = before['storage_profile']
    if storage.get('source_image'):
        return dict(source_image=sp['source_image'], os_disk=None, data_disks=None)
    wanted, dummy = _wanted_storage(None, subscription_id, rg, storage, read=False)
    wanted['os_disk']['source'] = sp['os_disk']['source']
    by_lun = dict((d['lun'], d) for d in sp.get('data_disks') or [])
    for disk in wanted['data_disks']:
        disk['source'] = by_lun[disk['lun']]['source']
    return wanted


def _publishing(params):
    pp = params.get('publishing_profile') or {}
    regions = None
    if pp.get('target_regions') is not None:
        regions = []
        for index, region in enumerate(pp['target_regions']):
            if not region.get('name'):
                raise ComputeError('publishing_profile.target_regions[%d] needs a name.' % index)
            regions.append(_drop_none(dict(
                name=region['name'], regional_replica_count=region.get('regional_replica_count'),
                storage_account_type=region.get('storage_account_type'),
                encryption=_drop_empty(region.get('encryption')))))
        names = [_norm_region(r['name']) for r in regions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ComputeError('publishing_profile.target_regions lists %s more than once.' % ', '.join(twice))
    if pp.get('replica_count') is not None and pp['replica_count'] < 1:
        raise ComputeError('publishing_profile.replica_count must be 1 or more, not %d.' % pp['replica_count'])
    for index, region in enumerate(regions or []):
        if region.get('regional_replica_count') is not None and region['regional_replica_count'] < 1:
            raise ComputeError('publishing_profile.target_regions[%d].regional_replica_count must be 1 or more.' % index)
    eol = parse_date(pp.get('end_of_life_date'))
    return dict(target_regions=regions, replica_count=pp.get('replica_count'),
                exclude_from_latest=pp.get('exclude_from_latest'),
                end_of_life_date=eol.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ') if eol else None,
                storage_account_type=pp.get('storage_account_type'), replication_mode=pp.get('replication_mode'))


def _drop_empty(value):
    """``value`` (nested dicts and lists) without None members and empty containers; None when empty."""
    if isinstance(value, dict):
        out = dict((k, _drop_empty(v)) for k, v in value.items())
        out = dict((k, v) for k, v in out.items() if v is not None)
        return out or None
    if isinstance(value, list):
        out = [_drop_empty(v) for v in value]
        out = [v for v in out if v is not None]
        return out or None
    return value


def _norm_region(name):
    return (name or '').replace(' ', '').lower()


# --- comparison ----------------------------------------------------------------------------------

def _folded(value):
    """``value`` for comparison: strings without case, dicts without None members."""
    if isinstance(value, dict):
        return dict((k, _folded(v)) for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return [_folded(v) for v in value]
    if isinstance(value, str):
        return value.lower()
    return value


def _same_ref(a, b):
    if is_blob_url(a) or is_blob_url(b):
        return (a or '').split('?', 1)[0] == (b or '').split('?', 1)[0]
    return ids.same(a, b)


def _same_regions(wanted, current):
    """Same set of regions, and every sub-option given equal to what the region has."""
    have = dict((_norm_region(r['name']), r) for r in current or [])
    if sorted(_norm_region(r['name']) for r in wanted) != sorted(have):
        return False
    for region in wanted:
        now = have[_norm_region(region['name'])]
        for key, value in region.items():
            if key != 'name' and _folded(value) != _folded(now.get(key)):
                return False
    return True


def _same_data_disks(wanted, current):
    have = dict((d['lun'], d) for d in current or [])
    if sorted(d['lun'] for d in wanted) != sorted(have):
        return False
    for disk in wanted:
        now = have[disk['lun']]
        if not _same_ref(disk['source'], now.get('source')):
            return False
        for key in ('host_caching', 'storage_account_id'):
            if disk.get(key) is not None and _folded(disk[key]) != _folded(now.get(key)):
                return False
    return True


def _get_path(state, path):
    for key in path.split('.'):
        state = (state or {}).get(key)
    return state


def differences(wanted, before):
    """(changed field paths, immutable ones among them): every field compared, none skipped.

    ``wanted`` has the module's shape; None means "not asked for" and is not compared."""
    checks = [
        ('location', same_location),
        ('storage_profile.source_image', _same_ref),
        ('storage_profile.os_disk.source', _same_ref),
        ('storage_profile.os_disk.storage_account_id', _same_ref),
        ('storage_profile.os_disk.host_caching', lambda a, b: _folded(a) == _folded(b)),
        ('storage_profile.data_disks', _same_data_disks),
        ('publishing_profile.storage_account_type', lambda a, b: _folded(a) == _folded(b)),
        ('publishing_profile.replication_mode', lambda a, b: _folded(a) == _folded(b or 'Full')),
        ('publishing_profile.target_regions', _same_regions),
        ('publishing_profile.replica_count', lambda a, b: a == b),
        ('publishing_profile.exclude_from_latest', lambda a, b: bool(a) == bool(b)),
        ('publishing_profile.end_of_life_date', lambda a, b: b is not None and parse_date(a) == parse_date(b)),
        ('tags', lambda a, b: a == (b or {})),
    ]
    changed = [path for path, equal in checks
               if _get_path(wanted, path) is not None and not equal(_get_path(wanted, path), _get_path(before, path))]
    return changed, [path for path in changed if path in IMMUTABLE]


def _merge(before, wanted):
    """``before`` with every field of ``wanted`` that is not None (nested)."""
    out = dict(before)
    for key, value in wanted.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif value is not None:
            out[key] = value
    return out


def _immutable_error(label, fields, wanted, before):
    details = '; '.join('%s is %r, wanted %r' % (f, _get_path(before, f), _get_path(wanted, f)) for f in fields)
    return ComputeError('%s exists with different %s (%s). These cannot be changed in place: set replace=true to delete '
                        'and re-create it, or publish under another version name.' % (label, ', '.join(fields), details),
                        code='immutable')


# --- preflight -----------------------------------------------------------------------------------

def read_definition(client, rg, gallery, image):
    """The gallery image definition; a clear error naming it (or its gallery) when it does not exist."""
    definition = get_or_none(client.gallery_images.get, rg, gallery, image)
    if definition is not None:
        return definition
    if get_or_none(client.galleries.get, rg, gallery) is None:
        raise gallery_not_found(rg, gallery)
    raise ComputeError("Gallery image definition '%s' was not found in gallery '%s' (resource group '%s'). Create it "
                       'first (vmimage.azure.gallery_image) or correct gallery_image_name.' % (image, gallery, rg),
                       code='definition_not_found')


def check_sources(definition, sources, replication_mode):
    """The shared preflight for a version made from ``sources`` (the OS source first) into ``definition``."""
    source = sources[0]
    dwhere = "gallery image definition '%s'" % definition.name
    dstate = _text(definition.os_state)
    generation = preflight.agree_generation([(source.generation, source.where),
                                             (_text(definition.hyper_v_generation), dwhere)])
    if source.os_state and dstate and source.os_state.lower() != dstate.lower():
        raise ComputeError(
            '%s is %s but %s takes %s images. %s' % (
                source.where[0].upper() + source.where[1:], source.os_state, dwhere, dstate,
                'Generalize the guest (sysprep, or waagent -deprovision) and the VM first, or publish to a Specialized '
                'definition.' if dstate.lower() == 'generalized' else
                'Publish a generalized source to a Generalized definition, or use a specialized source.'),
            code='os_state_mismatch')
    definition_security = preflight.definition_security_type(definition.features)
    preflight.check_security(source.security_type, generation or source.generation, 'gallery', source.where)
    preflight.check_definition_security(definition_security, source.security_type,
                                        '%s into %s' % (source.where, dwhere))
    preflight.check_size('gallery_os_disk', source.os_size, source.where, replication_mode)
    for lun, size in source.data_sizes:
        preflight.check_size('gallery_data_disk', size, '%s (data disk at lun %s)' % (source.where, lun),
                             replication_mode)
    for data in sources[1:]:
        preflight.check_size('gallery_data_disk', data.os_size, data.where, replication_mode)


def _check_location(location, definition, regions):
    if not same_location(location, definition.location):
        raise ComputeError("location is %s but gallery image definition '%s' is in %s: a version is created in the "
                           "region of its definition. Omit location (or set it to %s) and list %s in "
                           'publishing_profile.target_regions to replicate the version there.'
                           % (location, definition.name, definition.location, definition.location, location),
                           code='location_mismatch')
    if regions is not None and _norm_region(location) not in [_norm_region(r['name']) for r in regions]:
        raise ComputeError('publishing_profile.target_regions must include the version\'s own region %s (it is always '
                           'replicated there); add it to the list.' % location, code='bad_target_regions')


# --- plan ----------------------------------------------------------------------------------------

def _label(params):
    return "Gallery image version '%s' of definition '%s' in gallery '%s' (resource group '%s')" % (
        params['name'], params['gallery_image_name'], params['gallery_name'], params['resource_group'])


def plan(client, subscription_id, params):
    """Decide what to do; only GETs. Returns a dict with ``action`` (none/create/update/replace/delete)."""
    rg, gallery, image, name = (params['resource_group'], params['gallery_name'], params['gallery_image_name'],
                                params['name'])
    timeout = params.get('timeout') or 3600
    if timeout <= 0:
        raise ComputeError('timeout must be a number of seconds greater than 0, not %s.' % timeout)
    match = VERSION_NAME.match(name or '')
    if not match or any(int(p) > INT32_MAX for p in name.split('.')):
        raise ComputeError("name %r is not a gallery image version name: use Major.Minor.Patch, three integers from 0 to "
                           '2147483647, for example 1.0.0 or 2026.1.15.' % name, code='bad_name')
    base = dict(resource_group=rg, gallery_name=gallery, gallery_image_name=image, name=name,
                wait=params.get('wait', True), timeout=timeout, label=_label(params))
    current = get_or_none(client.gallery_image_versions.get, rg, gallery, image, name, expand='ReplicationStatus')
    before, status = normalize(current), replication_status(current)
    base.update(before=before, current=before, replication_status=status)
    if params.get('state') == 'absent':
        return dict(base, action='delete' if current is not None else 'none', after={})

    definition = read_definition(client, rg, gallery, image)
    storage = _drop_empty(params.get('storage_profile')) or {}
    if current is None and not storage:
        raise ComputeError('storage_profile is required to create %s: give source_image, or os_disk (and data_disks).'
                           % (_label(params)[0].lower() + _label(params)[1:]), code='bad_source')
    publishing = _publishing(params)
    location = params.get('location') or before.get('location') or definition.location
    _check_location(location, definition, publishing['target_regions'])
    mode = publishing['replication_mode'] or (before.get('publishing_profile') or {}).get('replication_mode')

    recorded = current is not None and (not storage or _same_sources(subscription_id, rg, storage, before))
    sources = None
    if not storage:
        wanted_storage = dict(source_image=None, os_disk=None, data_disks=None)
    elif recorded:
        wanted_storage = _recorded_storage(subscription_id, rg, storage, before)
    else:
        wanted_storage, sources = _wanted_storage(client, subscription_id, rg, storage, read=True)
    wanted = dict(location=location, storage_profile=wanted_storage, publishing_profile=publishing,
                  tags=params.get('tags'))
    changed, immutable = differences(wanted, before) if current is not None else ([], [])
    failed = (before.get('provisioning_state') or '').lower() == 'failed'
    if current is not None and (immutable or failed) and not params.get('replace'):
        if failed:
            details = '; '.join(sorted({r['details'] for r in (status or {}).get('regions') or [] if r['details']}))
            raise ComputeError('%s exists but its creation failed%s. Delete it (state=absent) or set replace=true to '
                               're-create it.' % (_label(params), ' (%s)' % details if details else ''),
                               code='version_failed')
        raise _immutable_error(_label(params), immutable, wanted, before)
    replacing = current is not None and (immutable or failed)
    if (current is None or replacing) and sources is None:
        if not storage:
            raise ComputeError('storage_profile is required to re-create %s.' % _label(params), code='bad_source')
        wanted_storage, sources = _wanted_storage(client, subscription_id, rg, storage, read=True)
        wanted['storage_profile'] = wanted_storage
    if sources is not None and (current is None or replacing):
        check_sources(definition, sources, mode)
    kind = sources[0].kind if sources else None
    ref = wanted_storage.get('source_image') or (wanted_storage.get('os_disk') or {}).get('source')
    after = _merge({} if current is None or replacing else before,
                   dict(wanted, name=name, source=ref, source_type=KIND_NAMES.get(kind)))
    if current is None:
        return dict(base, action='create', wanted=wanted, source_kind=kind, after=after)
    action = 'replace' if replacing else ('update' if changed else 'none')
    return dict(base, action=action, wanted=wanted, source_kind=kind, after=after, changed_fields=changed)


# --- apply ---------------------------------------------------------------------------------------

def _disk_image(models, cls, disk):
    if is_blob_url(disk['source']):
        source = models.GalleryDiskImageSource(uri=disk['source'], storage_account_id=disk.get('storage_account_id'))
    else:
        source = models.GalleryDiskImageSource(id=disk['source'])
    kwargs = dict(host_caching=disk.get('host_caching'), source=source)
    if 'lun' in disk:
        kwargs['lun'] = disk['lun']
    return cls(**kwargs)


def _target_region(models, region):
    encryption = region.get('encryption')
    body = None
    if encryption:
        osd = encryption.get('os_disk_image') or {}
        security = osd.get('security_profile') or {}
        body = models.EncryptionImages(
            os_disk_image=models.OSDiskImageEncryption(
                disk_encryption_set_id=osd.get('disk_encryption_set_id'),
                security_profile=models.OSDiskImageSecurityProfile(
                    confidential_vm_encryption_type=security.get('confidential_vm_encryption_type'),
                    secure_vm_disk_encryption_set_id=security.get('secure_vm_disk_encryption_set_id'))
                if security else None) if osd else None,
            data_disk_images=[
                models.DataDiskImageEncryption(lun=d['lun'], disk_encryption_set_id=d.get('disk_encryption_set_id'))
                for d in encryption.get('data_disk_images') or []] or None)
    return models.TargetRegion(name=region['name'], regional_replica_count=region.get('regional_replica_count'),
                               storage_account_type=region.get('storage_account_type'), encryption=body)


def _publishing_model(models, publishing, create):
    fields = dict(
        target_regions=[_target_region(models, r) for r in publishing['target_regions']]
        if publishing['target_regions'] is not None else None,
        replica_count=publishing['replica_count'], exclude_from_latest=publishing['exclude_from_latest'],
        end_of_life_date=parse_date(publishing['end_of_life_date']))
    if create:
        fields.update(storage_account_type=publishing['storage_account_type'],
                      replication_mode=publishing['replication_mode'])
    fields = _drop_none(fields)
    return models.GalleryImageVersionPublishingProfile(**fields) if fields else None


def create_body(planned):
    from azure.mgmt.compute import models
    wanted = planned['wanted']
    storage = wanted['storage_profile']
    if storage['source_image']:
        if planned['source_kind'] == VM:
            source = models.GalleryArtifactVersionFullSource(virtual_machine_id=storage['source_image'])
        else:
            source = models.GalleryArtifactVersionFullSource(id=storage['source_image'])
        profile = models.GalleryImageVersionStorageProfile(source=source)
    else:
        profile = models.GalleryImageVersionStorageProfile(
            os_disk_image=_disk_image(models, models.GalleryOSDiskImage, storage['os_disk']),
            data_disk_images=[_disk_image(models, models.GalleryDataDiskImage, d) for d in storage['data_disks']] or None)
    return models.GalleryImageVersion(
        location=wanted['location'], tags=wanted['tags'],
        properties=models.GalleryImageVersionProperties(
            storage_profile=profile, publishing_profile=_publishing_model(models, wanted['publishing_profile'], True)))


def update_body(planned):
    """PATCH body: the fields that can change in place (GalleryRP needs a storageProfile, empty here)."""
    from azure.mgmt.compute import models
    wanted = planned['wanted']
    return models.GalleryImageVersionUpdate(
        tags=wanted['tags'], properties=models.GalleryImageVersionProperties(
            storage_profile=models.GalleryImageVersionStorageProfile(),
            publishing_profile=_publishing_model(models, wanted['publishing_profile'], False)))


def _timeout_error(planned, status, version_id):
    regions = _replicating(status)
    still = ', '.join('%s (%s, %s%%)' % (r['region'], r['state'], r['progress'] if r['progress'] is not None else '?')
                      for r in regions) or 'none reported (provisioning not finished)'
    return ReplicationTimeout(
        '%s did not finish replicating within %s seconds; still replicating: %s. Azure goes on replicating: run the '
        'task again with wait=true to keep waiting (nothing is sent again), or raise timeout.'
        % (planned['label'], planned['timeout'], still), status, version_id)


def wait_for_replication(client, planned, deadline, sleep=time.sleep, clock=time.monotonic):
    """Read the version with $expand=ReplicationStatus until every region is Completed (or it failed,
    or ``deadline`` passes). Returns (version model, replication status)."""
    args = (planned['resource_group'], planned['gallery_name'], planned['gallery_image_name'], planned['name'])
    interval = poll_interval(planned['timeout'])
    while True:
        version = client.gallery_image_versions.get(*args, expand='ReplicationStatus')
        status = replication_status(version)
        state = (version.provisioning_state or '').lower()
        if state == 'failed' or (status or {}).get('aggregated_state', '').lower() == 'failed':
            details = '; '.join(sorted({r['details'] for r in (status or {}).get('regions') or [] if r['details']}))
            raise ComputeError('%s failed to replicate%s. Correct the cause, then delete it or set replace=true.'
                               % (planned['label'], ': %s' % details if details else ''), code='replication_failed')
        if state not in BUSY_STATES and not _replicating(status):
            return version, status
        left = deadline - clock()
        if left <= 0:
            raise _timeout_error(planned, status, version.id)
        sleep(min(interval, left))


def _busy(planned):
    before = planned.get('before') or {}
    return bool(before) and ((before.get('provisioning_state') or '').lower() in BUSY_STATES
                             or bool(_replicating(planned.get('replication_status'))))


def apply(client, planned, wait, clock=time.monotonic, sleep=time.sleep):
    """Carry out ``planned`` and, when ``planned['wait']``, wait for replication in every target region.

    ``wait(poller, operation, timeout)`` waits for a long-running operation (AzureModule.wait).
    Returns {'version': normalized state ({} once deleted), 'replication_status': status or None}."""
    action = planned['action']
    ops = client.gallery_image_versions
    args = (planned['resource_group'], planned['gallery_name'], planned['gallery_image_name'], planned['name'])
    deadline = clock() + planned['timeout']
    label = planned['label'][0].lower() + planned['label'][1:]

    def left():
        return max(1, deadline - clock())

    if action == 'none':
        if planned['wait'] and _busy(planned):
            version, status = wait_for_replication(client, planned, deadline, sleep, clock)
            return dict(version=normalize(version), replication_status=status)
        return dict(version=planned.get('current') or {}, replication_status=planned.get('replication_status'))
    if action in ('delete', 'replace'):
        if action == 'delete' and not planned['wait']:
            ops.begin_delete(*args, polling=False)
            return dict(version={}, replication_status=None)
        wait(ops.begin_delete(*args), 'delete ' + label, left())
        if action == 'delete':
            return dict(version={}, replication_status=None)
    if action == 'update':
        operation, begin, body = 'update ' + label, ops.begin_update, update_body(planned)
    else:
        operation, begin, body = 'create ' + label, ops.begin_create_or_update, create_body(planned)

    def start(**kwargs):
        return begin(*args, body, **kwargs)
    if not planned['wait']:
        accepted = start(polling=False).result()
        return dict(version=normalize(accepted), replication_status=None)
    try:
        wait(start(), operation, left())
    except OperationTimeout:
        seen = get_or_none(ops.get, *args, expand='ReplicationStatus')
        raise _timeout_error(planned, replication_status(seen), getattr(seen, 'id', None))
    version, status = wait_for_replication(client, planned, deadline, sleep, clock)
    return dict(version=normalize(version), replication_status=status)
