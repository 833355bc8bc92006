# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The upload engine (``_storage/upload.py``: ``PageBlobUploader``) with a real ``BlobClient``, built
as the module builds it, against a real Azurite, through the fault proxy: every non-zero page and
nothing else reaches the blob, in 512-aligned Put Page requests of at most 4 MiB, ``concurrency`` at
a time; failures leave a resumable blob (or say the next run starts over); resume sends only what is
missing; streaming records the fingerprint once the scan is done.

Everything is asserted on observable state: the blob's bytes, page ranges and metadata as Azurite
returns them, and the requests the proxy saw.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._storage import client as _client
from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan
from ansible_collections.vmimage.azure.plugins.module_utils._storage import upload
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import extents as _extents
from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION
from ansible_collections.vmimage.azure.tests.support.faultproxy import FaultProxy, is_put_page

pytest.importorskip('azure.storage.blob')

# The module-scoped Azurite and source are shared by the tests of this file: keep them on one
# xdist worker when run with --dist loadgroup (with the default --dist load each worker that gets
# some of them starts its own Azurite, which works too).
pytestmark = pytest.mark.xdist_group('upload_engine')

MIB = 1024 * 1024
CONTAINER = 'vhds'
SIZE = 48 * MIB + 512  # an odd number of pages
DENSE = (32 * MIB, 9 * MIB)  # dense data from a 4 MiB boundary: Put Pages of exactly 4 MiB
ZEROS = (42 * MIB, MIB)  # written zeros: allocated on disk, never sent


def write_source(path):
    """A sparse file: scattered writes (some ending inside a page), a dense 9 MiB, written zeros,
    a write across a 4 MiB boundary and a last page with data; about 11 MiB of non-zero pages in
    about 20 ranges."""
    rng = random.Random(3)
    with open(path, 'wb') as f:
        f.truncate(SIZE)
        for i in range(14):
            f.seek(i * 2 * MIB + rng.randrange(0, MIB, 512))
            f.write(rng.randbytes(rng.choice([512, 3000, 64 * 1024, 300 * 1024])))
        f.seek(DENSE[0])
        f.write(rng.randbytes(DENSE[1]))
        f.seek(ZEROS[0])
        f.write(bytes(ZEROS[1]))
        f.seek(44 * MIB - 1536)
        f.write(rng.randbytes(3072))
        f.seek(SIZE - 512)
        f.write(rng.randbytes(512))
    return path


class Source:
    """The source file opened read-only, with a fresh (not yet scanned) ``plan.Scanner``."""

    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self.fd).st_size
        self.scanner = self.new_scanner()

    def new_scanner(self, merge_gap=0, **kwargs):
        """A scanner as ``upload_vhd`` makes one (a rerun of the module scans again); no merged gaps
        unless asked, so that requests are the pieces."""
        return _plan.Scanner(self.fd, self.size, merge_gap=merge_gap, path=str(self.path), **kwargs)

    def reference(self):
        """The pieces, from a separate scan that keeps them (what the assertions compare with)."""
        return _plan.scan(self.fd, self.size, _extents.data_extents(self.fd))

    def read(self):
        with open(self.path, 'rb') as f:
            return f.read()


@pytest.fixture(scope='module')
def source_path(tmp_path_factory):
    return write_source(tmp_path_factory.mktemp('engine') / 'source.img')


@pytest.fixture
def source(source_path):
    src = Source(source_path)
    yield src
    os.close(src.fd)


@pytest.fixture(scope='module')
def engine_container(azurite_http):
    azurite_http.service_client().create_container(CONTAINER)
    return azurite_http


@pytest.fixture
def blob_name(request):
    return re.sub(r'[^A-Za-z0-9]+', '-', request.node.name).strip('-') + '.vhd'


