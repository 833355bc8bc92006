# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Extent maps: SEEK_DATA/SEEK_HOLE extents and non-zero page ranges, checked against a brute-force scan."""

from __future__ import annotations

import errno
import os
import random

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import extents as ex
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError

KIB = 1 << 10
MIB = 1 << 20


def reference_ranges(path, page=512, max_len=4 * MIB):
    """Brute force: every non-zero page, merged, split at multiples of max_len."""
    with open(path, 'rb') as fh:
        data = fh.read()
    ranges = []
    for off in range(0, len(data), page):
        chunk = data[off:off + page]
        if not chunk.strip(b'\0'):
            continue
        if ranges and ranges[-1][0] + ranges[-1][1] == off and off % max_len:
            ranges[-1][1] += len(chunk)
        else:
            ranges.append([off, len(chunk)])
    return [tuple(r) for r in ranges]


def scan(path, **kw):
    with open(path, 'rb') as fh:
        extents = ex.data_extents(fh)
        return extents, list(ex.nonzero_ranges(fh, extents, **kw))


def holes_supported(path):
    return os.stat(path).st_blocks * 512 < os.path.getsize(path)


def test_sparse_file_extents_and_ranges(make_file):
    path = make_file('sparse', 64 * MIB, [(10 * MIB, b'x' * 5000), (40 * MIB + 100, b'y')])
    extents, ranges = scan(path)
    assert ranges == [(10 * MIB, 5120), (40 * MIB, 512)]
    assert ranges == reference_ranges(path)
    covered = sum(length for dummy, length in extents)
    if holes_supported(path):
        assert covered < 1 * MIB  # the holes were not reported as data
        for off, length in ranges:
            assert any(s <= off and off + length <= s + n for s, n in extents)
    else:
        assert extents == [(0, 64 * MIB)]


def test_dense_file_gives_aligned_max_len_ranges(make_file):
    rnd = random.Random(1)
    data = bytes(rnd.getrandbits(8) | 1 for dummy in range(64 * KIB)) * 160  # 10 MiB, no zero byte
    path = make_file('dense', len(data), [(0, data)])
    dummy, ranges = scan(path)
    assert ranges == [(0, 4 * MIB), (4 * MIB, 4 * MIB), (8 * MIB, 2 * MIB)]


def test_written_zeros_are_allocated_but_not_data(make_file):
    path = make_file('zeros', 4 * MIB, [(0, bytes(4 * MIB))])
    with open(path, 'rb') as fh:
        emap = ex.ExtentMap.scan(fh)
    assert emap.data_bytes == 0
    assert emap.allocated_bytes > 0
    assert list(ex.nonzero_ranges(open(path, 'rb').fileno(), emap.extents)) == []


def test_data_at_the_very_end(make_file):
    size = 8 * MIB
    path = make_file('end', size, [(size - 1, b'\1')])
    dummy, ranges = scan(path)
    assert ranges == [(size - 512, 512)]


def test_partial_last_page(make_file):
    path = make_file('odd', 4 * KIB + 100, [(4 * KIB + 99, b'z')])
    dummy, ranges = scan(path)
    assert ranges == [(4 * KIB, 100)]


def test_data_straddling_page_boundaries(make_file):
    path = make_file('straddle', 1 * MIB, [(511, b'ab'), (4 * KIB - 1, b'c' * 514)])
    dummy, ranges = scan(path)
    assert ranges == [(0, 1024), (4 * KIB - 512, 1536)]


