# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by the _vhd unit tests: sparse files and a real qemu-img."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import types
import uuid
import zlib

import pytest


@pytest.fixture
def make_file(tmp_path):
    """make_file(name, size, writes=((offset, bytes), ...)) -> path of a sparse file."""
    from ansible_collections.vmimage.azure.tests.support.images import write_sparse

    def make(name, size, writes=()):
        return write_sparse(tmp_path / name, size, writes)
    return make


class QemuImg:
    def __init__(self, exe):
        self.exe = exe

    # qemu-img times its LUKS key derivation with the thread's CPU clock; where that clock is coarse (as in
    # this project's VMs) a calibration round can measure 0 ms and qemu-img fails with this message. Only then
    # is the same command tried again.
    COARSE_CLOCK = 'Unable to get accurate CPU usage'

    def __call__(self, *args):
        argv = [self.exe] + [str(a) for a in args]
        for dummy in range(50):
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode == 0 or self.COARSE_CLOCK not in proc.stderr:
                break
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc.stdout

    def create(self, path, size, fmt='raw', *options):
        self('create', '-q', '-f', fmt, *options, path, size)
        return str(path)

    def info(self, path, fmt=None):
        args = ['info', '--output', 'json'] + (['-f', fmt] if fmt else []) + [path]
        return json.loads(self(*args))


@pytest.fixture(scope='session')
def qemu_img():
    exe = shutil.which('qemu-img')
    if exe is None:
        pytest.skip('qemu-img is not installed (Debian: qemu-utils)')
    return QemuImg(exe)


ESP = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b'
LINUX = '0fc63daf-8483-4772-8e79-3d69d8477de4'
BIOS_BOOT = '21686148-6449-6e6f-744e-656564454649'


def mbr(entries, signature=b'\x55\xaa'):
    """Sector 0 with up to four (status, type, first_lba, sectors) entries."""
    sector = bytearray(512)
    for i, (status, ptype, first, count) in enumerate(entries):
        sector[446 + 16 * i:462 + 16 * i] = struct.pack('<B3sB3sII', status, b'\0\0\0', ptype, b'\0\0\0', first, count)
    sector[510:512] = signature
    return bytes(sector)


def gpt(disk_sectors, parts, entries=128):
    """Protective MBR + primary GPT (LBA 0..33) for (type_guid, name, first, last) partitions."""
    table = bytearray(entries * 128)
    for i, (tguid, name, first, last) in enumerate(parts):
        table[i * 128:(i + 1) * 128] = struct.pack('<16s16sQQQ72s', uuid.UUID(tguid).bytes_le, uuid.uuid4().bytes_le,
                                                   first, last, 0, name.encode('utf-16-le'))
    header = bytearray(struct.pack('<8sIIIIQQQQ16sQIII', b'EFI PART', 0x00010000, 92, 0, 0, 1, disk_sectors - 1, 34,
                                   disk_sectors - 34, uuid.uuid4().bytes_le, 2, entries, 128, zlib.crc32(table)))
    header[16:20] = struct.pack('<I', zlib.crc32(bytes(header)))
    protective = mbr([(0, 0xEE, 1, min(disk_sectors - 1, 0xFFFFFFFF))])
    return protective + bytes(header) + bytes(512 - len(header)) + bytes(table)


@pytest.fixture
def tables():
    """Builders of hand-made partition tables: tables.mbr(entries), tables.gpt(sectors, parts)."""
    return types.SimpleNamespace(mbr=mbr, gpt=gpt, ESP=ESP, LINUX=LINUX, BIOS_BOOT=BIOS_BOOT)
