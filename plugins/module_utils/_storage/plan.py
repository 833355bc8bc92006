# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Upload planning: which byte ranges of a fixed VHD carry data, the source fingerprint, and the
Put Page requests that send them.

Pure Python (no third-party imports; zero-page detection is the VHD core's), unit-tested without Azure.

Pieces: the maximal runs of non-zero 512-byte pages, cut at every multiple of 4 MiB (so no piece
crosses one, and each is at most 4 MiB: one Put Page request). They depend on the content only.

Fingerprint (``vmimage-fp-v3``), a content identity that does not depend on how the file system
stores the file (a copy whose holes were filled with zeros has the same fingerprint), nor on how
the pieces are grouped into requests (``merge_gap``)::

    fingerprint = "sha256:" + sha256(b"vmimage-fp-v3\0" + size as 8-byte big-endian
                                     + for each piece, in order: its offset and length as 8-byte
                                       big-endian + md5(the piece's bytes) (16 bytes))

Requests: the pieces of one 4 MiB block whose zero gap is at most ``merge_gap`` bytes are merged
into one Put Page (fewer requests on fragmented disks, for a few zero bytes more); a request never
crosses a multiple of 4 MiB. Its Content-MD5 is computed from the bytes the scan read (the zeros of
a merged gap included): a piece alone in its request reuses the piece's MD5, so that every data
byte is hashed once unless it is merged. The service checks it: a source that changed after the
scan is refused, not uploaded.

Memory does not grow with the number of pieces: the scan folds them into the fingerprint as it goes
and hands the requests over in a bounded queue of compact records (``RequestQueue``, 32 bytes a
request, at most ``BUFFER_LIMIT``). When the queue is full the scan goes on (the fingerprint is
known as early as the disk can be read) but stops queueing; the requests from that block on are
derived again by a second pass (``Scanner.tail()``), which must find the same pieces (same MD5s)
or fails with :class:`Changed`. The data extents are read from SEEK_DATA/SEEK_HOLE window by
window, never listed whole. The blocks are read and hashed in parallel (hashlib releases the
GIL) by ``workers`` threads, at most ``2 * workers`` blocks ahead.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import struct
import threading
from array import array
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import extents as _extents

PAGE = 512
MAX_PUT = 4 * 1024 * 1024  # Azure's limit for one Put Page request
FP_PREFIX = 'sha256:'
_FP_MAGIC = b'vmimage-fp-v3\0'
BLOCK = MAX_PUT  # pieces and requests never cross a multiple of BLOCK
# Default zero gap merged into one request (bytes; see benchmarks/bench_gap.py for the figures).
MERGE_GAP = 64 * 1024
# Requests the scan may hold for the senders (32 bytes each: 8 MiB at most; more are derived again).
# 1 Mi measured 165 MiB peak RSS on a resume of 1 M pieces (arrays grow by copying), 256 Ki: see
# benchmarks/bench_memory.py.
BUFFER_LIMIT = 1 << 18
# The data extents are asked for (SEEK_DATA/SEEK_HOLE) one window of the file at a time.
EXTENT_WINDOW = 1 << 30
_ZEROS = bytes(MAX_PUT)


class Changed(Exception):
    """The source no longer holds what the scan read."""


class Stopped(Exception):
    """The scan was stopped (``Scanner.stop()``) before it finished."""


def _md5():
    """MD5 as a checksum (Azure's Content-MD5), which FIPS-mode Pythons allow only when told so."""
    try:
        return hashlib.md5(usedforsecurity=False)
    except TypeError:  # Python 3.8
        return hashlib.md5()


def iter_data_extents(fd, size, window=EXTENT_WINDOW):
    """``(offset, length)`` of the data extents of ``fd`` below ``size``, in order, asked for one
    ``window`` at a time (an extent that spans windows comes out in adjacent parts)."""
    for start in range(0, size, window):
        yield from _extents.data_extents(fd, start, min(size, start + window))


def _aligned(extents, size, page=PAGE):
    """Sorted extents widened to whole pages, merged, clamped to ``size``: yields ``(start, end)``."""
    cur = None
    for off, length in extents:
        if length <= 0:
            continue
        s, e = off - off % page, min(-(-(off + length) // page) * page, size)
        if e <= s:
            continue
        if cur is not None and s <= cur[1]:
            cur[1] = max(cur[1], e)
        else:
            if cur is not None:
                yield cur[0], cur[1]
            cur = [s, e]
    if cur is not None:
        yield cur[0], cur[1]


def align_extents(extents, size, page=PAGE):
    """Extents rounded outwards to whole pages, merged, clamped to ``size``: ``[(offset, length)]``."""
    return [(s, e - s) for s, e in _aligned(sorted(extents), size, page)]


def split_ranges(runs, max_len=MAX_PUT):
    """Cut ``(offset, length)`` runs into pieces of at most ``max_len`` bytes."""
    for off, length in runs:
        end = off + length
        while off < end:
            step = min(max_len, end - off)
            yield off, step
            off += step


def subtract_ranges(ranges, present):
    """Parts of ``ranges`` (``(offset, length)``) not covered by ``present`` (``(start, end)``
    inclusive-exclusive pairs, e.g. page ranges already on the blob). Both sorted or not."""
    present = sorted((s, e) for s, e in present if e > s)
    out = []
    i = 0
    for off, length in sorted(ranges):
        start, end = off, off + length
        while i < len(present) and present[i][1] <= start:
            i += 1
        j = i
        while start < end:
            if j >= len(present) or present[j][0] >= end:
                out.append((start, end - start))
                break
            ps, pe = present[j]
            if ps > start:
                out.append((start, ps - start))
            start = max(start, pe)
            j += 1
    return out


def total(ranges):
    return sum(length for _off, length in ranges)


def merge_runs(ranges):
    """Adjacent ``(offset, length)`` ranges (ascending) merged into maximal runs."""
    runs = []
    for off, length in ranges:
        if runs and runs[-1][0] + runs[-1][1] == off:
            runs[-1] = (runs[-1][0], runs[-1][1] + length)
        else:
            runs.append((off, length))
    return runs


def merge_pieces(pieces, merge_gap, block=BLOCK):
    """Group ``(offset, length)`` pieces (ascending) into requests: a piece joins the previous
    request when both lie in the same ``block`` and the zero gap between them is at most
    ``merge_gap``. Yields lists of pieces."""
    group = []
    for off, length in pieces:
        if group:
            last_off, last_len = group[-1]
            if off // block != group[0][0] // block or off - (last_off + last_len) > merge_gap:
                yield group
                group = []
        group.append((off, length))
    if group:
        yield group


class Ranges:
    """Sorted, merged ``(start, end)`` ranges in two ``array('Q')`` (16 bytes a range), e.g. the
    pages a blob already holds; ``covers(start, end)`` is a binary search."""

    def __init__(self, pairs=()):
        self.starts, self.ends = array('Q'), array('Q')
        ordered = True
        for s, e in pairs:
            if e <= s:
                continue
            if self.ends and s < self.starts[-1]:
                ordered = False
            if self.ends and s <= self.ends[-1] and ordered:
                self.ends[-1] = max(self.ends[-1], e)
            else:
                self.starts.append(s)
                self.ends.append(e)
        if not ordered:  # not what the service returns; rebuild from a sorted copy
            pairs = sorted(zip(self.starts, self.ends))
            self.starts, self.ends = array('Q'), array('Q')
            for s, e in pairs:
                if self.ends and s <= self.ends[-1]:
                    self.ends[-1] = max(self.ends[-1], e)
                else:
                    self.starts.append(s)
                    self.ends.append(e)

    def __len__(self):
        return len(self.starts)

    def __iter__(self):
        return zip(self.starts, self.ends)

    def covers(self, start, end):
        """Whether ``[start, end)`` lies inside one range (all of it present)."""
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end


class RequestQueue:
    """FIFO of requests ``(offset, length, data_bytes, md5)`` between the scan and the senders, in
    compact arrays (32 bytes a request), holding at most ``limit``. ``put`` refuses a block's
    requests that do not fit (the scan then stops queueing: see :meth:`Scanner.tail`); ``take``
    waits for the next one and returns None once the queue is closed and empty, or stopped."""

    def __init__(self, limit=BUFFER_LIMIT):
        if limit < 1:
            raise ValueError('limit must be at least 1')
        self.limit = limit
        self.high = 0  # most requests held at once
        self._off, self._len, self._data = array('Q'), array('I'), array('I')
        self._md5 = bytearray()
        self._head = 0
        self._cond = threading.Condition()
        self._closed = self._stopped = False
        self._error = None

    def __len__(self):
        return len(self._off) - self._head

    def put(self, requests):
        """Queue ``requests`` (a block's) if they all fit; return whether they did."""
        with self._cond:
            if len(self) + len(requests) > self.limit:
                return False
            for off, length, data, md5 in requests:
                self._off.append(off)
                self._len.append(length)
                self._data.append(data)
                self._md5 += md5
            self.high = max(self.high, len(self))
            self._cond.notify_all()
            return True

    def close(self, error=None):
        """No more requests will come (``error``: ``take`` raises it once the queue is empty)."""
        with self._cond:
            self._closed = True
            self._error = self._error or error
            self._cond.notify_all()

    def stop(self):
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def take(self):
        with self._cond:
            while not len(self) and not self._closed and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            if not len(self):
                if self._error is not None:
                    raise self._error
                return None
            i = self._head
            item = (self._off[i], self._len[i], self._data[i], bytes(self._md5[16 * i:16 * i + 16]))
            self._head += 1
            if self._head >= 4096 and self._head * 2 >= len(self._off):
                del self._off[:self._head], self._len[:self._head], self._data[:self._head]
                del self._md5[:16 * self._head]
                self._head = 0
            return item


class Plan:
    """Result of a scan: ``size``, ``fingerprint``, ``data_bytes`` (bytes in non-zero pages),
    ``allocated_bytes`` (bytes in data extents), ``md5`` (whole-file MD5 or None), ``piece_count``,
    ``request_count`` and ``request_bytes`` (what a full upload sends, merged zero gaps included),
    ``missing_bytes``/``missing_request_bytes``/``missing_requests`` (the data, request bytes and
    requests not wholly present in ``Scanner.present``; None without it).

    ``pieces`` (``(offset, length, md5)``), ``ranges``, ``runs`` and ``digests()`` exist only for a
    scan that kept them (``keep_pieces``: tools and tests; memory grows with the pieces)."""

    def __init__(self, size, fingerprint, pieces, allocated_bytes, md5=None, counts=None):
        self.size = size
        self.fingerprint = fingerprint
        self.pieces = pieces
        self.allocated_bytes = allocated_bytes
        self.md5 = md5
        counts = counts or {}
        for name in ('data_bytes', 'piece_count', 'request_count', 'request_bytes', 'missing_bytes',
                     'missing_request_bytes', 'missing_requests'):
            setattr(self, name, counts.get(name))
        if pieces is not None:
            self.ranges = [(off, length) for off, length, _md5 in pieces]
            self.runs = merge_runs(self.ranges)
        else:
            self.ranges = self.runs = None

    def digests(self):
        """``{(offset, length): md5}`` of the pieces (a scan with ``keep_pieces`` only)."""
        if self.pieces is None:
            raise ValueError('this scan did not keep its pieces')
        return dict(((off, length), md5) for off, length, md5 in self.pieces)


def _blocks(extents, block):
    """Page-aligned ``(start, end)`` extents grouped by block: yields ``(k, [(offset, length), ...])``."""
    current = None
    for off, end in extents:
        while off < end:
            k = off // block
            step = min(end, (k + 1) * block) - off
            if current is not None and current[0] == k:
                current[1].append((off, step))
            else:
                if current is not None:
                    yield current
                current = (k, [(off, step)])
            off += step
    if current is not None:
        yield current


def _read(fd, length, offset):
    buf = _extents.read_at(fd, length, offset)
    if len(buf) != length:
        raise Changed('short read at offset %d: the source changed while reading' % offset)
    return buf


def _views(bufs, starts, a, b):
    """The bytes ``[a, b)`` of a block as views of the buffers read (``bufs``: ``(offset, bytes)``,
    ascending, ``starts`` their offsets), zeros where nothing was read (holes)."""
    i = max(bisect.bisect_right(starts, a) - 1, 0)
    pos = a
    while pos < b:
        off, buf = bufs[i] if i < len(bufs) else (b, b'')
        if off > pos:
            stop = min(b, off)
            yield memoryview(_ZEROS)[:stop - pos]
            pos = stop
        elif pos < off + len(buf):
            stop = min(b, off + len(buf))
            yield memoryview(buf)[pos - off:stop - off]
            pos = stop
            i += 1
        else:
            i += 1


def _scan_block(fd, segments, merge_gap):
    """Read one block's ``segments``; return ``(pieces, requests)``: pieces ``(offset, length, md5)``,
    requests ``(offset, length, data_bytes, md5)`` (pieces merged across gaps of at most
    ``merge_gap``, the MD5 over the request's bytes, zeros included)."""
    bufs, runs = [], []
    for off, length in segments:
        buf = _read(fd, length, off)
        bufs.append((off, buf))
        for s, e in _extents.nonzero_runs(buf):
            if runs and runs[-1][1] == off + s:
                runs[-1][1] = off + e
            else:
                runs.append([off + s, off + e])
    starts = [off for off, _buf in bufs]
    pieces, requests = [], []
    digests = {}
    for s, e in runs:
        md5 = _md5()
        for view in _views(bufs, starts, s, e):
            md5.update(view)
        digests[s] = md5.digest()
        pieces.append((s, e - s, digests[s]))
    for group in merge_pieces(((s, e - s) for s, e in runs), merge_gap, MAX_PUT):  # all in one block
        start, end = group[0][0], group[-1][0] + group[-1][1]
        if len(group) == 1:
            md5 = digests[start]
        else:
            h = _md5()
            for view in _views(bufs, starts, start, end):
                h.update(view)
            md5 = h.digest()
        requests.append((start, end - start, sum(n for _o, n in group), md5))
    return pieces, requests


def _records(pieces):
    return b''.join(struct.pack('>QQ', off, length) + md5 for off, length, md5 in pieces)


def _ordered(items, func, workers, stop=None):
    """``(key, func(value))`` for ``(key, value)`` items, in order, at most ``2 * workers`` pending;
    raises :class:`Stopped` soon after ``stop`` (an Event) is set."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque()
        try:
            for key, value in items:
                if stop is not None and stop.is_set():
                    raise Stopped()
                if len(pending) >= 2 * workers:
                    k, future = pending.popleft()
                    yield k, future.result()
                pending.append((key, pool.submit(func, value)))
            while pending:
                if stop is not None and stop.is_set():
                    raise Stopped()
                k, future = pending.popleft()
                yield k, future.result()
        finally:
            for _k, future in pending:
                future.cancel()


def file_md5(fd, size, chunk=MAX_PUT, stop=None):
    """MD5 of the whole file, holes included (a pass over every byte)."""
    md5 = _md5()
    for off in range(0, size, chunk):
        if stop is not None and stop.is_set():
            raise Stopped()
        md5.update(_read(fd, min(chunk, size - off), off))
    return md5.digest()


def _identity(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


_IDENTITY_NAMES = ('device', 'inode', 'size', 'modification time', 'change time')


class Scanner:
    """The scan of one source, shared by the decision and the upload.

    ``plan()`` reads the data extents once (``workers`` threads), folds the pieces into the
    fingerprint and queues the requests in ``queue`` (a :class:`RequestQueue` of at most ``limit``)
    for the senders, who may take them while the scan runs; the first block whose requests do not
    fit is ``overflow``, and ``tail()`` derives the requests from there on again. ``present``
    (:class:`Ranges`, set before the scan) makes the plan count what is missing from it.
    ``changed()`` says whether the file changed since the scanner was made (size, times, inode).
    ``extents`` None: asked for from the file system window by window (``iter_data_extents``).
    """

    def __init__(self, fd, size, extents=None, content_md5=False, workers=None, block=BLOCK,
                 merge_gap=MERGE_GAP, limit=BUFFER_LIMIT, keep_pieces=False, path=None):
        if size % PAGE or block % PAGE or not 0 < block <= MAX_PUT or MAX_PUT % block:
            raise ValueError('size and block must be multiples of %d, block a divisor of %d' % (PAGE, MAX_PUT))
        if not 0 <= merge_gap <= MAX_PUT:
            raise ValueError('merge_gap must be between 0 and %d bytes' % MAX_PUT)
        self.fd, self.size, self.block = fd, size, block
        self.path = path
        self._identity = _identity(os.fstat(fd))  # before anything is read
        self._extents = sorted(extents) if extents is not None else None
        self.content_md5 = content_md5
        self.merge_gap = merge_gap
        self.workers = workers or min(4, os.cpu_count() or 1)
        self.keep_pieces = keep_pieces
        self.present = None
        self.queue = RequestQueue(limit) if limit else None
        self.overflow = None  # first block whose requests were not queued
        self.blocks_read = 0
        self._tail = None  # sha256 of the piece records from ``overflow`` on
        self._stop = threading.Event()
        self._plan = None
        self._error = None
        self._lock = threading.Lock()

    def extents(self):
        """Page-aligned ``(start, end)`` data extents, lazily."""
        source = self._extents if self._extents is not None else iter_data_extents(self.fd, self.size)
        return _aligned(source, self.size)

    def _pass(self, start=0, allocated=None):
        """``(k, pieces, requests)`` for every block with data, from block ``start`` on; adds the
        bytes of the extents to ``allocated[0]``."""
        def extents():
            for s, e in self.extents():
                if allocated is not None:
                    allocated[0] += e - s
                yield s, e
        blocks = (item for item in _blocks(extents(), self.block) if item[0] >= start)
        merge_gap = self.merge_gap

        def scan_block(segments):
            return _scan_block(self.fd, segments, merge_gap)
        for k, (pieces, requests) in _ordered(blocks, scan_block, self.workers, self._stop):
            if self._stop.is_set():
                raise Stopped()
            self.blocks_read += 1
            if pieces:
                yield k, pieces, requests

    @property
    def done(self):
        return self._plan is not None

    def stop(self):
        """Stop the scan (and ``take``/``tail``) as soon as possible: the upload failed."""
        self._stop.set()
        if self.queue is not None:
            self.queue.stop()

    def plan(self):
        """The :class:`Plan`, scanning now if that has not happened yet (a failed scan raises its
        error again). Raises :class:`Stopped` when stopped."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._plan is None:
                try:
                    self._plan = self._scan()
                except Exception as exc:
                    self._error = exc
                    if self.queue is not None:
                        self.queue.close(exc)
                    raise
                if self.queue is not None:
                    self.queue.close()
            return self._plan

    def _scan(self):
        fp = hashlib.sha256(_FP_MAGIC + struct.pack('>Q', self.size))
        counts = dict(data_bytes=0, piece_count=0, request_count=0, request_bytes=0)
        present = self.present
        if present is not None:
            counts.update(missing_bytes=0, missing_request_bytes=0, missing_requests=0)
        pieces_kept = [] if self.keep_pieces else None
        allocated = [0]
        for k, pieces, requests in self._pass(0, allocated):
            records = _records(pieces)
            fp.update(records)
            if self.queue is not None and self.overflow is None and not self.queue.put(requests):
                # From here on the senders get the requests from tail(); the scan goes on.
                self.overflow, self._tail = k, hashlib.sha256()
                self.queue.close()
            if self._tail is not None:
                self._tail.update(records)
            counts['piece_count'] += len(pieces)
            counts['data_bytes'] += sum(n for _o, n, _d in pieces)
            counts['request_count'] += len(requests)
            counts['request_bytes'] += sum(n for _o, n, _d, _m in requests)
            if present is not None:
                for off, length, data, _md5 in requests:
                    if not present.covers(off, off + length):
                        counts['missing_bytes'] += data
                        counts['missing_request_bytes'] += length
                        counts['missing_requests'] += 1
            if pieces_kept is not None:
                pieces_kept.extend(pieces)
        md5 = file_md5(self.fd, self.size, stop=self._stop) if self.content_md5 else None
        return Plan(self.size, FP_PREFIX + fp.hexdigest(), pieces_kept, allocated[0], md5, counts)

    def tail(self):
        """The requests of the blocks from ``overflow`` on (none without an overflow), derived by
        reading them again; at the end, raises :class:`Changed` unless their pieces are the ones
        the scan found (waits for the scan to be done)."""
        if self.overflow is None:
            return
        tail = hashlib.sha256()
        for _k, pieces, requests in self._pass(self.overflow):
            tail.update(_records(pieces))
            yield from requests
        self.plan()
        if tail.digest() != self._tail.digest():
            raise Changed('the data from offset %d on differs from what the scan read'
                          % (self.overflow * self.block))

    def changed(self):
        """None if the file looks unchanged since the scanner was made (size, modification and
        change times, inode; and ``path`` still names it), else what changed."""
        now = _identity(os.fstat(self.fd))
        what = [name for name, a, b in zip(_IDENTITY_NAMES, self._identity, now) if a != b]
        if not what and self.path is not None:
            try:
                st = os.stat(self.path)
            except OSError:
                return 'the path no longer exists'
            if (st.st_dev, st.st_ino) != self._identity[:2]:
                return 'the path names another file now'
        return ' and '.join(what) + ' of the file' if what else None


def scan(fd, size, extents, content_md5=False, workers=None, block=BLOCK, merge_gap=MERGE_GAP):
    """Read the data ``extents`` of ``fd`` once (``workers`` threads); return a :class:`Plan` that
    keeps its pieces (for tools and tests: its memory grows with them).

    ``content_md5`` also computes the MD5 of the whole file, holes included, for the blob's
    Content-MD5: an extra sequential pass over the full virtual size.
    """
    return Scanner(fd, size, extents, content_md5, workers, block, merge_gap=merge_gap,
                   limit=None, keep_pieces=True).plan()
