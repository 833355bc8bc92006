# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Sparse, parallel, resumable page-blob upload of a validated fixed VHD.

Two layers: ``PageWriter(client, fd, source, ..., store)`` sends the Put Page requests of a
``plan.Scanner`` to any page blob it can write (a ``BlobClient``, e.g. a managed disk's upload SAS)
and records the upload state through a ``StateStore`` (``read()``, ``record(state, fingerprint,
size)``); it creates nothing and takes no lease. The blob destination, ``PageBlobUploader(client, fd,
source)``, adds what only a page blob has: the state in its metadata (``BlobMetadataStore``), Put Blob,
the lease; ``prepare(overwrite)`` answers what would be done (read-only), ``run(prepared)`` does it,
``summary(prepared)`` describes it (action, sizes, fingerprint, diff). The managed-disk destination
(``_compute/disk_upload.py``) uses the writer with the state in the disk's tags.

The source is scanned (fingerprint) before anything is sent only when the decision needs it: when
the blob holds an upload of ours of the same size (is it complete? the same source?), and in check
mode. A first upload (no blob, a foreign blob, overwrite=always) scans and sends at the same time:
the blob is created with an empty fingerprint, which is recorded as soon as the scan is done; an
interruption before that point makes the next run start over, after it the next run resumes.

Only non-zero pages are sent, in 512-aligned Put Page requests of at most 4 MiB (pieces of one 4 MiB
block separated by at most ``merge_gap`` zero bytes share a request, zeros included), each with the
Content-MD5 the scan computed from the bytes it read, ``concurrency`` at a time; at most
``2 * concurrency`` requests are queued and each reads its own bytes, so memory stays below
``concurrency * 4 MiB`` of page data (plus the scan's bounded queue of 32-byte request records, see
``plan.py``). The service checks each MD5, so a source that changed after the scan is refused
(``Md5Mismatch``); a change to pages that were zero at scan time is caught by comparing the file's
size, times and inode before the scan and after the last write. Either fails with
:class:`SourceChanged` and leaves the blob in state ``uploading``. A resume sends every request of
the scan that is not wholly present on the blob, whole, with its MD5.

Concurrent runs: an upload holds a lease on the blob from its creation (or, for a resume, from
before its first write) to its end, passes it with every write and renews it in a background thread.
The lease is finite (``LEASE_SECONDS``) and renewed every ``LEASE_SECONDS / 3``: a killed process
leaves a lease that expires by itself, where an infinite one would block every later run until
someone broke it. A blob is created only if absent (``If-None-Match: *``), replaced or resumed only
after leasing it as it was when the decision was taken (``If-Match`` its ETag), so two runs never
write to one blob: the second fails at once, before it scans, unless ``break_lease``.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ansible_collections.vmimage.azure.plugins.module_utils._storage import client as _client
from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan
from ansible_collections.vmimage.azure.plugins.module_utils._storage import state as _state
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import image as _image

try:
    from azure.core import MatchConditions
    from azure.core.exceptions import (HttpResponseError, ResourceExistsError, ResourceModifiedError,
                                       ResourceNotFoundError)
    from azure.storage.blob import BlobLeaseClient, ContentSettings
except ImportError:  # pragma: no cover - the module reports missing libraries first
    MatchConditions = BlobLeaseClient = ContentSettings = None

    class HttpResponseError(Exception):
        """Stands in for azure-core's: never raised, since the module fails on the import first."""

    class ResourceNotFoundError(HttpResponseError):
        """Stand-in."""

    class ResourceExistsError(HttpResponseError):
        """Stand-in."""

    class ResourceModifiedError(HttpResponseError):
        """Stand-in."""

MIB = 1024 * 1024
LEASE_SECONDS = 60  # Azure allows 15 to 60, or infinite
# Get Page Ranges is asked for one window of the blob at a time (Azure answers huge lists slowly).
PAGE_RANGE_WINDOW = 64 * 1024 * MIB
# Error codes of a write (or lease renewal) refused because this run no longer holds the lease.
_LEASE_CODES = frozenset(('LeaseIdMissing', 'LeaseIdMismatchWithBlobOperation', 'LeaseNotPresentWithBlobOperation',
                          'LeaseLost', 'LeaseIdMismatchWithLeaseOperation', 'LeaseNotPresentWithLeaseOperation',
                          'LeaseIsBrokenAndCannotBeRenewed', 'LeaseAlreadyPresent'))


class UploadError(Exception):
    """The upload could not finish; ``resumable`` says whether a rerun will resume it."""

    def __init__(self, message, resumable=False, stats=None):
        super().__init__(message)
        self.resumable = resumable
        self.stats = stats or {}


class SourceChanged(UploadError):
    """The source no longer holds what the scan read (refused MD5, changed file, other pieces)."""


class BlobLeased(UploadError):
    """Another upload holds a lease on the blob (and ``break_lease`` is false)."""


class LeaseLost(UploadError):
    """This run's lease was broken (or expired): it stopped writing."""


def _error_code(exc):
    code = getattr(exc, 'error_code', None)
    return getattr(code, 'value', code)


def read_remote(client):
    """``state.remote_state`` of the destination blob (lease and ETag included), or None when it
    (or its container) is absent."""
    try:
        props = client.get_blob_properties()
    except ResourceNotFoundError:
        return None
    blob_type = getattr(props.blob_type, 'value', props.blob_type)
    lease = getattr(props, 'lease', None)
    return _state.remote_state(blob_type, props.size, props.metadata, etag=props.etag,
                               lease=getattr(lease, 'state', None), lease_duration=getattr(lease, 'duration', None))


def present_ranges(client):
    """``[(start, end)]`` (end exclusive) of the pages the page blob holds."""
    return [(r.start, r.end + 1) for r in client.list_page_ranges() if not getattr(r, 'cleared', False)]


def present(client, size, window=PAGE_RANGE_WINDOW):
    """The pages the page blob holds, as a compact ``plan.Ranges``, asked for ``window`` by ``window``."""
    def pairs():
        for start in range(0, size, window):
            for r in client.list_page_ranges(offset=start, length=min(window, size - start)):
                if not getattr(r, 'cleared', False):
                    yield r.start, r.end + 1
    return _plan.Ranges(pairs())


class _Lease:
    """A finite lease on the blob, renewed by a background thread every ``renew`` seconds until
    ``close()`` releases it. ``on_lost(exc)`` is called when a renewal fails."""

    def __init__(self, client, seconds, renew, on_lost):
        self.lease = BlobLeaseClient(client)  # a new random lease id
        self.seconds, self.renew = seconds, renew
        self.on_lost = on_lost
        self.held = False
        self._stop = threading.Event()
        self._thread = None

    def acquire(self, etag=None):
        conditions = dict(etag=etag, match_condition=MatchConditions.IfNotModified) if etag else {}
        self.lease.acquire(lease_duration=self.seconds, **conditions)
        self.held = True

    def _renew(self):
        while not self._stop.wait(self.renew):
            try:
                self.lease.renew()
            except Exception as exc:  # handed to the upload, which stops
                self.on_lost(exc)
                return

    def start(self):
        self._thread = threading.Thread(target=self._renew, name='vmimage-lease', daemon=True)
        self._thread.start()

    def close(self):
        """Stop renewing; release the lease if this run took it (errors ignored: it expires anyway)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.held:
            self.held = False
            try:
                self.lease.release()
            except Exception:  # it expires by itself anyway
                pass


def _lease_lost_error(exc):
    return LeaseLost('This run lost its lease on the blob (%s): another run broke it (break_lease) or it expired '
                     'while this process was stopped, so another upload may be writing to the blob now.'
                     % (_error_code(exc) or type(exc).__name__))


def scan(source):
    """``source.plan()`` (a ``plan.Scanner``), a change of the source during the scan raised as SourceChanged."""
    try:
        return source.plan()
    except _plan.Changed as exc:
        raise SourceChanged('The source changed while it was scanned (%s); run the task again.' % exc) from None


class StateStore:
    """Where an upload keeps its state (``state.metadata``: state, fingerprint, size) on the destination.

    ``read()`` returns ``state.remote_state`` of the destination (None when it does not exist);
    ``record(state, fingerprint, size)`` writes it. The page writer calls ``record`` only: to record
    the fingerprint of a streamed scan, to mark the upload complete, and to forget the fingerprint
    when the source changed under it."""

    def read(self):
        raise NotImplementedError

    def record(self, state, fingerprint, size):
        raise NotImplementedError


class BlobMetadataStore(StateStore):
    """The upload state in the page blob's metadata, written with the upload's lease (``lease``,
    set by the uploader once it holds one)."""

    def __init__(self, client):
        self.client = client
        self.lease = None

    def read(self):
        return read_remote(self.client)

    def record(self, state, fingerprint, size):
        kwargs = {'lease': self.lease} if self.lease is not None else {}
        self.client.set_blob_metadata(_state.metadata(state, fingerprint, size), **kwargs)


class PageWriter:
    """Sends the Put Page requests of a ``plan.Scanner`` to the page blob of ``client`` (a
    ``BlobClient``, e.g. from a SAS URL), ``concurrency`` at a time, and records the state through a
    :class:`StateStore`. It creates nothing and takes no lease: the destination does that (the page
    blob: :class:`PageBlobUploader`; a managed disk: ``_compute/disk_upload.py``), both share this.

    ``hold_footer``: the request holding the last page (the VHD footer) is sent only after every
    other one succeeded and the source was found unchanged (a managed disk becomes usable when its
    access is revoked, which Azure refuses while the blob does not end with a VHD footer: a partial
    upload can then never become a disk). ``what`` names the destination in messages."""

    hold_footer = False
    what = 'blob'

    def __init__(self, client, fd, source, concurrency=8, retry=None, auth='key', store=None):
        if concurrency < 1:
            raise ValueError('concurrency must be at least 1')
        self.client = client
        self.fd = fd
        self.source = source
        self.concurrency = concurrency
        self.retry = retry
        self.auth = auth
        self.store = store
        self._requests = 0
        self._sent = 0  # data bytes (non-zero pages) written
        self._wire = 0  # request bytes written (merged zero gaps included)
        self._fingerprint_recorded = False
        self._present = None
        self._held = []
        self._cause = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def plan(self):
        """The scan result (scans the source now if that has not happened yet)."""
        return scan(self.source)

    def _write_kwargs(self):
        """Extra keyword arguments of every write (the blob uploader's lease)."""
        return {}

    def _abort(self, cause=None):
        """Stop everything (a request failed, the lease was lost): the scan, the queue, new requests."""
        with self._lock:
            if cause is not None and self._cause is None:
                self._cause = cause
        self._stop.set()
        self.source.stop()

    def _scan_and_record(self):
        """The scan thread of a streaming upload: it runs ahead of the senders (they take the
        requests from its bounded queue) and records the fingerprint as soon as it is done: from
        then on an interrupted upload can be resumed."""
        try:
            plan = self.source.plan()
            self.store.record(_state.UPLOADING, plan.fingerprint, plan.size)
            self._fingerprint_recorded = True
        except _plan.Stopped:
            pass
        except BaseException as exc:  # handed to the senders, which stop
            self._abort(exc)

    def _ranges(self, prepared):
        """The requests to send, ``(offset, length, data_bytes, md5)``: those the scan queued, then
        (after an overflow of its queue) those of the second pass; for a resume, those not wholly
        on the blob. With ``hold_footer`` the request holding the last page goes to ``_held``."""
        source = self.source
        wanted = self._present if prepared['action'] == 'resume' else None
        end = source.size
        scanner = None
        if prepared['stream']:
            scanner = threading.Thread(target=self._scan_and_record, name='vmimage-scan', daemon=True)
            scanner.start()
        try:
            requests = iter(source.queue.take, None)
            for part in (requests, source.tail()):
                for item in part:
                    if self._stop.is_set():
                        return
                    if wanted is None or not wanted.covers(item[0], item[0] + item[1]):
                        if self.hold_footer and item[0] + item[1] == end:
                            self._held.append(item)
                        else:
                            yield item
        finally:
            if scanner is not None:
                if self._stop.is_set():
                    source.stop()
                scanner.join()

    def _done(self, future):
        if not future.cancelled() and future.exception() is not None:
            self._abort(future.exception())

    def _put(self, offset, length, data_bytes, md5):
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise SourceChanged('Short read at offset %d: the source changed during the upload.' % offset,
                                resumable=True)
        # The scan's digest of these bytes (zeros of a merged gap included): checked by the service.
        try:
            self.client.upload_page(data, offset=offset, length=length, validate_content=False,
                                    transactional_content_md5=md5, **self._write_kwargs())
        except HttpResponseError as exc:
            code = _error_code(exc)
            if code == 'Md5Mismatch':
                raise SourceChanged('The source changed during the upload (the %d bytes at offset %d differ '
                                    'from what the scan read); run the task again.' % (length, offset),
                                    resumable=True) from exc
            if code in _LEASE_CODES:
                raise _lease_lost_error(exc) from exc
            raise
        with self._lock:
            self._requests += 1
            self._sent += data_bytes
            self._wire += length

    def _send(self, ranges):
        limit = 2 * self.concurrency
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            pending = set()
            try:
                for item in ranges:
                    offset, length = item[0], item[1]
                    if offset % _plan.PAGE or length % _plan.PAGE or not 0 < length <= _plan.MAX_PUT:
                        raise ValueError('bad page range (%d, %d)' % (offset, length))
                    while len(pending) >= limit:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                    future = pool.submit(self._put, *item)
                    future.add_done_callback(self._done)
                    pending.add(future)
                for future in pending:
                    future.result()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise

    def stats(self, started):
        seconds = max(time.monotonic() - started, 1e-9)
        return dict(bytes_uploaded=self._sent, bytes_sent=self._wire, requests=self._requests,
                    retries=self.retry.retries if self.retry is not None else 0,
                    seconds=round(seconds, 3), mib_per_second=round(self._sent / MIB / seconds, 2))

    def _complete(self, plan):
        """After the last write: mark the upload complete."""
        self.store.record(_state.COMPLETE, plan.fingerprint, plan.size)

    def write(self, prepared, present=None):
        """Send what ``prepared`` (``dict(action, stream)``) asks for — every request, or for a
        resume those not wholly in ``present`` (``plan.Ranges``) — then record the upload complete.
        Returns the counters; raises :class:`UploadError`."""
        started = time.monotonic()
        if present is not None:
            self._present = present
        self._fingerprint_recorded = prepared['action'] == 'resume' or not prepared['stream']
        self._transfer(prepared, started)
        return self.stats(started)

    def _transfer(self, prepared, started):
        ranges = self._ranges(prepared)
        try:
            self._send(ranges)
            if self._cause is not None:
                raise self._cause
            changed = self.source.changed()
            if changed:
                raise SourceChanged('The source changed during the upload (%s changed since the scan began); '
                                    'run the task again.' % changed, resumable=True)
            if self._held:  # the footer, once everything else is on the destination
                self._send(self._held)
                if self._cause is not None:
                    raise self._cause
            self._complete(self.plan)
        except Exception as exc:
            self._abort()
            ranges.close()  # stops the scan thread and waits for it
            self._fail(self._cause or exc, started)

    def _fail(self, exc, started):
        if isinstance(exc, _plan.Changed):
            exc = SourceChanged('The source changed during the upload (%s); run the task again.' % exc)
            # Pages of the second pass may hold the new content: make the next run start over.
            try:
                self.store.record(_state.UPLOADING, '', self.source.size)
                self._fingerprint_recorded = False
            except Exception:  # the failure being reported matters more
                pass
        elif isinstance(exc, HttpResponseError) and _error_code(exc) in _LEASE_CODES:
            exc = _lease_lost_error(exc)
        stats = self.stats(started)
        cause = exc.args[0] if isinstance(exc, UploadError) else _client.explain(exc, self.auth)
        resumable = self._fingerprint_recorded and not isinstance(exc, LeaseLost)
        if isinstance(exc, LeaseLost):
            advice = 'run the task again once no other upload is running'
        elif isinstance(exc, SourceChanged):
            advice = 'once the source no longer changes, running the task again uploads it'
        elif resumable:
            advice = 'run the task again with the same source to resume it'
        else:
            advice = ('it stopped before the source fingerprint was recorded, so running the task '
                      'again uploads it from the start')
        kind = type(exc) if isinstance(exc, UploadError) else UploadError
        raise kind('Upload interrupted after %d bytes: %s The %s is left in state %r; %s.' % (
            stats['bytes_uploaded'], cause.rstrip('.') + '.', self.what, _state.UPLOADING, advice),
            resumable=resumable, stats=stats) from exc


class PageBlobUploader(PageWriter):
    """Upload a fixed VHD described by a ``plan.Scanner`` to the page blob of ``client``: the blob
    destination (state in the blob's metadata, Put Blob, a lease) around the shared :class:`PageWriter`."""

    def __init__(self, client, fd, source, concurrency=8, retry=None, auth='key', break_lease=False,
                 lease_seconds=LEASE_SECONDS, renew_seconds=None):
        super().__init__(client, fd, source, concurrency, retry, auth, store=BlobMetadataStore(client))
        self.break_lease = break_lease
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds or lease_seconds / 3.0
        self.lease_broken = False
        self._lease = None

    def _write_kwargs(self):
        return {'lease': self._lease.lease}

    def prepare(self, overwrite='different', scan=False):
        """Read-only: ``dict(action, remote, stream)``. The source is scanned first only when the
        decision depends on its fingerprint, or when ``scan`` (check mode: report what would be
        sent); otherwise ``stream`` is true and ``run`` scans while it sends. Raises
        ``state.UploadConflict`` when ``overwrite`` forbids the upload, :class:`BlobLeased` (before
        any scan when possible) when another upload holds a lease on the blob."""
        size = self.source.size
        remote = self.store.read()
        blocked = _state.leased(remote) and not self.break_lease
        if blocked and not _state.may_be_unchanged(remote, size):
            raise BlobLeased(_state.lease_message(remote, self.lease_seconds))
        action = _state.decide(remote, None, size, overwrite)
        if action is None or scan:
            if (remote is not None and remote['state'] == _state.UPLOADING and remote['fingerprint']
                    and remote['blob_type'] == 'PageBlob' and remote['size'] == size):
                self._present = present(self.client, size)  # a resume is likely: count what is missing
                if not self.source.done:
                    self.source.present = self._present
            action = _state.decide(remote, self.plan.fingerprint, size, overwrite)
        if blocked and action != 'none':
            raise BlobLeased(_state.lease_message(remote, self.lease_seconds))
        if action == 'resume' and self._present is None:
            self._present = present(self.client, size)
        stream = action in ('create', 'replace') and not self.source.done
        return dict(action=action, remote=remote, stream=stream)

    def summary(self, prepared):
        """What the upload is (or would be) about: needs the scan to be done."""
        plan = self.plan
        action = prepared['action']
        if action == 'none':
            to_upload = 0
        elif action == 'resume':
            to_upload = plan.missing_bytes if plan.missing_bytes is not None else self._sent
        else:
            to_upload = plan.data_bytes
        return dict(action=action, size=plan.size, data_bytes=plan.data_bytes,
                    fingerprint=plan.fingerprint, bytes_to_upload=to_upload,
                    diff=_state.diff(prepared['remote'], plan.fingerprint, plan.size, action))

    # --- starting: create, replace or resume, under a lease ----------------------------------------

    def _break(self):
        """Break the lease on the blob now (``break_lease``); a lease that is gone meanwhile is fine."""
        try:
            BlobLeaseClient(self.client).break_lease(lease_break_period=0)
        except HttpResponseError as exc:
            if _error_code(exc) != 'LeaseNotPresentWithLeaseOperation':
                raise
        self.lease_broken = True

    def _acquire(self, etag):
        """Lease the blob as it was when it was read (``etag``); break another lease first only
        with ``break_lease``."""
        for attempt in (1, 2):
            try:
                self._lease.acquire(etag)
                return
            except ResourceExistsError:  # LeaseAlreadyPresent
                if attempt == 1 and self.break_lease:
                    self._break()
                    continue
                remote = read_remote(self.client) or {'lease': 'leased', 'state': None}
                raise BlobLeased(_state.lease_message(remote, self.lease_seconds)) from None
            except ResourceModifiedError:  # ConditionNotMet: written since this run read it
                raise UploadError('The blob changed after this run read it: another upload is probably writing to '
                                  'it. Run the task again once that upload is finished.') from None
            except ResourceNotFoundError:
                raise UploadError('The blob was deleted after this run read it; run the task again.') from None

    def _create(self, create_container, meta):
        """Create the blob only if it does not exist; return its ETag."""
        def create():
            try:
                return self.client.create_page_blob(self.source.size, metadata=meta,
                                                    match_condition=MatchConditions.IfMissing)['etag']
            except ResourceExistsError:
                raise UploadError('Another upload created the blob after this run found none; run the task '
                                  'again once that upload is finished.') from None
        try:
            return create()
        except ResourceNotFoundError as exc:
            if _error_code(exc) != 'ContainerNotFound':
                raise
            if not create_container:
                raise UploadError('The container %r does not exist: create it, or set '
                                  'create_container=true.' % self.client.container_name) from None
            try:
                self.client._get_container_client().create_container()  # pylint: disable=protected-access
            except ResourceExistsError:
                pass
            return create()

    def _begin(self, prepared, create_container):
        action, remote = prepared['action'], prepared['remote']
        fingerprint = '' if prepared['stream'] else self.plan.fingerprint
        meta = _state.metadata(_state.UPLOADING, fingerprint, self.source.size)
        if action == 'create':
            self._acquire(self._create(create_container, meta))
        else:
            if _state.leased(remote) and self.break_lease:
                self._break()
            self._acquire(remote['etag'])
            if action == 'replace':
                # Creating the blob again discards every page of an earlier upload: never mix sources.
                self.client.create_page_blob(self.source.size, metadata=meta, lease=self._lease.lease)
        self._fingerprint_recorded = action == 'resume' or bool(fingerprint)

    def _lost(self, exc):
        self._abort(_lease_lost_error(exc))

    def _complete(self, plan):
        if plan.md5 is not None:
            self.client.set_http_headers(ContentSettings(content_md5=bytearray(plan.md5)), lease=self._lease.lease)
        super()._complete(plan)

    def run(self, prepared, create_container=False):
        """Do what ``prepare`` decided; return the counters. Raises :class:`UploadError`."""
        started = time.monotonic()
        if prepared['action'] == 'none':
            return self.stats(started)
        self._lease = _Lease(self.client, self.lease_seconds, self.renew_seconds, self._lost)
        self.store.lease = self._lease.lease
        try:
            try:
                self._begin(prepared, create_container)
            except UploadError:
                raise
            except Exception as exc:
                what = 'lease the blob' if prepared['action'] == 'resume' else 'create the page blob'
                raise UploadError('Cannot %s: %s' % (what, _client.explain(exc, self.auth))) from exc
            self._lease.start()
            self._transfer(prepared, started)
        finally:
            self._lease.close()
        return self.stats(started)


def upload_vhd(path, options, check_mode=False, token_credential=None):
    """The whole of ``vhd_upload``: validate the source (before any request), decide, send.

    ``options`` are the module's destination, credential and tuning options (``break_lease``:
    break another upload's lease on the blob instead of failing, default false; ``merge_gap``:
    largest zero gap, in bytes, sent as zeros to merge two pieces of one 4 MiB block into one Put
    Page, 0 disables, default ``plan.MERGE_GAP``); ``token_credential`` is called for an Entra ID
    credential only when no key, SAS or connection string is given. Returns the result dict;
    raises ``VhdError`` for a bad source,
    ``UploadError``/``UploadConflict``/``ClientOptionsError`` (with ``.result``: what is known so
    far) or an azure-core error (``.result`` and ``.auth`` attached) otherwise.
    """
    _image.validate_fixed_vhd(path)
    result = dict(changed=False, resumed=False)
    auth = None
    try:
        merge_gap = options.get('merge_gap', _plan.MERGE_GAP)
        merge_gap = _plan.MERGE_GAP if merge_gap is None else merge_gap
        if not 0 <= merge_gap <= _plan.MAX_PUT:
            raise UploadError('merge_gap must be between 0 and %d bytes (4 MiB), not %d.' % (_plan.MAX_PUT, merge_gap))
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            # The scanner notes the file's identity (size, times, inode) before anything is read, and
            # asks for its data extents window by window.
            source = _plan.Scanner(fd, size, content_md5=options['content_md5'], merge_gap=merge_gap, path=path)
            keyed = any(options.get(k) for k in ('account_key', 'sas_token', 'connection_string'))
            client, retry, auth = _client.build_blob_client(
                options, token_credential=None if keyed else token_credential, concurrency=options['concurrency'])
            result['url'] = _client.public_url(client.url)
            uploader = PageBlobUploader(client, fd, source, options['concurrency'], retry, auth,
                                        break_lease=bool(options.get('break_lease', False)))
            prepared = uploader.prepare(options['overwrite'], scan=check_mode)
            result.update(action=prepared['action'], changed=prepared['action'] != 'none')
            if check_mode:
                result.update(bytes_uploaded=0, bytes_sent=0, requests=0, retries=0, seconds=0.0, mib_per_second=0.0)
            else:
                result.update(uploader.run(prepared, create_container=options['create_container']))
                result['resumed'] = prepared['action'] == 'resume'
            result.update(uploader.summary(prepared))
            sent = result['bytes_to_upload'] if check_mode else result['bytes_uploaded']
            result['bytes_skipped'] = size - sent
            return result
        finally:
            os.close(fd)
    except Exception as exc:
        result.update(getattr(exc, 'stats', None) or {})
        exc.result, exc.auth = result, auth
        raise
