# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Sparse, parallel, resumable page-blob upload of a validated fixed VHD.

``PageBlobUploader(client, fd, source)`` takes a ``BlobClient`` and a ``plan.Scanner``;
``prepare(overwrite)`` answers what would be done (read-only), ``run(prepared)`` does it,
``summary(prepared)`` describes it (action, sizes, fingerprint, diff).

The source is scanned (fingerprint) before anything is sent only when the decision needs it: when
the blob holds an upload of ours of the same size (is it complete? the same source?), and in check
mode. A first upload (no blob, a foreign blob, overwrite=always) scans and sends at the same time:
the blob is created with an empty fingerprint, which is recorded as soon as the scan is done; an
interruption before that point makes the next run start over, after it the next run resumes.
Only non-zero pages are sent, in 512-aligned Put Page requests of at most 4 MiB, each with
Content-MD5, ``concurrency`` at a time; at most ``2 * concurrency`` requests are queued and each
reads its own bytes, so memory stays below ``concurrency * 4 MiB`` of page data. A piece of the
plan is sent with the MD5 the scan computed (its bytes are not hashed again), so a source that
changed after the scan is refused by the service (``Md5Mismatch``); other ranges (a resume that
cuts pieces differently) are hashed when they are sent.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ansible_collections.vmimage.azure.plugins.module_utils._storage import client as _client
from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan
from ansible_collections.vmimage.azure.plugins.module_utils._storage import state as _state
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import extents as _extents
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import image as _image

try:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ResourceExistsError
    from azure.storage.blob import ContentSettings
except ImportError:  # pragma: no cover - the module reports missing libraries first
    ResourceNotFoundError = ResourceExistsError = ContentSettings = None
    HttpResponseError = Exception

MIB = 1024 * 1024


class UploadError(Exception):
    """The upload could not finish; ``resumable`` says whether a rerun will resume it."""

    def __init__(self, message, resumable=False, stats=None):
        super().__init__(message)
        self.resumable = resumable
        self.stats = stats or {}


class SourceChanged(UploadError):
    """The service refused a piece whose bytes no longer match the scan's MD5."""


def _error_code(exc):
    code = getattr(exc, 'error_code', None)
    return getattr(code, 'value', code)


def read_remote(client):
    """``state.remote_state`` of the destination blob, or None when it (or its container) is absent."""
    try:
        props = client.get_blob_properties()
    except ResourceNotFoundError:
        return None
    blob_type = getattr(props.blob_type, 'value', props.blob_type)
    return _state.remote_state(blob_type, props.size, props.metadata)


def present_ranges(client):
    """``[(start, end)]`` (end exclusive) of the pages the page blob holds."""
    return [(r.start, r.end + 1) for r in client.list_page_ranges() if not getattr(r, 'cleared', False)]


