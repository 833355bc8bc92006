# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Raw -> Azure-ready fixed VHD: vmimage.azure's in-place footer append vs qemu-img convert.

For each size it makes one raw disk (dense: full of non-zero data; sparse: a few MiB of data in a
huge hole), then times N runs of

* ours: ``_vhd.convert.plan()`` + ``apply()`` in place (grow to 1 MiB boundary, write the footer);
  before every run the raw is restored by cutting the footer off again, not rewritten;
* qemu: ``qemu-img convert -f raw -O vpc -o subformat=fixed,force_size raw out.vhd`` (a full copy);

and prints medians, the ratio and the extra disk space each needs (allocated bytes added).
Both read a warm page cache (the raw was just written). Run from the collection root, or set
PYTHONPATH so that ``ansible_collections.vmimage.azure`` imports (``make layout`` prepares it).

    python benchmarks/bench_vhd.py --quick
    python benchmarks/bench_vhd.py --sizes 2G,8G,64G:sparse,1T:sparse --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bootstrap import import_collection

import_collection()

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import convert  # noqa: E402  pylint: disable=wrong-import-position

UNITS = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
FILL_CHUNK = 64 << 20


def parse_size(text):
    """'8G' -> (8 GiB, False); '64G:sparse' -> (64 GiB, True)."""
    spec, dummy, kind = text.strip().partition(':')
    if kind not in ('', 'dense', 'sparse'):
        raise argparse.ArgumentTypeError('size kind must be dense or sparse: %s' % text)
    num, unit = spec[:-1], spec[-1].upper()
    if unit not in UNITS:
        num, unit = spec, 'M'
    return int(float(num) * UNITS[unit]), kind == 'sparse'


def human(n):
    for unit in ('TiB', 'GiB', 'MiB', 'KiB'):
        scale = UNITS[unit[0]]
        if n >= scale:
            return '%.4g %s' % (n / scale, unit)
    return '%d B' % n


def make_raw(path, size, sparse):
    """Dense: every byte non-zero (a 64 MiB pattern repeated). Sparse: 4 MiB of data in a hole."""
    pattern = (os.urandom(4096) * (FILL_CHUNK // 4096)).replace(b'\0', b'\1')
    with open(path, 'wb') as fh:
        fh.truncate(size)
        if sparse:
            for offset in (0, size // 2, size - (1 << 20)):
                os.pwrite(fh.fileno(), pattern[:1 << 20], offset)
        else:
            for offset in range(0, size, FILL_CHUNK):
                os.pwrite(fh.fileno(), pattern[:min(FILL_CHUNK, size - offset)], offset)
        os.fsync(fh.fileno())


def allocated(path):
    return os.stat(path).st_blocks * 512


def time_ours(raw, size):
    os.truncate(raw, size)                      # restore: cut the footer (and alignment growth) off
    before = allocated(raw)
    start = time.perf_counter()
    convert.apply(convert.plan(str(raw)))
    elapsed = time.perf_counter() - start
    return elapsed, allocated(raw) - before


def time_qemu(qemu_img, raw, size, out):
    os.truncate(raw, size)
    start = time.perf_counter()
    subprocess.run([qemu_img, 'convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size', str(raw), str(out)],
                   check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    extra = allocated(out)
    out.unlink()
    return elapsed, extra


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--sizes', default='2G,8G,64G:sparse,1T:sparse',
                        help='comma-separated sizes, each optionally :sparse (default: %(default)s)')
    parser.add_argument('--runs', type=int, default=3, help='runs per size and tool (median is reported)')
    parser.add_argument('--workdir', help='where to put the images (default: a temporary directory, removed afterwards)')
    parser.add_argument('--quick', action='store_true', help='small sizes, 1 run: 256M,1G:sparse')
    parser.add_argument('--skip-qemu', action='store_true', help='time only ours')
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in ('256M,1G:sparse' if args.quick else args.sizes).split(',')]
    runs = 1 if args.quick else max(1, args.runs)
    qemu_img = None if args.skip_qemu else shutil.which('qemu-img')
    if not args.skip_qemu and not qemu_img:
        parser.error('qemu-img not found: install qemu-utils (Debian/Ubuntu) or qemu-img (RHEL/Fedora), or pass --skip-qemu')
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix='bench_vhd.'))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for size, sparse in sizes:
            raw, out = workdir / 'bench.raw', workdir / 'bench-qemu.vhd'
            print('# %s %s: writing the raw...' % (human(size), 'sparse' if sparse else 'dense'), file=sys.stderr, flush=True)
            make_raw(raw, size, sparse)
            ours = [time_ours(raw, size) for dummy in range(runs)]
            qemu = [time_qemu(qemu_img, raw, size, out) for dummy in range(runs)] if qemu_img else []
            raw.unlink()
            row = {'size': human(size), 'kind': 'sparse' if sparse else 'dense',
                   'ours': statistics.median(t for t, e in ours), 'ours_extra': max(e for t, e in ours)}
            if qemu:
                row.update(qemu=statistics.median(t for t, e in qemu), qemu_extra=max(e for t, e in qemu))
            rows.append(row)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print('raw -> fixed VHD, median of %d run(s)' % runs)
    head = '| size | data | ours (s) | qemu-img (s) | qemu/ours | ours extra disk | qemu-img extra disk |'
    print(head)
    print('|' + '---|' * (head.count('|') - 1))
    for r in rows:
        q = r.get('qemu')
        print('| %s | %s | %.4f | %s | %s | %s | %s |' % (
            r['size'], r['kind'], r['ours'], '%.3f' % q if q is not None else '-',
            '%.0fx' % (q / r['ours']) if q is not None else '-', human(r['ours_extra']),
            human(r['qemu_extra']) if q is not None else '-'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
