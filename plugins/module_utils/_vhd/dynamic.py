# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this package may change at any time; do not import it from outside
# the collection.
"""Dynamic and differencing VHDs: the ``cxsparse`` header and the block allocation table (BAT).

Enough to recognise and describe them (and read their first blocks); converting them to fixed
VHDs is qemu-img's job.
"""

from __future__ import annotations

import array
import dataclasses
import os
import struct
import sys
import uuid as uuidlib

from .errors import VhdError
from .extents import as_fd, read_at
from .footer import DISK_TYPE_DIFFERENCING, FOOTER_SIZE, NO_DATA_OFFSET, VHD_EPOCH, checksum

HEADER_SIZE = 1024
COOKIE = 'cxsparse'
UNUSED = 0xFFFFFFFF
_LAYOUT = struct.Struct('>8sQQIIII16sI4s512s192s256s')
_LOCATOR = struct.Struct('>4sIIIQ')
_CHECKSUM_OFFSET = 36
_BAT_READ = 1 << 20
_LOCATOR_MAX = 64 * 1024


@dataclasses.dataclass
class ParentLocator:
    platform: str
    data_space: int
    data_length: int
    data_offset: int


@dataclasses.dataclass
class DynamicHeader:
    cookie: str
    data_offset: int
    table_offset: int
    header_version: int
    max_table_entries: int
    block_size: int
    checksum: int
    parent_uuid: uuidlib.UUID
    parent_timestamp: int
    parent_name: str
    locators: list
    computed_checksum: int

    @classmethod
    def unpack(cls, buf):
        buf = bytes(buf)
        if len(buf) != HEADER_SIZE:
            raise VhdError('truncated', 'A dynamic VHD header is %d bytes, got %d: the file is truncated.' % (HEADER_SIZE, len(buf)))
        f = _LAYOUT.unpack(buf)
        locators = []
        for i in range(8):
            code, space, length, _reserved, offset = _LOCATOR.unpack_from(f[11], i * _LOCATOR.size)
            if code != bytes(4):
                locators.append(ParentLocator(code.decode('latin-1'), space, length, offset))
        name = f[10].decode('utf-16-be', 'replace').split('\0', 1)[0]
        return cls(f[0].decode('latin-1'), f[1], f[2], f[3], f[4], f[5], f[6], uuidlib.UUID(bytes=f[7]), f[8],
                   name, locators, checksum(buf, _CHECKSUM_OFFSET))

    @property
    def checksum_ok(self):
        return self.checksum == self.computed_checksum

    @property
    def bitmap_size(self):
        """Bytes of the sector bitmap in front of each block, rounded to a sector."""
        return -(-(self.block_size // 512) // 8 // 512) * 512

    def as_dict(self):
        return {
            'cookie': self.cookie,
            'table_offset': self.table_offset,
            'header_version': '%d.%d' % (self.header_version >> 16, self.header_version & 0xFFFF),
            'max_table_entries': self.max_table_entries,
            'block_size': self.block_size,
            'checksum_ok': self.checksum_ok,
        }


def _bat(fd, header, file_size):
    """Yield the BAT entries (sector offsets), reading at most 1 MiB at a time."""
    count = header.max_table_entries
    end = header.table_offset + count * 4
    if end > file_size:
        raise VhdError('truncated', 'The block allocation table ends at byte %d but the file has %d bytes: the file is '
                       'truncated; copy or export it again.' % (end, file_size))
    pos = header.table_offset
    while pos < end:
        raw = read_at(fd, min(_BAT_READ, end - pos), pos)
        entries = array.array('I', raw)
        if sys.byteorder == 'little':
            entries.byteswap()
        yield from entries
        pos += len(raw)


def read_header(fd, footer, file_size=None):
    """The ``cxsparse`` header at ``footer.data_offset``."""
    fd = as_fd(fd)
    file_size = os.fstat(fd).st_size if file_size is None else file_size
    off = footer.data_offset
    if off == NO_DATA_OFFSET or off + HEADER_SIZE > file_size:
        raise VhdError('truncated', 'The dynamic VHD header at byte %d lies beyond the end of the file (%d bytes): the '
                       'file is truncated; copy or export it again.' % (off, file_size))
    header = DynamicHeader.unpack(read_at(fd, HEADER_SIZE, off))
    if header.cookie != COOKIE:
        raise VhdError('bad_cookie', 'No dynamic VHD header (cookie %r instead of %r) at byte %d: the file is damaged; '
                       'export it again.' % (header.cookie, COOKIE, off))
    if header.block_size < 512 or header.block_size % 512:
        raise VhdError('bad_header', 'The dynamic VHD header gives a block size of %d bytes: the file is damaged.' % header.block_size)
    return header


def _parent_path(fd, loc, file_size):
    if loc.data_offset + loc.data_length > file_size or loc.data_length > _LOCATOR_MAX:
        return None
    raw = read_at(fd, loc.data_length, loc.data_offset)
    encoding = {'W2ku': 'utf-16-le', 'W2ru': 'utf-16-le', 'MacX': 'utf-8'}.get(loc.platform)
    return raw.decode(encoding, 'replace').rstrip('\0') if encoding else None


def read_dynamic(fd, footer, file_size=None):
    """Describe a dynamic or differencing VHD: header fields, allocated blocks, parent.

    Raises ``VhdError`` (``truncated``, ``bad_cookie``, ``bad_header``) when the structures are
    missing or point beyond the end of the file.
    """
    fd = as_fd(fd)
    file_size = os.fstat(fd).st_size if file_size is None else file_size
    header = read_header(fd, footer, file_size)
    per_block = header.bitmap_size + header.block_size
    allocated, data_end = 0, 0
    for entry in _bat(fd, header, file_size):
        if entry != UNUSED:
            allocated += 1
            data_end = max(data_end, entry * 512 + per_block)
    if data_end > file_size - FOOTER_SIZE:
        raise VhdError('truncated', 'Data blocks end at byte %d but the file has %d bytes (plus a 512-byte footer): the '
                       'file is truncated; copy or export it again.' % (data_end, file_size))
    result = header.as_dict()
    result.update(allocated_blocks=allocated, allocated_bytes=allocated * header.block_size, data_end=data_end)
    if footer.disk_type == DISK_TYPE_DIFFERENCING:
        result['parent'] = {
            'uuid': str(header.parent_uuid),
            'name': header.parent_name,
            'timestamp': header.parent_timestamp,
            'timestamp_unix': VHD_EPOCH + header.parent_timestamp,
            'locators': [{'platform': loc.platform, 'path': _parent_path(fd, loc, file_size)} for loc in header.locators],
        }
    return result


def read_virtual(fd, header, offset, length):
    """Read ``length`` bytes of disk data at virtual ``offset`` of a dynamic VHD.

    Unallocated blocks read as zeros (for a differencing disk they would come from the parent, so
    callers should not use this on one). Reads only the BAT entries it needs.
    """
    fd = as_fd(fd)
    out = bytearray()
    while length > 0:
        block, within = divmod(offset, header.block_size)
        n = min(length, header.block_size - within)
        if block >= header.max_table_entries:
            break
        raw = read_at(fd, 4, header.table_offset + block * 4)
        entry = struct.unpack('>I', raw)[0] if len(raw) == 4 else UNUSED
        if entry == UNUSED:
            out += bytes(n)
        else:
            data = read_at(fd, n, entry * 512 + header.bitmap_size + within)
            out += data + bytes(n - len(data))
        offset, length = offset + n, length - n
    return bytes(out)
