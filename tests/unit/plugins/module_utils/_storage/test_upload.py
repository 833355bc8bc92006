# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The upload engine's scheduling against an in-memory page store (the real-service behaviour is
covered by the Azurite integration tests): bounded parallelism, request shape, resume, failures."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan
from ansible_collections.vmimage.azure.plugins.module_utils._storage import upload

pytest.importorskip('azure.storage.blob')

MIB = 1024 * 1024


class PageStore:
    """Just enough of a page BlobClient: pages, metadata, page ranges; tracks parallelism."""
    container_name = 'vhds'

    def __init__(self, fail_at=None, fail_metadata=False):
        self.fail_metadata = fail_metadata
        self.pages = {}
        self.metadata = None
        self.size = None
        self.active = self.max_active = 0
        self.calls = []
        self.fail_at = fail_at
        self.lock = threading.Lock()

    def create_page_blob(self, size, metadata=None):
        self.size, self.metadata, self.pages = size, dict(metadata), {}
        self.history = [dict(metadata)]

    def upload_page(self, page, offset, length, validate_content=False):
        assert validate_content and len(page) == length and offset % 512 == 0 and 0 < length <= 4 * MIB
        with self.lock:
            self.calls.append((offset, length))
            if self.fail_at is not None and len(self.calls) == self.fail_at:
                raise RuntimeError('boom')
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(0.002)
        with self.lock:
            self.active -= 1
            for i in range(0, length, 512):
                self.pages[offset + i] = page[i:i + 512]

    def set_blob_metadata(self, metadata):
        if self.fail_metadata:
            raise RuntimeError('metadata write failed')
        self.metadata = dict(metadata)
        self.history.append(dict(metadata))

    def image(self):
        out = bytearray(self.size)
        for off, data in self.pages.items():
            out[off:off + 512] = data
        return bytes(out)


@pytest.fixture
def source(tmp_path):
    rng = random.Random(3)
    path = tmp_path / 'src'
    with open(path, 'wb') as f:
        f.truncate(64 * MIB + 512)
        for i in range(20):
            f.seek(i * 3 * MIB + rng.randrange(0, MIB, 512))
            f.write(rng.randbytes(rng.choice([512, 3000, MIB, 5 * MIB])))
    fd = os.open(path, os.O_RDONLY)
    yield path, fd, _plan.Scanner(fd, os.fstat(fd).st_size, [(0, os.fstat(fd).st_size)])
    os.close(fd)


def prepared(action, ranges=None, stream=False):
    return dict(action=action, ranges=ranges, stream=stream, remote=None)


@pytest.mark.parametrize('concurrency', [1, 3, 8])
def test_sends_every_nonzero_page_with_bounded_parallelism(source, concurrency):
    path, fd, scanner = source
    plan = scanner.plan()
    store = PageStore()
    up = upload.PageBlobUploader(store, fd, scanner, concurrency=concurrency)
    stats = up.run(prepared('create', plan.ranges))
    assert store.image() == path.read_bytes()
    assert 1 <= store.max_active <= concurrency
    assert stats['bytes_uploaded'] == plan.data_bytes and stats['requests'] == len(plan.ranges)
    assert store.metadata['vmimage_state'] == 'complete'


def test_failure_leaves_uploading_and_says_how_to_resume(source):
    _path, fd, scanner = source
    plan = scanner.plan()
    store = PageStore(fail_at=3)
    up = upload.PageBlobUploader(store, fd, scanner, concurrency=2)
    with pytest.raises(upload.UploadError) as err:
        up.run(prepared('create', plan.ranges))
    assert err.value.resumable and 'run the task again' in str(err.value)
    assert store.metadata['vmimage_state'] == 'uploading'
    assert len(store.calls) < len(plan.ranges)  # stopped early, did not send everything


def test_resume_sends_only_missing_pages(source):
    path, fd, scanner = source
    plan = scanner.plan()
    store = PageStore(fail_at=4)
    with pytest.raises(upload.UploadError):
        upload.PageBlobUploader(store, fd, scanner, concurrency=1).run(prepared('create', plan.ranges))
    present = sorted({(o, o + 512) for o in store.pages})
    missing = list(_plan.split_ranges(_plan.subtract_ranges(plan.ranges, present)))
    store.fail_at = None
    stats = upload.PageBlobUploader(store, fd, scanner, concurrency=4).run(prepared('resume', missing))
    assert store.image() == path.read_bytes()
    assert 0 < stats['bytes_uploaded'] < plan.data_bytes
    assert stats['bytes_uploaded'] == plan.data_bytes - 512 * len(present)


def test_rejects_bad_ranges(source):
    _path, fd, scanner = source
    up = upload.PageBlobUploader(PageStore(), fd, scanner)
    with pytest.raises(upload.UploadError):
        up.run(prepared('resume', [(100, 512)]))
    with pytest.raises(ValueError):
        upload.PageBlobUploader(PageStore(), fd, scanner, concurrency=0)


def test_streaming_upload_records_the_fingerprint_when_the_scan_is_done(source):
    path, fd, scanner = source
    store = PageStore()
    up = upload.PageBlobUploader(store, fd, scanner, concurrency=3)
    assert not scanner.done
    stats = up.run(prepared('create', stream=True))
    plan = scanner.plan()
    assert store.image() == path.read_bytes() and stats['bytes_uploaded'] == plan.data_bytes
    states = [(m['vmimage_state'], m['vmimage_fingerprint']) for m in store.history]
    assert states == [('uploading', ''), ('uploading', plan.fingerprint), ('complete', plan.fingerprint)]
    assert up.summary(prepared('create', stream=True))['bytes_to_upload'] == plan.data_bytes


def test_streaming_failure_still_records_the_fingerprint(source):
    _path, fd, scanner = source
    store = PageStore(fail_at=1)
    with pytest.raises(upload.UploadError) as err:
        upload.PageBlobUploader(store, fd, scanner, concurrency=1).run(prepared('create', stream=True))
    assert err.value.resumable and 'resume' in str(err.value)
    assert store.metadata == {'vmimage_state': 'uploading', 'vmimage_fingerprint': scanner.plan().fingerprint,
                              'vmimage_size': str(scanner.size)}


def test_streaming_failure_before_the_fingerprint_says_it_starts_over(source):
    _path, fd, scanner = source
    store = PageStore(fail_at=1, fail_metadata=True)
    with pytest.raises(upload.UploadError) as err:
        upload.PageBlobUploader(store, fd, scanner, concurrency=1).run(prepared('create', stream=True))
    assert not err.value.resumable and 'from the start' in str(err.value)
    assert store.metadata['vmimage_fingerprint'] == ''
