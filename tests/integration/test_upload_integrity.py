# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the upload engine sends is what the scan fingerprinted, against a real Azurite (with the fault
proxy checking Content-MD5 as Azure does):

* a resume resends a piece that is only partly on the blob whole, with the scan's MD5 (never a range
  hashed by the SDK from bytes read later);
* a source written after the scan (even in pages that were zero then) fails the upload, which stays
  resumable and never becomes complete;
* a send failure stops the scan at once; the scan's queue is bounded, and what does not fit in it is
  derived again by a second pass that must find the same pieces;
* zero gaps of at most ``merge_gap`` bytes are sent as zeros inside one request: fewer requests, the
  same fingerprint and blob.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan
from ansible_collections.vmimage.azure.plugins.module_utils._storage import upload
from ansible_collections.vmimage.azure.tests.integration.test_upload_engine import (
    CONTAINER, SIZE, Hold, Source, WireLog, blob_pages, check_blob, engine_client, merged, metadata, state,
    write_source)
from ansible_collections.vmimage.azure.tests.support.faultproxy import FaultProxy, is_put_page

pytest.importorskip('azure.storage.blob')

MIB = 1024 * 1024
PAGE = 512


@pytest.fixture(scope='module')
def az(azurite_http):
    azurite_http.service_client().create_container(CONTAINER)
    return azurite_http


@pytest.fixture
def src(tmp_path):
    source = Source(write_source(tmp_path / 'source.img'))
    yield source
    os.close(source.fd)


@pytest.fixture
def name(request):
    return re.sub(r'[^A-Za-z0-9]+', '-', request.node.name).strip('-') + '.vhd'


def make_uploader(azurite, blob_name, source, port=None, concurrency=2, scanner=None, **params):
    client, retry, auth = engine_client(azurite, blob_name, port or azurite.port, concurrency, **params)
    return upload.PageBlobUploader(client, source.fd, scanner or source.new_scanner(), concurrency, retry, auth)


class RangeLog:
    """FaultProxy ``match`` for Put Page that records each request's ``(offset, length)``."""

    def __init__(self):
        self.ranges = []

    def __call__(self, method, path, headers):
        if not is_put_page(method, path, headers):
            return False
        start, end = re.match(r'bytes=(\d+)-(\d+)', headers.get('x-ms-range') or headers.get('Range')).groups()
        self.ranges.append((int(start), int(end) + 1 - int(start)))
        return True


def edit(path, offset, data):
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(data)


# --- resume: whole pieces with the scan's MD5 ----------------------------------------------------------

def interrupted_with_a_partly_present_piece(az, name, src):
    """A first run that stopped after 4 pieces; then the first half of a missing 4 MiB piece is put
    on the blob (as an upload that cut its requests otherwise would). Returns that piece."""
    ref = src.reference()
    with FaultProxy(az.port, plan=['pass'] * 4 + [{'status': 403}]) as proxy:
        first = make_uploader(az, name, src, proxy.port, 1)
        first.source.plan()  # scanned first: the fingerprint is on the blob from the start
        with pytest.raises(upload.UploadError) as err:
            first.run(first.prepare('different'))
    assert err.value.resumable
    present = blob_pages(check_blob(az, name))
    piece = next((o, n) for o, n in ref.ranges if n == _plan.MAX_PUT
                 and not any(s < o + n and o < e for s, e in present))
    half = piece[1] // 2
    check_blob(az, name).upload_page(src.read()[piece[0]:piece[0] + half], offset=piece[0], length=half)
    return piece


def test_resume_resends_a_partly_present_piece_whole_with_the_scanned_md5(az, name, src):
    piece = interrupted_with_a_partly_present_piece(az, name, src)
    log = RangeLog()
    with FaultProxy(az.port, match=log, verify_md5=True) as proxy:
        rerun = make_uploader(az, name, src, proxy.port, 3)
        prepared = rerun.prepare('different')
        assert prepared['action'] == 'resume'
        stats = rerun.run(prepared)
        checked, mismatches = proxy.md5_checked, proxy.md5_mismatches
    assert piece in log.ranges  # whole, not its missing half
    assert not any(o > piece[0] and o < piece[0] + piece[1] for o, _n in log.ranges)
    assert mismatches == 0 and checked == stats['requests'] == len(log.ranges)
    blob = check_blob(az, name)
    assert blob.download_blob().readall() == src.read()
    assert metadata(blob) == state('complete', src.reference().fingerprint, SIZE)