def test_max_len_cap_and_grid(make_file):
    data = b'\xaa' * (64 * KIB)
    path = make_file('cap', 1 * MIB, [(4 * KIB + 512, data)])
    dummy, ranges = scan(path, max_len=16 * KIB)
    assert all(length <= 16 * KIB for dummy, length in ranges)
    assert ranges == reference_ranges(path, max_len=16 * KIB)
    assert ranges[0] == (4 * KIB + 512, 16 * KIB - 4 * KIB - 512)
    assert sum(length for dummy, length in ranges) == 64 * KIB


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('read_size', [4 * KIB, 64 * KIB, 4 * MIB])
def test_random_patterns_match_brute_force(make_file, seed, read_size):
    rnd = random.Random(seed)
    size = 6 * MIB + 512 * rnd.randrange(0, 8)
    writes = []
    for dummy in range(40):
        off = rnd.randrange(0, size - 1)
        length = min(rnd.choice([1, 3, 511, 512, 513, 4096, 70000, 600000]), size - off)
        fill = rnd.choice([b'\0', b'\1', None])
        blob = bytes(rnd.getrandbits(8) for dummy in range(min(length, 512)))
        data = (fill * length) if fill else (blob * (length // len(blob) + 1))[:length]
        writes.append((off, data))
    path = make_file('random', size, writes)
    max_len = rnd.choice([64 * KIB, 4 * MIB])
    dummy, ranges = scan(path, max_len=max_len, read_size=read_size)
    assert ranges == reference_ranges(path, max_len=max_len)


def test_start_end_window_and_enxio(make_file):
    path = make_file('win', 8 * MIB, [(1 * MIB, b'a' * 512)])
    with open(path, 'rb') as fh:
        assert ex.data_extents(fh, 6 * MIB) == ([] if holes_supported(path) else [(6 * MIB, 2 * MIB)])
        assert ex.data_extents(fh, 8 * MIB) == []
        assert ex.data_extents(fh, 9 * MIB) == []
        window = ex.data_extents(fh, 1 * MIB + 100, 1 * MIB + 300)
        assert window == [(1 * MIB + 100, 200)]
        assert list(ex.nonzero_ranges(fh, window)) == [(1 * MIB, 512)]


def test_file_position_restored(make_file):
    path = make_file('pos', 1 * MIB, [(0, b'q')])
    with open(path, 'rb') as fh:
        fh.seek(777)
        ex.data_extents(fh)
        assert os.lseek(fh.fileno(), 0, os.SEEK_CUR) == 777


def test_unsupported_file_system_is_one_extent(make_file, monkeypatch):
    path = make_file('nosupport', 2 * MIB, [(MIB, b'b')])
    real = os.lseek

    def lseek(fd, pos, how):
        if how in (os.SEEK_DATA, os.SEEK_HOLE):
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real(fd, pos, how)

    monkeypatch.setattr(os, 'lseek', lseek)
    with open(path, 'rb') as fh:
        extents = ex.data_extents(fh, 512)
        assert extents == [(512, 2 * MIB - 512)]
        assert list(ex.nonzero_ranges(fh, extents)) == [(MIB, 512)]


def test_platform_without_seek_data(make_file, monkeypatch):
    path = make_file('noseek', 1 * MIB, [(0, b'b')])
    monkeypatch.delattr(os, 'SEEK_DATA')
    with open(path, 'rb') as fh:
        assert ex.data_extents(fh) == [(0, 1 * MIB)]


def test_other_lseek_errors_raise(make_file, monkeypatch):
    path = make_file('eio', 1 * MIB, [(0, b'b')])
    real = os.lseek

    def lseek(fd, pos, how):
        if how == os.SEEK_DATA:
            raise OSError(errno.EIO, 'Input/output error')
        return real(fd, pos, how)

    monkeypatch.setattr(os, 'lseek', lseek)
    with open(path, 'rb') as fh, pytest.raises(VhdError) as e:
        ex.data_extents(fh)
    assert e.value.code == 'io_error' and 'Input/output error' in e.value.message


@pytest.mark.parametrize('kw', [dict(page=0), dict(max_len=1000), dict(read_size=100), dict(page=512, max_len=256)])
def test_bad_arguments(make_file, kw):
    path = make_file('args', 4 * KIB, [(0, b'1')])
    with open(path, 'rb') as fh, pytest.raises(VhdError) as e:
        list(ex.nonzero_ranges(fh, [(0, 4 * KIB)], **kw))
    assert e.value.code == 'invalid_argument'


def test_overlapping_and_unaligned_extents_are_merged(make_file):
    path = make_file('overlap', 64 * KIB, [(0, b'\1' * (64 * KIB))])
    with open(path, 'rb') as fh:
        got = list(ex.nonzero_ranges(fh, [(1000, 10), (700, 3000), (8192, 1), (0, 0)]))
    assert got == [(512, 3584), (8192, 512)]
