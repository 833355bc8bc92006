# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Upload a fixed VHD straight into a managed disk (``vhd_upload`` with ``disk_name``): the ARM side.

    result = upload_to_disk(client, subscription_id, path, options, check_mode, wait, secret)

The flow: create the disk with ``createOption: Upload`` and ``uploadSizeBytes`` = the VHD's file size
(state ReadyToUpload), grant Write access (ActiveUpload, a SAS URL of the disk's page blob), send the
pages with the engine's ``PageWriter`` (sparse, parallel, Content-MD5, the VHD footer last), revoke
access (Unattached). A managed disk's SAS takes Put Page and Get Page Ranges but no metadata, no Put
Blob and no lease, so the upload state and the source fingerprint are the disk's tags
(``DiskTagStore``, the same keys as the blob metadata), set through Resource Manager.

Decisions (``decide``): no disk -> create; an upload disk of the VHD's size whose tags hold this
source's fingerprint -> nothing to do when it is complete (Unattached, or attached since), resume when
it is still ReadyToUpload/ActiveUpload (grant access again: Azure gives a new SAS to the same blob;
send the requests not wholly on it), finish (tags only) when access was revoked but the tags that mark
it complete were not written (revoking succeeds only once the footer, sent last, is there); anything else -> ``UploadConflict`` unless ``overwrite`` is
``different`` (or ``always``), which deletes the disk and creates it again (a managed disk that holds
data cannot be written again). The source is always scanned before the first write (its fingerprint
goes in the tags of the new disk), so an upload disk of ours always knows its source.

Access is revoked whatever happens once it was granted. Azure refuses to revoke it while the disk does
not end with a VHD footer (``InvalidVhd``): the footer is written last, so an interrupted upload stays
ActiveUpload (resumable; its SAS expires by itself) instead of becoming a usable, incomplete disk.
Every error says whether access was revoked.
"""

from __future__ import annotations

import os
import time

from ansible_collections.vmimage.azure.plugins.module_utils._azure.errors import describe_error
from ansible_collections.vmimage.azure.plugins.module_utils._compute import preflight
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import (
    ComputeError, get_or_none, resource_group_location, same_location, wire)
from ansible_collections.vmimage.azure.plugins.module_utils._storage import client as _client
from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan
from ansible_collections.vmimage.azure.plugins.module_utils._storage import state as _state
from ansible_collections.vmimage.azure.plugins.module_utils._storage import upload as _upload
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import image as _image

UPLOAD_STATES = ('ReadyToUpload', 'ActiveUpload')
DEFAULT_ACCESS_DURATION = 4 * 3600
# Fields of the disk the upload sets at creation and cannot change afterwards (a new upload replaces the disk).
FIXED_FIELDS = ('location', 'sku', 'os_type', 'hyper_v_generation', 'security_type')


def _models():
    from azure.mgmt.compute import models
    return models


def normalize(disk):
    """The fields the upload manages, from a Disk model (or None: {})."""
    if disk is None:
        return {}
    body = wire(disk)
    props = body.get('properties', {})
    creation = props.get('creationData', {})
    tags = body.get('tags') or {}
    low = dict((k.lower(), v) for k, v in tags.items())
    return dict(
        id=body.get('id'), name=body.get('name'), location=body.get('location'),
        disk_state=props.get('diskState'), create_option=creation.get('createOption'),
        upload_size_bytes=creation.get('uploadSizeBytes'), sku=(body.get('sku') or {}).get('name'),
        os_type=props.get('osType'), hyper_v_generation=props.get('hyperVGeneration'),
        security_type=(props.get('securityProfile') or {}).get('securityType'),
        disk_size_bytes=props.get('diskSizeBytes'), provisioning_state=props.get('provisioningState'),
        managed_by=body.get('managedBy'), tags=tags,
        state=low.get(_state.STATE_KEY), fingerprint=low.get(_state.FINGERPRINT_KEY),
    )


def summary(disk):
    """The ``disk`` of the result."""
    keys = ('id', 'name', 'location', 'disk_state', 'sku', 'os_type', 'hyper_v_generation', 'security_type',
            'upload_size_bytes', 'provisioning_state', 'tags')
    return dict((k, disk.get(k)) for k in keys if k in disk)


class DiskTagStore(_upload.StateStore):
    """The upload state in the managed disk's tags (``state.metadata`` keys), PATCHed through
    Resource Manager (``disks.begin_update`` with a ``DiskUpdate``); other tags are kept."""

    def __init__(self, client, resource_group, name, wait, tags=None):
        self.client, self.resource_group, self.name, self.wait = client, resource_group, name, wait
        self.tags = dict(tags or {})

    def read(self):
        return normalize(get_or_none(self.client.disks.get, self.resource_group, self.name)) or None

    def record(self, state, fingerprint, size):
        tags = dict(self.tags)
        for key in list(tags):
            if key.lower() in (_state.STATE_KEY, _state.FINGERPRINT_KEY, _state.SIZE_KEY):
                del tags[key]
        tags.update(_state.metadata(state, fingerprint, size))
        self.wait(self.client.disks.begin_update(self.resource_group, self.name, _models().DiskUpdate(tags=tags)),
                  "tag managed disk '%s' (upload state %s)" % (self.name, state))
        self.tags = tags


class DiskPageWriter(_upload.PageWriter):
    """The engine's page writer for a managed disk's upload SAS: the footer goes last."""

    hold_footer = True
    what = 'disk'


def _label(params):
    return "managed disk '%s' in resource group '%s'" % (params['disk_name'], params['resource_group'])


def decide(disk, fingerprint, size, overwrite, label='the managed disk'):
    """The action for an upload of a source (``fingerprint``, ``size`` bytes) to ``disk``
    (``normalize``'s dict, {} when absent): none, create, resume or replace (delete + create).
    Raises ``state.UploadConflict`` when the disk holds something else and ``overwrite`` is never."""
    if overwrite not in _state.OVERWRITE_CHOICES:
        raise ValueError('overwrite must be one of %s' % ', '.join(_state.OVERWRITE_CHOICES))
    if not disk:
        return 'create'
    if overwrite == 'always':
        return 'replace'
    upload = (disk.get('create_option') or '').lower() == 'upload'
    ours = disk.get('state') in (_state.UPLOADING, _state.COMPLETE)
    same_size = disk.get('upload_size_bytes') == size
    state = disk.get('disk_state')
    if upload and ours and same_size:
        same = bool(disk.get('fingerprint')) and disk['fingerprint'] == fingerprint
        if state == 'ReadyToUpload' or (same and state == 'ActiveUpload'):
            return 'resume'  # nothing written yet, or an interrupted upload of this source
        if same and disk['state'] == _state.COMPLETE:
            return 'none'
        if same and state not in UPLOAD_STATES and not disk.get('managed_by'):
            # Access was revoked, so the disk ends with the VHD footer, which this module sends only after every
            # other page: all is there, only the tags that mark it complete were not written.
            return 'finish'
    if overwrite == 'different':
        return 'replace'
    if not upload:
        what = ('was not created for an upload (createOption %s); it is not written by this module'
                % disk.get('create_option'))
    elif not ours:
        what = 'is an upload disk without the tags of this module (another tool uploads to it)'
    elif not same_size:
        what = ('was created for an upload of %s bytes, but the VHD is %d bytes'
                % (disk.get('upload_size_bytes'), size))
    elif state == 'ActiveUpload':
        what = ('is being uploaded (ActiveUpload) from another source (fingerprint %s, this source %s), or by '
                'an upload interrupted before it knew its source' % (disk.get('fingerprint') or 'none', fingerprint))
    elif disk.get('fingerprint') == fingerprint:
        what = 'holds this source but its upload was not marked complete (upload state %s, disk state %s)' % (
            disk.get('state'), state)
    else:
        what = 'holds another image (fingerprint %s, this source %s; disk state %s)' % (
            disk.get('fingerprint'), fingerprint, state)
    raise _state.UploadConflict(
        '%s exists and %s; overwrite=never (the default for a managed disk) never replaces it. A managed disk '
        'cannot be uploaded to again once it holds data: set overwrite=different (or force=true) to delete it and '
        'create it again, or choose another disk_name.' % (label[0].upper() + label[1:], what))


def _diff(before, fingerprint, size, action):
    def view(d):
        if not d:
            return {}
        return dict(disk_state=d.get('disk_state'), state=d.get('state'), fingerprint=d.get('fingerprint'),
                    size=d.get('upload_size_bytes'))
    after = view(before) if action == 'none' else dict(disk_state='Unattached', state=_state.COMPLETE,
                                                       fingerprint=fingerprint, size=size)
    return dict(before=view(before), after=after)


def _check_fixed(before, wanted, label):
    """Fields of an existing disk the options ask to be different: an error naming each."""
    def norm(name, value):
        if value is None:
            return None
        if name == 'security_type':
            return preflight.normalize_security_type(value) or 'Standard'
        return str(value).lower()
    wrong = []
    for name in FIXED_FIELDS:
        want = wanted.get(name)
        if want is None:
            continue
        have = before.get(name)
        differs = not same_location(want, have) if name == 'location' else norm(name, want) != norm(name, have)
        if differs:
            wrong.append('%s is %r, wanted %r' % (name, have, want))
    if wrong:
        raise ComputeError('%s exists with different %s. They are set when the disk is created for the upload and '
                           'this module does not change them: set overwrite=always (or force=true) to delete the disk '
                           'and upload it again, change them with Azure, or choose another disk_name.'
                           % (label[0].upper() + label[1:], '; '.join(wrong)), code='immutable')


def _disk_body(params, location, size, generation, security_type, fingerprint):
    models = _models()
    security = None
    if preflight.normalize_security_type(security_type):
        security = models.DiskSecurityProfile(security_type=preflight.normalize_security_type(security_type))
    return models.Disk(
        location=location,
        sku=models.DiskSku(name=params['sku']) if params.get('sku') else None,
        os_type=params.get('os_type'),
        hyper_v_generation=generation,
        security_profile=security,
        creation_data=models.CreationData(create_option='Upload', upload_size_bytes=size),
        tags=_state.metadata(_state.UPLOADING, fingerprint, size))


def _blob_options(options, sas):
    """The storage options for the engine's client: the SAS URL, the tuning options."""
    keep = ('retry_total', 'retry_backoff_factor', 'retry_backoff_max', 'timeout', 'api_version')
    out = dict((k, options.get(k)) for k in keep)
    out['blob_url'] = sas
    return out


def _revoke(client, params, wait):
    """Revoke access; return (revoked, why not)."""
    try:
        wait(client.disks.begin_revoke_access(params['resource_group'], params['disk_name']),
             'revoke access to ' + _label(params))
        return True, None
    except Exception as exc:  # reported with the result
        return False, describe_error(exc)


def _access_sentence(revoked, why, duration):
    if revoked:
        return 'Write access to the disk was revoked.'
    return ('Write access to the disk could not be revoked (%s). Azure refuses to revoke it until the disk ends '
            'with its VHD footer, which this module writes last so that an incomplete upload never becomes a usable '
            'disk: the disk stays ActiveUpload and its write SAS (never shown) expires %d seconds after it was '
            'granted. Run the task again with the same source to finish the upload and revoke access, or delete '
            'the disk.' % (why.rstrip('.'), duration))


def upload_to_disk(client, subscription_id, path, options, check_mode=False, wait=None, secret=None):
    """The whole of ``vhd_upload`` with a managed-disk destination.

    ``options``: ``resource_group``, ``disk_name``, ``location``, ``sku``, ``os_type``,
    ``hyper_v_generation``, ``security_type``, ``overwrite`` (never/different/always), ``concurrency``,
    ``merge_gap``, ``access_duration`` and the retry/timeout options of the storage client.
    ``wait(poller, operation)`` waits for a long-running operation; ``secret(value)`` is called with
    the SAS URL as soon as Azure returns it (the caller hides it everywhere). Returns the result;
    raises ``VhdError`` (bad source), ``ComputeError`` (preflight: nothing written),
    ``UploadConflict``, ``UploadError`` (``.result``: what is known so far; the message says whether
    access was revoked) or an azure-core error."""
    info = _image.validate_fixed_vhd(path)
    result = dict(changed=False, resumed=False, access='none')
    try:
        return _upload_to_disk(client, subscription_id, path, options, check_mode, wait, secret, info, result)
    except Exception as exc:
        result.update(getattr(exc, 'stats', None) or {})
        exc.result = result
        raise


def _upload_to_disk(client, subscription_id, path, options, check_mode, wait, secret, info, result):
    rg, name = options['resource_group'], options['disk_name']
    label = _label(options)
    overwrite = options.get('overwrite') or 'never'
    duration = options.get('access_duration') or DEFAULT_ACCESS_DURATION
    merge_gap = options.get('merge_gap')
    merge_gap = _plan.MERGE_GAP if merge_gap is None else merge_gap
    concurrency = options.get('concurrency') or 8
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        source = _plan.Scanner(fd, size, merge_gap=merge_gap, path=path)

        # Preflight, before any request: size limits, generation, security type.
        preflight.check_size('upload', size, 'The VHD %s (uploadSizeBytes, its file size)' % path)
        hint = (info or {}).get('generation_hint')
        shows = 'an EFI System Partition' if hint == 'V2' else 'a BIOS boot partition or bootable MBR'
        facts = [(options.get('hyper_v_generation'), 'hyper_v_generation'),
                 (hint, 'the partition table of %s (%s)' % (path, shows))]
        generation = preflight.agree_generation(facts)
        preflight.check_security(options.get('security_type'), generation, 'disk', 'security_type')

        disk = get_or_none(client.disks.get, rg, name)
        before = normalize(disk)
        result['disk_id'] = before.get('id')
        location = options.get('location') or before.get('location') or resource_group_location(
            client, subscription_id, rg)
        plan = _upload.scan(source)  # the fingerprint: always before the first write
        action = decide(before, plan.fingerprint, size, overwrite, label)
        if action in ('none', 'resume', 'finish'):
            wanted = dict(location=options.get('location'), sku=options.get('sku'), os_type=options.get('os_type'),
                          hyper_v_generation=options.get('hyper_v_generation'),
                          security_type=options.get('security_type'))
            _check_fixed(before, wanted, label)
            generation = preflight.agree_generation(facts + [(before.get('hyper_v_generation'), label)])
            preflight.check_security(before.get('security_type'), generation, 'disk', label)
        if action == 'replace' and before.get('managed_by'):
            raise ComputeError('%s is attached to %s: detach it (or delete the VM) before uploading it again.'
                               % (label[0].upper() + label[1:], before['managed_by']), code='disk_attached')

        result.update(action=action, changed=action != 'none', size=size, data_bytes=plan.data_bytes,
                      fingerprint=plan.fingerprint, diff=_diff(before, plan.fingerprint, size, action))
        zero = dict(bytes_uploaded=0, bytes_sent=0, requests=0, retries=0, seconds=0.0, mib_per_second=0.0)
        if action == 'finish' and not check_mode:
            DiskTagStore(client, rg, name, wait, before.get('tags')).record(_state.COMPLETE, plan.fingerprint, size)
        if check_mode or action in ('none', 'finish'):
            # A resume would send at most the data (the pages on the disk are only readable once access is granted).
            result.update(zero, bytes_to_upload=0 if action in ('none', 'finish') else plan.data_bytes,
                          disk=summary(before) if action in ('none', 'resume', 'finish') else summary(dict(
                              name=name, location=location, disk_state='Unattached', sku=options.get('sku'),
                              os_type=options.get('os_type'), hyper_v_generation=generation,
                              security_type=options.get('security_type'), upload_size_bytes=size)))
            result['bytes_skipped'] = size - result['bytes_to_upload']
            if action == 'finish' and not check_mode:
                result['disk'] = summary(normalize(get_or_none(client.disks.get, rg, name)))
            return result

        store = DiskTagStore(client, rg, name, wait, before.get('tags'))
        if action == 'replace':
            wait(client.disks.begin_delete(rg, name), 'delete ' + label)
        if action in ('create', 'replace'):
            body = _disk_body(options, location, size, generation, options.get('security_type'), plan.fingerprint)
            created = normalize(wait(client.disks.begin_create_or_update(rg, name, body), 'create ' + label))
            store.tags = created.get('tags') or {}
            result['disk_id'] = created.get('id')
        elif before.get('fingerprint') != plan.fingerprint:  # ReadyToUpload: nothing written, record this source
            store.record(_state.UPLOADING, plan.fingerprint, size)
        stats = _send(client, options, label, fd, source, store, action, size, duration, concurrency, wait,
                      secret, result)
        result.update(stats, resumed=action == 'resume', bytes_to_upload=stats['bytes_uploaded'])
        result['bytes_skipped'] = size - stats['bytes_uploaded']
        final = normalize(get_or_none(client.disks.get, rg, name))
        result['disk'] = summary(final)
        result['disk_id'] = final.get('id')
        return result
    finally:
        os.close(fd)


def _send(client, options, label, fd, source, store, action, size, duration, concurrency, wait, secret, result):
    """Grant Write access, send the pages, revoke access (always, once granted); return the counters."""
    models = _models()
    rg, name = options['resource_group'], options['disk_name']
    started = time.monotonic()
    failure = None
    stats = None
    granted = revoked = False
    why = None
    try:
        access = wait(client.disks.begin_grant_access(rg, name, models.GrantAccessData(
            access='Write', duration_in_seconds=duration)), 'grant write access to ' + label)
        granted = True
        result['access'] = 'granted'
        sas = access.access_sas
        if secret is not None:
            secret(sas)
        blob, retry, auth = _client.build_blob_client(_blob_options(options, sas), concurrency=concurrency)
        writer = DiskPageWriter(blob, fd, source, concurrency, retry, auth, store)
        present = _upload.present(blob, size) if action == 'resume' else None
        stats = writer.write(dict(action='resume' if action == 'resume' else 'create', stream=False), present)
    except Exception as exc:
        failure = exc
    finally:
        if granted:
            revoked, why = _revoke(client, options, wait)
            result['access'] = 'revoked' if revoked else 'active'
    if failure is None and result['access'] != 'active':
        return stats
    if failure is None:
        raise _upload.UploadError('All data was sent and the upload marked complete. %s'
                                  % _access_sentence(False, why, duration), resumable=True, stats=stats)
    if not granted:
        raise failure
    if isinstance(failure, _upload.UploadError):
        message, resumable, stats = str(failure), failure.resumable, failure.stats
    else:
        message = 'Upload to %s failed: %s' % (label, describe_error(failure))
        resumable, stats = True, dict(bytes_uploaded=0, bytes_sent=0, requests=0, retries=0,
                                      seconds=round(time.monotonic() - started, 3), mib_per_second=0.0)
    kind = type(failure) if isinstance(failure, _upload.UploadError) else _upload.UploadError
    raise kind('%s %s' % (message.rstrip(), _access_sentence(revoked, why, duration)),
               resumable=resumable, stats=stats) from failure