def test_resume_refuses_a_partly_present_piece_edited_after_the_scan(az, name, src):
    """The edit is in the half not on the blob: before, that half went with the SDK's MD5 of the
    edited bytes, was accepted, and the blob held bytes the fingerprint never saw."""
    piece = interrupted_with_a_partly_present_piece(az, name, src)
    edited_at = piece[0] + piece[1] * 3 // 4
    with FaultProxy(az.port, verify_md5=True) as proxy:
        rerun = make_uploader(az, name, src, proxy.port, 1)
        prepared = rerun.prepare('different')  # scans the source
        assert prepared['action'] == 'resume'
        original = src.read()[edited_at:edited_at + PAGE]
        edit(src.path, edited_at, bytes(b ^ 0x5A for b in original))
        with pytest.raises(upload.SourceChanged) as err:
            rerun.run(prepared)
        mismatches = proxy.md5_mismatches
    assert mismatches >= 1 and 'differ from what the scan read' in str(err.value), str(err.value)
    blob = check_blob(az, name)
    on_blob = blob.download_blob(offset=edited_at, length=PAGE).readall()
    assert on_blob in (original, bytes(PAGE))  # never the edited bytes
    assert metadata(blob)['vmimage_state'] == 'uploading'


# --- a source written after the scan ------------------------------------------------------------------

HOLE = 47 * MIB  # zero in write_source's image


@pytest.mark.parametrize('stream', [False, True], ids=['scanned-first', 'streaming'])
def test_a_write_to_a_page_that_was_zero_fails_the_upload(az, name, src, stream):
    """Scanned first: the edit comes after the scan. Streaming: during the upload (its third Put
    Page waits for it). Either way the page was zero when the scan read it (or is not read at all:
    its MD5 could not tell), and the upload must not end complete."""
    assert src.read()[HOLE:HOLE + MIB] == bytes(MIB)
    up = make_uploader(az, name, src, concurrency=2)
    edited = threading.Event()

    def write_the_hole():
        time.sleep(0.02)  # a later timestamp than the one noted before the scan
        edit(src.path, HOLE, b'\x01' * PAGE)
        edited.set()
    prepared = up.prepare('different', scan=not stream)
    assert prepared['stream'] == stream
    if stream:
        hold = Hold(up.client, after=2, until=edited.is_set)
        threading.Thread(target=lambda: hold.reached.wait(30) and write_the_hole()).start()
    else:
        fingerprint = up.plan.fingerprint
        write_the_hole()
    with pytest.raises(upload.SourceChanged) as err:
        up.run(prepared)
    message = str(err.value)
    assert 'The source changed during the upload (modification time' in message, message
    assert 'running the task again uploads it' in message and err.value.resumable
    blob = check_blob(az, name)
    meta = metadata(blob)
    assert meta['vmimage_state'] == 'uploading' and meta['vmimage_fingerprint']  # resumable, not complete
    if not stream:
        assert meta['vmimage_fingerprint'] == fingerprint
    # The next run sees another source (streaming: unless the scan read the page after the edit).
    rerun = make_uploader(az, name, Source(src.path))
    prepared = rerun.prepare('different')
    assert prepared['action'] in (('replace', 'resume') if stream else ('replace',))
    rerun.run(prepared)
    assert blob.download_blob().readall() == src.read()
    assert metadata(blob)['vmimage_state'] == 'complete'


# --- stopping at once, bounded queue, the second pass ------------------------------------------------------

def test_a_send_failure_stops_the_scan_at_once(az, name, tmp_path, monkeypatch):
    """A 2 GiB disk whose scan is slow (every read waits): the first Put Page is refused, and the
    error comes back without waiting for the scan to read the rest."""
    path = tmp_path / 'wide.img'
    with open(path, 'wb') as f:
        f.truncate(2048 * MIB)
        for k in range(512):
            f.seek(k * 4 * MIB)
            f.write(b'\x07' * PAGE)
    slow_read = _plan._read

    def read(fd, length, offset):
        time.sleep(0.01)
        return slow_read(fd, length, offset)
    monkeypatch.setattr(_plan, '_read', read)
    source = Source(path)
    try:
        with FaultProxy(az.port, plan=[{'status': 403}]) as proxy:
            up = make_uploader(az, name, source, proxy.port, 1, scanner=source.new_scanner(workers=2))
            started = time.monotonic()
            with pytest.raises(upload.UploadError) as err:
                up.run(up.prepare('different'))
            elapsed = time.monotonic() - started
    finally:
        os.close(source.fd)
    assert '403' in str(err.value) and 'from the start' in str(err.value), str(err.value)
    assert not up.source.done and up.source.blocks_read < 100, up.source.blocks_read  # of 512
    assert elapsed < 1.5, elapsed  # the whole scan takes about 2.6 s


