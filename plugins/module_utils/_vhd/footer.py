# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this package may change at any time; do not import it from outside
# the collection.
"""The 512-byte VHD footer (Microsoft Virtual Hard Disk Image Format Specification)."""

from __future__ import annotations

import dataclasses
import datetime
import os
import struct
import time
import uuid as uuidlib

from .errors import VhdError
from .extents import as_fd, read_at

FOOTER_SIZE = 512
COOKIE = 'conectix'
FEATURES_RESERVED = 0x2
VERSION = 0x00010000
NO_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
DISK_TYPE_FIXED = 2
DISK_TYPE_DYNAMIC = 3
DISK_TYPE_DIFFERENCING = 4
DISK_TYPE_NAMES = {0: 'none', 2: 'fixed', 3: 'dynamic', 4: 'differencing'}
MAX_CHS_SECTORS = 65535 * 16 * 255
# Hyper-V's creator: qemu, Hyper-V and Azure all take the size from current_size for it.
CREATOR_APP = 'win '
CREATOR_VERSION = 0x000A0000
CREATOR_HOST_OS = 'Wi2k'
MAX_CHS = (65535, 16, 255)
# Creators whose footer qemu sizes by current_size; for any other creator it multiplies out the
# CHS geometry, unless that geometry is the maximum (qemu's block/vpc.c).
QEMU_CURRENT_SIZE_CREATORS = ('win ', 'qem2', 'd2v ', 'tap\0', 'CTXS')
VHD_EPOCH = 946684800  # 2000-01-01T00:00:00Z as a Unix time

_LAYOUT = struct.Struct('>8sIIQI4sI4sQQHBBII16sB427s')
_CHECKSUM_OFFSET = 64


