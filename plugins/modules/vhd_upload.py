#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vhd_upload
short_description: Upload a fixed VHD to an Azure page blob or managed disk, sparsely, in parallel and resumably
version_added: 0.1.0
description:
  - Uploads a fixed VHD (for example the output of M(vmimage.azure.vhd)) to a page blob, ready to
    become a managed disk or an image, or straight into a new managed disk (O(disk_name)).
  - Before anything is sent the source is validated (fixed disk, correct footer checksum, virtual
    size a multiple of 1 MiB, file size = virtual size + 512, at most 8 TiB); a bad source fails
    with the list of problems and no request is made to Azure.
  - Only data is read (C(SEEK_DATA)/C(SEEK_HOLE)) and only non-zero 512-byte pages are sent, in
    Put Page requests of at most 4 MiB, each with Content-MD5, O(concurrency) at a time.
  - The blob's metadata records the upload state (C(vmimage_state) = V(uploading) or V(complete)),
    the source fingerprint (C(vmimage_fingerprint)) and size (C(vmimage_size)). A complete blob with
    the same fingerprint is left alone; an interrupted upload of the same source is resumed, sending
    only the pages that are missing; a different source is uploaded afresh into a recreated blob.
  - The fingerprint is a SHA-256 over the size and, for each piece of non-zero pages (cut at every
    multiple of 4 MiB), its offset, length and MD5, so it depends on the content only. Each piece is
    sent with that MD5 as Content-MD5 (every byte is hashed once), so a source that changes after the
    scan is refused by Azure instead of being uploaded. When the blob already holds an upload of this
    module, the source is scanned before anything is sent (to decide between nothing, resume and
    replace), then read again by the upload. A first upload scans and sends at the same time, and records the fingerprint as
    soon as the scan is done; if it is interrupted before that, the next run starts over.
  - "Managed disk destination (O(disk_name), O(resource_group)): the disk is created with C(createOption: Upload) and
    C(uploadSizeBytes) = the VHD's file size, Write access is granted (a SAS URL, treated as a secret: it never appears
    in results, messages or C(-vvv) output), the pages are sent as above, and access is revoked, which makes the disk
    usable (state C(Unattached)). RV(disk_id) is its resource id."
  - A managed disk's upload SAS takes no blob metadata, so the upload state, fingerprint and size are kept in the disk's
    B(tags) (C(vmimage_state), C(vmimage_fingerprint), C(vmimage_size); other tags are kept). The source is always
    scanned before the first write, so that the new disk carries its fingerprint from the start.
  - "Managed disk idempotence: a disk whose tags hold this source's fingerprint and state C(complete) is left alone
    (only GET requests). One left in C(ReadyToUpload) or C(ActiveUpload) by this source (a killed run) is resumed:
    Write access is granted again (Azure gives a new SAS to the same disk) and only the pages that are missing are
    sent. Any other disk (another source, another size, not created for an upload) makes the task fail unless
    O(overwrite=different) or O(force=true): a managed disk that holds data cannot be written again, so replacing it
    means deleting the disk and creating it again (an attached disk is never deleted)."
  - "Access to the disk is revoked whenever it was granted, also when the upload fails; RV(access) says what became of
    it. The VHD footer (the last 512 bytes) is sent last, once everything else is on the disk: Azure refuses to revoke
    access to an upload disk that does not end with a VHD footer, so an interrupted upload stays C(ActiveUpload) and
    resumable (its SAS expires after O(access_duration) seconds) instead of becoming a usable but incomplete disk; the
    error then says so."
  - "Preflight for a managed disk, before any request that writes: uploadSizeBytes within Azure's limits for a direct
    upload (20 MiB + 512 bytes to 32 TiB + 512 bytes, the size less the footer a whole number of MiB), O(hyper_v_generation)
    consistent with the VHD's partition table (an EFI System Partition means V2, a BIOS boot partition or bootable MBR V1)
    and with an existing disk, and O(security_type=TrustedLaunch) only with generation V2."
author:
  - vmimage.azure maintainers (@vmimage)
requirements:
  - azure-storage-blob >= 12.20.0
  - azure-core >= 1.30.0
extends_documentation_fragment:
  - vmimage.azure.azure_auth
  - vmimage.azure.attributes
  - vmimage.azure.attributes.azure_group