@pytest.mark.parametrize('stream', [True, False], ids=['streaming', 'scanned-first'])
def test_a_tiny_queue_still_sends_everything(az, name, src, stream):
    ref = src.reference()
    with FaultProxy(az.port, verify_md5=True) as proxy:
        up = make_uploader(az, name, src, proxy.port, 3, scanner=src.new_scanner(limit=3))
        if not stream:
            up.source.plan()
        prepared = up.prepare('different')
        assert prepared['stream'] == stream
        stats = up.run(prepared)
        lengths, mismatches = list(proxy.content_lengths), proxy.md5_mismatches
    assert up.source.overflow is not None and up.source.queue.high <= 3
    assert stats['requests'] == len(ref.ranges) and sorted(lengths) == sorted(n for _o, n in ref.ranges)
    assert mismatches == 0
    blob = check_blob(az, name)
    assert blob.download_blob().readall() == src.read()
    assert metadata(blob) == state('complete', ref.fingerprint, SIZE)


def test_a_resume_past_the_queue_sends_only_what_is_missing(az, name, src):
    ref = src.reference()
    with FaultProxy(az.port, plan=['pass'] * 5 + [{'status': 403}]) as proxy:
        first = make_uploader(az, name, src, proxy.port, 1, scanner=src.new_scanner(limit=2))
        with pytest.raises(upload.UploadError):
            first.run(first.prepare('different', scan=True))
    present = blob_pages(check_blob(az, name))
    missing = [(o, n) for o, n in ref.ranges if not any(s <= o and o + n <= e for s, e in present)]
    log = RangeLog()
    with FaultProxy(az.port, match=log) as proxy:
        rerun = make_uploader(az, name, src, proxy.port, 2, scanner=src.new_scanner(limit=2))
        prepared = rerun.prepare('different')
        assert prepared['action'] == 'resume' and rerun.summary(prepared)['bytes_to_upload'] == _plan.total(missing)
        stats = rerun.run(prepared)
    assert sorted(log.ranges) == missing and stats['bytes_uploaded'] == _plan.total(missing)
    assert check_blob(az, name).download_blob().readall() == src.read()


def test_the_second_pass_refuses_a_source_changed_since_the_first(az, name, src):
    """Past the queue, the requests are derived again: data that changed since the first pass makes
    the upload fail, and the blob starts over on the next run (its fingerprint is cleared: pages of
    the second pass may hold the new data)."""
    up = make_uploader(az, name, src, concurrency=2, scanner=src.new_scanner(limit=2))
    prepared = up.prepare('different', scan=True)
    assert up.source.overflow is not None and up.source.overflow * _plan.BLOCK < 32 * MIB
    edit(src.path, 36 * MIB, os.urandom(PAGE))  # in the dense run, past the queue
    with pytest.raises(upload.SourceChanged) as err:
        up.run(prepared)
    assert 'differs from what the scan read' in str(err.value) and not err.value.resumable, str(err.value)
    blob = check_blob(az, name)
    assert metadata(blob) == state('uploading', '', SIZE)
    rerun = make_uploader(az, name, Source(src.path))
    prepared = rerun.prepare('different')
    assert prepared['action'] == 'replace'
    rerun.run(prepared)
    assert blob.download_blob().readall() == src.read()


# --- merge_gap ----------------------------------------------------------------------------------------------

def fragmented_source(path, seed=5):
    """4 KiB runs separated by zero gaps of 4-128 KiB (file-system metadata), and a few 1 MiB runs."""
    rng = random.Random(seed)
    size = 64 * MIB
    with open(path, 'wb') as f:
        f.truncate(size)
        pos = 0
        while pos < size - MIB:
            f.seek(pos)
            f.write(rng.randbytes(4096 if rng.random() < 0.97 else MIB))
            pos = f.tell() + rng.randrange(1, 33) * 4096
    return Source(path)