def engine_client(azurite, name, port, concurrency, **params):
    """``(BlobClient, retry policy, auth)`` from the module's options, through ``port``."""
    options = dict(account_url=azurite.url_on(port), container=CONTAINER, blob=name,
                   account_key=azurite.account_key, api_version=API_VERSION,
                   retry_backoff_factor=0.05, retry_backoff_max=2)
    options.update(params)
    return _client.build_blob_client(options, concurrency=concurrency)


def uploader(azurite, name, port, src, concurrency, scanner=None, **params):
    blob, retry, auth = engine_client(azurite, name, port, concurrency, **params)
    return upload.PageBlobUploader(blob, src.fd, scanner or src.scanner, concurrency, retry, auth)


def check_blob(azurite, name):
    """A client straight to Azurite (no proxy) for looking at the result."""
    return azurite.service_client().get_blob_client(CONTAINER, name)


def merged(ranges):
    """``(offset, length)`` ranges as sorted, merged ``(start, end)`` pairs."""
    out = []
    for off, length in sorted(ranges):
        if out and out[-1][1] == off:
            out[-1] = (out[-1][0], off + length)
        else:
            out.append((off, off + length))
    return out


def blob_pages(blob):
    """The blob's page ranges (Get Page Ranges) as merged ``(start, end)`` pairs."""
    return merged((s, e - s) for s, e in upload.present_ranges(blob))


def metadata(blob):
    return blob.get_blob_properties().metadata


def assert_put_page_shapes(lengths):
    assert lengths and all(0 < n <= _plan.MAX_PUT and n % _plan.PAGE == 0 for n in lengths), lengths


class WireLog:
    """A ``FaultProxy`` ``match``: logs the page and metadata writes that go through the proxy
    (``('page', length)``, ``('create', metadata)``, ``('metadata', metadata)``) and matches the
    Put Page requests, plus Set Blob Metadata when ``metadata_too``."""

    def __init__(self, metadata_too=False):
        self.metadata_too = metadata_too
        self.events = []

    def __call__(self, method, path, headers):
        meta = dict((k.lower()[len('x-ms-meta-'):], v) for k, v in headers.items()
                    if k.lower().startswith('x-ms-meta-'))
        set_metadata = method == 'PUT' and 'comp=metadata' in path
        if is_put_page(method, path, headers):
            self.events.append(('page', int(headers.get('Content-Length') or 0)))
        elif set_metadata:
            self.events.append(('metadata', meta))
        elif method == 'PUT' and headers.get('x-ms-blob-type') == 'PageBlob':
            self.events.append(('create', meta))
        return is_put_page(method, path, headers) or (self.metadata_too and set_metadata)

    def metadata_writes(self):
        return [(kind, m) for kind, m in self.events if kind != 'page']


def state(name, fingerprint, size):
    return {'vmimage_state': name, 'vmimage_fingerprint': fingerprint, 'vmimage_size': str(size)}


# --- what is sent ------------------------------------------------------------------------------------

@pytest.mark.parametrize('concurrency', [1, 3, 8])
def test_sends_every_nonzero_page_with_bounded_parallelism(engine_container, source, blob_name, concurrency):
    az = engine_container
    plan = source.reference()
    scanned = source.scanner.plan()  # scanned first: the non-streaming path
    assert (scanned.fingerprint, scanned.data_bytes, scanned.request_count) == (
        plan.fingerprint, plan.data_bytes, len(plan.ranges))
    assert len(plan.ranges) >= 2 * 8  # enough requests to keep 8 busy
    with FaultProxy(az.port, delay=0.05) as proxy:
        up = uploader(az, blob_name, proxy.port, source, concurrency)
        prepared = up.prepare('different')
        assert (prepared['action'], prepared['remote'], prepared['stream']) == ('create', None, False)
        stats = up.run(prepared)
        lengths, max_in_flight, seen = list(proxy.content_lengths), proxy.max_in_flight, proxy.seen
    blob = check_blob(az, blob_name)
    assert blob.download_blob().readall() == source.read()
    assert blob_pages(blob) == merged(plan.runs)  # every non-zero page, nothing else
    assert _plan.subtract_ranges([ZEROS], blob_pages(blob)) == [ZEROS]  # written zeros were not sent
    assert max_in_flight == concurrency
    assert seen == len(lengths) == stats['requests'] == len(plan.ranges)
    assert sorted(lengths) == sorted(n for _o, n in plan.ranges)
    assert sum(lengths) == stats['bytes_uploaded'] == stats['bytes_sent'] == plan.data_bytes
    assert_put_page_shapes(lengths)
    assert lengths.count(_plan.MAX_PUT) == 2  # the dense 9 MiB: 4 + 4 + 1
    assert metadata(blob) == state('complete', plan.fingerprint, SIZE)
    assert stats['retries'] == 0
    assert blob.get_blob_properties().lease.state == 'available'  # the lease was released


