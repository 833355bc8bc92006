# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dynamic and differencing VHDs made by qemu-img (differencing ones patched from a dynamic one)."""

from __future__ import annotations

import os
import struct
import uuid

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import convert
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import dynamic
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import footer as vf
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError

MIB = 1 << 20
WRITES = ((0, b'boot' * 128), (5 * MIB + 3, b'middle'), (33 * MIB - 1, b'x'))


def dynamic_vhd(qemu_img, tmp_path, make_file, size=40 * MIB, writes=WRITES):
    raw = make_file('src.raw', size, writes)
    out = str(tmp_path / 'dyn.vhd')
    qemu_img('convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', raw, out)
    return out


def describe(path):
    with open(path, 'rb') as fh:
        foot = vf.read_footer(fh) or vf.read_head_footer(fh)
        return foot, dynamic.read_dynamic(fh, foot)


def test_empty_dynamic(qemu_img, tmp_path):
    path = qemu_img.create(tmp_path / 'empty.vhd', '100M', 'vpc', '-o', 'subformat=dynamic')
    foot, info = describe(path)
    assert foot.disk_type == vf.DISK_TYPE_DYNAMIC and foot.data_offset == 512
    assert info['cookie'] == 'cxsparse' and info['checksum_ok'] and info['block_size'] == 2 * MIB
    assert info['max_table_entries'] == -(-foot.current_size // (2 * MIB))
    assert info['allocated_blocks'] == 0 and 'parent' not in info
    with open(path, 'rb') as fh:
        assert vf.read_head_footer(fh) == foot  # the copy at offset 0


def test_allocated_blocks_and_virtual_reads(qemu_img, tmp_path, make_file):
    path = dynamic_vhd(qemu_img, tmp_path, make_file)
    dummy, info = describe(path)
    blocks = {off // (2 * MIB) for off, data in WRITES} | {(off + len(data) - 1) // (2 * MIB) for off, data in WRITES}
    assert info['allocated_blocks'] == len(blocks)
    assert info['allocated_bytes'] == len(blocks) * 2 * MIB
    with open(path, 'rb') as fh:
        foot = vf.read_footer(fh)
        header = dynamic.read_header(fh, foot)
        for off, data in WRITES:
            assert dynamic.read_virtual(fh, header, off, len(data)) == data
        assert dynamic.read_virtual(fh, header, 20 * MIB, 4096) == bytes(4096)  # unallocated
        assert dynamic.read_virtual(fh, header, 2 * MIB - 2, 4) == bytes(4)  # across a block boundary


def test_truncated_dynamic(qemu_img, tmp_path, make_file):
    path = dynamic_vhd(qemu_img, tmp_path, make_file)
    with open(path, 'rb') as fh:
        head = vf.read_head_footer(fh)
    os.truncate(path, os.path.getsize(path) - 3 * MIB)
    with open(path, 'rb') as fh:
        assert vf.read_footer(fh) is None
        with pytest.raises(VhdError) as e:
            dynamic.read_dynamic(fh, head)
    assert e.value.code == 'truncated' and 'truncated' in e.value.message
    os.truncate(path, 1000)  # the header is cut too
    with open(path, 'rb') as fh, pytest.raises(VhdError) as e:
        dynamic.read_dynamic(fh, head)
    assert e.value.code == 'truncated'


def test_bad_header_cookie(qemu_img, tmp_path):
    path = qemu_img.create(tmp_path / 'e.vhd', '30M', 'vpc', '-o', 'subformat=dynamic')
    with open(path, 'r+b') as fh:
        fh.seek(512)
        fh.write(b'cxspars!')
    with open(path, 'rb') as fh, pytest.raises(VhdError) as e:
        dynamic.read_dynamic(fh, vf.read_footer(fh))
    assert e.value.code == 'bad_cookie'


def vhd_checksum(buf, offset):
    return ~(sum(buf) - sum(buf[offset:offset + 4])) & 0xFFFFFFFF


def make_differencing(path, parent_name, parent_uuid):
    """Turn a qemu dynamic VHD into a differencing one with a W2ku parent locator."""
    with open(path, 'rb') as fh:
        data = bytearray(fh.read())
    foot = vf.Footer.unpack(data[-512:])
    foot.disk_type = vf.DISK_TYPE_DIFFERENCING
    body = data[:-512]
    locator_at = len(body)
    locator = parent_name.encode('utf-16-le')
    body += locator + bytes(512 - len(locator))
    header = body[512:1536]
    header[40:56] = parent_uuid.bytes
    header[56:60] = struct.pack('>I', 12345)
    name = parent_name.encode('utf-16-be')
    header[64:64 + len(name)] = name
    header[576:600] = struct.pack('>4sIIIQ', b'W2ku', 1, len(locator), 0, locator_at)
    header[36:40] = struct.pack('>I', vhd_checksum(header, 36))
    body[512:1536] = header
    body[:512] = foot.pack()
    with open(path, 'wb') as fh:
        fh.write(bytes(body) + foot.pack())


def test_differencing_parent(qemu_img, tmp_path, make_file):
    path = dynamic_vhd(qemu_img, tmp_path, make_file)
    parent = uuid.uuid4()
    make_differencing(path, 'C:\\disks\\base.vhd', parent)
    foot, info = describe(path)
    assert foot.disk_type == vf.DISK_TYPE_DIFFERENCING and foot.checksum_ok and info['checksum_ok']
    assert info['parent']['uuid'] == str(parent)
    assert info['parent']['name'] == 'C:\\disks\\base.vhd'
    assert info['parent']['timestamp'] == 12345
    assert info['parent']['locators'] == [{'platform': 'W2ku', 'path': 'C:\\disks\\base.vhd'}]


def test_differencing_vhd_is_refused_by_convert_and_left_alone(qemu_img, tmp_path, make_file):
    path = dynamic_vhd(qemu_img, tmp_path, make_file)
    make_differencing(path, 'C:\\disks\\base.vhd', uuid.uuid4())
    with open(path, 'rb') as fh:
        before = fh.read()
    with pytest.raises(VhdError) as err:
        convert.plan(path)
    assert err.value.code == 'differencing_vhd' and 'base.vhd' in err.value.message and 'Merge' in err.value.message
    with open(path, 'rb') as fh:
        assert fh.read() == before
    assert sorted(os.listdir(tmp_path)) == ['dyn.vhd', 'src.raw']


def test_header_checksum_detects_damage(qemu_img, tmp_path):
    path = qemu_img.create(tmp_path / 'c.vhd', '30M', 'vpc', '-o', 'subformat=dynamic')
    with open(path, 'r+b') as fh:
        fh.seek(512 + 100)
        fh.write(b'\1')
    dummy, info = describe(path)
    assert info['checksum_ok'] is False


def test_header_unpack_short():
    with pytest.raises(VhdError) as e:
        dynamic.DynamicHeader.unpack(b'cxsparse')
    assert e.value.code == 'truncated'