def test_merged_gaps_send_fewer_requests_for_the_same_blob(az, name, tmp_path):
    source = fragmented_source(tmp_path / 'frag.img')
    try:
        ref = source.reference()
        results = {}
        for gap in (0, 64 * 1024):
            blob_name = '%s-%d' % (name, gap)
            log = RangeLog()
            with FaultProxy(az.port, match=log, verify_md5=True) as proxy:
                up = make_uploader(az, blob_name, source, proxy.port, 4, scanner=source.new_scanner(merge_gap=gap))
                stats = up.run(up.prepare('different'))
                checked, mismatches = proxy.md5_checked, proxy.md5_mismatches
            assert mismatches == 0 and checked == stats['requests'] == len(log.ranges)
            blob = check_blob(az, blob_name)
            assert blob.download_blob().readall() == source.read()
            assert metadata(blob) == state('complete', ref.fingerprint, os.path.getsize(source.path))
            assert stats['bytes_uploaded'] == ref.data_bytes
            # every data page went, and what else went lies in gaps of at most `gap` bytes
            pages = merged(log.ranges)
            assert _plan.subtract_ranges(ref.ranges, pages) == []
            assert all(n <= gap for _o, n in _plan.subtract_ranges([(s, e - s) for s, e in pages], merged(ref.runs)))
            assert all(o // _plan.MAX_PUT == (o + n - 1) // _plan.MAX_PUT for o, n in log.ranges)
            results[gap] = stats
        assert results[0]['requests'] == len(ref.ranges) and results[0]['bytes_sent'] == ref.data_bytes
        assert results[64 * 1024]['requests'] < 0.6 * results[0]['requests']  # gaps of 4-128 KiB: half merge
        assert results[64 * 1024]['bytes_sent'] > ref.data_bytes
    finally:
        os.close(source.fd)


def test_changing_merge_gap_leaves_a_complete_blob_alone_and_resumes_an_interrupted_one(az, name, tmp_path):
    source = fragmented_source(tmp_path / 'frag.img', seed=6)
    try:
        ref = source.reference()
        with FaultProxy(az.port, plan=['pass'] * 20 + [{'status': 403}]) as proxy:
            first = make_uploader(az, name, source, proxy.port, 1, scanner=source.new_scanner(merge_gap=64 * 1024))
            with pytest.raises(upload.UploadError) as err:
                first.run(first.prepare('different', scan=True))
        assert err.value.resumable
        log = RangeLog()
        with FaultProxy(az.port, match=log, verify_md5=True) as proxy:
            rerun = make_uploader(az, name, source, proxy.port, 4, scanner=source.new_scanner(merge_gap=0))
            prepared = rerun.prepare('different')
            assert prepared['action'] == 'resume'
            rerun.run(prepared)
            mismatches = proxy.md5_mismatches
        assert mismatches == 0 and len(log.ranges) < len(ref.ranges)
        assert check_blob(az, name).download_blob().readall() == source.read()
        for gap in (0, 4096, 64 * 1024, _plan.MAX_PUT):
            again = make_uploader(az, name, source, scanner=source.new_scanner(merge_gap=gap))
            assert again.prepare('different')['action'] == 'none'
    finally:
        os.close(source.fd)


def test_upload_vhd_reads_merge_gap_and_break_lease(az, name, tmp_path):
    from ansible_collections.vmimage.azure.plugins.module_utils._vhd.footer import new_fixed_footer
    path = tmp_path / 'disk.vhd'
    source = fragmented_source(path, seed=7)
    os.close(source.fd)
    size = os.path.getsize(path)
    with open(path, 'ab') as f:
        f.write(new_fixed_footer(size).pack())
    options = dict(account_url=az.account_url, container=CONTAINER, blob=name, account_key=az.account_key,
                   api_version='2025-11-05', create_container=False, concurrency=4, overwrite='different',
                   content_md5=False)
    log = WireLog()
    with FaultProxy(az.port, match=log) as proxy:
        default = upload.upload_vhd(str(path), dict(options, account_url=az.url_on(proxy.port)))
    unmerged = upload.upload_vhd(str(path), dict(options, blob=name + '-0', merge_gap=0))
    assert default['requests'] == len([e for e in log.events if e[0] == 'page'])
    assert default['requests'] < unmerged['requests'] and default['data_bytes'] == unmerged['data_bytes']
    assert default['bytes_uploaded'] == unmerged['bytes_uploaded'] == unmerged['bytes_sent'] == default['data_bytes']
    assert default['bytes_sent'] > default['bytes_uploaded'] and default['fingerprint'] == unmerged['fingerprint']
    for bad in (-1, _plan.MAX_PUT + PAGE):
        with pytest.raises(upload.UploadError) as err:
            upload.upload_vhd(str(path), dict(options, blob='never.vhd', merge_gap=bad))
        assert 'merge_gap must be between 0 and 4194304' in str(err.value)
    assert not check_blob(az, 'never.vhd').exists()
    # break_lease: false by default
    from azure.storage.blob import BlobLeaseClient
    lease = BlobLeaseClient(check_blob(az, name))
    lease.acquire(-1)
    with open(path, 'r+b') as f:
        f.seek(0)
        f.write(os.urandom(PAGE))
    with pytest.raises(upload.BlobLeased):
        upload.upload_vhd(str(path), options)
    replaced = upload.upload_vhd(str(path), dict(options, break_lease=True))
    assert replaced['action'] == 'replace'
    assert check_blob(az, name).download_blob().readall() == path.read_bytes()
