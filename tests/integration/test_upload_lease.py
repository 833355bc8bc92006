# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two uploads to one blob, against a real Azurite: the blob lease of ``_storage/upload.py``.

Before leases, run B's Put Blob could clear run A's pages while A went on and marked the blob
complete: later runs said "no change" for a blob that did not equal the source. Now an upload
holds a finite lease from the creation of the blob (or, for a resume, from before its first
write) to its end, renewed while it runs; a second upload fails at once (before it reads its
source), a create never clobbers a blob another upload made, and only ``break_lease`` takes a blob
over (the upload that held it stops: it never marks the blob complete).

One upload is held in the middle by a controlled pause (``Hold``: its client's Put Page waits), or
killed (a child process, SIGKILL) to leave a lease nobody renews.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._storage import state as _state
from ansible_collections.vmimage.azure.plugins.module_utils._storage import upload
from ansible_collections.vmimage.azure.tests.integration.test_upload_engine import (
    CONTAINER, SIZE, Hold, Source, check_blob, engine_client, metadata, state, write_source)
from ansible_collections.vmimage.azure.tests.support.faultproxy import FaultProxy

pytest.importorskip('azure.storage.blob')

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def other_source(path):
    """The engine's source with 2 MiB of other data: same size, another fingerprint."""
    write_source(path)
    with open(path, 'r+b') as f:
        f.seek(10 * MIB)
        f.write(os.urandom(2 * MIB))
    return path


@pytest.fixture(scope='module')
def az(azurite_http):
    azurite_http.service_client().create_container(CONTAINER)
    return azurite_http


@pytest.fixture
def sources(tmp_path):
    """``(x, y)``: two different sources of the same size, opened."""
    x, y = Source(write_source(tmp_path / 'x.img')), Source(other_source(tmp_path / 'y.img'))
    yield x, y
    os.close(x.fd)
    os.close(y.fd)


@pytest.fixture
def name(request):
    return request.node.name.replace('[', '-').replace(']', '') + '.vhd'


def make_uploader(azurite, blob_name, src, port=None, concurrency=2, **kwargs):
    client, retry, auth = engine_client(azurite, blob_name, port or azurite.port, concurrency)
    return upload.PageBlobUploader(client, src.fd, src.new_scanner(), concurrency, retry, auth, **kwargs)


class Background:
    """``func()`` in a thread; ``join()`` returns its result or raises its exception."""

    def __init__(self, func):
        self.result = self.error = None
        self._thread = threading.Thread(target=self._run, args=(func,), daemon=True)
        self._thread.start()

    def _run(self, func):
        try:
            self.result = func()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout=120):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), 'the upload did not finish'
        if self.error is not None:
            raise self.error
        return self.result


def start_held(azurite, blob_name, src, after=2, **kwargs):
    """Upload ``src`` in a thread, held once ``after`` pages went: ``(uploader, hold, background)``."""
    up = make_uploader(azurite, blob_name, src, **kwargs)
    hold = Hold(up.client, after=after)
    job = Background(lambda: up.run(up.prepare('different')))
    assert hold.reached.wait(60), 'the upload did not start'
    return up, hold, job


def lease_of(blob):
    lease = blob.get_blob_properties().lease
    return lease.state, lease.duration


def assert_holds(azurite, blob_name, src):
    """The blob is a complete upload of ``src`` and nothing else, and nobody leases it."""
    blob = check_blob(azurite, blob_name)
    assert blob.download_blob().readall() == src.read()
    assert metadata(blob) == state('complete', src.reference().fingerprint, SIZE)
    assert lease_of(blob)[0] == 'available'


# --- a second upload meanwhile ------------------------------------------------------------------------

