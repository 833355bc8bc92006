# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Upload planning: which byte ranges of a fixed VHD carry data, and the source fingerprint.

Pure Python (no third-party imports), unit-tested without Azure.

Fingerprint (``vmimage-fp-v1``), a content identity that does not depend on how the file system
stores the file (a copy whose holes were filled with zeros has the same fingerprint)::

    h = sha256(b"vmimage-fp-v1\\0" + size as 8-byte big-endian)
    for each maximal run [start, end) of non-zero 512-byte pages, in ascending order:
        h.update(the run's bytes)
        h.update(start and end - start, each as 8-byte big-endian)
    fingerprint = "sha256:" + h.hexdigest()

The scan that computes it reads the data extents once and, as a by-product, yields the upload
plan (the same runs cut into pieces of at most 4 MiB). The upload then reads only those pieces
again, so a sparse image costs two reads of its data, a dense one two reads of the file; the
first pass is needed because the idempotence decision must be made before anything is sent.
"""

from __future__ import annotations

import hashlib
import os
import struct

PAGE = 512
MAX_PUT = 4 * 1024 * 1024  # Azure's limit for one Put Page request
FP_PREFIX = 'sha256:'
_FP_MAGIC = b'vmimage-fp-v1\0'
_BLOCK = 64 * 1024
_ZERO_PAGE = bytes(PAGE)
_ZERO_BLOCK = bytes(_BLOCK)
_ZERO_CHUNK = bytes(MAX_PUT)


def align_extents(extents, size, page=PAGE):
    """Round extents outwards to whole pages, clamp them to ``size`` and merge overlaps."""
    out = []
    for off, length in sorted(extents):
        start = max(0, off - off % page)
        end = min(size, -(-(off + length) // page) * page)
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e - s) for s, e in out]


def nonzero_runs(buf, page=PAGE):
    """Yield ``(start, end)`` offsets in ``buf`` of maximal runs of non-zero pages.

    ``len(buf)`` must be a multiple of ``page``.
    """
    n = len(buf)
    if page == PAGE and n <= MAX_PUT and buf == _ZERO_CHUNK[:n]:
        return
    if buf.find(bytes(page)) < 0:  # not even an unaligned zero page: one run
        yield 0, n
        return
    run = None
    zero_page = _ZERO_PAGE if page == PAGE else bytes(page)
    for bstart in range(0, n, _BLOCK):
        block = buf[bstart:bstart + _BLOCK]
        if block == _ZERO_BLOCK[:len(block)]:
            pages = ()
            if run is not None:
                yield run, bstart
                run = None
        elif block.find(zero_page) < 0:
            pages = ()
            if run is None:
                run = bstart
        else:
            pages = range(0, len(block), page)
        for p in pages:
            nonzero = block[p:p + page] != zero_page
            if nonzero and run is None:
                run = bstart + p
            elif not nonzero and run is not None:
                yield run, bstart + p
                run = None
    if run is not None:
        yield run, n


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


def scan(fd, size, extents, content_md5=False, chunk=MAX_PUT):
    """Read the data ``extents`` of ``fd`` once; return a :class:`Plan`.

    ``content_md5`` also hashes the whole file, holes included, with MD5 (for the blob's
    Content-MD5): it costs an MD5 pass over the full virtual size.
    """
    if size % PAGE or chunk % PAGE:
        raise ValueError('size and chunk must be multiples of %d' % PAGE)
    extents = align_extents(extents, size)
    fp = hashlib.sha256(_FP_MAGIC + struct.pack('>Q', size))
    md5 = hashlib.md5() if content_md5 else None
    runs = []
    cur = None  # [start, end] of the open run
    pos = 0

    def close():
        fp.update(struct.pack('>QQ', cur[0], cur[1] - cur[0]))
        runs.append((cur[0], cur[1] - cur[0]))

    def zeros(n):
        while n > 0:
            step = min(n, len(_ZERO_CHUNK))
            md5.update(_ZERO_CHUNK[:step])
            n -= step

    for ext_off, ext_len in extents:
        if md5 is not None:
            zeros(ext_off - pos)
        off, end = ext_off, ext_off + ext_len
        while off < end:
            n = min(chunk - off % chunk, end - off)
            buf = os.pread(fd, n, off)
            if len(buf) != n:
                raise IOError('short read at offset %d: the source changed while reading' % off)
            if md5 is not None:
                md5.update(buf)
            for s, e in nonzero_runs(buf):
                if cur is not None and cur[1] == off + s:
                    cur[1] = off + e
                else:
                    if cur is not None:
                        close()
                    cur = [off + s, off + e]
                fp.update(buf[s:e])
            off += n
        pos = end
    if cur is not None:
        close()
    if md5 is not None:
        zeros(size - pos)
    return Plan(size, FP_PREFIX + fp.hexdigest(), runs, total(extents),
                md5.digest() if md5 is not None else None)
