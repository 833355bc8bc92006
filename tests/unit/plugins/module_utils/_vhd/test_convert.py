# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _vhd.convert: plan() is read only, apply() produces an aligned fixed VHD."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import convert
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import footer as vhd_footer
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError
from ansible_collections.vmimage.azure.tests.support.images import write_sparse

MIB = 1 << 20
needs_qemu = pytest.mark.skipif(shutil.which('qemu-img') is None, reason='qemu-img not installed')


def make_raw(path, size, marks=((0, b'boot'),)):
    return write_sparse(path, size, marks)


def state(path):
    st = os.stat(path)
    with open(path, 'rb') as fh:
        return st.st_size, st.st_mtime_ns, hashlib.sha256(fh.read()).hexdigest()


def footer_of(path):
    with open(path, 'rb') as fh:
        return vhd_footer.read_footer(fh.fileno())


@pytest.mark.parametrize('size, expected', [(1, MIB), (MIB, MIB), (MIB + 512, 2 * MIB), (20 * MIB + 7 * 512, 21 * MIB)])
def test_align_up(size, expected):
    assert convert.align_up(size) == expected


def test_reader_sizes_agree_for_our_footer_but_not_for_a_chs_creator():
    ours = vhd_footer.new_fixed_footer(21 * MIB)
    assert convert.reader_sizes(ours) == {21 * MIB}
    chs = vhd_footer.new_fixed_footer(21 * MIB)
    chs.creator_app = 'qemu'
    c, h, s = chs.cylinders, chs.heads, chs.sectors
    assert convert.reader_sizes(chs) == {21 * MIB, c * h * s * 512}
    assert c * h * s * 512 != 21 * MIB


def test_raw_plan_is_read_only_and_apply_appends_an_aligned_footer(tmp_path):
    size = 20 * MIB + 7 * 512
    path = make_raw(tmp_path / 'disk.raw', size, marks=((0, b'first'), (size - 5, b'last!')))
    before = state(path)
    plan = convert.plan(path)
    assert state(path) == before
    assert (plan['action'], plan['source_format'], plan['virtual_size'], plan['changed']) == ('append_footer', 'raw', 21 * MIB, True)
    assert plan['diff'] == {'before': {'format': 'raw', 'disk_type': None, 'virtual_size': size},
                            'after': {'format': 'vpc', 'disk_type': 'fixed', 'virtual_size': 21 * MIB}}
    result = convert.apply(plan)
    assert os.path.getsize(path) == 21 * MIB + 512 == result['file_size']
    ftr = footer_of(path)
    assert ftr.checksum_ok and ftr.disk_type == vhd_footer.DISK_TYPE_FIXED and ftr.current_size == 21 * MIB
    with open(path, 'rb') as fh:
        data = fh.read(21 * MIB)
    assert data[:5] == b'first' and data[size - 5:size] == b'last!' and data[size:] == bytes(21 * MIB - size)
    again = convert.plan(path)
    assert (again['action'], again['changed'], again['virtual_size']) == ('none', False, 21 * MIB)


def test_in_place_append_allocates_no_data(tmp_path):
    path = make_raw(tmp_path / 'big.raw', 64 << 30)     # sparse 64 GiB
    blocks = os.stat(path).st_blocks
    convert.apply(convert.plan(path))
    assert os.stat(path).st_blocks - blocks <= 64      # a footer's worth of 512-byte blocks, not data
    assert footer_of(path).current_size == 64 << 30


def test_raw_to_dest_copies_sparsely_and_leaves_source(tmp_path):
    src = make_raw(tmp_path / 'disk.raw', 3 * MIB + 512, marks=((MIB, b'x' * 4096),))
    before = state(src)
    dest = str(tmp_path / 'out.vhd')
    result = convert.apply(convert.plan(src, dest))
    assert state(src) == before
    assert result['target'] == dest and os.path.getsize(dest) == 4 * MIB + 512
    with open(dest, 'rb') as fh:
        assert fh.read(3 * MIB + 512) == open(src, 'rb').read()
    assert [p for p in os.listdir(tmp_path) if 'vmimage-tmp' in p] == []


def test_ready_vhd_copied_to_dest_is_a_copy_action(tmp_path):
    path = make_raw(tmp_path / 'disk.raw', MIB)
    convert.apply(convert.plan(path))
    plan = convert.plan(path, str(tmp_path / 'copy.vhd'))
    assert (plan['action'], plan['changed']) == ('copy', True)
    convert.apply(plan)
    assert state(path)[2] == state(tmp_path / 'copy.vhd')[2]


def test_unaligned_fixed_vhd_is_realigned_keeping_uuid(tmp_path):
    size = 5 * MIB + 512
    path = make_raw(tmp_path / 'odd.vhd', size, marks=((size - 3, b'end'),))
    old = vhd_footer.new_fixed_footer(size)
    with open(path, 'ab') as fh:
        fh.write(old.pack())
    plan = convert.plan(path)
    assert (plan['action'], plan['source_format'], plan['disk_type'], plan['virtual_size']) == ('realign', 'vpc', 'fixed', 6 * MIB)
    convert.apply(plan)
    new = footer_of(path)
    assert new.current_size == 6 * MIB and new.uuid == old.uuid and os.path.getsize(path) == 6 * MIB + 512
    with open(path, 'rb') as fh:
        fh.seek(size - 3)
        assert fh.read(3) == b'end' and fh.read(512) == bytes(512)    # old footer gone


