# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): nonzero_chunks against a bare 4 MiB read loop on a dense file.

Run: python bench_extents.py [size_mib] (PYTHONPATH must reach ansible_collections).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import extents

CHUNK = 4 << 20


def bare(fd, size):
    n = 0
    for off in range(0, size, CHUNK):
        n += len(os.pread(fd, CHUNK, off))
    return n


def scanned(fd, size):
    return sum(len(mv) for dummy, mv in extents.nonzero_chunks(fd, extents.data_extents(fd, 0, size)))


def main():
    size = int(sys.argv[1] if len(sys.argv) > 1 else 1024) << 20
    with tempfile.NamedTemporaryFile(dir=os.environ.get('BENCH_DIR')) as tmp:
        block = os.urandom(CHUNK)
        for dummy in range(size // CHUNK):
            tmp.write(block)
        tmp.flush()
        fd = tmp.fileno()
        for name, fn in (('bare read loop', bare), ('nonzero_chunks', scanned), ('bare read loop', bare), ('nonzero_chunks', scanned)):
            t0 = time.perf_counter()
            n = fn(fd, size)
            dt = time.perf_counter() - t0
            print('%-16s %6d MiB in %.3f s (%.0f MiB/s)' % (name, n >> 20, dt, (n >> 20) / dt))


if __name__ == '__main__':
    main()
