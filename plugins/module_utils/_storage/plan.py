# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Upload planning: which byte ranges of a fixed VHD carry data, and the source fingerprint.

Pure Python (no third-party imports; zero-page detection is the VHD core's), unit-tested without Azure.

Fingerprint (``vmimage-fp-v2``), a content identity that does not depend on how the file system
stores the file (a copy whose holes were filled with zeros has the same fingerprint). The disk is
cut into 4 MiB blocks (block k = bytes [k * 4 MiB, min((k + 1) * 4 MiB, size))); for every block
holding at least one non-zero 512-byte page::

    leaf(k) = sha256(for each maximal run of non-zero pages inside block k, in order:
                     the run's bytes, then its offset and length as 8-byte big-endian)
    fingerprint = "sha256:" + sha256(b"vmimage-fp-v2\0" + size as 8-byte big-endian
                                     + for each such block, in order: k as 8-byte big-endian + leaf(k))

Blocks are hashed in parallel (hashlib releases the GIL), so the scan runs on every core. The scan
reads the data extents once and, as a by-product, yields the upload plan (the non-zero runs cut
into pieces of at most 4 MiB). The upload reads only those pieces again: two reads of the data,
because the idempotence decision must be made before anything is sent.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import extents as _extents

PAGE = 512
MAX_PUT = 4 * 1024 * 1024  # Azure's limit for one Put Page request
FP_PREFIX = 'sha256:'
_FP_MAGIC = b'vmimage-fp-v2\0'
BLOCK = MAX_PUT  # fingerprint leaf size


def align_extents(extents, size, page=PAGE):
    """Extents rounded outwards to whole pages, merged, clamped to ``size``: ``[(offset, length)]``."""
    return [(s, min(e, size) - s) for s, e in _extents.page_aligned(extents, page) if min(e, size) > s]


def split_ranges(runs, max_len=MAX_PUT):
    """Cut ``(offset, length)`` runs into pieces of at most ``max_len`` bytes."""
    for off, length in runs:
        end = off + length
        while off < end:
            step = min(max_len, end - off)
            yield off, step
            off += step


def merge_split(runs, max_len=MAX_PUT):
    """Like ``split_ranges`` over ``runs`` (ascending) whose adjacent members are first merged,
    but streaming: pieces come out as soon as they are known."""
    start = end = None
    for off, length in runs:
        if start is not None and off == end:
            end += length
        else:
            if start is not None:
                yield from split_ranges([(start, end - start)], max_len)
            start, end = off, off + length
        while end - start >= max_len:  # a full piece never changes: hand it out now
            yield start, max_len
            start += max_len
    if start is not None and end > start:
        yield from split_ranges([(start, end - start)], max_len)


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


class Plan:
    """Result of :func:`scan`: ``size``, ``fingerprint``, ``runs`` (maximal non-zero runs),
    ``ranges`` (runs cut to 4 MiB), ``data_bytes`` (bytes in non-zero pages),
    ``allocated_bytes`` (bytes in data extents) and ``md5`` (whole-file MD5 or None)."""

    def __init__(self, size, fingerprint, runs, allocated_bytes, md5=None, max_put=MAX_PUT):
        self.size = size
        self.fingerprint = fingerprint
        self.runs = runs
        self.ranges = list(split_ranges(runs, max_put))
        self.data_bytes = total(runs)
        self.allocated_bytes = allocated_bytes
        self.md5 = md5


class _RunHasher:
    """Feeds page-aligned pieces of one block in ascending order; hashes and records the non-zero runs."""

    def __init__(self):
        self.hash = None
        self.runs = []
        self._open = None  # [start, end] of the run being hashed

    def _close(self):
        start, end = self._open
        self.hash.update(struct.pack('>QQ', start, end - start))
        self.runs.append((start, end - start))
        self._open = None

    def feed(self, offset, buf):
        for s, e in _extents.nonzero_runs(buf):
            if self._open is not None and self._open[1] == offset + s:
                self._open[1] = offset + e
            else:
                if self._open is not None:
                    self._close()
                if self.hash is None:
                    self.hash = hashlib.sha256()
                self._open = [offset + s, offset + e]
            self.hash.update(buf[s:e])

    def finish(self):
        if self._open is not None:
            self._close()
        return self.hash.digest() if self.hash is not None else None


def _blocks(extents, block):
    """Page-aligned extents grouped by fingerprint block: yields ``(k, [(offset, length), ...])``."""
    current = None
    for off, length in extents:
        end = off + length
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
    buf = os.pread(fd, length, offset)
    if len(buf) != length:
        raise IOError('short read at offset %d: the source changed while reading' % offset)
    return buf


def _scan_block(fd, segments):
    hasher = _RunHasher()
    for off, length in segments:
        hasher.feed(off, _read(fd, length, off))
    return hasher.finish(), hasher.runs


def _ordered(items, func, workers):
    """``(key, func(value))`` for ``(key, value)`` items, in order, at most ``2 * workers`` pending."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque()
        for key, value in items:
            if len(pending) >= 2 * workers:
                k, future = pending.popleft()
                yield k, future.result()
            pending.append((key, pool.submit(func, value)))
        while pending:
            k, future = pending.popleft()
            yield k, future.result()


def file_md5(fd, size, chunk=MAX_PUT):
    """MD5 of the whole file, holes included (a pass over every byte)."""
    md5 = hashlib.md5()
    for off in range(0, size, chunk):
        md5.update(_read(fd, min(chunk, size - off), off))
    return md5.digest()


class Scanner:
    """The scan, step by step: ``blocks()`` yields ``(k, runs)`` for every block with data while it
    folds them into the fingerprint; afterwards ``plan()`` returns the :class:`Plan`. The upload
    can consume ``blocks()`` directly, so that scanning and sending overlap."""

    def __init__(self, fd, size, extents, content_md5=False, workers=None, block=BLOCK):
        if size % PAGE or block % PAGE:
            raise ValueError('size and block must be multiples of %d' % PAGE)
        self.fd, self.size, self.block = fd, size, block
        self.extents = align_extents(extents, size)
        self.content_md5 = content_md5
        self.workers = workers or min(4, os.cpu_count() or 1)
        self._fp = hashlib.sha256(_FP_MAGIC + struct.pack('>Q', size))
        self._runs = []
        self._plan = None

    def blocks(self):
        blocks = _blocks(self.extents, self.block)
        for k, (leaf, block_runs) in _ordered(blocks, lambda segments: _scan_block(self.fd, segments), self.workers):
            if leaf is None:
                continue
            self._fp.update(struct.pack('>Q', k) + leaf)
            runs = self._runs
            for off, length in block_runs:
                if runs and runs[-1][0] + runs[-1][1] == off:  # a run that crosses a block boundary
                    runs[-1] = (runs[-1][0], runs[-1][1] + length)
                else:
                    runs.append((off, length))
            yield k, block_runs
        self._plan = Plan(self.size, FP_PREFIX + self._fp.hexdigest(), self._runs, total(self.extents),
                          file_md5(self.fd, self.size) if self.content_md5 else None)

    @property
    def done(self):
        return self._plan is not None

    def plan(self):
        """The :class:`Plan` (scanning whatever ``blocks()`` has not been asked for yet)."""
        if self._plan is None:
            for _block in self.blocks():
                pass
        return self._plan


def scan(fd, size, extents, content_md5=False, workers=None, block=BLOCK):
    """Read the data ``extents`` of ``fd`` once (``workers`` threads); return a :class:`Plan`.

    ``content_md5`` also computes the MD5 of the whole file, holes included, for the blob's
    Content-MD5: an extra sequential pass over the full virtual size.
    """
    return Scanner(fd, size, extents, content_md5, workers, block).plan()
