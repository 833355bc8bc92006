# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put Page requests and seconds for several ``merge_gap`` values on a fragmented disk, on a local Azurite.

The disk (default 4 GiB virtual) holds runs like a used file system's: 4 KiB blocks (75 %), 8-64 KiB
(24 %) and 1-4 MiB (1 %), separated by zero gaps drawn log-uniformly from 512 bytes to 2 MiB, so that
every gap size is as common as every other. For each gap the engine (``PageBlobUploader``, as
vhd_upload runs it, concurrency 8) uploads it to a fresh blob:

* ``loopback``: straight to Azurite on 127.0.0.1 (a request costs little, bytes cost little);
* ``rtt``: through a proxy that holds every Put Page for ``--rtt-ms`` (default 10 ms) before
  forwarding it, like the round trip to a storage account in another region; bytes still cost
  little (no bandwidth limit).

Printed: requests, bytes sent (the merged zeros included), median seconds of --runs, and a
model for a real link, ``requests * rtt / concurrency + bytes / bandwidth`` (``--mib-per-s``,
default 60 MiB/s, a standard storage account's target for one page blob), which weighs the extra
zeros. Usage::

    python benchmarks/bench_gap.py [--quick] [--runs 3] [--gaps 0,4096,...]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _bootstrap import import_collection

MIB = 1024 * 1024
GIB = 1024 * MIB


import_collection()
from ansible_collections.vmimage.azure.plugins.module_utils._storage import client as _client  # noqa: E402
from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan  # noqa: E402
from ansible_collections.vmimage.azure.plugins.module_utils._storage import upload as _upload  # noqa: E402
from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION, Azurite  # noqa: E402
from ansible_collections.vmimage.azure.tests.support.faultproxy import FaultProxy  # noqa: E402

CONTAINER = 'bench'
GAPS = (0, 4096, 16 * 1024, 64 * 1024, 256 * 1024, MIB, 4 * MIB)


def make_fragmented(path, size, runs, seed=7):
    rng = random.Random(seed)
    with open(path, 'wb') as f:
        f.truncate(size)
        pos, written = 0, 0
        for _run in range(runs):
            kind = rng.random()
            n = 4096 if kind < 0.75 else rng.randrange(2, 17) * 4096 if kind < 0.99 else rng.randrange(1, 5) * MIB
            if pos + n > size:
                break
            f.seek(pos)
            f.write(rng.randbytes(n))
            written += n
            pos += n + int(512 * 4096 ** rng.random()) // 512 * 512  # 512 B .. 2 MiB, log-uniform
    return written


def upload_once(azurite, port, path, blob, gap, concurrency):
    options = dict(account_url=azurite.url_on(port), container=CONTAINER, blob=blob,
                   account_key=azurite.account_key, api_version=API_VERSION, retry_total=3)
    fd = os.open(path, os.O_RDONLY)
    try:
        client, retry, auth = _client.build_blob_client(options, concurrency=concurrency)
        source = _plan.Scanner(fd, os.fstat(fd).st_size, merge_gap=gap)
        up = _upload.PageBlobUploader(client, fd, source, concurrency, retry, auth)
        started = time.perf_counter()
        stats = up.run(up.prepare('always'))
        return time.perf_counter() - started, stats
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='a small disk, one run (a smoke test)')
    ap.add_argument('--runs', type=int, help='runs per gap and link (default 3, 1 with --quick)')
    ap.add_argument('--size-gib', type=float, default=4.0)
    ap.add_argument('--runs-on-disk', type=int, default=8000, help='number of data runs on the disk')
    ap.add_argument('--gaps', default=','.join(str(g) for g in GAPS))
    ap.add_argument('--concurrency', type=int, default=8)
    ap.add_argument('--rtt-ms', type=float, default=10.0)
    ap.add_argument('--mib-per-s', type=float, default=60.0)
    args = ap.parse_args()
    if args.quick:
        args.size_gib, args.runs_on_disk = 0.5, 1500
    args.runs = args.runs or (1 if args.quick else 3)
    gaps = [int(g) for g in args.gaps.split(',')]
    work = Path(tempfile.mkdtemp(prefix='bench-gap-'))
    path = work / 'fragmented.img'
    size = int(args.size_gib * GIB) // MIB * MIB
    data = make_fragmented(path, size, args.runs_on_disk)
    fd = os.open(path, os.O_RDONLY)
    pieces = _plan.Scanner(fd, size, merge_gap=0, limit=None).plan().piece_count
    os.close(fd)
    rows = {}
    for run in range(args.runs):
        # A fresh Azurite per run: its in-memory store does not give back the space of deleted blobs.
        with Azurite(work / 'azurite') as azurite:
            azurite.service_client().create_container(CONTAINER)
            with FaultProxy(azurite.port, delay=args.rtt_ms / 1000.0) as proxy:
                order = list(gaps) if run % 2 == 0 else list(reversed(gaps))
                for gap in order:
                    for link, port in (('loopback', azurite.port), ('rtt', proxy.port)):
                        blob = 'gap-%d-%s-%d.vhd' % (gap, link, run)
                        seconds, stats = upload_once(azurite, port, path, blob, gap, args.concurrency)
                        row = rows.setdefault(gap, {'requests': stats['requests'], 'sent': stats['bytes_sent']})
                        row.setdefault(link, []).append(seconds)
                        azurite.service_client().get_blob_client(CONTAINER, blob).delete_blob()
                        print('  gap %8d %-8s run %d: %6d requests %7.2f s' % (
                            gap, link, run + 1, stats['requests'], seconds), file=sys.stderr)
    print('\nAzurite in memory, %d runs (median), concurrency %d; disk: %.1f GiB virtual, %.0f MiB of data in %d '
          'pieces; rtt: %.0f ms added to each Put Page; model: requests * rtt / concurrency + bytes / %.0f MiB/s\n'
          % (args.runs, args.concurrency, size / GIB, data / MIB, pieces, args.rtt_ms, args.mib_per_s))
    print('| merge_gap | requests | MiB sent | zeros sent | loopback s | rtt %.0f ms s | model s |' % args.rtt_ms)
    print('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for gap in gaps:
        row = rows[gap]
        model = row['requests'] * args.rtt_ms / 1000.0 / args.concurrency + row['sent'] / MIB / args.mib_per_s
        print('| %d | %d | %.1f | %.1f %% | %.2f | %.2f | %.2f |' % (
            gap, row['requests'], row['sent'] / MIB, 100.0 * (row['sent'] - data) / data,
            statistics.median(row['loopback']), statistics.median(row['rtt']), model))


if __name__ == '__main__':
    main()
