# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Upload planning: which byte ranges of a fixed VHD carry data, and the source fingerprint.

Pure Python (no third-party imports; zero-page detection is the VHD core's), unit-tested without Azure.

Pieces: the maximal runs of non-zero 512-byte pages, cut at every multiple of 4 MiB (so no piece
crosses one, and each is at most 4 MiB: one Put Page request). They depend on the content only.

Fingerprint (``vmimage-fp-v3``), a content identity that does not depend on how the file system
stores the file (a copy whose holes were filled with zeros has the same fingerprint)::

    fingerprint = "sha256:" + sha256(b"vmimage-fp-v3\0" + size as 8-byte big-endian
                                     + for each piece, in order: its offset and length as 8-byte
                                       big-endian + md5(the piece's bytes) (16 bytes))

Every data byte is hashed once, with MD5, and that digest is also the piece's Content-MD5 when it
is sent (the service checks it: a source that changed after the scan is refused, not uploaded).
The pieces of one 4 MiB block do not depend on other blocks, so blocks are read and hashed in
parallel (hashlib releases the GIL) and the scan runs on every core. The scan reads the data
extents once and yields the pieces (offset, length, md5) as it goes; the upload reads each piece
again (usually from the page cache), because the idempotence decision may need the fingerprint
before anything is sent. ``vmimage-fp-v2`` fingerprints of earlier versions simply differ.
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
_FP_MAGIC = b'vmimage-fp-v3\0'
BLOCK = MAX_PUT  # pieces never cross a multiple of BLOCK


def _md5():
    """MD5 as a checksum (Azure's Content-MD5), which FIPS-mode Pythons allow only when told so."""
    try:
        return hashlib.md5(usedforsecurity=False)
    except TypeError:  # Python 3.8
        return hashlib.md5()


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


class Plan:
    """Result of :func:`scan`: ``size``, ``fingerprint``, ``pieces`` (``(offset, length, md5)``:
    the non-zero runs cut at multiples of 4 MiB, with the MD5 digest of their bytes), ``ranges``
    (the pieces' ``(offset, length)``), ``runs`` (maximal non-zero runs), ``data_bytes`` (bytes in
    non-zero pages), ``allocated_bytes`` (bytes in data extents) and ``md5`` (whole-file MD5 or None)."""

    def __init__(self, size, fingerprint, pieces, allocated_bytes, md5=None):
        self.size = size
        self.fingerprint = fingerprint
        self.pieces = pieces
        self.ranges = [(off, length) for off, length, _md5 in pieces]
        self.runs = merge_runs(self.ranges)
        self.data_bytes = total(self.ranges)
        self.allocated_bytes = allocated_bytes
        self.md5 = md5

    def digests(self):
        """``{(offset, length): md5}`` of the pieces."""
        return dict(((off, length), md5) for off, length, md5 in self.pieces)


class _BlockHasher:
    """Feeds page-aligned pieces of one block in ascending order; records the non-zero runs with
    the MD5 of their bytes."""

    def __init__(self):
        self.pieces = []
        self._open = None  # [start, end, md5] of the run being hashed

    def _close(self):
        start, end, md5 = self._open
        self.pieces.append((start, end - start, md5.digest()))
        self._open = None

    def feed(self, offset, buf):
        view = memoryview(buf)
        for s, e in _extents.nonzero_runs(buf):
            if self._open is not None and self._open[1] == offset + s:
                self._open[1] = offset + e
            else:
                if self._open is not None:
                    self._close()
                self._open = [offset + s, offset + e, _md5()]
            self._open[2].update(view[s:e])

    def finish(self):
        if self._open is not None:
            self._close()
        return self.pieces


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
    buf = _extents.read_at(fd, length, offset)
    if len(buf) != length:
        raise IOError('short read at offset %d: the source changed while reading' % offset)
    return buf


def _scan_block(fd, segments):
    hasher = _BlockHasher()
    for off, length in segments:
        hasher.feed(off, _read(fd, length, off))
    return hasher.finish()


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
    md5 = _md5()
    for off in range(0, size, chunk):
        md5.update(_read(fd, min(chunk, size - off), off))
    return md5.digest()


class Scanner:
    """The scan, step by step: ``blocks()`` yields ``(k, pieces)`` (``(offset, length, md5)``) for
    every 4 MiB block with data while it folds them into the fingerprint; afterwards ``plan()``
    returns the :class:`Plan`. The upload can consume ``blocks()`` directly, so that scanning and
    sending overlap."""

    def __init__(self, fd, size, extents, content_md5=False, workers=None, block=BLOCK):
        if size % PAGE or block % PAGE or not 0 < block <= MAX_PUT:
            raise ValueError('size and block must be multiples of %d, block at most %d' % (PAGE, MAX_PUT))
        self.fd, self.size, self.block = fd, size, block
        self.extents = align_extents(extents, size)
        self.content_md5 = content_md5
        self.workers = workers or min(4, os.cpu_count() or 1)
        self._fp = hashlib.sha256(_FP_MAGIC + struct.pack('>Q', size))
        self._pieces = []
        self._plan = None

    def blocks(self):
        blocks = _blocks(self.extents, self.block)
        for k, pieces in _ordered(blocks, lambda segments: _scan_block(self.fd, segments), self.workers):
            if not pieces:
                continue
            self._fp.update(b''.join(struct.pack('>QQ', off, length) + md5 for off, length, md5 in pieces))
            self._pieces.extend(pieces)
            yield k, pieces
        self._plan = Plan(self.size, FP_PREFIX + self._fp.hexdigest(), self._pieces, total(self.extents),
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