def test_a_second_upload_fails_at_once_while_the_first_holds_the_lease(az, sources, name):
    x, y = sources
    first, hold, job = start_held(az, name, x)
    blob = check_blob(az, name)
    assert lease_of(blob) == ('leased', 'fixed')
    while not metadata(blob)['vmimage_fingerprint']:  # the first upload's last write before the pause
        time.sleep(0.01)
    etag = blob.get_blob_properties().etag
    for overwrite, scan in (('different', False), ('always', False), ('never', False), ('different', True)):
        second = make_uploader(az, name, y)
        with pytest.raises(upload.BlobLeased) as err:
            second.prepare(overwrite, scan=scan)  # scan=True: check mode
        message = str(err.value)
        assert 'another upload holds a lease on this blob (' in message, message
        assert message.endswith('wait for it to finish, or set break_lease: true if no upload is running.')
        assert 'expires by itself 60 seconds after' in message and 'blob state uploading' in message, message
        assert second.source.blocks_read == 0 and not second.source.done  # failed before reading the source
    # Check mode with break_lease reports what it would do, and breaks nothing.
    checking = make_uploader(az, name, y, break_lease=True)
    assert checking.prepare('different', scan=True)['action'] == 'replace'
    assert lease_of(blob) == ('leased', 'fixed') and blob.get_blob_properties().etag == etag  # nothing written
    hold.release()
    stats = job.join()
    assert stats['bytes_uploaded'] == x.reference().data_bytes
    assert_holds(az, name, x)


def test_a_create_never_clobbers_the_blob_another_upload_made(az, sources, name):
    """B decided to create the blob when there was none; A created it meanwhile: B's Put Blob is
    refused (If-None-Match: *) instead of clearing A's pages."""
    x, y = sources
    late = make_uploader(az, name, y)
    prepared = late.prepare('different')
    assert prepared['action'] == 'create'
    first, hold, job = start_held(az, name, x)
    with pytest.raises(upload.UploadError) as err:
        late.run(prepared)
    assert 'Another upload created the blob after this run found none' in str(err.value), str(err.value)
    assert late.stats(0)['requests'] == 0
    hold.release()
    job.join()
    assert_holds(az, name, x)


def test_an_upload_that_loses_the_race_for_the_lease_writes_nothing(az, sources, name):
    """A created the blob and is about to lease it; B, seeing an unleased upload without
    fingerprint, replaces it (under its own lease). A's lease (If-Match A's ETag) is then refused:
    A stops without writing a page, and the blob is B's source."""
    x, y = sources
    first = make_uploader(az, name, x)
    created, go = threading.Event(), threading.Event()
    create = first.client.create_page_blob

    def create_then_wait(*args, **kwargs):
        result = create(*args, **kwargs)
        created.set()
        go.wait(60)
        return result
    first.client.create_page_blob = create_then_wait
    job = Background(lambda: first.run(first.prepare('different')))
    assert created.wait(60)
    second = make_uploader(az, name, y)
    prepared = second.prepare('different')
    assert prepared['action'] == 'replace' and prepared['remote']['lease'] == 'available'
    second.run(prepared)
    go.set()
    with pytest.raises(upload.UploadError) as err:
        job.join()
    assert 'The blob changed after this run read it' in str(err.value), str(err.value)
    assert first.stats(0)['requests'] == 0
    assert_holds(az, name, y)


# --- break_lease ------------------------------------------------------------------------------------

@pytest.mark.parametrize('same_source', [True, False], ids=['resume', 'replace'])
def test_break_lease_takes_the_blob_over_and_the_old_upload_stops(az, sources, name, same_source):
    x, y = sources
    new = x if same_source else y
    old, hold, job = start_held(az, name, x, after=3)  # a hung upload: it holds and renews its lease
    while not metadata(check_blob(az, name))['vmimage_fingerprint']:  # resumable: x's scan is done
        time.sleep(0.01)
    with pytest.raises(upload.BlobLeased):
        make_uploader(az, name, new).prepare('different')
    taker = make_uploader(az, name, new, break_lease=True)
    prepared = taker.prepare('different')
    assert prepared['action'] == ('resume' if same_source else 'replace')
    taker.run(prepared)
    assert taker.lease_broken
    hold.release()
    with pytest.raises(upload.LeaseLost) as err:
        job.join()
    message = str(err.value)
    assert 'lost its lease on the blob' in message and 'run the task again once no other upload is running' in message
    assert not err.value.resumable
    assert_holds(az, name, new)  # the old upload did not mark it complete, nor mix its pages in


# --- leased blobs that are left alone or refused ---------------------------------------------------------

def test_a_complete_blob_leased_by_someone_else_is_left_alone(az, sources, name):
    """A VHD attached to a VM is leased by Azure (infinite lease): the same source is "no change";
    another one is refused after the scan, without breaking anything."""
    from azure.storage.blob import BlobLeaseClient
    x, y = sources
    make_uploader(az, name, x).run(make_uploader(az, name, x).prepare('different'))
    blob = check_blob(az, name)
    attached = BlobLeaseClient(blob)
    attached.acquire(-1)
    try:
        same = make_uploader(az, name, x)
        prepared = same.prepare('different')
        assert prepared['action'] == 'none' and same.run(prepared)['requests'] == 0
        other = make_uploader(az, name, y)
        with pytest.raises(upload.BlobLeased) as err:
            other.prepare('different')
        assert 'an infinite lease: it never expires by itself' in str(err.value) and other.source.done
        assert lease_of(blob) == ('leased', 'infinite')
    finally:
        attached.release()
    assert_holds(az, name, x)