def test_rejects_bad_ranges(source):
    """Checked before any request: no client needed."""
    up = upload.PageBlobUploader(None, source.fd, source.scanner)
    for bad in [(100, 512), (0, 1000), (0, 0), (0, _plan.MAX_PUT + 512)]:
        with pytest.raises(ValueError) as err:
            up._send([bad + (bad[1], bytes(16))])
        assert 'bad page range' in str(err.value) and up.stats(0)['requests'] == 0
    with pytest.raises(ValueError):
        upload.PageBlobUploader(None, source.fd, source.scanner, concurrency=0)


# --- failures and resume -----------------------------------------------------------------------------

@pytest.mark.parametrize('fault, params', [
    ({'status': 403}, {}),
    ({'status': 400}, {}),
    ({'status': 503}, {'retry_total': 0}),
], ids=['403', '400', '503-no-retries'])
def test_failure_leaves_uploading_and_says_how_to_resume(engine_container, source, blob_name, fault, params):
    az = engine_container
    plan = source.reference()
    source.scanner.plan()
    with FaultProxy(az.port, plan=['pass', 'pass', fault]) as proxy:
        up = uploader(az, blob_name, proxy.port, source, 2, **params)
        with pytest.raises(upload.UploadError) as err:
            up.run(up.prepare('different'))
        seen, forwarded, injected = proxy.seen, proxy.forwarded, list(proxy.injected)
    message = str(err.value)
    assert err.value.resumable and 'run the task again' in message and str(fault['status']) in message, message
    assert "left in state 'uploading'" in message
    assert injected == [fault] and err.value.stats['retries'] == 0
    assert seen < len(plan.ranges)  # stopped early, did not send everything
    blob = check_blob(az, blob_name)
    assert metadata(blob) == state('uploading', plan.fingerprint, SIZE)
    pages = blob_pages(blob)
    assert _plan.subtract_ranges([(s, e - s) for s, e in pages], merged(plan.runs)) == []  # only source pages
    assert sum(e - s for s, e in pages) == err.value.stats['bytes_uploaded'] > 0
    assert err.value.stats['requests'] == forwarded
    assert blob.get_blob_properties().lease.state == 'available'  # released: a rerun may resume at once


def covered(present, piece):
    off, length = piece
    return any(s <= off and off + length <= e for s, e in present)


def test_resume_sends_only_missing_pages(engine_container, source, blob_name):
    az = engine_container
    plan = source.reference()
    source.scanner.plan()
    with FaultProxy(az.port, plan=['pass'] * 4 + [{'status': 403}]) as proxy:
        first = uploader(az, blob_name, proxy.port, source, 1)
        with pytest.raises(upload.UploadError) as err:
            first.run(first.prepare('different'))
    assert err.value.resumable
    blob = check_blob(az, blob_name)
    present = blob_pages(blob)
    sent_before = sum(e - s for s, e in present)
    assert sent_before == err.value.stats['bytes_uploaded'] > 0

    # A rerun: a new scanner and client, as the module builds them.
    with FaultProxy(az.port) as proxy:
        second = uploader(az, blob_name, proxy.port, source, 4, scanner=source.new_scanner())
        prepared = second.prepare('different')
        to_send = [piece for piece in plan.ranges if not covered(present, piece)]
        assert prepared['action'] == 'resume'
        assert second.summary(prepared)['bytes_to_upload'] == _plan.total(to_send)
        stats = second.run(prepared)
        lengths, seen = list(proxy.content_lengths), proxy.seen
    assert 0 < stats['bytes_uploaded'] < plan.data_bytes
    assert stats['bytes_uploaded'] == sum(lengths) == plan.data_bytes - sent_before
    assert seen == stats['requests'] == len(to_send) and sorted(lengths) == sorted(n for _o, n in to_send)
    assert_put_page_shapes(lengths)
    assert blob.download_blob().readall() == source.read()
    assert blob_pages(blob) == merged(plan.runs)
    assert metadata(blob) == state('complete', plan.fingerprint, SIZE)
    assert second.summary(prepared)['action'] == 'resume'


