# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Peak memory (RSS) of the upload engine's scan + upload pipeline, whatever the disk's size and layout.

Each measurement runs in a child process of its own, which reports its peak resident set size
(``VmHWM`` of /proc/self/status, else ``ru_maxrss``); the medians of --runs are printed.

* ``baseline``: the child with the collection and the storage SDK imported, nothing run;
* ``stream``: a first upload (scan and send at once, concurrency 8, the default merge_gap) of an
  8 TiB sparse disk holding 1 M scattered 4 KiB runs (--size-tib, --pieces) and 1 GiB of dense data
  at its start (--dense-gib: 4 MiB requests and blocks), to a stand-in for the blob client that
  throws every page away;
* ``resume``: the same disk, uploaded by one child that keeps the page ranges of every other
  request (as if the others had failed); then, measured, a new child resumes it: the blob's page
  list (500 k ranges, sorted as the service returns them), the decision scan and the missing half;
* ``azurite``: a smaller disk (--azurite-gib, --azurite-pieces) uploaded to a real Azurite, with the
  real BlobClient, in this machine's memory.

The stand-in answers like an empty container, accepts the lease calls and discards the pages: it
measures *our* memory (the scan's blocks in flight, its bounded queue of request records, the
requests being sent, the blob's page list on a resume), not Azure's, and not the SDK's
per-request buffers (the ``azurite`` row has those). The bound to compare with: about 200 MiB at
concurrency 8 (8 requests of at most 4 MiB in flight, 32 MiB; the queue at most 8 MiB; the scan's
blocks at most 3 * workers * 4 MiB).

The disk is a sparse file in --workdir (default: the system's temporary directory): the script
checks that the file system takes a sparse file of that size and halves it until it does, saying
so. Writing 1 M runs takes a minute or two and 4 GiB of disk; --keep leaves the file for the next
run. Usage::

    python benchmarks/bench_memory.py [--quick] [--runs 3] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import bisect
import errno
import importlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

from _bootstrap import import_collection

MIB = 1024 * 1024
GIB = 1024 * MIB
TIB = 1024 * GIB


import_collection()
from ansible_collections.vmimage.azure.plugins.module_utils._storage import client as _client  # noqa: E402
from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan  # noqa: E402
from ansible_collections.vmimage.azure.plugins.module_utils._storage import state as _state  # noqa: E402
from ansible_collections.vmimage.azure.plugins.module_utils._storage import upload as _upload  # noqa: E402


def peak_rss_mib():
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- the disk -------------------------------------------------------------------------------------------

def largest_sparse_size(directory, wanted):
    """The largest size <= ``wanted`` (halving) that the file system takes as a sparse file."""
    size = wanted
    while size >= GIB:
        fd, probe = tempfile.mkstemp(dir=str(directory), prefix='sparse-probe-')
        try:
            os.ftruncate(fd, size)
            return size
        except OSError as exc:
            if exc.errno not in (errno.EFBIG, errno.EINVAL, errno.ENOSPC):
                raise
            size //= 2
        finally:
            os.close(fd)
            os.unlink(probe)
    raise SystemExit('%s does not take a sparse file of 1 GiB' % directory)


def make_disk(path, size, pieces, seed=1, dense=0):
    """``pieces`` runs of 4 KiB at distinct random 4 KiB-aligned offsets (non-zero, all different),
    after ``dense`` bytes of data from offset 0."""
    marker = Path(str(path) + '.done')
    if marker.exists() and marker.read_text() == '%d %d %d %d' % (size, pieces, seed, dense):
        return
    rng = random.Random(seed)
    first, slots = dense // 4096, size // 4096
    offsets = sorted(set(rng.randrange(first, slots) for _i in range(pieces + pieces // 100)))[:pieces]
    while len(offsets) < pieces:  # very small disks
        offsets = sorted(set(offsets + [rng.randrange(first, slots)]))
    pattern = bytes(rng.randrange(1, 256) for _i in range(4096))
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, size)
        chunk = bytes(rng.randrange(1, 256) for _i in range(4096)) * 256  # 1 MiB
        for off in range(0, dense, len(chunk)):
            os.pwrite(fd, off.to_bytes(8, 'big') + chunk[8:], off)
        for slot in offsets:
            os.pwrite(fd, slot.to_bytes(8, 'big') + pattern[8:], slot * 4096)
    finally:
        os.close(fd)
    marker.write_text('%d %d %d %d' % (size, pieces, seed, dense))


# --- the stand-in for the blob client -------------------------------------------------------------------

class _Lease:
    """Stands in for BlobLeaseClient: every lease call succeeds."""

    def __init__(self, client, *args, **kwargs):
        self.id = 'bench'

    def acquire(self, *args, **kwargs):
        pass

    renew = release = acquire

    def break_lease(self, *args, **kwargs):
        return 0


class _Range:
    def __init__(self, start, end):
        self.start, self.end = start, end


class _Props:
    pass


class DiscardingBlob:
    """A BlobClient stand-in: an empty container at first; pages are counted and thrown away. With
    ``keep_every`` n, the page ranges of every n-th request are remembered (compactly), and
    ``fail_after`` requests make the upload stop (a resumable interruption)."""

    container_name = 'bench'
    url = 'https://bench.invalid/bench/disk.vhd'

    def __init__(self, keep_every=0, fail_after=None):
        self.meta = None
        self.size = 0
        self.requests = 0
        self.keep_every = keep_every
        self.fail_after = fail_after
        self.starts, self.ends = array('Q'), array('Q')  # sorted when listed (see load)

    def save(self, path):
        with open(path, 'wb') as f:
            f.write(json.dumps(dict(meta=self.meta, size=self.size, n=len(self.starts))).encode() + b'\n')
            self.starts.tofile(f)
            self.ends.tofile(f)

    @classmethod
    def load(cls, path):
        blob = cls()
        with open(path, 'rb') as f:
            info = json.loads(f.readline())
            blob.meta, blob.size = info['meta'], info['size']
            blob.starts.fromfile(f, info['n'])
            blob.ends.fromfile(f, info['n'])
        return blob

    def get_blob_properties(self, **kwargs):
        if self.meta is None:
            from azure.core.exceptions import ResourceNotFoundError
            raise ResourceNotFoundError('absent')
        props = _Props()
        props.blob_type, props.size, props.metadata, props.etag = 'PageBlob', self.size, dict(self.meta), '"1"'
        props.lease = _Props()
        props.lease.state, props.lease.duration = 'available', None
        return props

    def create_page_blob(self, size, metadata=None, **kwargs):
        self.size, self.meta = size, dict(metadata or {})
        self.starts, self.ends = array('Q'), array('Q')
        return {'etag': '"1"'}

    def upload_page(self, data, offset, length, **kwargs):
        self.requests += 1
        if self.fail_after is not None and self.requests > self.fail_after:
            raise RuntimeError('stand-in: the connection broke')
        if self.keep_every and self.requests % self.keep_every == 0:
            self.starts.append(offset)
            self.ends.append(offset + length)

    def set_blob_metadata(self, metadata=None, **kwargs):
        self.meta = dict(metadata or {})

    def set_http_headers(self, *args, **kwargs):
        pass

    def list_page_ranges(self, offset=0, length=None, **kwargs):
        end = offset + length if length is not None else self.size
        i = max(bisect.bisect_right(self.starts, offset) - 1, 0)
        while i < len(self.starts) and self.starts[i] < end:
            if self.ends[i] > offset:
                yield _Range(self.starts[i], self.ends[i] - 1)
            i += 1


def engine(client, fd, concurrency=8):
    source = _plan.Scanner(fd, os.fstat(fd).st_size)  # as upload_vhd makes it: lazy extents, default gap
    return _upload.PageBlobUploader(client, fd, source, concurrency)


# --- children ----------------------------------------------------------------------------------------

def child(args):
    started = time.perf_counter()
    out = {}
    if args.child == 'baseline':
        importlib.import_module('azure.storage.blob')
    elif args.child in ('stream', 'resume'):
        _upload.BlobLeaseClient = _Lease
        fd = os.open(args.path, os.O_RDONLY)
        try:
            if args.child == 'stream':
                blob = DiscardingBlob()
                up = engine(blob, fd)
                stats = up.run(up.prepare('different'))
            else:
                blob = DiscardingBlob.load(args.options)
                up = engine(blob, fd)
                prepared = up.prepare('different')
                assert prepared['action'] == 'resume', prepared['action']
                stats = up.run(prepared)
            plan = up.plan
            out.update(requests=stats['requests'], pieces=plan.piece_count, queue_high=up.source.queue.high,
                       overflow=up.source.overflow is not None)
        finally:
            os.close(fd)
    elif args.child == 'interrupted':
        _upload.BlobLeaseClient = _Lease
        fd = os.open(args.path, os.O_RDONLY)
        try:
            blob = DiscardingBlob(keep_every=2)
            first = engine(blob, fd)
            first.run(first.prepare('different'))
            blob.meta[_state.STATE_KEY] = _state.UPLOADING  # as if the other half had failed
            blob.save(args.options)
        finally:
            os.close(fd)
    elif args.child == 'azurite':
        options = json.loads(args.options)
        fd = os.open(args.path, os.O_RDONLY)
        try:
            client, retry, auth = _client.build_blob_client(options, concurrency=8)
            up = _upload.PageBlobUploader(client, fd, _plan.Scanner(fd, os.fstat(fd).st_size), 8, retry, auth)
            stats = up.run(up.prepare('always'))
            out.update(requests=stats['requests'], pieces=up.plan.piece_count)
        finally:
            os.close(fd)
    out.update(peak_rss_mib=round(peak_rss_mib(), 1), seconds=round(time.perf_counter() - started, 1))
    print(json.dumps(out))


def sort_ranges(path):
    """Sort the page ranges a child saved (the service lists them in order; the stand-in got them
    in the order the requests finished): done here, so that the measured child does not pay for it."""
    blob = DiscardingBlob.load(path)
    pairs = sorted(zip(blob.starts, blob.ends))
    blob.starts, blob.ends = array('Q', (s for s, _e in pairs)), array('Q', (e for _s, e in pairs))
    blob.save(path)


def run_child(scenario, path=None, options=None):
    argv = [sys.executable, __file__, '--child', scenario]
    if path:
        argv += ['--path', str(path)]
    if options:
        argv += ['--options', options if isinstance(options, str) else json.dumps(options)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit('child %s failed:\n%s' % (scenario, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='a 1 TiB disk with 100 k runs, one run (a smoke test)')
    ap.add_argument('--runs', type=int, help='runs per scenario (default 3, 1 with --quick)')
    ap.add_argument('--size-tib', type=float, default=8.0)
    ap.add_argument('--pieces', type=int, default=1000000)
    ap.add_argument('--dense-gib', type=float, default=1.0)
    ap.add_argument('--azurite-gib', type=float, default=64.0)
    ap.add_argument('--azurite-pieces', type=int, default=50000)
    ap.add_argument('--scenarios', default='baseline,stream,resume,azurite')
    ap.add_argument('--workdir', help='where the disks go (default: a new temporary directory)')
    ap.add_argument('--keep', action='store_true', help='keep the disks (and reuse them next time)')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    ap.add_argument('--path', help=argparse.SUPPRESS)
    ap.add_argument('--options', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.quick:
        args.size_tib, args.pieces, args.dense_gib, args.azurite_gib, args.azurite_pieces = 1.0, 100000, 0.25, 8.0, 5000
    args.runs = args.runs or (1 if args.quick else 3)
    scenarios = args.scenarios.split(',')
    work = Path(args.workdir or tempfile.mkdtemp(prefix='bench-memory-'))
    work.mkdir(parents=True, exist_ok=True)
    wanted = int(args.size_tib * TIB) // MIB * MIB
    size = largest_sparse_size(work, wanted)
    note = '' if size == wanted else (' (the file system under %s does not take a sparse file of %.1f TiB: '
                                      'the largest it took is used)' % (work, wanted / TIB))
    disk = work / ('disk-%dg-%d-%g.img' % (size // GIB, args.pieces, args.dense_gib))
    rows = []
    try:
        if 'stream' in scenarios or 'resume' in scenarios:
            started = time.perf_counter()
            make_disk(disk, size, args.pieces, dense=int(args.dense_gib * GIB) // MIB * MIB)
            print('disk: %.2f TiB virtual, %d runs of 4 KiB, %.2f GiB dense, ready in %.0f s%s' % (
                size / TIB, args.pieces, args.dense_gib, time.perf_counter() - started, note), file=sys.stderr)
        small = work / ('small-%dg-%d.img' % (int(args.azurite_gib), args.azurite_pieces))
        if 'azurite' in scenarios:
            make_disk(small, int(args.azurite_gib * GIB) // MIB * MIB, args.azurite_pieces, seed=2)
        for scenario in scenarios:
            results = []
            for run in range(args.runs):
                if scenario == 'azurite':
                    from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION, Azurite
                    with Azurite(work / 'azurite') as azurite:
                        azurite.service_client().create_container('bench')
                        options = dict(account_url=azurite.account_url, container='bench', blob='disk.vhd',
                                       account_key=azurite.account_key, api_version=API_VERSION)
                        results.append(run_child(scenario, small, options))
                elif scenario == 'resume':
                    saved = str(work / 'interrupted.blob')
                    run_child('interrupted', disk, saved)
                    sort_ranges(saved)
                    results.append(run_child(scenario, disk, saved))
                else:
                    results.append(run_child(scenario, disk))
                print('  %-8s run %d: %s' % (scenario, run + 1, json.dumps(results[-1])), file=sys.stderr)
            rows.append((scenario, results))
    finally:
        if not args.keep:
            for path in list(work.glob('*.img*')) + list(work.glob('*.blob')):
                path.unlink()
            if not args.workdir:
                import shutil
                shutil.rmtree(str(work), ignore_errors=True)
    print('\nPeak RSS of one process (VmHWM), median of %d runs; disk: %.2f TiB virtual with %d runs of 4 KiB and '
          '%.2f GiB dense%s; azurite: %.0f GiB with %d runs\n' % (
              args.runs, size / TIB, args.pieces, args.dense_gib, note, args.azurite_gib, args.azurite_pieces))
    print('| scenario | peak RSS MiB | seconds | requests | notes |')
    print('| --- | ---: | ---: | ---: | --- |')
    for scenario, results in rows:
        notes = ', '.join('%s=%s' % (k, results[0][k]) for k in ('pieces', 'queue_high', 'overflow') if k in results[0])
        print('| %s | %.1f | %.1f | %s | %s |' % (
            scenario, statistics.median(r['peak_rss_mib'] for r in results),
            statistics.median(r['seconds'] for r in results), results[0].get('requests', '-'), notes))
    return None


if __name__ == '__main__':
    main()
