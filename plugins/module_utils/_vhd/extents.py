# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this package may change at any time; do not import it from outside
# the collection.
"""Where a file holds data: SEEK_DATA/SEEK_HOLE extents, then non-zero 512-byte pages inside them.

``nonzero_ranges`` (data_bytes of an image) never reads holes; ``page_aligned`` and ``nonzero_runs``
are shared with the upload planner, which never sends pages of zeros. Reads are bounded by
``read_size``.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import typing as t

from .errors import VhdError

PAGE = 512
MAX_RANGE = 4 * 1024 * 1024
_MAX_OFFSET = (1 << 63) - 1


def as_fd(fd):
    """Accept an int file descriptor or an object with ``fileno()``."""
    return fd if isinstance(fd, int) else fd.fileno()


def read_at(fd, length, offset):
    """Read up to ``length`` bytes at ``offset`` (fewer only at end of file; none at an offset no
    file can reach, such as one read from a damaged or crafted header)."""
    fd = as_fd(fd)
    if offset < 0 or offset + length > _MAX_OFFSET:
        return b''
    parts = []
    while length > 0:
        try:
            chunk = os.pread(fd, length, offset)
        except OSError as e:
            raise VhdError('io_error', 'Cannot read %d bytes at offset %d: %s.' % (length, offset, e.strerror)) from None
        if not chunk:
            break
        parts.append(chunk)
        length -= len(chunk)
        offset += len(chunk)
    return parts[0] if len(parts) == 1 else b''.join(parts)


def data_extents(fd, start=0, end=None):
    """``[(offset, length)]`` of the parts of ``[start, end)`` the file system says hold data.

    Uses SEEK_DATA/SEEK_HOLE; when the platform or file system cannot tell, the whole range is one
    extent. The file position is restored afterwards.
    """
    fd = as_fd(fd)
    if end is None:
        end = os.fstat(fd).st_size
    if start >= end:
        return []
    seek_data, seek_hole = getattr(os, 'SEEK_DATA', None), getattr(os, 'SEEK_HOLE', None)
    if seek_data is None or seek_hole is None:
        return [(start, end - start)]
    saved = os.lseek(fd, 0, os.SEEK_CUR)
    extents = []
    pos = start
    try:
        while pos < end:
            try:
                data = os.lseek(fd, pos, seek_data)
            except OSError as e:
                if e.errno == errno.ENXIO:  # no data after pos
                    break
                if e.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP) and pos == start:
                    return [(start, end - start)]
                raise VhdError('io_error', 'Cannot map the data of the file: %s.' % e.strerror) from None
            if data >= end:
                break
            try:
                hole = os.lseek(fd, data, seek_hole)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise VhdError('io_error', 'Cannot map the holes of the file: %s.' % e.strerror) from None
                hole = end
            hole = end if hole <= data else min(hole, end)
            extents.append((data, hole - data))
            pos = hole
    finally:
        os.lseek(fd, saved, os.SEEK_SET)
    return extents


_ZEROS = bytes(MAX_RANGE)


def page_aligned(extents, page=PAGE):
    """Sorted, merged extents widened to whole pages, as ``[start, end]`` pairs."""
    out = []
    for off, length in sorted(extents):
        if length <= 0:
            continue
        s, e = off - off % page, -(-(off + length) // page) * page
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def nonzero_runs(buf, page=PAGE, zeros=None):
    """``(start, stop)`` of the runs of pages of ``buf`` that are not all zero.

    ``buf`` starts on a page boundary; ``zeros`` is a zero buffer at least as long as ``buf``
    (default: one is made). Dense
    data costs one ``find`` of a zero page; a zero run is measured by galloping comparisons.
    """
    n = len(buf)
    if zeros is None or len(zeros) < n:
        zeros = _ZEROS if n <= len(_ZEROS) else bytes(n)
    zpage = zeros[:page]
    run = search = 0
    while True:
        p = buf.find(zpage, search)
        if p < 0:
            break
        a = -(-p // page) * page
        if a + page > n:
            break
        if buf[a:a + page] != zpage:
            search = a
            continue
        z, k = a + page, page
        while z + k <= n and buf[z:z + k] == zeros[:k]:
            z, k = z + k, k * 2
        while k > page:
            k //= 2
            if z + k <= n and buf[z:z + k] == zeros[:k]:
                z += k
        if a > run:
            yield run, a
        run = search = z
    if n > run:
        yield run, n


def _check_args(page, max_len, read_size):
    if page <= 0 or max_len < page or max_len % page or read_size < page or read_size % page:
        raise VhdError('invalid_argument', 'page (%r) must be positive and divide max_len (%r) and read_size (%r).'
                       % (page, max_len, read_size))


def _segments(fd, extents, page, max_len, read_size):
    """``(offset, buf, start, stop)``: ``buf[start:stop]`` is a run of non-zero pages at ``offset``.

    Pieces are read so that none crosses a multiple of ``max_len``.
    """
    _check_args(page, max_len, read_size)
    fd = as_fd(fd)
    zeros = bytes(min(read_size, max_len))
    for s, e in page_aligned(extents, page):
        pos = s
        while pos < e:
            stop = min(e, (pos // max_len + 1) * max_len, pos + read_size)
            buf = read_at(fd, stop - pos, pos)
            if not buf:
                break
            if len(buf) != len(zeros) or buf != zeros:
                for a, b in nonzero_runs(buf, page, zeros):
                    yield pos + a, buf, a, b
            pos += len(buf)
            if pos < stop:  # end of file
                break


def _merged(segments, max_len):
    """Group contiguous segments within one ``max_len`` cell."""
    group = []
    for seg in segments:
        if group:
            last = group[-1]
            end = last[0] + last[3] - last[2]
            if seg[0] != end or seg[0] % max_len == 0:
                yield group
                group = []
        group.append(seg)
    if group:
        yield group


def nonzero_ranges(fd, extents, page=PAGE, max_len=MAX_RANGE, read_size=MAX_RANGE):
    """Yield ``(offset, length)`` of the non-zero pages inside ``extents``, merged.

    Ranges are page-aligned (only a file's last partial page can end a range early), at most
    ``max_len`` long, and never cross a multiple of ``max_len``, so dense data comes out as aligned
    ``max_len`` ranges. At most ``read_size`` bytes are held at a time.
    """
    for group in _merged(_segments(fd, extents, page, max_len, read_size), max_len):
        yield group[0][0], sum(seg[3] - seg[2] for seg in group)


@dataclasses.dataclass
class ExtentMap:
    """What a file holds: extents from SEEK_DATA, their byte count and (optionally) the non-zero bytes."""

    extents: t.List[t.Tuple[int, int]]
    allocated_bytes: int
    data_bytes: t.Optional[int] = None

    @classmethod
    def scan(cls, fd, start=0, end=None, scan_data=True, page=PAGE):
        extents = data_extents(fd, start, end)
        allocated = sum(length for _off, length in extents)
        data = sum(length for _off, length in nonzero_ranges(fd, extents, page)) if scan_data else None
        return cls(extents, allocated, data)
