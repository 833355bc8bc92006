# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test disk images written by hand or made with qemu-img, including hostile ones: images that name
a file of the host (backing file, external data file, VMDK extent outside their directory)."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess

MIB = 1 << 20
# What a host file that an image must never read holds (at its start and in its middle).
MARKER = b'VMIMAGE-HOST-SECRET-9d41c7'
# Offsets in the 512-byte VHD footer of the fields that change with every write of a footer.
FOOTER_TIMESTAMP = slice(24, 28)
FOOTER_CHECKSUM = slice(64, 68)


def write_sparse(path, size, writes=()):
    """Write a sparse file of ``size`` bytes holding ``writes`` (``(offset, bytes)`` pairs); the rest
    is a hole. Returns the path as a string."""
    with open(path, 'wb') as fh:
        fh.truncate(size)
        for offset, data in writes:
            fh.seek(offset)
            fh.write(data)
    return str(path)


def qemu(*args):
    """Run qemu-img (the tests' own calls, trusted inputs); return stdout."""
    return subprocess.run([shutil.which('qemu-img') or 'qemu-img'] + [str(a) for a in args], check=True,
                          capture_output=True, text=True).stdout


def host_file(path, size=MIB, marker=MARKER):
    """A 'host' file the tests must never see copied anywhere: ``marker`` at 0 and in the middle."""
    return write_sparse(path, size, [(0, marker), (size // 2, marker)])


def qcow2_with_backing(path, backing, backing_fmt='raw', size=MIB):
    """A qcow2 overlay of ``backing`` (recorded with its format) holding no data of its own, so
    every read goes to the backing file."""
    qemu('create', '-q', '-f', 'qcow2', '-u', '-b', backing, '-F', backing_fmt, path, size)
    return str(path)


def qcow2_with_data_file(path, data_file, size=MIB):
    """A qcow2 whose data lives in ``data_file`` read as raw (``data_file_raw``); ``data_file`` is
    then filled with the host marker, which a conversion of the qcow2 would copy."""
    qemu('create', '-q', '-f', 'qcow2', '-o', 'data_file=%s,data_file_raw=on' % data_file, path, size)
    host_file(data_file, size)
    return str(path)


def vmdk_descriptor(path, extents, create_type='monolithicFlat', parent=None):
    """A VMDK descriptor file naming ``extents`` (``(sectors, type, file name)``)."""
    lines = ['# Disk DescriptorFile', 'version=1', 'CID=12345678',
             'parentCID=%s' % ('87654321' if parent else 'ffffffff'), 'createType="%s"' % create_type]
    if parent:
        lines.append('parentFileNameHint="%s"' % parent)
    lines += ['', '# Extent description']
    lines += ['RW %d %s "%s"%s' % (sectors, kind, name, ' 0' if kind == 'FLAT' else '') for sectors, kind, name in extents]
    lines += ['', '# The Disk Data Base', '#DDB', '', 'ddb.virtualHWVersion = "4"', 'ddb.adapterType = "ide"', '']
    with open(path, 'w') as fh:
        fh.write('\n'.join(lines))
    return str(path)


def vmdk_sparse_descriptor(path, extents):
    """A 'sparse' VMDK (KDMV header) of capacity 0 whose embedded descriptor names ``extents``:
    qemu then opens those extents as if the file were a descriptor file."""
    desc = vmdk_descriptor(str(path) + '.desc', extents)
    with open(desc, 'rb') as fh:
        text = fh.read()
    os.unlink(desc)
    header = struct.pack('<4sIIQQQQIQQQ', b'KDMV', 1, 3, 0, 128, 1, 20, 512, 0, 0, 0)
    with open(path, 'wb') as fh:
        fh.write(header.ljust(512, b'\0') + text.ljust(20 * 512, b'\0'))
    return str(path)


def contains(path, marker=MARKER, chunk=8 * MIB):
    """Whether ``marker`` occurs anywhere in the file."""
    with open(path, 'rb') as fh:
        tail = b''
        for block in iter(lambda: fh.read(chunk), b''):
            if marker in tail + block:
                return True
            tail = block[-len(marker):]
    return False


def files_under(folder):
    """Every file below ``folder`` (relative paths), sorted: proof that nothing was created."""
    found = []
    for root, dummy, names in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, n), folder) for n in names]
    return sorted(found)


def vhd_digest(path):
    """SHA-256 of a VHD with its footer's timestamp and checksum zeroed: two writes of the same
    disk compare equal even when a second boundary passed between them."""
    with open(path, 'rb') as fh:
        data = bytearray(fh.read())
    footer = len(data) - 512
    if footer >= 0 and data[footer:footer + 8] == b'conectix':
        data[footer + FOOTER_TIMESTAMP.start:footer + FOOTER_TIMESTAMP.stop] = bytes(4)
        data[footer + FOOTER_CHECKSUM.start:footer + FOOTER_CHECKSUM.stop] = bytes(4)
    return hashlib.sha256(bytes(data)).hexdigest()
