# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Managed-disk access of the ARM fake: the upload flow and read SAS (DiskRP, api-version 2026-03-02).

Facts: azure-rest-api-specs ``specification/compute/resource-manager/Microsoft.Compute/DiskRP/stable/
2025-01-02/`` (``disk.json``: Disks_GrantAccess is a long-running POST with final-state-via location
and the AccessUri {accessSAS} as its result, Disks_RevokeAccess; examples ``Disk_Create_UploadDisk.json``,
``Disk_BeginGetAccess.json``, ``Disk_EndGetAccess.json``), the SDK's models (CreationData.uploadSizeBytes:
"between 20972032 (20 MiB + 512 bytes for the VHD footer) and 35183298347520 bytes (32 TiB + 512
bytes for the VHD footer)"; GrantAccessData {access: None/Read/Write, durationInSeconds}; DiskState
ReadyToUpload/ActiveUpload/ActiveSAS/Unattached...), and answers quoted in public issues:

* an upload size whose size minus 512 is not a multiple of MiB: 400 ``BadRequest`` "The upload size
  in bytes N - 512 bytes for the VHD footer (M in this case) must be a multiple of MiB."
  (microsoft/AzureStorageExplorer#3029, MicrosoftDocs/azure-docs#58853);
* revoking access to an upload disk whose blob does not end with a VHD footer: ``InvalidVhd`` "The
  specified cookie value in VHD footer indicates that disk 'abcd' with blob <url> is not a supported
  VHD. Disk is expected to have cookie value 'conectix'." and the disk stays ActiveUpload
  (microsoft/AzureStorageExplorer#6654, #8800); here the revoke operation fails with it.

The flow: PUT with creationData {createOption: Upload, uploadSizeBytes} -> diskState ReadyToUpload;
beginGetAccess {access: Write} -> ActiveUpload and accessSAS, a SAS URL of a page blob of
uploadSizeBytes made by the fake's ``upload_backend``; beginGetAccess {access: Write} again while
ActiveUpload -> a new SAS to the same blob (Microsoft Learn, "Upload a VHD to Azure" (CLI): "If your SAS
expires during upload, and you haven't called revoke-access yet, you can get a new SAS to continue the
upload using grant-access, again."); endGetAccess -> Unattached, the disk's content being that blob's.
endGetAccess also refuses (InvalidVhd, unsourced text) a footer whose current size is not
uploadSizeBytes - 512 or whose disk type is not fixed: the upload size must match the VHD.
beginGetAccess {access: Read} on an Unattached (or Reserved) disk -> ActiveSAS
and a read SAS (of the uploaded blob when the backend can make one). A disk in ReadyToUpload or
ActiveUpload cannot be the source of a snapshot, disk, image or gallery image version.

``upload_backend``: ``callable(disk_id, size_bytes[, duration_seconds]) -> SAS URL`` with read and
write permission on a new page blob of that size. Optional methods: ``read(disk_id, offset, length)
-> bytes`` (else the fake reads through the SAS URL) and ``read_sas(disk_id, duration_seconds) -> URL``.
``AzuriteUploads(azurite)`` is one, over tests/support/azurite.py. Without a backend, granting Write
is refused with ``FakeNotImplemented``. Texts marked "unsourced" are the fake's own, in ARM's style.
"""

from __future__ import annotations

import copy
import datetime
import inspect
import math
import struct
import urllib.request
import uuid

from .common import ArmError, bad_request, conflict, lower, new_id, not_found

MIB = 1024 ** 2
GIB = 1024 ** 3
FOOTER = 512
FIXED = 2                                  # the VHD footer's disk type of a fixed disk
UPLOAD_MIN = 20 * MIB + FOOTER             # 20972032
# The spec's number, 35183298347520, which its words call "32 TiB + 512 bytes" but is 32,767 GiB + 512
# (the largest managed disk); the number is what is kept.
UPLOAD_MAX = 32767 * GIB + FOOTER          # 35183298347520
UPLOAD_OPTIONS = ('upload', 'uploadpreparedsecure')
NOT_A_SOURCE = ('ReadyToUpload', 'ActiveUpload')


def _call_backend(backend, disk_id, size, duration):
    try:
        inspect.signature(backend).bind(disk_id, size, duration)
    except (TypeError, ValueError):
        return backend(disk_id, size)
    return backend(disk_id, size, duration)


class AzuriteUploads(object):
    """An ``upload_backend`` for ArmFake: each upload disk is a page blob ``abcd`` in a container of
    its own (as managed-disk SAS URLs look) in an Azurite (tests/support/azurite.Azurite)."""

    def __init__(self, azurite, port=None):
        self.azurite = azurite
        self.port = port     # SAS URLs through another port of 127.0.0.1 (a fault proxy), or None
        self.blobs = {}      # lower disk id -> (container, blob)
        self.granted = []    # (disk id, permission, SAS URL) of every SAS made, in order

    def _blob(self, disk_id):
        container, blob = self.blobs[lower(disk_id)]
        return self.azurite.service_client().get_blob_client(container, blob)

    def _sas(self, disk_id, permission, duration):
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas
        container, blob = self.blobs[lower(disk_id)]
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=int(duration or 3600))
        token = generate_blob_sas(self.azurite.account_name, container, blob, account_key=self.azurite.account_key,
                                  permission=BlobSasPermissions.from_string(permission), expiry=expiry)
        base = self.azurite.url_on(self.port) if self.port else self.azurite.account_url
        url = '%s/%s/%s?%s' % (base, container, blob, token)
        self.granted.append((disk_id, permission, url))
        return url

    def __call__(self, disk_id, size, duration=3600):
        """A new page blob of ``size`` bytes; returns its read/write SAS URL."""
        container = uuid.uuid4().hex[:12]
        service = self.azurite.service_client()
        service.create_container(container)
        service.get_blob_client(container, 'abcd').create_page_blob(size)
        self.blobs[lower(disk_id)] = (container, 'abcd')
        return self._sas(disk_id, 'rw', duration)

    def read_sas(self, disk_id, duration=3600):
        return self._sas(disk_id, 'r', duration)

    def write_sas(self, disk_id, duration=3600):
        """A new read/write SAS to the blob of an upload already granted (a second grant)."""
        return self._sas(disk_id, 'rw', duration)

    def page_ranges(self, disk_id):
        """``[(start, end)]`` (end exclusive) of the pages the blob holds (for tests)."""
        return [(r.start, r.end + 1) for r in self._blob(disk_id).list_page_ranges() if not r.cleared]

    def read(self, disk_id, offset, length):
        return self._blob(disk_id).download_blob(offset=offset, length=length).readall()

    def content(self, disk_id):
        """The whole blob (for tests)."""
        return self._blob(disk_id).download_blob().readall()


class UploadMixin(object):
    """Upload disks, grant/revoke access, and the source check for disks being uploaded."""

    def _reset_uploads(self):
        self._uploads = {}   # lower disk id -> {'size': upload size, 'uploaded': bool}
        self._grants = {}    # lower disk/snapshot id -> {'access', 'sas', 'before': diskState before}

    # --- seed helpers ----------------------------------------------------------------------------
    def add_upload_disk(self, rg, name, upload_size_bytes=32 * MIB + FOOTER, state='ReadyToUpload', os_type=None,
                        hyper_v_generation=None, sku='Standard_LRS', location=None, tags=None, security_type=None,
                        architecture=None, duration=3600):
        """A disk created for upload, in ``state`` ReadyToUpload, ActiveUpload (needs the
        upload_backend; ``upload_sas(id)`` gives its SAS) or Unattached (uploaded)."""
        with self._lock:
            self._check_upload_size(upload_size_bytes)
            if state == 'ActiveUpload' and self.upload_backend is None:
                raise ValueError('an ActiveUpload disk needs the fake\'s upload_backend')
            props = {'creationData': {'createOption': 'Upload', 'uploadSizeBytes': upload_size_bytes}}
            for key, value in (('osType', os_type), ('hyperVGeneration', hyper_v_generation)):
                if value is not None:
                    props[key] = value
            if security_type:
                props['securityProfile'] = {'securityType': security_type}
            if architecture:
                props['supportedCapabilities'] = {'architecture': architecture}
            body = {'location': self._location_or_group(rg, location), 'sku': {'name': sku}, 'properties': props}
            if tags is not None:
                body['tags'] = tags
            disk = self._build_disk(rg, name, body, None)
            disk['properties']['provisioningState'] = 'Succeeded'
            self._store(disk)
            key = lower(disk['id'])
            if state in ('ActiveUpload', 'Unattached') and self.upload_backend is not None:
                self._grant_write(disk, duration)
            if state == 'Unattached':
                self._grants.pop(key, None)
                self._uploads[key]['uploaded'] = True
                disk['properties']['diskState'] = 'Unattached'
            return copy.deepcopy(disk)

    def upload_sas(self, disk_id):
        """The write SAS an ActiveUpload disk was granted (None otherwise)."""
        with self._lock:
            grant = self._grants.get(lower(disk_id).rstrip('/'))
            return grant['sas'] if grant and grant['access'] == 'Write' else None

    # --- checks used by compute.py ---------------------------------------------------------------
    @staticmethod
    def _check_upload_size(size):
        if (size - FOOTER) % MIB:
            raise bad_request('BadRequest', 'The upload size in bytes %d - 512 bytes for the VHD footer (%d in this '
                              'case) must be a multiple of MiB.' % (size, size - FOOTER))
        if not UPLOAD_MIN <= size <= UPLOAD_MAX:
            # unsourced text (the limits are the spec's)
            raise bad_request('BadRequest', 'The upload size in bytes %d must be between %d (20 MiB + 512 bytes for '
                              'the VHD footer) and %d (32,767 GiB + 512 bytes for the VHD footer).'
                              % (size, UPLOAD_MIN, UPLOAD_MAX))

    def _upload_disk_props(self, disk, creation):
        """Record an upload disk: ReadyToUpload, its size from uploadSizeBytes (the footer excluded)."""
        size = creation['uploadSizeBytes']
        disk['properties']['diskState'] = 'ReadyToUpload'
        disk['properties']['diskSizeGB'] = int(math.ceil((size - FOOTER) / float(GIB)))
        disk['properties']['diskSizeBytes'] = size - FOOTER
        self._uploads[lower(disk['id'])] = {'size': size, 'uploaded': False}

    @staticmethod
    def _check_usable_source(resource):
        state = (resource.get('properties') or {}).get('diskState')
        if resource.get('type') == 'Microsoft.Compute/disks' and state in NOT_A_SOURCE:
            # unsourced text
            raise conflict('OperationNotAllowed', "Disk '%s' is in the '%s' state: it cannot be used until its upload "
                           "is finished and its access revoked (endGetAccess)." % (resource['name'], state))

    # --- beginGetAccess / endGetAccess -----------------------------------------------------------
    def _access(self, ctx, rg, kind, name, action):
        """beginGetAccess / endGetAccess on a disk or snapshot (DiskRP LRO; output {accessSAS})."""
        from .compute import TYPES
        segment, arm_type = TYPES[kind]
        resource = self._find(self._rid(rg, segment, name))
        if resource is None:
            raise not_found(arm_type, name, rg)
        if ctx.method != 'POST':
            raise ArmError(405, 'MethodNotAllowed', 'The requested method is not allowed.')
        if action == 'begingetaccess':
            return self._grant(ctx, resource)
        return self._revoke(ctx, resource)

    def _grant(self, ctx, resource):
        body = ctx.json or {}
        access = lower(body.get('access'))
        duration = body.get('durationInSeconds') or 3600
        key = lower(resource['id'])
        state = resource['properties'].get('diskState')
        upload = key in self._uploads
        if access == 'write':
            if not upload or state not in ('ReadyToUpload', 'ActiveUpload'):
                # unsourced text
                raise conflict('OperationNotAllowed', "Write access can only be granted to a disk created with "
                               "createOption 'Upload' that is in the 'ReadyToUpload' or 'ActiveUpload' state; disk "
                               "'%s' is in the '%s' state." % (resource['name'], state))
            if self.upload_backend is None:
                raise ArmError(400, 'FakeNotImplemented', "The ARM fake has no upload_backend, so it cannot grant Write "
                               "access to upload disk '%s': pass ArmFake(..., upload_backend=...) or set "
                               "arm.upload_backend (e.g. arm_fake.uploads.AzuriteUploads(azurite))." % resource['name'])
        elif access == 'read':
            if state in NOT_A_SOURCE:
                raise conflict('OperationNotAllowed', "Read access cannot be granted to disk '%s' in the '%s' state."
                               % (resource['name'], state))
            if state == 'Attached':
                # unsourced text: exporting needs the VM stopped (deallocated).
                raise conflict('OperationNotAllowed', "Disk '%s' is attached to VM '%s'. Access can only be granted "
                               "to an unattached disk or to a disk of a deallocated VM."
                               % (resource['name'], resource.get('managedBy')))
        else:
            raise bad_request('InvalidParameter', "The value '%s' of parameter 'access' is not allowed. Allowed values "
                              "are 'Read', 'Write'." % body.get('access'), target='grantAccessData.access')

        def done(op):
            current = self._res.get(key)
            if current is None:
                return None
            if access == 'write':
                return {'accessSAS': self._grant_write(current, duration)}
            before = self._grants.get(key, {}).get('before', current['properties'].get('diskState'))
            if self._uploads.get(key, {}).get('uploaded') and hasattr(self.upload_backend, 'read_sas'):
                sas = self.upload_backend.read_sas(current['id'], duration)
            else:
                sas = ('https://md-fake.blob.core.windows.net/%s/abcd?sv=2018-03-28&sr=b&si=%s&sig=FAKE'
                       % (uuid.uuid4().hex[:12], new_id()))
            self._grants[key] = {'access': 'Read', 'sas': sas, 'before': before}
            current['properties']['diskState'] = 'ActiveSAS'
            return {'accessSAS': sas}
        return self._lro(ctx, 'disk', resource['location'], 202, None, done, None, location_header=True,
                         output_is_body=True)

    def _grant_write(self, disk, duration):
        key = lower(disk['id'])
        backend = self.upload_backend
        again = disk['properties'].get('diskState') == 'ActiveUpload' and key in self._grants
        if again and hasattr(backend, 'write_sas'):
            sas = backend.write_sas(disk['id'], duration)  # the same blob: the upload goes on
        else:
            sas = _call_backend(backend, disk['id'], self._uploads[key]['size'], duration)
        self._grants[key] = {'access': 'Write', 'sas': sas, 'before': 'ReadyToUpload'}
        disk['properties']['diskState'] = 'ActiveUpload'
        return sas

    def _read_back(self, disk_id, sas, offset, length):
        backend = self.upload_backend
        if backend is not None and hasattr(backend, 'read'):
            return backend.read(disk_id, offset, length)
        request = urllib.request.Request(sas, headers={'Range': 'bytes=%d-%d' % (offset, offset + length - 1)})
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (a SAS URL the backend made)
            return answer.read()

    def _revoke(self, ctx, resource):
        key = lower(resource['id'])

        def done(op):
            current = self._res.get(key)
            grant = self._grants.get(key)
            if current is None or grant is None:
                return None
            if grant['access'] == 'Write':
                size = self._uploads[key]['size']
                footer = self._read_back(current['id'], grant['sas'], size - FOOTER, FOOTER)
                blob_url = grant['sas'].split('?', 1)[0]
                if footer[:8] != b'conectix':
                    raise ArmError(400, 'InvalidVhd', "The specified cookie value in VHD footer indicates that disk "
                                   "'%s' with blob %s is not a supported VHD. Disk is expected to have cookie value "
                                   "'conectix'." % (blob_url.rsplit('/', 1)[-1], blob_url))
                current_size, disk_type = struct.unpack('>Q', footer[48:56])[0], struct.unpack('>I', footer[60:64])[0]
                if current_size != size - FOOTER or disk_type != FIXED:
                    # unsourced text
                    raise ArmError(400, 'InvalidVhd', "The VHD footer of disk '%s' with blob %s describes a %s disk of "
                                   "%d bytes, but the disk was created with uploadSizeBytes %d: upload a fixed VHD of "
                                   "uploadSizeBytes - 512 (%d) bytes of data." % (
                                       blob_url.rsplit('/', 1)[-1], blob_url, 'fixed' if disk_type == FIXED else
                                       'non-fixed (type %d)' % disk_type, current_size, size, size - FOOTER))
                self._uploads[key]['uploaded'] = True
                current['properties']['diskState'] = 'Unattached'
            else:
                current['properties']['diskState'] = grant['before']
            del self._grants[key]
            return None
        return self._lro(ctx, 'disk', resource['location'], 202, None, done, None, location_header=True,
                         output_is_body=True)