# --- streaming: scan and send at once ----------------------------------------------------------------

def test_streaming_upload_records_the_fingerprint_when_the_scan_is_done(engine_container, source, blob_name):
    az = engine_container
    log = WireLog()
    with FaultProxy(az.port, match=log) as proxy:
        up = uploader(az, blob_name, proxy.port, source, 3)
        prepared = up.prepare('different')
        assert prepared == dict(action='create', remote=None, stream=True)
        assert not source.scanner.done and source.scanner.blocks_read == 0  # nothing read yet
        stats = up.run(prepared)
        lengths = list(proxy.content_lengths)
    plan = source.reference()
    blob = check_blob(az, blob_name)
    assert blob.download_blob().readall() == source.read()
    assert blob_pages(blob) == merged(plan.runs)
    assert stats['bytes_uploaded'] == sum(lengths) == plan.data_bytes and stats['requests'] == len(lengths)
    assert_put_page_shapes(lengths)
    assert log.metadata_writes() == [('create', state('uploading', '', SIZE)),
                                     ('metadata', state('uploading', plan.fingerprint, SIZE)),
                                     ('metadata', state('complete', plan.fingerprint, SIZE))]
    assert log.events[-1][0] == 'metadata'  # complete only after the last page
    assert metadata(blob) == state('complete', plan.fingerprint, SIZE)
    assert up.summary(prepared)['bytes_to_upload'] == plan.data_bytes


class Hold:
    """Wraps a method of one BlobClient (e.g. ``upload_page``): the calls after the first ``after``
    wait until ``until()`` is true (polled) or ``release()`` is called. ``reached`` is set once a
    call waits. A controlled pause of one upload, for the tests."""

    def __init__(self, client, name='upload_page', after=0, until=None, timeout=60):
        self.original = getattr(client, name)
        self.after, self.until, self.timeout = after, until, timeout
        self.calls = 0
        self.reached = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()
        setattr(client, name, self)

    def release(self):
        self.released.set()

    def __call__(self, *args, **kwargs):
        with self._lock:
            self.calls += 1
            wait_now = self.calls > self.after
        if wait_now:
            self.reached.set()
            deadline = time.monotonic() + self.timeout
            while not self.released.wait(0.01) and time.monotonic() < deadline:
                if self.until is not None and self.until():
                    break
        return self.original(*args, **kwargs)


def test_streaming_failure_still_records_the_fingerprint(engine_container, source, blob_name):
    """Once the scan is done, a failure leaves a resumable blob (the first Put Page waits for the
    fingerprint to be on the blob, then is refused)."""
    az = engine_container
    check = check_blob(az, blob_name)
    with FaultProxy(az.port, plan=[{'status': 403}]) as proxy:
        up = uploader(az, blob_name, proxy.port, source, 1)
        Hold(up.client, until=lambda: check.exists() and metadata(check)['vmimage_fingerprint'])
        prepared = up.prepare('different')
        assert prepared['stream']
        with pytest.raises(upload.UploadError) as err:
            up.run(prepared)
    assert err.value.resumable and 'resume' in str(err.value), str(err.value)
    plan = source.reference()
    blob = check_blob(az, blob_name)
    assert metadata(blob) == state('uploading', plan.fingerprint, SIZE)
    # The next run resumes.
    rerun = uploader(az, blob_name, az.port, source, 4, scanner=source.new_scanner())
    prepared = rerun.prepare('different')
    assert prepared['action'] == 'resume'
    rerun.run(prepared)
    assert blob.download_blob().readall() == source.read()