options:
  path:
    description:
      - The fixed VHD to upload.
      - O(src) is an alias, the name azure.azcollection's C(azure_rm_storageblob) uses.
    type: path
    required: true
    aliases: [src]
  disk_name:
    description:
      - Name of the managed disk to upload to, instead of a page blob (with O(resource_group)).
      - Mutually exclusive with O(blob_url), O(account_url), O(connection_string), O(container), O(blob),
        O(account_key) and O(sas_token); O(create_container), O(break_lease) and O(content_md5) apply to blobs only.
      - Authentication is that of the other Resource Manager modules (the C(azure_auth) options); the identity needs
        to create disks and grant and revoke access to them (for example the Contributor role on the resource group).
    type: str
  resource_group:
    description: Resource group of the managed disk (O(disk_name)); ignored for a blob.
    type: str
  location:
    description:
      - Region of the managed disk; by default that of an existing disk, else that of O(resource_group).
      - Ignored for a blob.
    type: str
  sku:
    description:
      - Storage type of the managed disk (O(disk_name) only). Azure's default is V(Standard_LRS).
      - O(storage_account_type) is an alias, the name azure.azcollection's C(azure_rm_manageddisk) uses.
    type: str
    choices: [Standard_LRS, StandardSSD_LRS, StandardSSD_ZRS, Premium_LRS, Premium_ZRS]
    aliases: [storage_account_type]
  os_type:
    description: Operating system of the managed disk (O(disk_name) only), for an OS disk.
    type: str
    choices: [Linux, Windows]
  hyper_v_generation:
    description:
      - Hyper-V generation of the managed disk (O(disk_name) only). When not set, the generation the VHD's partition
        table shows (V2 with an EFI System Partition, V1 with a BIOS boot partition or a bootable MBR) is sent, and
        none (Azure's default, V1) when it shows neither.
      - A value that contradicts the partition table fails (C(code=generation_mismatch)) before anything is written.
    type: str
    choices: [V1, V2]
  security_type:
    description:
      - Security type of the managed disk (O(disk_name) only). V(TrustedLaunch) needs generation V2.
      - Confidential VM disks (created with C(UploadPreparedSecure) and a VM guest state) are not supported.
    type: str
    choices: [Standard, TrustedLaunch]
  access_duration:
    description:
      - Lifetime, in seconds, of the write SAS Azure grants for a managed disk upload (O(disk_name) only). An upload
        that outlasts it fails and is resumed by the next run (which gets a new SAS).
    type: int
    default: 14400
  blob_url:
    description:
      - URL of the destination page blob, for example C(https://myaccount.blob.core.windows.net/vhds/disk.vhd).
      - It may carry a SAS token as its query string. That query string (and its signature C(sig)) is
        treated as a secret, masked wherever it would appear (results, messages, C(-vvv) output, logs);
        the rest of the URL is not, and RV(url) returns the URL without the query string.
      - Without a query string, the credential is O(account_key), O(sas_token) or Microsoft Entra ID.
      - Mutually exclusive with O(account_url) and O(connection_string).
    type: str
  account_url:
    description:
      - Blob service URL of the storage account, for example C(https://myaccount.blob.core.windows.net)
        (or C(http://127.0.0.1:10000/devstoreaccount1) for an emulator).
      - It may carry an account SAS as its query string, masked like the SAS of O(blob_url).
    type: str
  connection_string:
    description: Storage account connection string; it carries its own endpoint and credential.
    type: str
  container:
    description: Container of the blob, with O(account_url) or O(connection_string).
    type: str
    aliases: [container_name]
  blob:
    description: Name of the blob, with O(account_url) or O(connection_string).
    type: str
    aliases: [blob_name]
  account_key:
    description: Storage account key (shared key authentication).
    type: str
  sas_token:
    description: Shared access signature; it needs read, create and write permissions on the blob.
    type: str
  create_container:
    description: Create the container when it does not exist.
    type: bool
    default: false
  concurrency:
    description: Number of Put Page requests in flight. Memory use is about O(concurrency) x 4 MiB.
    type: int
    default: 8
  overwrite:
    description:
      - What to do when the blob (or managed disk) exists.
      - V(never) leaves a complete upload of the same source alone (and resumes an interrupted one)
        but fails when the blob holds anything else.
      - V(different) also resumes an interrupted upload of the same source, and replaces a blob that holds anything else.
      - V(always) uploads everything again into a recreated blob.
      - When not set, V(different), or V(always) with O(force=true).
      - For a managed disk (O(disk_name)) the default is V(never), and replacing means deleting the disk and creating
        it again (with V(different), only a disk that does not hold a complete upload of this source).
    type: str
    choices: [never, different, always]
  force:
    description:
      - V(true) is another spelling of O(overwrite=always), as in azure.azcollection's
        C(azure_rm_storageblob); the blob is recreated and everything is uploaded again.
      - Together with O(overwrite) set to anything but V(always), the task fails (C(code=invalid_option))
        before any request.
    type: bool
    default: false
  break_lease:
    description:
      - Break another upload's lease on the blob instead of failing (an upload holds a lease on the blob
        while it writes).
      - Only when you know that no upload is running (for example after one was killed, before its lease
        expires); breaking the lease of a running upload lets two uploads write the same blob.
    type: bool
    default: false
  merge_gap:
    description:
      - Zero gaps of at most this many bytes between non-zero runs of the source (within one 4 MiB block)
        are sent as zeros, so that both runs go in one Put Page request; this saves requests (and time on
        high-latency links).
      - V(0) sends non-zero pages only. At most 4194304 (4 MiB, one Put Page request).
    type: int
    default: 65536
  content_md5:
    description:
      - Set the blob's Content-MD5 to the MD5 of the whole VHD.
      - This hashes the full virtual size, holes included, so it costs an MD5 pass over every byte
        of the disk (a few seconds per GiB); each Put Page request is checked with its own MD5
        whatever this option says.
    type: bool
    default: false
  retry_total:
    description: How many times a request is retried after a transient failure (HTTP 408, 429, 500, 502, 503, 504, connection errors, timeouts).
    type: int
    default: 5
  retry_backoff_factor:
    description: Exponential backoff factor in seconds between retries; a C(Retry-After) header from the service takes precedence.
    type: float
    default: 0.8
  retry_backoff_max:
    description: Longest wait between two retries, in seconds; it also caps a C(Retry-After) from the service.
    type: int
    default: 60
  timeout:
    description: Seconds to wait for the service to answer one request.
    type: int
    default: 120
  api_version:
    description:
      - Storage service API version to use, when the endpoint does not support the client's default
        (for example V(2025-11-05) for the Azurite emulator).
    type: str
notes:
  - Credentials are taken, in this order, from O(sas_token), O(account_key), O(connection_string),
    a SAS in O(blob_url) (or O(account_url)), else the Entra ID options (the identity needs the Storage
    Blob Data Contributor role). Only Entra ID needs the azure-identity Python library; uploads with a
    key, a SAS or a connection string work without it.
  - The options O(src), O(container_name), O(blob_name) and O(force) are spelled as in
    azure.azcollection's C(azure_rm_storageblob), so that its upload tasks convert with few changes.
  - A failed upload leaves the blob in state V(uploading); running the task again with the same
    source resumes it.
attributes:
  check_mode:
    details:
      - Reads the source and the blob's properties and page list; writes nothing.
      - For a managed disk, only GET requests; a resume reports RV(bytes_to_upload) as all the data (the pages on the
        disk can only be read once access is granted, which check mode does not do).
  diff_mode:
    details: The blob's (or disk's) upload state, fingerprint and size before and after (and the disk state).
seealso:
  - module: vmimage.azure.vhd
  - module: vmimage.azure.vhd_info
"""

EXAMPLES = r"""
- name: Upload a VHD with a SAS URL, then make a managed image of it
  vmimage.azure.vhd_upload:
    path: /srv/images/debian-12.vhd
    blob_url: "{{ vhd_sas_url }}"
  register: upload

- name: Capture the image from the uploaded blob (its URL without the SAS)
  vmimage.azure.image:
    resource_group: images
    name: debian-12
    source: "{{ upload.url }}"
    os_type: Linux

- name: Upload a VHD with an account key
  vmimage.azure.vhd_upload:
    path: /srv/images/debian-12.vhd
    account_url: https://myaccount.blob.core.windows.net
    container: vhds
    blob: debian-12.vhd
    account_key: "{{ storage_key }}"
    create_container: true
  register: upload

- name: Upload with a SAS URL, 16 requests in flight
  vmimage.azure.vhd_upload:
    path: /srv/images/debian-12.vhd
    blob_url: "{{ vhd_sas_url }}"
    concurrency: 16

- name: The same task written with azure_rm_storageblob's option names (force means overwrite=always)
  vmimage.azure.vhd_upload:
    src: /srv/images/debian-12.vhd
    account_url: https://myaccount.blob.core.windows.net
    container_name: vhds
    blob_name: debian-12.vhd
    account_key: "{{ storage_key }}"
    force: true

- name: Upload with Entra ID (service principal from the environment)
  vmimage.azure.vhd_upload:
    path: /srv/images/debian-12.vhd
    account_url: https://myaccount.blob.core.windows.net
    container: vhds
    blob: debian-12.vhd
    auth_source: env

- name: Upload straight into a new managed disk (generation from the VHD's partition table)
  vmimage.azure.vhd_upload:
    path: /srv/images/debian-12.vhd
    disk_name: debian-12-os
    resource_group: images
    location: westeurope
    sku: Premium_LRS
    os_type: Linux
  register: upload

- name: Make a snapshot of the uploaded disk
  vmimage.azure.snapshot:
    resource_group: images
    name: debian-12-snap
    source: "{{ upload.disk_id }}"

- name: A Trusted Launch disk; replace a disk that holds another image (delete and re-create it)
  vmimage.azure.vhd_upload:
    path: /srv/images/debian-12-uefi.vhd
    disk_name: debian-12-tl
    resource_group: images
    hyper_v_generation: V2
    security_type: TrustedLaunch
    overwrite: different
"""

RETURN = r"""
url:
  description:
    - URL of the blob, without any query string (no SAS), to use as the source of an image or a disk.
  returned: when the destination options could be used (a blob)
  type: str
  sample: https://myaccount.blob.core.windows.net/vhds/debian-12.vhd
disk_id:
  description: Resource id of the managed disk (O(disk_name)); none when it does not exist (yet, in check mode).
  returned: with O(disk_name)
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.Compute/disks/debian-12-os
disk:
  description: The managed disk (O(disk_name)) after the task (in check mode, as it is or would be).
  returned: success, with O(disk_name)
  type: dict
  contains:
    id:
      description: Resource id.
      type: str
    name:
      description: Name.
      type: str
    location:
      description: Region.
      type: str
    disk_state:
      description: V(Unattached) once uploaded; V(ReadyToUpload) or V(ActiveUpload) while an upload is unfinished.
      type: str
    sku:
      description: Storage type.
      type: str
    os_type:
      description: Operating system type.
      type: str
    hyper_v_generation:
      description: Hyper-V generation.
      type: str
    security_type:
      description: Security type (none for Standard).
      type: str
    upload_size_bytes:
      description: The C(uploadSizeBytes) the disk was created with (the VHD's file size).
      type: int
    provisioning_state:
      description: Provisioning state.
      type: str
    tags:
      description: Tags, the upload state among them.
      type: dict
  sample:
    id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.Compute/disks/debian-12-os
    name: debian-12-os
    location: westeurope
    disk_state: Unattached
    sku: Premium_LRS
    os_type: Linux
    hyper_v_generation: V2
    upload_size_bytes: 34359738880
    tags: {vmimage_state: complete, vmimage_fingerprint: "sha256:9f86...", vmimage_size: "34359738880"}
access:
  description:
    - What became of the write access to the managed disk (O(disk_name)); also in the result of a failed task.
    - V(none) (never granted, because there was nothing to upload, in check mode, or after a failure before), V(revoked),
      or V(active) (Azure refused to revoke it; the error says why and what to do).
  returned: with O(disk_name)
  type: str
  sample: revoked
action:
  description:
    - V(none) (already uploaded), V(create) (new blob or disk), V(resume) (finish an interrupted upload of
      the same source) or V(replace) (recreate the blob, or delete and re-create the disk, and upload everything).
  returned: success
  type: str
  sample: create
size:
  description: Size of the VHD and of the page blob, in bytes.
  returned: success
  type: int
  sample: 34359738880
data_bytes:
  description: Bytes in non-zero 512-byte pages, what a full upload sends.
  returned: success
  type: int
  sample: 1610612736
bytes_to_upload:
  description: Bytes the task sends (or would send in check mode).
  returned: success
  type: int
  sample: 1610612736
bytes_uploaded:
  description: Data bytes (non-zero pages) sent by this run (0 in check mode).
  returned: success
  type: int
  sample: 1610612736
bytes_sent:
  description:
    - Bytes of the Put Page requests of this run, the zeros of merged gaps (O(merge_gap)) included (0 in check mode).
  returned: success
  type: int
  sample: 1652555776
bytes_skipped:
  description: Bytes of the blob this run did not send (holes, zero pages and pages already uploaded); in check mode, would not send.
  returned: success
  type: int
  sample: 32749125632
requests:
  description: Put Page requests sent.
  returned: success
  type: int
  sample: 400
retries:
  description: Requests retried after a transient failure.
  returned: success
  type: int
  sample: 0
resumed:
  description: Whether this run finished an interrupted upload.
  returned: success
  type: bool
  sample: false
seconds:
  description: Time spent sending, in seconds.
  returned: success
  type: float
  sample: 12.5
mib_per_second:
  description: Upload throughput of this run.
  returned: success
  type: float
  sample: 128.0
fingerprint:
  description: SHA-256 content fingerprint of the source, stored in the blob metadata (in the disk's tags for a managed disk).
  returned: success
  type: str
  sample: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
"""

from urllib.parse import urlsplit

from ansible_collections.vmimage.azure.plugins.module_utils._azure.module import AzureModule
from ansible_collections.vmimage.azure.plugins.module_utils._compute import disk_upload as _disk
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import ComputeError
from ansible_collections.vmimage.azure.plugins.module_utils._storage import client as _client
from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan
from ansible_collections.vmimage.azure.plugins.module_utils._storage import state as _state
from ansible_collections.vmimage.azure.plugins.module_utils._storage import upload as _upload
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError


ARGSPEC = dict(
    path=dict(type='path', required=True, aliases=['src']),
    disk_name=dict(type='str'),
    resource_group=dict(type='str'),
    location=dict(type='str'),
    sku=dict(type='str', choices=['Standard_LRS', 'StandardSSD_LRS', 'StandardSSD_ZRS', 'Premium_LRS', 'Premium_ZRS'],
             aliases=['storage_account_type']),
    os_type=dict(type='str', choices=['Linux', 'Windows']),
    hyper_v_generation=dict(type='str', choices=['V1', 'V2']),
    security_type=dict(type='str', choices=['Standard', 'TrustedLaunch']),
    access_duration=dict(type='int', default=_disk.DEFAULT_ACCESS_DURATION),
    # Not secrets as a whole (the result returns the URL): AzureModule masks their SAS only.
    blob_url=dict(type='str', no_log=False),
    account_url=dict(type='str', no_log=False),
    connection_string=dict(type='str', no_log=True),
    container=dict(type='str', aliases=['container_name']),
    blob=dict(type='str', aliases=['blob_name']),
    account_key=dict(type='str', no_log=True),
    sas_token=dict(type='str', no_log=True),
    create_container=dict(type='bool', default=False),
    concurrency=dict(type='int', default=8),
    # No default here: force=true must know whether overwrite was set (see overwrite_option).
    overwrite=dict(type='str', choices=list(_state.OVERWRITE_CHOICES)),
    force=dict(type='bool', default=False),
    break_lease=dict(type='bool', default=False),
    merge_gap=dict(type='int', default=_plan.MERGE_GAP),  # documented above as 65536
    content_md5=dict(type='bool', default=False),
    retry_total=dict(type='int', default=5),
    retry_backoff_factor=dict(type='float', default=0.8),
    retry_backoff_max=dict(type='int', default=60),
    timeout=dict(type='int', default=120),
    api_version=dict(type='str'),
)


def overwrite_option(overwrite, force, default='different'):
    """The overwrite mode ``overwrite`` (None: not set) and ``force`` ask for; ValueError when they disagree.
    ``default``: when neither is set (``different`` for a blob, ``never`` for a managed disk)."""
    if force and overwrite not in (None, 'always'):
        raise ValueError('force=true means overwrite=always, so it cannot be combined with overwrite=%s: '
                         'set only one of them.' % overwrite)
    return overwrite or ('always' if force else default)


# Options of the blob destination only; the managed-disk destination refuses them when set.
BLOB_ONLY = ('create_container', 'break_lease', 'content_md5')
# Options of the managed-disk destination only; a blob destination refuses them when set.
DISK_ONLY = ('sku', 'os_type', 'hyper_v_generation', 'security_type')


def register_sas(azure):
    """A callback that hides a SAS URL (the URL, its query string and signature) from then on."""
    def register(url):
        azure.add_secrets({url} | _client.sas_secrets(urlsplit(url).query))
    return register


def checked_destination_options(azure, params):
    """Fail on an option of the other destination, or on a managed-disk option out of range."""
    if params['disk_name']:
        for name in BLOB_ONLY:
            if params[name]:
                azure.fail('%s applies to a blob destination only, not to a managed disk (disk_name).' % name,
                           code='invalid_option')
        if params['access_duration'] < 60:
            azure.fail('access_duration must be at least 60 seconds, not %d.' % params['access_duration'],
                       code='invalid_option')
        return
    for name in DISK_ONLY:
        if params[name]:
            azure.fail('%s applies to a managed disk (disk_name) only, not to a blob.' % name, code='invalid_option')


def main():
    azure = AzureModule(
        ARGSPEC, supports_check_mode=True,
        mutually_exclusive=[('blob_url', 'account_url', 'connection_string', 'disk_name'), ('account_key', 'sas_token'),
                            ('blob_url', 'container'), ('blob_url', 'blob'),
                            ('connection_string', 'account_key'), ('connection_string', 'sas_token'),
                            ('disk_name', 'container'), ('disk_name', 'blob'), ('disk_name', 'account_key'),
                            ('disk_name', 'sas_token')],
        required_one_of=[('blob_url', 'account_url', 'connection_string', 'disk_name')],
        required_by={'account_url': ('container', 'blob'), 'connection_string': ('container', 'blob'),
                     'disk_name': ('resource_group',)},
        required_libs=[('azure-storage-blob', _client.IMPORT_ERROR)],
        secrets=_client.secret_values, partly_secret=('blob_url', 'account_url'),
    )
    params = dict(azure.params)
    if params['concurrency'] < 1 or params['concurrency'] > 64:
        azure.fail('concurrency must be between 1 and 64, not %d.' % params['concurrency'], code='invalid_option')
    if not 0 <= params['merge_gap'] <= _plan.MAX_PUT:
        azure.fail('merge_gap must be between 0 and %d (one Put Page request), not %d.'
                   % (_plan.MAX_PUT, params['merge_gap']), code='invalid_option')
    try:
        params['overwrite'] = overwrite_option(params['overwrite'], params['force'],
                                               'never' if params['disk_name'] else 'different')
    except ValueError as exc:
        azure.fail(str(exc), code='invalid_option')
    checked_destination_options(azure, params)
    try:
        if params['disk_name']:
            result = _disk.upload_to_disk(azure.compute(), azure.resolved().subscription_id, params['path'], params,
                                          check_mode=azure.check_mode, wait=azure.wait, secret=register_sas(azure))
        else:
            result = _upload.upload_vhd(params['path'], params, check_mode=azure.check_mode,
                                        token_credential=azure.credential)
    except VhdError as exc:
        azure.fail(exc.message, code=exc.code, problems=exc.problems)
    except OSError as exc:
        azure.fail('Cannot read %s: %s; give the path of a readable fixed VHD.' % (params['path'], exc.strerror or exc))
    except ComputeError as exc:  # the managed-disk preflight
        azure.fail(str(exc), code=exc.code, **getattr(exc, 'result', {}))
    except (_upload.UploadError, _state.UploadConflict, _client.ClientOptionsError) as exc:
        azure.fail(str(exc), **exc.result)
    except Exception as exc:  # only main() turns exceptions into failures
        auth, result = getattr(exc, 'auth', None), getattr(exc, 'result', {})
        if auth is None or getattr(exc, 'status_code', None) not in (401, 403):
            azure.fail(exc, **result)
        azure.fail(_client.explain(exc, auth), **result)
    azure.exit(**result)


if __name__ == '__main__':
    main()
