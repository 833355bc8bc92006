# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The VHD footer: layout, checksum, CHS geometry, and what qemu-img makes of it."""

from __future__ import annotations

import struct
import time
import uuid

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import footer as vf
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError

MIB = 1 << 20
GIB = 1 << 30


def write_fixed(path, size, foot):
    with open(path, 'wb') as fh:
        fh.truncate(size)
        fh.seek(size)
        fh.write(foot.pack())
    return str(path)


def test_new_fixed_footer_layout():
    u = uuid.UUID('12345678-1234-5678-1234-567812345678')
    raw = vf.new_fixed_footer(30 * MIB, uuid=str(u), timestamp=1234).pack()
    assert len(raw) == 512
    assert raw[:8] == b'conectix'
    assert struct.unpack('>II', raw[8:16]) == (2, 0x00010000)
    assert raw[16:24] == b'\xff' * 8
    assert struct.unpack('>I', raw[24:28]) == (1234,)
    assert raw[28:32] == b'win ' and raw[36:40] == b'Wi2k'
    assert struct.unpack('>QQ', raw[40:56]) == (30 * MIB, 30 * MIB)
    assert struct.unpack('>HBB', raw[56:60]) == vf.chs_geometry(30 * MIB)
    assert struct.unpack('>I', raw[60:64]) == (vf.DISK_TYPE_FIXED,)
    assert raw[68:84] == u.bytes
    assert raw[84:] == bytes(428)
    # the checksum: one's complement of the byte sum with the field zeroed
    assert struct.unpack('>I', raw[64:68])[0] == (~(sum(raw) - sum(raw[64:68]))) & 0xFFFFFFFF


def test_round_trip():
    foot = vf.new_fixed_footer(1 * GIB + 512)
    again = vf.Footer.unpack(foot.pack())
    assert again == foot
    assert again.checksum_ok and again.cookie_ok
    assert again.pack() == foot.pack()
    d = again.as_dict()
    assert d['disk_type'] == 'fixed' and d['data_offset'] is None and d['checksum_ok'] is True
    assert d['current_size'] == 1 * GIB + 512 and d['uuid'] == str(foot.uuid)


def test_default_timestamp_is_seconds_since_2000():
    before = int(time.time()) - 946684800
    stamp = vf.new_fixed_footer(20 * MIB).timestamp
    after = int(time.time()) - 946684800
    assert before <= stamp <= after


@pytest.mark.parametrize('offset', [0, 9, 20, 30, 47, 59, 66, 70, 84, 300, 511])
def test_flipped_byte_breaks_checksum(offset):
    raw = bytearray(vf.new_fixed_footer(64 * MIB).pack())
    raw[offset] ^= 0x40
    assert vf.Footer.unpack(bytes(raw)).checksum_ok is False


def test_pack_always_writes_a_valid_checksum():
    foot = vf.new_fixed_footer(64 * MIB)
    foot.current_size += 512
    assert not foot.checksum_ok
    assert vf.Footer.unpack(foot.pack()).checksum_ok


@pytest.mark.parametrize('size, chs', [
    (20 * MIB, (602, 4, 17)),
    (50 * MIB, (1003, 6, 17)),
    (200 * MIB, (825, 16, 31)),
    (1 * GIB, (2080, 16, 63)),
    (127 * GIB, (65278, 16, 255)),
    (65535 * 16 * 255 * 512, (65535, 16, 255)),
    (4096 * GIB, (65535, 16, 255)),  # capped at the maximum geometry
])
def test_chs_geometry_known_values(size, chs):
    assert vf.chs_geometry(size) == chs


@pytest.mark.parametrize('size', [0, -512, 1000, 20 * MIB + 1, '20M'])
def test_new_fixed_footer_rejects_bad_sizes(size):
    with pytest.raises(VhdError) as e:
        vf.new_fixed_footer(size)
    assert e.value.code == 'invalid_size' and '512' in e.value.message


def test_unpack_short_buffer():
    with pytest.raises(VhdError) as e:
        vf.Footer.unpack(b'conectix')
    assert e.value.code == 'truncated'


def test_read_footer_none_and_legacy(tmp_path):
    plain = tmp_path / 'plain.raw'
    plain.write_bytes(b'\1' * 4096)
    with open(plain, 'rb') as fh:
        assert vf.read_footer(fh) is None
        assert vf.read_head_footer(fh) is None
    tiny = tmp_path / 'tiny'
    tiny.write_bytes(b'abc')
    with open(tiny, 'rb') as fh:
        assert vf.read_footer(fh.fileno()) is None
    foot = vf.new_fixed_footer(MIB)
    legacy = tmp_path / 'legacy.vhd'
    legacy.write_bytes(bytes(MIB) + foot.pack()[:511])
    with open(legacy, 'rb') as fh:
        got = vf.read_footer(fh)
    assert got == foot and got.checksum_ok


@pytest.mark.parametrize('size', ['20M', '100M', '200M', '1G', '5G', '130G'])
def test_geometry_matches_qemu(qemu_img, tmp_path, size):
    path = qemu_img.create(tmp_path / 'q.vhd', size, 'vpc', '-o', 'subformat=fixed')
    with open(path, 'rb') as fh:
        foot = vf.read_footer(fh)
    assert foot.checksum_ok and foot.disk_type == vf.DISK_TYPE_FIXED and foot.creator_app == 'qemu'
    assert (foot.cylinders, foot.heads, foot.sectors) == vf.chs_geometry(foot.current_size)
    c, h, s = vf.chs_geometry(foot.current_size)
    if (c, h, s) != (65535, 16, 255):
        assert foot.current_size == c * h * s * 512  # qemu sizes 'qemu' disks by CHS


@pytest.mark.parametrize('size', [20 * MIB, 30 * MIB + 1536, 1 * GIB + 7 * MIB, 129 * GIB + 512, 2040 * GIB])
def test_qemu_reads_our_size(qemu_img, tmp_path, size):
    path = write_fixed(tmp_path / 'ours.vhd', size, vf.new_fixed_footer(size))
    info = qemu_img.info(path, 'vpc')
    assert info['virtual-size'] == size
    assert info['format'] == 'vpc'


def test_qemu_would_use_chs_for_a_vpc_creator(qemu_img, tmp_path):
    """The reason for creator 'win ': with 'vpc ' qemu trusts the geometry, not current_size."""
    size = 30 * MIB + 1536
    c, h, s = vf.chs_geometry(size)
    assert c * h * s * 512 != size
    foot = vf.new_fixed_footer(size)
    foot.creator_app = 'vpc '
    path = write_fixed(tmp_path / 'vpc.vhd', size, foot)
    assert qemu_img.info(path, 'vpc')['virtual-size'] == c * h * s * 512
