# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Range planning and the fingerprint, checked against brute-force page-by-page references."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import extents

PAGE = 512
MIB = 1024 * 1024


def naive_runs(data, base=0):
    """Maximal runs of non-zero 512-byte pages, one page at a time."""
    runs = []
    for i in range(0, len(data), PAGE):
        if data[i:i + PAGE].strip(b'\0'):
            if runs and runs[-1][1] == base + i:
                runs[-1][1] = base + i + PAGE
            else:
                runs.append([base + i, base + i + PAGE])
    return [(s, e - s) for s, e in runs]


def naive_pieces(data):
    """The runs cut at every multiple of 4 MiB."""
    pieces = []
    for off, length in naive_runs(data):
        end = off + length
        while off < end:
            step = min(end, (off // (4 * MIB) + 1) * 4 * MIB) - off
            pieces.append((off, step))
            off += step
    return pieces


def random_image(rng, pages):
    """Pages that are zero, random, or zero but for one byte (the hardest case for a zero test)."""
    out = bytearray()
    for _page in range(pages):
        kind = rng.random()
        if kind < 0.45:
            out += bytes(PAGE)
        elif kind < 0.9:
            out += rng.randbytes(PAGE)
        else:
            page = bytearray(PAGE)
            page[rng.randrange(PAGE)] = rng.randrange(1, 256)
            out += page
    return bytes(out)


@pytest.mark.parametrize('seed', range(8))
def test_nonzero_runs_matches_page_by_page(seed):
    rng = random.Random(seed)
    data = random_image(rng, rng.choice([1, 7, 128, 300, 1024]))
    got = [(s, e - s) for s, e in extents.nonzero_runs(data)]
    assert got == naive_runs(data)


def test_nonzero_runs_edges():
    assert list(extents.nonzero_runs(bytes(4 * MIB))) == []
    dense = bytes(range(1, 256)) * 4112  # no zero byte at all
    dense = dense[:len(dense) - len(dense) % PAGE]
    assert list(extents.nonzero_runs(dense)) == [(0, len(dense))]
    # 512 zero bytes that straddle two pages do not make a zero page
    straddle = b'\1' * 256 + bytes(PAGE) + b'\1' * 256
    assert list(extents.nonzero_runs(straddle)) == [(0, 1024)]


@pytest.mark.parametrize('length', [PAGE, 4 * MIB - PAGE, 4 * MIB, 4 * MIB + PAGE, 13 * MIB + 3 * PAGE])
def test_split_ranges_cap_and_alignment(length):
    offset = 7 * PAGE
    pieces = list(plan.split_ranges([(offset, length)]))
    assert all(0 < n <= plan.MAX_PUT and n % PAGE == 0 and o % PAGE == 0 for o, n in pieces)
    assert pieces[0][0] == offset and sum(n for _o, n in pieces) == length
    assert all(a[0] + a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert len(pieces) == -(-length // plan.MAX_PUT)


@pytest.mark.parametrize('seed', range(20))
def test_subtract_ranges_matches_page_sets(seed):
    rng = random.Random(seed)
    total_pages = 400

    def ranges():
        out, pos = [], rng.randrange(5)
        while pos < total_pages:
            n = rng.randrange(1, 30)
            out.append((pos * PAGE, min(n, total_pages - pos) * PAGE))
            pos += n + rng.randrange(0, 20)
        return out
    wanted = ranges()
    present = [(o, o + n) for o, n in ranges()]

    def pages(rs):
        return set(p for o, n in rs for p in range(o // PAGE, (o + n) // PAGE))
    missing = plan.subtract_ranges(wanted, present)
    assert pages(missing) == pages(wanted) - pages([(s, e - s) for s, e in present])
    assert all(n > 0 for _o, n in missing) and missing == sorted(missing)


def test_subtract_nothing_present_and_everything_present():
    wanted = [(0, 4 * MIB), (8 * MIB, PAGE)]
    assert plan.subtract_ranges(wanted, []) == wanted
    assert plan.subtract_ranges(wanted, [(0, 16 * MIB)]) == []


def write_image(path, size, chunks):
    with open(path, 'wb') as f:
        f.truncate(size)
        for off, data in chunks.items():
            f.seek(off)
            f.write(data)
    return path


def scan_path(path, **kwargs):
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        extents = kwargs.pop('extents', None)
        return plan.scan(fd, size, [(0, size)] if extents is None else extents, **kwargs)
    finally:
        os.close(fd)


def sparse_extents(path):
    from ansible_collections.vmimage.azure.plugins.module_utils._vhd.extents import data_extents
    fd = os.open(path, os.O_RDONLY)
    try:
        return data_extents(fd)
    finally:
        os.close(fd)


@pytest.fixture
def image(tmp_path):
    rng = random.Random(7)
    inner = rng.randbytes(6 * MIB)
    inner = inner[:MIB] + bytes(3 * PAGE) + inner[MIB + 3 * PAGE:]
    chunks = {PAGE * 3: rng.randbytes(1000), 5 * MIB + 1536: inner, 30 * MIB: rng.randbytes(PAGE)}
    return write_image(tmp_path / 'img', 32 * MIB, chunks)


def test_scan_plans_only_nonzero_pages(image):
    data = image.read_bytes()
    p = scan_path(str(image), extents=sparse_extents(str(image)))
    assert p.runs == naive_runs(data)
    assert p.data_bytes == sum(n for _o, n in naive_runs(data))
    assert all(n <= plan.MAX_PUT and o % PAGE == 0 and n % PAGE == 0 for o, n in p.ranges)
    assert all(o // plan.MAX_PUT == (o + n - 1) // plan.MAX_PUT for o, n in p.ranges)  # no 4 MiB line crossed
    assert p.ranges == naive_pieces(data)
    assert sum(n for _o, n in p.ranges) == p.data_bytes
    rebuilt = bytearray(len(data))
    for o, n in p.ranges:
        rebuilt[o:o + n] = data[o:o + n]
    assert bytes(rebuilt) == data  # everything outside the plan is zero


def test_fingerprint_depends_on_content_only(image, tmp_path):
    sparse = scan_path(str(image), extents=sparse_extents(str(image)))
    dense_copy = tmp_path / 'dense'
    dense_copy.write_bytes(image.read_bytes())  # holes become written zeros
    dense = scan_path(str(dense_copy))
    split_extents = scan_path(str(image), extents=[(o, 4096) for o in range(0, 32 * MIB, 4096)])
    assert sparse.fingerprint == dense.fingerprint == split_extents.fingerprint
    assert sparse.fingerprint.startswith('sha256:') and len(sparse.fingerprint) == 7 + 64


def test_fingerprint_changes_with_one_byte_offset_or_size(image, tmp_path):
    base = scan_path(str(image)).fingerprint
    data = bytearray(image.read_bytes())
    one_byte = tmp_path / 'one'
    data[5 * MIB + 4000] ^= 1
    one_byte.write_bytes(bytes(data))
    moved = write_image(tmp_path / 'moved', 32 * MIB, {PAGE * 4: image.read_bytes()[PAGE * 3:PAGE * 3 + 1000]})
    at_old = write_image(tmp_path / 'at_old', 32 * MIB, {PAGE * 3: image.read_bytes()[PAGE * 3:PAGE * 3 + 1000]})
    bigger = tmp_path / 'bigger'
    bigger.write_bytes(image.read_bytes() + bytes(MIB))
    prints = [base] + [scan_path(str(p)).fingerprint for p in (one_byte, moved, at_old, bigger)]
    assert len(set(prints)) == len(prints)


def test_fingerprint_definition(tmp_path):
    """The documented formula, computed independently (pieces cut at 4 MiB lines, their MD5s, root)."""
    import struct
    path = write_image(tmp_path / 'def', 12 * MIB, {PAGE: b'\1' * (2 * PAGE), 4 * MIB - PAGE: b'\2' * (2 * PAGE),
                                                    9 * MIB: b'\3' * 10})
    data = path.read_bytes()
    pieces = [(PAGE, 2 * PAGE), (4 * MIB - PAGE, PAGE), (4 * MIB, PAGE), (9 * MIB, PAGE)]
    root = hashlib.sha256(b'vmimage-fp-v3\0' + struct.pack('>Q', len(data)))
    for start, length in pieces:
        root.update(struct.pack('>QQ', start, length) + hashlib.md5(data[start:start + length]).digest())
    p = scan_path(str(path))
    assert p.fingerprint == 'sha256:' + root.hexdigest()
    assert p.ranges == pieces  # the run across the 4 MiB line is cut there
    assert p.runs == [(PAGE, 2 * PAGE), (4 * MIB - PAGE, 2 * PAGE), (9 * MIB, PAGE)]  # merged across blocks


def test_plan_digests_are_md5_of_the_file_bytes(image):
    data = image.read_bytes()
    for extents in (sparse_extents(str(image)), None, [(o, 4096) for o in range(0, 32 * MIB, 4096)]):
        p = scan_path(str(image), extents=extents, workers=3)
        assert [(o, n) for o, n, _d in p.pieces] == p.ranges == naive_pieces(data)
        assert all(d == hashlib.md5(data[o:o + n]).digest() for o, n, d in p.pieces)
        assert p.digests() == dict(((o, n), hashlib.md5(data[o:o + n]).digest()) for o, n in p.ranges)


def test_streamed_blocks_carry_the_plan_pieces(image):
    fd = os.open(str(image), os.O_RDONLY)
    try:
        scanner = plan.Scanner(fd, 32 * MIB, sparse_extents(str(image)), workers=2)
        blocks = list(scanner.blocks())
    finally:
        os.close(fd)
    assert all(o // plan.BLOCK == k for k, pieces in blocks for o, _n, _d in pieces)
    assert scanner.done and [piece for _k, pieces in blocks for piece in pieces] == scanner.plan().pieces


@pytest.mark.parametrize('workers', [1, 2, 5])
def test_scan_is_the_same_with_any_number_of_workers(image, workers):
    one = scan_path(str(image), extents=sparse_extents(str(image)), workers=1)
    other = scan_path(str(image), extents=sparse_extents(str(image)), workers=workers)
    assert (one.fingerprint, one.runs, one.pieces) == (other.fingerprint, other.runs, other.pieces)


def test_content_md5_covers_holes(image):
    p = scan_path(str(image), extents=sparse_extents(str(image)), content_md5=True)
    assert p.md5 == hashlib.md5(image.read_bytes()).digest()
    assert scan_path(str(image)).md5 is None


def test_scan_rejects_unaligned_sizes(tmp_path):
    path = write_image(tmp_path / 'odd', 1000, {0: b'x'})
    with pytest.raises(ValueError):
        scan_path(str(path))
    with pytest.raises(ValueError):
        scan_path(str(write_image(tmp_path / 'even', 1024, {0: b'x'})), block=2 * plan.MAX_PUT)
