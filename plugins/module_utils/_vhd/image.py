# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this package may change at any time; do not import it from outside
# the collection.
"""Inspect a disk image file and say whether Azure will take it as it is.

Reads are bounded (headers, footer, partition table); only the optional data scan reads the
allocated parts of the file. qemu-img is never run: the backing files, external data files and VMDK
extents an image names are found from its headers (``references``).
"""

from __future__ import annotations

import os
import re
import stat
import struct
import uuid

from . import dynamic, references
from .errors import VhdError
from .extents import ExtentMap, read_at
from .footer import (DISK_TYPE_DIFFERENCING, DISK_TYPE_DYNAMIC, DISK_TYPE_FIXED, FOOTER_SIZE,
                     read_footer, read_head_footer)
from .partitions import inspect_partitions

KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
ALIGNMENT = MIB
MIN_SIZE = 20 * MIB
OS_DISK_LIMIT_V1 = 2 * TIB
OS_DISK_LIMIT_V2 = 4 * TIB
PAGE_BLOB_LIMIT = 8 * TIB
UPLOAD_LIMIT = 32767 * GIB
_VHDX_METADATA_REGION = uuid.UUID('8b7ca206-4790-4b9a-b8fe-575f050f886e').bytes_le
_VHDX_VIRTUAL_SIZE = uuid.UUID('2fa54224-cd1b-4876-b211-5dbed83bf4b8').bytes_le
_CONVERT = 'convert it with vmimage.azure.vhd, which writes an aligned fixed VHD'


def _fmt_size(n):
    for unit, div in (('TiB', TIB), ('GiB', GIB), ('MiB', MIB), ('KiB', KIB)):
        if n >= div:
            return '%.4g %s' % (n / div, unit)
    return '%d bytes' % n


# Formats qemu-img recognises by their first bytes that vmimage.azure.vhd does not convert. They are
# detected so that such a file is never taken for a raw disk (qemu-img, guessing, would not).
UNSUPPORTED_FORMATS = ('qcow', 'qed', 'vdi', 'parallels', 'luks', 'bochs', 'cloop')
FORMATS = ('raw', 'vpc', 'qcow2', 'vmdk', 'vhdx') + UNSUPPORTED_FORMATS
_PROBE_SIZE = 512       # what qemu reads to guess a format (BLOCK_PROBE_BUF_SIZE)
_VMDK_VERSIONS = tuple(b'version=%d%s' % (n, end) for n in (1, 2, 3) for end in (b'\n', b'\r\n'))
_CLOOP = b'#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n'


def _vmdk_text(buf):
    """qemu's vmdk_probe for descriptor files: comment lines and blank lines, then ``version=N``."""
    pos, end = 0, len(buf)
    while pos < end:
        char = buf[pos:pos + 1]
        if char == b'#':
            newline = buf.find(b'\n', pos)
            pos = end if newline < 0 else newline + 1
            continue
        if char == b' ':
            while pos < end and buf[pos:pos + 1] == b' ':
                pos += 1
            if buf[pos:pos + 1] == b'\r':
                pos += 1
            if buf[pos:pos + 1] != b'\n':
                return False
            pos += 1
            continue
        return buf.startswith(_VMDK_VERSIONS, pos)
    return False


def header_format(fd):
    """The format the first bytes of the file announce, as qemu-img would guess it, or None (raw)."""
    head = read_at(fd, _PROBE_SIZE, 0)
    if head.startswith(b'QFI\xfb'):
        return 'qcow' if head[4:8] == b'\0\0\0\1' else 'qcow2'
    if head.startswith(b'vhdxfile'):
        return 'vhdx'
    if head.startswith((b'KDMV', b'COWD', b'# Disk DescriptorFile')) or _vmdk_text(head):
        return 'vmdk'
    if head.startswith(b'conectix'):
        return 'vpc'
    if head.startswith(b'QED\0'):
        return 'qed'
    if head[64:68] == b'\x7f\x10\xda\xbe':
        return 'vdi'
    if head.startswith((b'WithoutFreeSpace', b'WithouFreSpacExt')):
        return 'parallels'
    if head.startswith(b'LUKS\xba\xbe'):
        return 'luks'
    if head.startswith(b'Bochs Virtual HD Image'):
        return 'bochs'
    if head.startswith(_CLOOP):
        return 'cloop'
    return None