def test_never_leaves_an_unleased_upload_in_progress_alone(az, sources, name):
    x, _y = sources
    blob = check_blob(az, name)
    blob.create_page_blob(SIZE, metadata=_state.metadata('uploading', '', SIZE))  # still scanning, or died early
    etag = blob.get_blob_properties().etag
    with pytest.raises(_state.UploadConflict) as err:
        make_uploader(az, name, x).prepare('never')
    assert 'upload in progress' in str(err.value) and 'overwrite=never never replaces it' in str(err.value)
    assert blob.get_blob_properties().etag == etag


# --- the lease over time: renewed while the upload runs, expired after a kill -------------------------

class LeaseLog:
    """FaultProxy ``match``: counts Lease Blob requests by action; matches Put Page (for ``delay``)."""

    def __init__(self):
        self.actions = []

    def __call__(self, method, path, headers):
        if method == 'PUT' and 'comp=lease' in path:
            self.actions.append(headers.get('x-ms-lease-action'))
        return method == 'PUT' and 'comp=page' in path


def test_the_lease_is_renewed_while_the_upload_runs(az, sources, name):
    """Held for longer than its (shortest possible, 15 s) lease: the renewals keep it, so that the
    writes after the pause are accepted (a write with an expired lease is refused)."""
    x, _y = sources
    log = LeaseLog()
    with FaultProxy(az.port, match=log) as proxy:
        up = make_uploader(az, name, x, port=proxy.port, lease_seconds=15)
        hold = Hold(up.client, after=2)
        threading.Timer(16.5, hold.release).start()
        stats = up.run(up.prepare('different'))
    assert stats['bytes_uploaded'] == x.reference().data_bytes
    assert log.actions[0] == 'acquire' and log.actions[-1] == 'release'
    assert log.actions.count('renew') >= 3, log.actions  # every 5 s
    assert_holds(az, name, x)


_KILLED_UPLOAD = r'''
import json, os, sys
from ansible_collections.vmimage.azure.plugins.module_utils._storage import client, plan, upload
args = json.loads(sys.argv[1])
fd = os.open(args['path'], os.O_RDONLY)
blob, retry, auth = client.build_blob_client(args['options'], concurrency=1)
up = upload.PageBlobUploader(blob, fd, plan.Scanner(fd, os.fstat(fd).st_size, merge_gap=0), 1, retry, auth,
                             lease_seconds=15)
up.run(up.prepare('different'))
'''


def test_the_lease_of_a_killed_upload_expires_by_itself(az, sources, name):
    """A finite lease: a killed upload blocks the next runs for at most its duration, then they
    resume (an infinite lease would block them until someone broke it)."""
    x, _y = sources
    with FaultProxy(az.port, delay=0.2) as proxy:
        options = dict(account_url=az.url_on(proxy.port), container=CONTAINER, blob=name,
                       account_key=az.account_key, api_version='2025-11-05')
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT / '.build' / 'collections')] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
        proc = subprocess.Popen([sys.executable, '-c', _KILLED_UPLOAD, json.dumps(dict(path=str(x.path), options=options))],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            assert proxy.wait_forwarded(3, timeout=60), proc.stderr.read() if proc.poll() is not None else 'no pages'
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
    killed_at = time.monotonic()
    blob = check_blob(az, name)
    assert lease_of(blob) == ('leased', 'fixed')
    with pytest.raises(upload.BlobLeased):
        make_uploader(az, name, x).prepare('different')
    while lease_of(blob)[0] == 'leased':
        assert time.monotonic() - killed_at < 30, 'the lease did not expire'
        time.sleep(0.5)
    assert lease_of(blob)[0] == 'expired'
    rerun = make_uploader(az, name, x)
    prepared = rerun.prepare('different')
    assert prepared['action'] == 'resume'
    stats = rerun.run(prepared)
    assert 0 < stats['bytes_uploaded'] < x.reference().data_bytes
    assert_holds(az, name, x)
