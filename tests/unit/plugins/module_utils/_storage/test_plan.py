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
    for given in (sparse_extents(str(image)), None, [(o, 4096) for o in range(0, 32 * MIB, 4096)]):
        p = scan_path(str(image), extents=given, workers=3)
        assert [(o, n) for o, n, _d in p.pieces] == p.ranges == naive_pieces(data)
        assert all(d == hashlib.md5(data[o:o + n]).digest() for o, n, d in p.pieces)
        assert p.digests() == dict(((o, n), hashlib.md5(data[o:o + n]).digest()) for o, n in p.ranges)


def drain(scanner):
    """Every request the scanner hands to the senders: its queue, then its second pass."""
    out = list(iter(scanner.queue.take, None))
    return out + list(scanner.tail())


def open_scanner(source, **kwargs):
    fd = os.open(str(source), os.O_RDONLY)
    size = os.fstat(fd).st_size
    return fd, plan.Scanner(fd, size, **kwargs)


def test_queued_requests_are_the_plan_pieces(image):
    """merge_gap=0: one request per piece, with the piece's MD5 (no second hash)."""
    ref = scan_path(str(image), extents=sparse_extents(str(image)))
    fd, scanner = open_scanner(image, workers=2, merge_gap=0)
    try:
        p = scanner.plan()
        requests = drain(scanner)
    finally:
        os.close(fd)
    assert scanner.done and scanner.overflow is None
    assert requests == [(o, n, n, d) for o, n, d in ref.pieces]
    assert (p.fingerprint, p.data_bytes, p.piece_count, p.request_count) == (
        ref.fingerprint, ref.data_bytes, len(ref.pieces), len(ref.pieces))
    assert p.pieces is None and p.ranges is None  # the engine's scanner keeps no piece list
    with pytest.raises(ValueError):
        p.digests()