def detect_format(fd, size):
    """``raw``, ``vpc``, ``qcow2``, ``vmdk``, ``vhdx`` or one of ``UNSUPPORTED_FORMATS``.

    A VHD footer in the last 512 (or 511) bytes makes the file a VHD, as Azure and Hyper-V read it;
    otherwise the first bytes decide, as qemu-img would guess (so a file qemu-img would read as a
    container is never taken for a raw disk here); a file with neither is raw. Callers always pass
    the result to qemu-img with ``-f``: qemu-img never guesses.
    """
    for length in (FOOTER_SIZE, FOOTER_SIZE - 1):
        if size >= length and read_at(fd, 8, size - length) == b'conectix':
            return 'vpc'
    return header_format(fd) or 'raw'


def _vhdx_size(fd):
    regions = read_at(fd, 64 * KIB, 192 * KIB)
    if regions[:4] != b'regi':
        return None
    for i in range(min(struct.unpack_from('<I', regions, 8)[0], 2047)):
        guid, offset, _length, _required = struct.unpack_from('<16sQII', regions, 16 + 32 * i)
        if guid == _VHDX_METADATA_REGION:
            table = read_at(fd, 64 * KIB, offset)
            if table[:8] != b'metadata':
                return None
            for j in range(min(struct.unpack_from('<H', table, 10)[0], 2047)):
                item, item_off, _item_len, _flags, _reserved = struct.unpack_from('<16sIIII', table, 32 + 32 * j)
                if item == _VHDX_VIRTUAL_SIZE:
                    raw = read_at(fd, 8, offset + item_off)
                    return struct.unpack('<Q', raw)[0] if len(raw) == 8 else None
    return None


def _vmdk_size(fd):
    head = read_at(fd, 64 * KIB, 0)
    if head.startswith(b'KDMV'):
        return struct.unpack_from('<Q', head, 12)[0] * 512
    text = head.split(b'\0', 1)[0].decode('utf-8', 'replace')
    sectors = [int(n) for n in re.findall(r'^\s*(?:RW|RDONLY|NOACCESS)\s+(\d+)', text, re.M)]
    return sum(sectors) * 512 if sectors else None


def _virtual_size(fd, fmt, size):
    if fmt == 'raw':
        return size
    if fmt == 'qcow2':
        raw = read_at(fd, 8, 24)
        return struct.unpack('>Q', raw)[0] if len(raw) == 8 else None
    return _vhdx_size(fd) if fmt == 'vhdx' else _vmdk_size(fd)


class _Report:
    def __init__(self, path):
        self.result = {
            'path': path, 'format': None, 'disk_type': None, 'virtual_size': None, 'file_size': None,
            'allocated_bytes': None, 'data_bytes': None, 'footer': None, 'dynamic': None,
            'partition_table': None, 'generation_hint': None, 'azure_ready': False, 'problems': [],
        }

    def problem(self, code, message, severity='error'):
        self.result['problems'].append({'code': code, 'message': message, 'severity': severity})

    def done(self):
        self.result['azure_ready'] = self.result['format'] == 'vpc' and not any(
            p['severity'] == 'error' for p in self.result['problems'])
        return self.result


