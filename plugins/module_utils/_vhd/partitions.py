# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this package may change at any time; do not import it from outside
# the collection.
"""MBR and GPT partition tables, and the Azure VM generation they suggest."""

from __future__ import annotations

import struct
import uuid
import zlib

from .extents import as_fd, read_at

SECTOR = 512
ESP_GUID = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b'
BIOS_BOOT_GUID = '21686148-6449-6e6f-744e-656564454649'
MBR_ESP = 0xEF
MBR_PROTECTIVE = 0xEE
GPT_TYPES = {
    ESP_GUID: 'EFI System',
    BIOS_BOOT_GUID: 'BIOS boot',
    '0fc63daf-8483-4772-8e79-3d69d8477de4': 'Linux filesystem',
    '4f68bce3-e8cd-4db1-96e7-fbcaf984b709': 'Linux root (x86-64)',
    'b921b045-1df0-41c3-af44-4c6f280d3fae': 'Linux root (ARM64)',
    '0657fd6d-a4ab-43c4-84e5-0933c84b4f4f': 'Linux swap',
    'e6d6d379-f507-44c2-a23c-238f2a3df928': 'Linux LVM',
    'bc13c2ff-59e6-4262-a352-b275fd6f7172': 'Linux extended boot',
    'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7': 'Microsoft basic data',
    'e3c9e316-0b5c-4db8-817d-f92df00215ae': 'Microsoft reserved',
    'de94bba4-06d1-4d40-a16a-bfd50179d6ac': 'Windows recovery',
}
_MBR_ENTRY = struct.Struct('<B3sB3sII')
_GPT_HEADER = struct.Struct('<8sIIIIQQQQ16sQIII')
_GPT_ENTRY = struct.Struct('<16s16sQQQ72s')
_MAX_ENTRY_BYTES = 1 << 20


def _mbr(sector0, total_sectors):
    """The four primary MBR entries, or None when sector 0 is not an MBR."""
    if len(sector0) < SECTOR or sector0[510:512] != b'\x55\xaa':
        return None
    parts = []
    for i in range(4):
        status, _chs_first, ptype, _chs_last, first, count = _MBR_ENTRY.unpack_from(sector0, 446 + 16 * i)
        if ptype == 0 or count == 0:
            continue
        if status not in (0, 0x80) or (ptype != MBR_PROTECTIVE and first + count > total_sectors):
            return None  # a boot sector of some file system, not a partition table
        parts.append({'number': i + 1, 'type': '0x%02x' % ptype, 'bootable': status == 0x80,
                      'first_lba': first, 'last_lba': first + count - 1, 'size': count * SECTOR})
    return parts


def _gpt(read, total_sectors, errors):
    raw = read(SECTOR, SECTOR)
    if len(raw) < _GPT_HEADER.size or raw[:8] != b'EFI PART':
        errors.append('The protective MBR announces a GPT but there is no "EFI PART" header at LBA 1.')
        return None, []
    (_signature, revision, hsize, hcrc, _reserved, _current_lba, backup_lba, first_usable, last_usable, disk_guid, entries_lba,
     count, esize, ecrc) = _GPT_HEADER.unpack_from(raw)
    if not _GPT_HEADER.size <= hsize <= SECTOR or esize < _GPT_ENTRY.size or esize % 8:
        errors.append('The GPT header has an invalid size (%d) or entry size (%d).' % (hsize, esize))
        return None, []
    head = bytearray(raw[:hsize])
    head[16:20] = bytes(4)
    if zlib.crc32(bytes(head)) != hcrc:
        errors.append('The GPT header checksum is wrong: the partition table is damaged.')
    if backup_lba >= total_sectors:
        errors.append('The backup GPT header (LBA %d) lies beyond the end of the disk: the disk was shrunk or truncated.'
                      % backup_lba)
    count = min(count, _MAX_ENTRY_BYTES // esize)
    table = read(entries_lba * SECTOR, count * esize)
    if zlib.crc32(table) != ecrc:
        errors.append('The GPT partition entries checksum is wrong: the partition table is damaged.')
    parts = []
    for i in range(len(table) // esize):
        tguid, pguid, first, last, attrs, name = _GPT_ENTRY.unpack_from(table, i * esize)
        if tguid == bytes(16):
            continue
        ptype = str(uuid.UUID(bytes_le=tguid))
        parts.append({'number': i + 1, 'type': ptype, 'type_name': GPT_TYPES.get(ptype),
                      'guid': str(uuid.UUID(bytes_le=pguid)), 'name': name.decode('utf-16-le', 'replace').split('\0', 1)[0],
                      'first_lba': first, 'last_lba': last, 'size': max(0, last - first + 1) * SECTOR,
                      'attributes': attrs})
        if last >= total_sectors or first > last:
            errors.append('GPT partition %d (LBA %d-%d) does not fit on the disk.' % (i + 1, first, last))
    header = {'revision': '%d.%d' % (revision >> 16, revision & 0xFFFF), 'disk_guid': str(uuid.UUID(bytes_le=disk_guid)),
              'first_usable_lba': first_usable, 'last_usable_lba': last_usable, 'backup_lba': backup_lba}
    return header, parts


def inspect_partitions(fd, size, offset=0, read=None):
    """Describe the partition table of a disk of ``size`` bytes.

    The disk data starts at ``offset`` in ``fd``; ``read(offset, length) -> bytes`` replaces plain
    reads for images whose data is not stored linearly (dynamic VHDs). Returns ``scheme``
    (``mbr``/``gpt``/None), ``partitions``, ``has_esp``, ``generation_hint`` (``V2`` with an EFI
    System Partition, ``V1`` for a bootable MBR or a GPT with a BIOS boot partition, else None),
    and ``errors`` (damage found, as sentences).
    """
    if read is None:
        fd = as_fd(fd)

        def read(off, length):
            return read_at(fd, max(0, min(length, size - off)), offset + off)

    total = size // SECTOR
    result = {'scheme': None, 'partitions': [], 'has_esp': False, 'generation_hint': None, 'errors': []}
    mbr = _mbr(read(0, SECTOR), total)
    if mbr is None:
        return result
    if any(p['type'] == '0x%02x' % MBR_PROTECTIVE for p in mbr):
        header, parts = _gpt(read, total, result['errors'])
        result.update(scheme='gpt', partitions=parts, gpt=header)
        result['has_esp'] = any(p['type'] == ESP_GUID for p in parts)
        legacy = any(p['type'] == BIOS_BOOT_GUID for p in parts)
    else:
        result.update(scheme='mbr', partitions=mbr)
        result['has_esp'] = any(p['type'] == '0x%02x' % MBR_ESP for p in mbr)
        legacy = any(p['bootable'] for p in mbr)
    result['generation_hint'] = 'V2' if result['has_esp'] else 'V1' if legacy else None
    return result