def test_lazy_extents_are_the_file_systems(image, tmp_path):
    """extents=None: SEEK_DATA/SEEK_HOLE window by window; the same plan as the listed extents."""
    fd = os.open(str(image), os.O_RDONLY)
    try:
        listed = plan.Scanner(fd, 32 * MIB, sparse_extents(str(image)), merge_gap=0).plan()
        windows = list(plan.iter_data_extents(fd, 32 * MIB, window=3 * MIB))
        lazy = plan.Scanner(fd, 32 * MIB, merge_gap=0).plan()
    finally:
        os.close(fd)
    assert all(o // (3 * MIB) == (o + n - 1) // (3 * MIB) for o, n in windows)  # asked window by window
    assert (lazy.fingerprint, lazy.allocated_bytes) == (listed.fingerprint, listed.allocated_bytes)
    assert plan.align_extents(windows, 32 * MIB) == plan.align_extents(sparse_extents(str(image)), 32 * MIB)


# --- merged requests (merge_gap) -----------------------------------------------------------------------

def fragmented(path, size=16 * MIB, seed=11):
    """Runs of 1-8 pages separated by zero gaps of 1-300 pages, some across 4 MiB lines, some
    written zeros inside data."""
    rng = random.Random(seed)
    chunks, pos = {}, 0
    while pos < size - 8 * PAGE:
        n = rng.randrange(1, 9) * PAGE
        chunks[pos] = rng.randbytes(n)
        pos += n + rng.randrange(1, 300) * PAGE
    chunks[4 * MIB - PAGE] = rng.randbytes(2 * PAGE)  # a run across the line
    chunks[8 * MIB] = rng.randbytes(PAGE) + bytes(4 * PAGE) + rng.randbytes(PAGE)  # written zeros inside
    return write_image(path, size, chunks)


@pytest.mark.parametrize('gap', [0, PAGE, 4096, 64 * 1024, MIB, 4 * MIB])
def test_merged_requests(tmp_path, gap):
    path = fragmented(tmp_path / 'frag')
    data = path.read_bytes()
    ref = scan_path(str(path), extents=sparse_extents(str(path)), merge_gap=0)
    fd, scanner = open_scanner(path, merge_gap=gap)
    try:
        p = scanner.plan()
        requests = drain(scanner)
    finally:
        os.close(fd)
    assert p.fingerprint == ref.fingerprint  # independent of how pieces are grouped
    assert all(0 < n <= plan.MAX_PUT and o % PAGE == 0 and n % PAGE == 0 for o, n, _d, _m in requests)
    assert all(o // plan.MAX_PUT == (o + n - 1) // plan.MAX_PUT for o, n, _d, _m in requests)  # no line crossed
    assert all(m == hashlib.md5(data[o:o + n]).digest() for o, n, _d, m in requests)  # zeros of the gap included
    expected = [list(group) for group in plan.merge_pieces(ref.ranges, gap)]
    assert [(o, n) for o, n, _d, _m in requests] == [
        (g[0][0], g[-1][0] + g[-1][1] - g[0][0]) for g in expected]
    assert [d for _o, _n, d, _m in requests] == [sum(n for _o, n in g) for g in expected]
    # every data page is in exactly one request; what else a request holds is zeros
    covered = bytearray(len(data))
    for o, n, _d, _m in requests:
        assert not any(covered[o:o + n])
        covered[o:o + n] = b'\1' * n
    assert all(covered[o:o + n] == b'\1' * n for o, n in ref.ranges)
    assert (p.request_count, p.request_bytes, p.data_bytes) == (
        len(requests), sum(n for _o, n, _d, _m in requests), ref.data_bytes)
    if gap == 0:
        assert p.request_count == len(ref.ranges)
    else:
        assert all(b[0] - (a[0] + a[1]) > gap or a[0] // plan.MAX_PUT != b[0] // plan.MAX_PUT
                   for a, b in zip(requests, requests[1:]))  # merged as far as allowed


def test_more_gap_fewer_requests(tmp_path):
    path = fragmented(tmp_path / 'frag')
    counts = []
    for gap in (0, 4096, 64 * 1024, 4 * MIB):
        fd, scanner = open_scanner(path, merge_gap=gap)
        try:
            counts.append(scanner.plan().request_count)
        finally:
            os.close(fd)
    assert counts == sorted(counts, reverse=True) and counts[0] > 5 * counts[-1]
    assert counts[-1] == 4  # one request per 4 MiB block (all 4 have data)


def test_merge_gap_bounds(image):
    fd = os.open(str(image), os.O_RDONLY)
    try:
        for bad in (-1, plan.MAX_PUT + PAGE):
            with pytest.raises(ValueError):
                plan.Scanner(fd, 32 * MIB, merge_gap=bad)
    finally:
        os.close(fd)


# --- bounded memory: the queue, the second pass, stopping --------------------------------------------

@pytest.mark.parametrize('limit', [1, 7, 100])
def test_a_full_queue_hands_over_to_a_second_pass(tmp_path, limit):
    path = fragmented(tmp_path / 'frag')
    ref = scan_path(str(path), extents=sparse_extents(str(path)), merge_gap=0)
    fd, scanner = open_scanner(path, merge_gap=0, limit=limit)
    try:
        p = scanner.plan()
        assert scanner.overflow is not None and scanner.queue.high <= limit
        requests = drain(scanner)
    finally:
        os.close(fd)
    assert [(o, n) for o, n, _d, _m in requests] == ref.ranges
    assert p.fingerprint == ref.fingerprint and p.request_count == len(ref.ranges)


def test_the_second_pass_refuses_a_changed_source(tmp_path):
    path = fragmented(tmp_path / 'frag')
    fd, scanner = open_scanner(path, merge_gap=0, limit=3)
    try:
        scanner.plan()
        queued = list(iter(scanner.queue.take, None))
        with open(path, 'r+b') as f:  # after the first pass, in a block it did not queue
            f.seek(12 * MIB)
            f.write(b'\xff' * PAGE)
        with pytest.raises(plan.Changed) as err:
            list(scanner.tail())
    finally:
        os.close(fd)
    assert len(queued) <= 3 and 'differs from what the scan read' in str(err.value)


def test_queue_take_waits_for_the_scan_and_never_holds_more_than_its_limit(tmp_path):
    """Scan in a thread, a slow consumer: the queue never holds more than its limit, and the
    consumer gets everything, in order."""
    import threading
    import time
    path = fragmented(tmp_path / 'frag', size=64 * MIB)
    ref = scan_path(str(path), extents=sparse_extents(str(path)), merge_gap=0)
    fd, scanner = open_scanner(path, merge_gap=0, limit=300)
    try:
        thread = threading.Thread(target=scanner.plan)
        thread.start()
        got = []
        for item in iter(scanner.queue.take, None):
            got.append(item)
            if len(got) % 50 == 0:
                time.sleep(0.001)
        got += list(scanner.tail())
        thread.join()
    finally:
        os.close(fd)
    assert scanner.queue.high <= 300
    assert [(o, n) for o, n, _d, _m in got] == ref.ranges


def test_stop_ends_the_scan_at_once(tmp_path, monkeypatch):
    """A stopped scan raises Stopped within a few blocks, however big the disk."""
    import threading
    import time
    path = write_image(tmp_path / 'big', 2048 * MIB, dict((k * 4 * MIB, b'\1' * PAGE) for k in range(512)))
    reads = []
    real_read = plan._read

    def slow_read(fd, length, offset):
        reads.append(offset)
        time.sleep(0.005)
        return real_read(fd, length, offset)
    monkeypatch.setattr(plan, '_read', slow_read)
    fd, scanner = open_scanner(path, merge_gap=0, workers=2)
    try:
        errors = []

        def run():
            try:
                scanner.plan()
            except plan.Stopped as exc:
                errors.append(exc)
        thread = threading.Thread(target=run)
        thread.start()
        while len(reads) < 10:
            time.sleep(0.001)
        started = time.monotonic()
        scanner.stop()
        thread.join(5)
        elapsed = time.monotonic() - started
    finally:
        os.close(fd)
    assert not thread.is_alive() and errors and not scanner.done
    assert elapsed < 1.0 and len(reads) < 40, (elapsed, len(reads))
    assert scanner.queue.take() is None  # the senders stop too
    with pytest.raises(plan.Stopped):
        scanner.plan()


def test_a_scan_keeps_no_piece_list(tmp_path):
    """The scanner used to keep every piece (about 300 bytes each with the plan's ranges and runs:
    1 M pieces, 300 MB). Now what stays after the scan is the queue's 32-byte records, at most its
    limit of them, or nothing (``limit=None``) but the last block's results (a thread pool keeps
    them); while it runs, a few blocks (at most 3 * workers)."""
    import tracemalloc
    pieces = 20000
    path = write_image(tmp_path / 'many', pieces * 2 * PAGE, dict((i * 2 * PAGE, b'\7' * PAGE) for i in range(pieces)))
    kept = {}
    for limit in (None, 1000):
        fd, scanner = open_scanner(path, merge_gap=0, limit=limit, workers=1)
        try:
            tracemalloc.start()
            p = scanner.plan()
            kept[limit], peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            os.close(fd)
        assert p.piece_count == pieces and peak < 16 * MIB
    block = 1536 * 1024  # the last block's pieces and requests: up to 4096 of each
    assert kept[None] < block and kept[1000] < block + 1000 * 32, kept


def test_request_queue_records():
    q = plan.RequestQueue(limit=5)
    assert q.put([(0, PAGE, PAGE, b'a' * 16), (4 * MIB, 4 * MIB, 3 * PAGE, b'b' * 16)])
    assert not q.put([(9 * MIB, PAGE, PAGE, b'c' * 16)] * 4)  # would exceed the limit: refused whole
    assert len(q) == 2 and q.high == 2
    assert q.take() == (0, PAGE, PAGE, b'a' * 16)
    q.close()
    assert q.take() == (4 * MIB, 4 * MIB, 3 * PAGE, b'b' * 16) and q.take() is None
    failed = plan.RequestQueue(limit=5)
    failed.close(plan.Changed('boom'))
    with pytest.raises(plan.Changed):
        failed.take()
    big = plan.RequestQueue(limit=10 ** 6)
    for i in range(20000):
        big.put([(i * PAGE, PAGE, PAGE, i.to_bytes(16, 'big'))])
    big.close()
    assert [int.from_bytes(m, 'big') for _o, _n, _d, m in iter(big.take, None)] == list(range(20000))


def test_ranges_covers():
    r = plan.Ranges([(0, 512), (512, 1024), (4096, 8192), (2048, 3072)])  # unsorted, adjacent merged
    assert list(r) == [(0, 1024), (2048, 3072), (4096, 8192)]
    assert r.covers(0, 1024) and r.covers(4096, 4608) and r.covers(2048, 3072)
    assert not r.covers(512, 2048) and not r.covers(3584, 4608) and not r.covers(8192, 8704)
    assert not plan.Ranges().covers(0, 512)


def test_changed_notices_writes_times_and_replacement(tmp_path):
    import time
    path = write_image(tmp_path / 'src', 4 * MIB, {0: b'x' * PAGE})
    fd, scanner = open_scanner(path, path=str(path))
    try:
        scanner.plan()
        assert scanner.changed() is None
        time.sleep(0.02)
        with open(path, 'r+b') as f:  # a page that was zero at scan time
            f.seek(2 * MIB)
            f.write(b'y' * PAGE)
        assert 'modification time' in scanner.changed()
    finally:
        os.close(fd)
    fd, scanner = open_scanner(path, path=str(path))
    try:
        os.replace(str(write_image(tmp_path / 'new', 4 * MIB, {0: b'x' * PAGE})), str(path))
        assert scanner.changed()  # the old file lost its name: its change time moved
    finally:
        os.close(fd)
    other = write_image(tmp_path / 'other', 4 * MIB, {0: b'x' * PAGE})
    fd, scanner = open_scanner(path, path=str(other))  # the path names another file than the one read
    try:
        assert scanner.changed() == 'the path names another file now'
        os.unlink(str(other))
        assert scanner.changed() == 'the path no longer exists'
    finally:
        os.close(fd)


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
    even = str(write_image(tmp_path / 'even', 1024, {0: b'x'}))
    for block in (2 * plan.MAX_PUT, 3 * PAGE):
        with pytest.raises(ValueError):
            scan_path(even, block=block)