def chs_geometry(size):
    """Return ``(cylinders, heads, sectors_per_track)`` for a disk of ``size`` bytes (spec appendix)."""
    total = min(size // 512, MAX_CHS_SECTORS)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = total // spt
    else:
        spt = 17
        cth = total // spt
        heads = max((cth + 1023) // 1024, 4)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = total // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = total // spt
    return cth // heads, heads, spt


def checksum(buf, offset=_CHECKSUM_OFFSET):
    """One's complement of the byte sum of ``buf``, the 4 bytes at ``offset`` counted as zero."""
    total = sum(buf) - sum(buf[offset:offset + 4])
    return ~total & 0xFFFFFFFF


def _text(raw):
    return raw.decode('latin-1')


@dataclasses.dataclass
class Footer:
    cookie: str = COOKIE
    features: int = FEATURES_RESERVED
    version: int = VERSION
    data_offset: int = NO_DATA_OFFSET
    timestamp: int = 0
    creator_app: str = CREATOR_APP
    creator_version: int = CREATOR_VERSION
    creator_host_os: str = CREATOR_HOST_OS
    original_size: int = 0
    current_size: int = 0
    cylinders: int = 0
    heads: int = 0
    sectors: int = 0
    disk_type: int = DISK_TYPE_FIXED
    checksum: int = 0
    uuid: uuidlib.UUID = dataclasses.field(default_factory=uuidlib.uuid4)
    saved_state: int = 0
    reserved: bytes = dataclasses.field(default=bytes(427), repr=False)

    @classmethod
    def unpack(cls, buf):
        """Parse 512 bytes (511 for the legacy footer: a zero byte is appended)."""
        buf = bytes(buf)
        if len(buf) == FOOTER_SIZE - 1:
            buf += b'\0'
        if len(buf) != FOOTER_SIZE:
            raise VhdError('truncated', 'A VHD footer is 512 bytes, got %d: the file is truncated.' % len(buf))
        f = _LAYOUT.unpack(buf)
        return cls(cookie=_text(f[0]), features=f[1], version=f[2], data_offset=f[3], timestamp=f[4],
                   creator_app=_text(f[5]), creator_version=f[6], creator_host_os=_text(f[7]),
                   original_size=f[8], current_size=f[9], cylinders=f[10], heads=f[11], sectors=f[12],
                   disk_type=f[13], checksum=f[14], uuid=uuidlib.UUID(bytes=f[15]), saved_state=f[16],
                   reserved=f[17])

    def _pack(self, checksum_value):
        try:
            return _LAYOUT.pack(
                self.cookie.encode('latin-1'), self.features, self.version, self.data_offset, self.timestamp,
                self.creator_app.encode('latin-1'), self.creator_version, self.creator_host_os.encode('latin-1'),
                self.original_size, self.current_size, self.cylinders, self.heads, self.sectors,
                self.disk_type, checksum_value, self.uuid.bytes, self.saved_state, self.reserved)
        except (struct.error, UnicodeEncodeError, AttributeError) as e:
            raise VhdError('invalid_footer', 'Cannot encode the VHD footer: %s.' % e) from None

    def pack(self):
        """The 512 footer bytes with a freshly computed checksum (``self.checksum`` is left alone)."""
        raw = bytearray(self._pack(0))
        raw[_CHECKSUM_OFFSET:_CHECKSUM_OFFSET + 4] = struct.pack('>I', checksum(raw))
        return bytes(raw)

    @property
    def computed_checksum(self):
        return checksum(self._pack(0))

    @property
    def checksum_ok(self):
        return self.checksum == self.computed_checksum

    @property
    def cookie_ok(self):
        return self.cookie == COOKIE

    @property
    def qemu_size(self):
        """The virtual size qemu reads from this footer (Azure and Hyper-V read current_size)."""
        chs = (self.cylinders, self.heads, self.sectors)
        if self.creator_app in QEMU_CURRENT_SIZE_CREATORS or chs == MAX_CHS:
            return self.current_size
        return self.cylinders * self.heads * self.sectors * 512

    @property
    def disk_type_name(self):
        return DISK_TYPE_NAMES.get(self.disk_type, 'unknown')

    def as_dict(self):
        ts = datetime.datetime.fromtimestamp(VHD_EPOCH + self.timestamp, datetime.timezone.utc)
        return {
            'cookie': self.cookie,
            'features': self.features,
            'version': '%d.%d' % (self.version >> 16, self.version & 0xFFFF),
            'data_offset': None if self.data_offset == NO_DATA_OFFSET else self.data_offset,
            'timestamp': self.timestamp,
            'created': ts.strftime('%Y-%m-%dT%H:%M:%SZ'),
            'creator_app': self.creator_app,
            'creator_version': '%d.%d' % (self.creator_version >> 16, self.creator_version & 0xFFFF),
            'creator_host_os': self.creator_host_os,
            'original_size': self.original_size,
            'current_size': self.current_size,
            'geometry': {'cylinders': self.cylinders, 'heads': self.heads, 'sectors': self.sectors},
            'disk_type': self.disk_type_name,
            'checksum': '%08x' % self.checksum,
            'checksum_ok': self.checksum_ok,
            'uuid': str(self.uuid),
            'saved_state': bool(self.saved_state),
        }


def vhd_timestamp(unix_time=None):
    """Seconds since 2000-01-01 UTC (the footer's clock) for ``unix_time`` (default: now)."""
    now = time.time() if unix_time is None else unix_time
    return max(0, int(now) - VHD_EPOCH) & 0xFFFFFFFF


def new_fixed_footer(size, uuid=None, timestamp=None):
    """A fixed-disk footer for ``size`` bytes of disk data, as Hyper-V writes it.

    ``uuid`` is a ``uuid.UUID`` or its string; ``timestamp`` is in footer seconds (since
    2000-01-01 UTC), default now.
    """
    if not isinstance(size, int) or size <= 0 or size % 512:
        raise VhdError('invalid_size', 'A VHD must hold a positive multiple of 512 bytes, not %r: '
                       'pad the disk data to a 512-byte boundary first.' % (size,))
    if isinstance(uuid, str):
        uuid = uuidlib.UUID(uuid)
    c, h, s = chs_geometry(size)
    footer = Footer(timestamp=vhd_timestamp() if timestamp is None else timestamp,
                    original_size=size, current_size=size, cylinders=c, heads=h, sectors=s,
                    uuid=uuid or uuidlib.uuid4())
    footer.checksum = footer.computed_checksum
    return footer


def read_footer(fd, file_size=None):
    """The footer at the end of the file, or None when there is none.

    Tries the last 512 bytes, then the 511-byte footer of early Virtual PC releases.
    """
    fd = as_fd(fd)
    if file_size is None:
        file_size = os.fstat(fd).st_size
    for length in (FOOTER_SIZE, FOOTER_SIZE - 1):
        if file_size >= length:
            raw = read_at(fd, length, file_size - length)
            if raw[:8] == COOKIE.encode():
                return Footer.unpack(raw)
    return None


def read_head_footer(fd):
    """The copy of the footer that dynamic and differencing disks keep at offset 0, or None."""
    raw = read_at(as_fd(fd), FOOTER_SIZE, 0)
    if len(raw) == FOOTER_SIZE and raw[:8] == COOKIE.encode():
        return Footer.unpack(raw)
    return None