def _check_vpc(fd, size, rep):
    res = rep.result
    tail = read_footer(fd, size)
    head = read_head_footer(fd)
    footer = tail or head
    res['footer'] = footer.as_dict()
    res['disk_type'] = footer.disk_type_name
    res['virtual_size'] = footer.current_size
    if not footer.checksum_ok:
        rep.problem('bad_checksum', 'The VHD footer checksum is %08x but its contents sum to %08x: the footer is damaged. '
                    'Export the disk again, or rewrite the footer with vmimage.azure.vhd.' % (footer.checksum, footer.computed_checksum))
    if size % 512:
        rep.problem('not_sector_multiple', 'The file is %d bytes, not a multiple of 512: a VHD is whole sectors plus a '
                    '512-byte footer (this looks like a legacy 511-byte footer or a damaged copy); %s.' % (size, _CONVERT))
    if footer.disk_type in (DISK_TYPE_DYNAMIC, DISK_TYPE_DIFFERENCING):
        try:
            res['dynamic'] = dynamic.read_dynamic(fd, footer, size)
        except VhdError as e:
            rep.problem(e.code, e.message)
        if tail is None and res['dynamic'] is not None:
            rep.problem('bad_cookie', 'The footer at the end of the file is missing or damaged (no "conectix" cookie); '
                        'only the copy at offset 0 is readable. Export the disk again.')
        elif tail is None and not any(p['code'] == 'truncated' for p in res['problems']):
            rep.problem('truncated', 'The file ends without the VHD footer: it is truncated; copy or export it again.')
        if footer.disk_type == DISK_TYPE_DYNAMIC:
            rep.problem('dynamic_vhd', 'This is a dynamic VHD; Azure takes only fixed VHDs: %s.' % _CONVERT)
        else:
            rep.problem('differencing_vhd', 'This is a differencing VHD that needs its parent; Azure takes only fixed '
                        'VHDs: merge it into its parent first (Hyper-V: Merge-VHD), then run vmimage.azure.vhd on the '
                        'merged disk.')
        return
    if footer.disk_type != DISK_TYPE_FIXED or tail is None:
        rep.problem('bad_cookie', 'The file has no valid fixed VHD footer in its last 512 bytes (disk type %r): '
                    'export the disk again or %s.' % (footer.disk_type_name, _CONVERT))
        return
    current = footer.current_size
    if size != current + FOOTER_SIZE:
        rep.problem('size_mismatch', 'The file is %d bytes but the footer says %d bytes of disk plus the 512-byte footer: '
                    'the file was truncated or extended after the footer was written; %s.' % (size, current + FOOTER_SIZE, _CONVERT))
    if current % ALIGNMENT:
        rep.problem('misaligned', 'The virtual size (%d bytes) is not a multiple of 1 MiB, which Azure requires: resize '
                    'it with vmimage.azure.vhd (it rounds up to the next MiB).' % current)
    if footer.qemu_size != current:
        rep.problem('geometry_mismatch', 'The footer geometry (CHS %d/%d/%d) does not multiply out to the current size and '
                    'its creator %r is not one qemu trusts for the size, so qemu reads the disk as %d bytes; rewrite the '
                    'footer with vmimage.azure.vhd.' % (footer.cylinders, footer.heads, footer.sectors, footer.creator_app,
                                                        footer.qemu_size),
                    'warning')


def _check_limits(rep):
    res = rep.result
    vsize = res['virtual_size']
    if vsize is None:
        return
    if vsize < MIN_SIZE:
        rep.problem('under_minimum', 'The disk is %s; Azure needs at least 20 MiB: grow it (qemu-img resize) and '
                    'convert it again.' % _fmt_size(vsize))
    v2 = res['generation_hint'] == 'V2'
    os_limit = OS_DISK_LIMIT_V2 if v2 else OS_DISK_LIMIT_V1
    if vsize > os_limit:
        rep.problem('over_os_disk_limit', 'The disk is %s; an OS disk of a %s VM can use at most %s, so use it as a data '
                    'disk or shrink it.' % (_fmt_size(vsize), 'generation 2' if v2 else 'generation 1 (MBR)',
                                            _fmt_size(os_limit)), 'warning')
    if vsize + FOOTER_SIZE > PAGE_BLOB_LIMIT:
        rep.problem('over_page_blob_limit', 'The disk is %s; a page blob holds at most 8 TiB including the footer: '
                    'shrink the disk below 8 TiB.' % _fmt_size(vsize))
    if vsize > UPLOAD_LIMIT:
        rep.problem('over_upload_limit', 'The disk is %s; a managed disk upload takes at most 32,767 GiB: shrink the '
                    'disk.' % _fmt_size(vsize))