def test_aligned_vhd_with_chs_creator_gets_a_new_footer(tmp_path):
    path = make_raw(tmp_path / 'chs.vhd', 21 * MIB)
    ftr = vhd_footer.new_fixed_footer(21 * MIB)
    ftr.creator_app = 'vpc '
    with open(path, 'ab') as fh:
        fh.write(ftr.pack())
    assert convert.plan(path)['action'] == 'realign'
    convert.apply(convert.plan(path))
    assert footer_of(path).creator_app == vhd_footer.CREATOR_APP and convert.plan(path)['action'] == 'none'


@pytest.mark.parametrize('setup, code', [
    (lambda d: str(d / 'missing.raw'), 'not_found'),
    (str, 'is_directory'),
    (lambda d: make_raw(d / 'empty.raw', 0, marks=()), 'empty'),
    (lambda d: make_raw(d / 'odd.raw', MIB + 100), 'not_sector_aligned'),
], ids=['missing', 'directory', 'empty', 'odd_size'])
def test_bad_input_fails_before_writing(tmp_path, setup, code):
    path = setup(tmp_path)
    listing = sorted(os.listdir(tmp_path))
    with pytest.raises(VhdError) as err:
        convert.plan(path)
    assert err.value.code == code and path in err.value.message
    assert sorted(os.listdir(tmp_path)) == listing


def test_odd_raw_message_says_whole_sectors(tmp_path):
    with pytest.raises(VhdError, match='whole sectors'):
        convert.plan(make_raw(tmp_path / 'odd.raw', MIB + 100))


def test_bad_checksum_fails_and_says_what_to_do(tmp_path):
    path = make_raw(tmp_path / 'bad.vhd', MIB)
    raw = bytearray(vhd_footer.new_fixed_footer(MIB).pack())
    raw[100] ^= 0xFF
    with open(path, 'ab') as fh:
        fh.write(raw)
    before = state(path)
    with pytest.raises(VhdError) as err:
        convert.plan(path)
    assert err.value.code == 'bad_checksum' and 'Re-export' in err.value.message
    assert state(path) == before


def test_dest_that_exists_is_refused(tmp_path):
    src = make_raw(tmp_path / 'disk.raw', MIB)
    dest = make_raw(tmp_path / 'taken.vhd', 512, marks=((0, b'keep'),))
    with pytest.raises(VhdError) as err:
        convert.plan(src, dest)
    assert err.value.code == 'dest_exists'
    assert open(dest, 'rb').read(4) == b'keep'


def test_explicit_format_that_contradicts_the_file_is_refused(tmp_path):
    path = make_raw(tmp_path / 'disk.raw', MIB)
    convert.apply(convert.plan(path))
    with pytest.raises(VhdError) as err:
        convert.plan(path, source_format='qcow2')
    assert err.value.code == 'format_mismatch' and 'auto' in err.value.message


def test_missing_qemu_img_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(convert.shutil, 'which', lambda *a, **k: None)
    with pytest.raises(VhdError) as err:
        convert.qemu_img()
    assert err.value.code == 'qemu_img_missing' and 'qemu-utils' in err.value.message and 'qemu-img (RHEL' in err.value.message


@needs_qemu
def test_qcow2_is_converted_to_an_aligned_fixed_vhd(tmp_path):
    raw = make_raw(tmp_path / 'src.raw', 3 * MIB + 1024, marks=((0, b'qcow'), (2 * MIB, b'data')))
    qcow = str(tmp_path / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, qcow], check=True)
    plan = convert.plan(qcow)
    assert (plan['action'], plan['source_format'], plan['virtual_size']) == ('convert', 'qcow2', 4 * MIB)
    convert.apply(plan)
    ftr = footer_of(qcow)
    assert ftr.checksum_ok and ftr.current_size == 4 * MIB and os.path.getsize(qcow) == 4 * MIB + 512
    with open(qcow, 'rb') as fh:
        assert fh.read(3 * MIB + 1024) == open(raw, 'rb').read()
    assert convert.plan(qcow)['action'] == 'none'
    assert [p for p in os.listdir(tmp_path) if 'vmimage-tmp' in p] == []


@needs_qemu
def test_qemu_img_rejection_shows_stderr_and_leaves_nothing(tmp_path):
    path = make_raw(tmp_path / 'broken.qcow2', MIB, marks=((0, b'QFI\xfb\x00\x00\x00\x03' + b'\xff' * 64),))
    before = state(path)
    with pytest.raises(VhdError) as err:
        convert.apply(convert.plan(path))
    assert err.value.code == 'qemu_img_failed' and 'qemu-img' in err.value.message and len(err.value.message) > 40
    assert state(path) == before and sorted(os.listdir(tmp_path)) == ['broken.qcow2']