def test_streaming_failure_before_the_fingerprint_says_it_starts_over(engine_container, source, blob_name):
    """Every Put Page and the Set Blob Metadata that would record the fingerprint are refused."""
    az = engine_container
    log = WireLog(metadata_too=True)
    with FaultProxy(az.port, plan=[{'status': 403}] * 100, match=log) as proxy:
        up = uploader(az, blob_name, proxy.port, source, 1)
        # The first Put Page goes once the fingerprint was tried (so that the scan was not stopped).
        Hold(up.client, until=lambda: any(kind == 'metadata' for kind, _m in log.metadata_writes()))
        with pytest.raises(upload.UploadError) as err:
            up.run(up.prepare('different'))
        forwarded = proxy.forwarded
    assert not err.value.resumable and 'from the start' in str(err.value), str(err.value)
    assert forwarded == 0 and err.value.stats['bytes_uploaded'] == 0
    plan = source.reference()
    assert ('metadata', state('uploading', plan.fingerprint, SIZE)) in log.metadata_writes()  # tried, refused
    blob = check_blob(az, blob_name)
    assert metadata(blob) == state('uploading', '', SIZE) and blob_pages(blob) == []
    # The next run starts over: it replaces the blob and sends everything.
    rerun = uploader(az, blob_name, az.port, source, 4, scanner=source.new_scanner())
    prepared = rerun.prepare('different')
    assert prepared['action'] == 'replace'
    stats = rerun.run(prepared)
    assert stats['bytes_uploaded'] == plan.data_bytes
    assert blob.download_blob().readall() == source.read()


# --- Content-MD5: the digest of the scan goes with each page ------------------------------------------
# Azure refuses a Put Page whose body does not match its Content-MD5 (400 Md5Mismatch); Azurite does
# not check it, so the proxy does (verify_md5=True).

def test_every_put_page_carries_the_scanned_content_md5(engine_container, source, blob_name):
    az = engine_container
    for gap in (0, 64 * 1024):
        name = '%s-%d' % (blob_name, gap)
        with FaultProxy(az.port, verify_md5=True) as proxy:
            up = uploader(az, name, proxy.port, source, 4, scanner=source.new_scanner(merge_gap=gap))
            stats = up.run(up.prepare('different'))
            checked, mismatches = proxy.md5_checked, proxy.md5_mismatches
        assert mismatches == 0 and checked == stats['requests'] > 0
        assert check_blob(az, name).download_blob().readall() == source.read()


def test_source_changed_after_the_scan_is_refused_by_the_service(engine_container, tmp_path, blob_name):
    az = engine_container
    src = Source(write_source(tmp_path / 'changing.img'))
    try:
        with FaultProxy(az.port, verify_md5=True) as proxy:
            up = uploader(az, blob_name, proxy.port, src, 2)
            prepared = up.prepare('different', scan=True)  # scanned first: every piece has its digest
            assert prepared['action'] == 'create' and not prepared['stream']
            offset = src.reference().runs[0][0]
            with open(src.path, 'r+b') as f:
                f.seek(offset)
                page = f.read(512)
                f.seek(offset)
                f.write(bytes(b ^ 0xFF for b in page))
            with pytest.raises(upload.SourceChanged) as err:
                up.run(prepared)
            mismatches = proxy.md5_mismatches
    finally:
        os.close(src.fd)
    assert mismatches >= 1
    assert 'source changed during the upload' in str(err.value) and 'run the task again' in str(err.value)
    assert metadata(check_blob(az, blob_name))['vmimage_state'] == 'uploading'