class PageBlobUploader:
    """Upload a fixed VHD described by a ``plan.Scanner`` to the page blob of ``client``."""

    def __init__(self, client, fd, source, concurrency=8, retry=None, auth='key'):
        if concurrency < 1:
            raise ValueError('concurrency must be at least 1')
        self.client = client
        self.fd = fd
        self.source = source
        self.concurrency = concurrency
        self.retry = retry
        self.auth = auth
        self._requests = 0
        self._sent = 0
        self._fingerprint_recorded = False
        self._lock = threading.Lock()

    @property
    def plan(self):
        """The scan result (scans the source now if that has not happened yet)."""
        return self.source.plan()

    def prepare(self, overwrite='different', scan=False):
        """Read-only: ``dict(action, remote, ranges, stream)``. The source is scanned first only
        when the decision depends on its fingerprint, or when ``scan`` (check mode: report what
        would be sent); otherwise ``stream`` is true and ``run`` scans while it sends.
        Raises ``state.UploadConflict`` when ``overwrite`` forbids the upload."""
        size = self.source.size
        remote = read_remote(self.client)
        action = _state.decide(remote, None, size, overwrite)
        if action is None or scan:
            action = _state.decide(remote, self.plan.fingerprint, size, overwrite)
        stream = action in ('create', 'replace') and not self.source.done
        ranges = None
        if action == 'none':
            ranges = []
        elif action == 'resume':
            ranges = _plan.subtract_ranges(self.plan.ranges, present_ranges(self.client))
            ranges = list(_plan.split_ranges(ranges))
        elif not stream:
            ranges = self.plan.ranges
        return dict(action=action, remote=remote, ranges=ranges, stream=stream)

    def summary(self, prepared):
        """What the upload is (or would be) about: needs the scan to be done."""
        plan = self.plan
        ranges = plan.ranges if prepared['ranges'] is None else prepared['ranges']
        return dict(action=prepared['action'], size=plan.size, data_bytes=plan.data_bytes,
                    fingerprint=plan.fingerprint, bytes_to_upload=_plan.total(ranges),
                    diff=_state.diff(prepared['remote'], plan.fingerprint, plan.size, prepared['action']))

    def _create(self, create_container, fingerprint):
        meta = _state.metadata(_state.UPLOADING, fingerprint, self.source.size)
        try:
            self.client.create_page_blob(self.source.size, metadata=meta)
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
            self.client.create_page_blob(self.source.size, metadata=meta)
        self._fingerprint_recorded = bool(fingerprint)

    def _streamed_ranges(self):
        """Pieces as the scan finds them. The scan runs in its own thread, ahead of the upload
        (only ``(offset, length, md5)`` wait in the queue, no data), and records the fingerprint
        as soon as it is done: from then on an interrupted upload can be resumed."""
        found = queue.Queue()
        done = object()

        def scan():
            try:
                for _k, pieces in self.source.blocks():
                    for piece in pieces:
                        found.put(piece)
                plan = self.plan
                self.client.set_blob_metadata(_state.metadata(_state.UPLOADING, plan.fingerprint, plan.size))
                self._fingerprint_recorded = True
                found.put(done)
            except BaseException as exc:  # handed to the sending thread
                found.put(exc)

        scanner = threading.Thread(target=scan, name='vmimage-scan', daemon=True)
        scanner.start()
        try:
            while True:
                item = found.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            scanner.join()  # even after a failed request: the fingerprint makes the blob resumable

    def _put(self, offset, length, md5=None):
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise UploadError('Short read at offset %d: the source changed during the upload.' % offset,
                              resumable=True)
        if md5 is None:
            self.client.upload_page(data, offset=offset, length=length, validate_content=True)
        else:
            # The scan's digest of these bytes: sent as Content-MD5 and checked by the service.
            try:
                self.client.upload_page(data, offset=offset, length=length, validate_content=False,
                                        transactional_content_md5=md5)
            except HttpResponseError as exc:
                if _error_code(exc) != 'Md5Mismatch':
                    raise
                raise SourceChanged('The source changed during the upload (the %d bytes at offset %d differ '
                                    'from what the scan read); run the task again.' % (length, offset),
                                    resumable=True) from exc
        with self._lock:
            self._requests += 1
            self._sent += length

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
                    pending.add(pool.submit(self._put, *item))
                for future in pending:
                    future.result()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise

    def stats(self, started):
        seconds = max(time.monotonic() - started, 1e-9)
        return dict(bytes_uploaded=self._sent, requests=self._requests,
                    retries=self.retry.retries if self.retry is not None else 0,
                    seconds=round(seconds, 3), mib_per_second=round(self._sent / MIB / seconds, 2))

    def run(self, prepared, create_container=False):
        """Do what ``prepare`` decided; return the counters. Raises :class:`UploadError`."""
        started = time.monotonic()
        action = prepared['action']
        if action == 'none':
            return self.stats(started)
        if action in ('create', 'replace'):
            # Creating the blob again discards every page of an earlier upload: never mix sources.
            try:
                self._create(create_container, '' if prepared['stream'] else self.plan.fingerprint)
            except UploadError:
                raise
            except Exception as exc:
                raise UploadError('Cannot create the page blob: %s' % _client.explain(exc, self.auth)) from exc
        else:
            self._fingerprint_recorded = True
        if prepared['stream']:
            ranges = self._streamed_ranges()
        else:  # the scan's digest for every range that is one of its pieces
            digests = self.plan.digests()
            ranges = [(off, length, digests.get((off, length))) for off, length in prepared['ranges']]
        try:
            self._send(ranges)
            plan = self.plan
            if plan.md5 is not None:
                self.client.set_http_headers(ContentSettings(content_md5=bytearray(plan.md5)))
            self.client.set_blob_metadata(_state.metadata(_state.COMPLETE, plan.fingerprint, plan.size))
        except Exception as exc:
            if prepared['stream']:
                ranges.close()  # waits for the scan, which records the fingerprint if it still can
            stats = self.stats(started)
            cause = exc.args[0] if isinstance(exc, UploadError) else _client.explain(exc, self.auth)
            if isinstance(exc, SourceChanged):
                advice = 'once the source no longer changes, running the task again uploads it'
            elif self._fingerprint_recorded:
                advice = 'run the task again with the same source to resume it'
            else:
                advice = ('it stopped before the source fingerprint was recorded, so running the task '
                          'again uploads it from the start')
            raise (SourceChanged if isinstance(exc, SourceChanged) else UploadError)(
                'Upload interrupted after %d bytes: %s The blob is left in state %r; %s.' % (
                    stats['bytes_uploaded'], cause.rstrip('.') + '.', _state.UPLOADING, advice),
                resumable=self._fingerprint_recorded, stats=stats) from exc
        return self.stats(started)


def upload_vhd(path, options, check_mode=False, token_credential=None):
    """The whole of ``vhd_upload``: validate the source (before any request), decide, send.

    ``options`` are the module's destination, credential and tuning options;
    ``token_credential`` is called for an Entra ID credential only when no key, SAS or connection
    string is given. Returns the result dict; raises ``VhdError`` for a bad source,
    ``UploadError``/``UploadConflict``/``ClientOptionsError`` (with ``.result``: what is known so
    far) or an azure-core error (``.result`` and ``.auth`` attached) otherwise.
    """
    _image.validate_fixed_vhd(path)
    result = dict(changed=False, resumed=False)
    auth = None
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            source = _plan.Scanner(fd, size, _extents.data_extents(fd), content_md5=options['content_md5'])
            keyed = any(options.get(k) for k in ('account_key', 'sas_token', 'connection_string'))
            client, retry, auth = _client.build_blob_client(
                options, token_credential=None if keyed else token_credential, concurrency=options['concurrency'])
            result['url'] = _client.public_url(client.url)
            uploader = PageBlobUploader(client, fd, source, options['concurrency'], retry, auth)
            prepared = uploader.prepare(options['overwrite'], scan=check_mode)
            result.update(action=prepared['action'], changed=prepared['action'] != 'none')
            if check_mode:
                result.update(bytes_uploaded=0, requests=0, retries=0, seconds=0.0, mib_per_second=0.0)
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