def _partitions(fd, rep):
    res = rep.result
    vsize = res['virtual_size']
    if res['format'] == 'raw' or (res['format'] == 'vpc' and res['disk_type'] == 'fixed'):
        table = inspect_partitions(fd, vsize)
    elif res['format'] == 'vpc' and res['disk_type'] == 'dynamic' and res['dynamic'] is not None:
        header = dynamic.read_header(fd, read_head_footer(fd) or read_footer(fd))

        def read(off, length):
            return dynamic.read_virtual(fd, header, off, max(0, min(length, vsize - off)))
        table = inspect_partitions(fd, vsize, read=read)
    else:
        return
    res['partition_table'] = table
    res['generation_hint'] = table['generation_hint']
    for message in table['errors']:
        rep.problem('bad_partition_table', message + ' Repair it (sgdisk -e, fdisk) before uploading.', 'warning')


def inspect_image(path, scan_data=True):
    """The ``vhd_info`` result for ``path``; never raises for a bad image, lists problems instead.

    ``scan_data`` reads the allocated parts of the file to count ``data_bytes`` (non-zero 512-byte
    pages, what an upload sends); without it only SEEK_DATA is used (``allocated_bytes``).
    """
    rep = _Report(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        rep.problem('not_found', 'There is no file %s: check the path.' % path)
        return rep.done()
    except OSError as e:
        rep.problem('unreadable', 'Cannot read %s: %s.' % (path, e.strerror))
        return rep.done()
    if stat.S_ISDIR(st.st_mode):
        rep.problem('is_directory', '%s is a directory: give the path of the disk image file.' % path)
        return rep.done()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        rep.problem('unreadable', 'Cannot open %s: %s; check its permissions.' % (path, e.strerror))
        return rep.done()
    try:
        _inspect_fd(fd, rep, scan_data)
    except VhdError as e:
        rep.problem(e.code, e.message)
    finally:
        os.close(fd)
    return rep.done()


def _inspect_fd(fd, rep, scan_data):
    res = rep.result
    size = os.lseek(fd, 0, os.SEEK_END)
    res['file_size'] = size
    if size == 0:
        rep.problem('empty', 'The file is empty (0 bytes): the export or copy did not finish; make the image again.')
        return
    fmt = res['format'] = detect_format(fd, size)
    emap = ExtentMap.scan(fd, scan_data=scan_data)
    res['allocated_bytes'], res['data_bytes'] = emap.allocated_bytes, emap.data_bytes
    if fmt == 'vpc':
        _check_vpc(fd, size, rep)
        announced = header_format(fd)
        if res['disk_type'] == 'fixed' and announced not in (None, 'vpc'):
            rep.problem('ambiguous_format', 'The file is a fixed VHD, but its first bytes are a %s header: Azure reads it as '
                        'a VHD, while a tool that guesses formats (qemu-img without -f) would read it as %s and open any '
                        'file that header names. Always pass -f vpc to qemu-img for this file.' % (announced, announced),
                        'warning')
    elif fmt in UNSUPPORTED_FORMATS:
        rep.problem('unsupported_format', 'The image is in %s format, which vmimage.azure.vhd does not convert: convert it '
                    'to raw on a trusted host (qemu-img convert -f %s -O raw <image> <raw>), then %s.' % (fmt, fmt, _CONVERT))
    else:
        res['virtual_size'] = _virtual_size(fd, fmt, size)
        rep.problem('not_vhd', 'The image is in %s format, not a VHD: %s.' % (fmt, _CONVERT))
        for ref in references.find(fd, fmt, res['path']):
            rep.problem(ref['code'], ref['message'])
    _partitions(fd, rep)
    _check_limits(rep)


def validate_fixed_vhd(path):
    """The ``inspect_image`` result (without the data scan) when ``path`` is an upload-ready fixed VHD.

    Otherwise raises ``VhdError('not_azure_ready')`` whose message lists the problems and whose
    ``problems`` holds them.
    """
    res = inspect_image(path, scan_data=False)
    if not res['azure_ready']:
        errors = [p for p in res['problems'] if p['severity'] == 'error']
        raise VhdError('not_azure_ready', '%s is not an Azure-ready fixed VHD: %s' % (
            path, ' '.join('[%s] %s' % (p['code'], p['message']) for p in errors)), problems=res['problems'])
    return res
