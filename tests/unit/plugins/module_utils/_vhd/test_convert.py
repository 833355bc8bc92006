# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _vhd.convert: plan() is read only, apply() produces an aligned fixed VHD."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import convert, qemu
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import footer as vhd_footer
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError
from ansible_collections.vmimage.azure.tests.support.images import files_under, vhd_digest, write_sparse

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
    assert vhd_digest(path) == vhd_digest(tmp_path / 'copy.vhd')
    assert footer_of(tmp_path / 'copy.vhd').uuid == footer_of(path).uuid


def test_copy_compares_equal_when_the_clock_moves_between_footers(tmp_path, monkeypatch):
    """The footer timestamp (and so its checksum) differs between two writes a second apart;
    the comparison must not depend on it."""
    clock = iter(range(700000000, 700001000, 3))
    monkeypatch.setattr(vhd_footer, 'vhd_timestamp', lambda unix_time=None: next(clock))
    path = make_raw(tmp_path / 'disk.raw', MIB, marks=((0, b'boot'), (MIB - 4, b'tail')))
    convert.apply(convert.plan(path))
    copy = tmp_path / 'copy.vhd'
    convert.apply(convert.plan(path, str(copy)))
    assert footer_of(path).timestamp != footer_of(copy).timestamp      # the clock did move
    assert footer_of(copy).checksum_ok and vhd_digest(path) == vhd_digest(copy)


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
    assert err.value.code == 'dest_exists' and 'force: true' in err.value.message
    assert open(dest, 'rb').read(4) == b'keep'


def test_explicit_format_that_contradicts_the_file_is_refused(tmp_path):
    path = make_raw(tmp_path / 'disk.raw', MIB)
    convert.apply(convert.plan(path))
    with pytest.raises(VhdError) as err:
        convert.plan(path, source_format='qcow2')
    assert err.value.code == 'format_mismatch' and 'auto' in err.value.message


def test_missing_qemu_img_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(qemu.shutil, 'which', lambda *a, **k: None)
    with pytest.raises(VhdError) as err:
        convert.qemu_img()
    assert err.value.code == 'qemu_img_missing' and 'qemu-utils' in err.value.message and 'qemu-img (RHEL' in err.value.message


@needs_qemu
def test_qcow2_is_converted_to_an_aligned_fixed_vhd(tmp_path):
    raw = make_raw(tmp_path / 'src.raw', 3 * MIB + 1024, marks=((0, b'qcow'), (2 * MIB, b'data')))
    qcow = str(tmp_path / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, qcow], check=True)
    plan = convert.plan(qcow, in_place=True)
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
        convert.apply(convert.plan(path, in_place=True))
    assert err.value.code == 'qemu_img_failed' and 'qemu-img' in err.value.message and len(err.value.message) > 40
    assert state(path) == before and sorted(os.listdir(tmp_path)) == ['broken.qcow2']


# --- item: dest is rerunnable (record next to dest), force -------------------------------------------

def test_rerun_with_dest_changes_nothing(tmp_path):
    src = make_raw(tmp_path / 'disk.raw', 20 * MIB + 512, marks=((MIB, b'data'),))
    dest = str(tmp_path / 'out.vhd')
    first = convert.run(src, dest)
    assert first['changed'] is True and first['action'] == 'append_footer' and first['state_file'] == convert.record_path(dest)
    before = state(dest)
    again = convert.run(src, dest)
    assert (again['changed'], again['action'], again['virtual_size'], again['file_size']) == (False, 'none', 21 * MIB, 21 * MIB + 512)
    assert again['diff']['before'] == again['diff']['after'] == {'format': 'vpc', 'disk_type': 'fixed', 'virtual_size': 21 * MIB}
    assert convert.run(src, dest, check_mode=True)['changed'] is False
    assert state(dest) == before and again['azure_ready'] is True


def test_record_names_source_identity_and_dest_uuid(tmp_path):
    src = make_raw(tmp_path / 'disk.raw', MIB)
    dest = str(tmp_path / 'out.vhd')
    convert.run(src, dest)
    record = json.load(open(tmp_path / '.out.vhd.vmimage.json'))
    st, dst = os.stat(src), os.stat(dest)
    assert record['source'] == {'path': os.path.realpath(src), 'size': st.st_size, 'mtime_ns': st.st_mtime_ns, 'ino': st.st_ino,
                                'format': 'raw'}
    assert record['dest'] == {'size': dst.st_size, 'mtime_ns': dst.st_mtime_ns, 'uuid': str(footer_of(dest).uuid)}


@pytest.mark.parametrize('change', ['source_rewritten', 'other_source', 'dest_modified', 'dest_other_vhd', 'record_missing'])
def test_dest_not_made_from_this_source_is_refused_until_force(tmp_path, change):
    src = make_raw(tmp_path / 'disk.raw', MIB, marks=((0, b'one'),))
    other = make_raw(tmp_path / 'other.raw', MIB, marks=((0, b'two'),))
    dest = str(tmp_path / 'out.vhd')
    convert.run(src, dest)
    if change == 'source_rewritten':
        with open(src, 'r+b') as fh:
            fh.write(b'ONE')
        os.utime(src, ns=(os.stat(src).st_atime_ns, os.stat(src).st_mtime_ns + 10 ** 9))
    elif change == 'dest_modified':
        with open(dest, 'r+b') as fh:
            fh.write(b'XXX')
    elif change == 'dest_other_vhd':
        convert.run(other, str(tmp_path / 'o.vhd'))
        os.replace(tmp_path / 'o.vhd', dest)
    elif change == 'record_missing':
        os.unlink(convert.record_path(dest))
    used = other if change == 'other_source' else src
    before = state(dest)
    with pytest.raises(VhdError) as err:
        convert.run(used, dest)
    assert err.value.code == 'dest_exists' and 'force: true' in err.value.message
    assert state(dest) == before
    forced = convert.run(used, dest, force=True)
    assert forced['changed'] is True and forced['action'] == 'append_footer'
    with open(dest, 'rb') as fh:
        assert fh.read(MIB) == open(used, 'rb').read()
    assert convert.run(used, dest)['changed'] is False


def test_force_in_check_mode_predicts_a_change_and_writes_nothing(tmp_path):
    src = make_raw(tmp_path / 'disk.raw', MIB)
    dest = make_raw(tmp_path / 'out.vhd', 512, marks=((0, b'keep'),))
    result = convert.run(src, dest, check_mode=True, force=True)
    assert result['changed'] is True and result['action'] == 'append_footer'
    assert open(dest, 'rb').read() == b'keep' + bytes(508) and not os.path.exists(convert.record_path(dest))


def test_dest_that_is_the_source_is_refused(tmp_path):
    src = make_raw(tmp_path / 'disk.raw', MIB)
    os.symlink(src, tmp_path / 'link.vhd')
    with pytest.raises(VhdError) as err:
        convert.plan(src, str(tmp_path / 'link.vhd'), force=True)
    assert err.value.code == 'dest_is_source'


# --- item: a conversion needs dest or in_place ----------------------------------------------------

@needs_qemu
@pytest.mark.parametrize('fmt, opts', [('qcow2', []), ('vmdk', []), ('vhdx', []), ('vpc', ['-o', 'subformat=dynamic'])])
def test_conversion_without_dest_needs_in_place(tmp_path, monkeypatch, fmt, opts):
    raw = make_raw(tmp_path / 'src.raw', 2 * MIB, marks=((0, b'boot'),))
    path = str(tmp_path / ('disk.' + fmt))
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', fmt] + opts + [raw, path], check=True)
    before, listing = state(path), files_under(tmp_path)
    calls = []
    monkeypatch.setattr(qemu, 'run', lambda *a, **k: calls.append(a))
    with pytest.raises(VhdError) as err:
        convert.run(path)
    assert err.value.code == 'dest_required' and 'in_place: true' in err.value.message and 'dest' in err.value.message
    assert state(path) == before and files_under(tmp_path) == listing and calls == []     # qemu-img not even run
    monkeypatch.undo()
    result = convert.run(path, in_place=True)
    assert result['action'] == 'convert' and footer_of(path).current_size == result['virtual_size'] >= 2 * MIB


def test_raw_and_fixed_vhd_stay_in_place_by_default(tmp_path):
    path = make_raw(tmp_path / 'disk.raw', MIB + 512)
    assert convert.run(path)['action'] == 'append_footer'
    assert convert.run(path)['action'] == 'none'


def test_in_place_with_dest_is_refused(tmp_path):
    with pytest.raises(VhdError) as err:
        convert.plan(make_raw(tmp_path / 'disk.raw', MIB), str(tmp_path / 'x.vhd'), in_place=True)
    assert err.value.code == 'bad_option'


# --- item: apply() refuses a source that changed after plan() ------------------------------------

def _grow(path):
    with open(path, 'ab') as fh:
        fh.write(b'\1' * 512)


def _touch(path):
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))


def _replace(path):
    st = os.stat(path)
    shutil.copyfile(path, path + '.new')
    os.replace(path + '.new', path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))     # same size and mtime, another inode


@pytest.mark.parametrize('change', [_grow, _touch, _replace], ids=['grew', 'modified', 'replaced'])
@pytest.mark.parametrize('to_dest', [False, True], ids=['in_place', 'dest'])
def test_source_changed_between_plan_and_apply_is_refused(tmp_path, change, to_dest):
    src = make_raw(tmp_path / 'disk.raw', MIB + 512, marks=((0, b'boot'),))
    dest = str(tmp_path / 'out.vhd') if to_dest else None
    plan = convert.plan(src, dest)
    change(src)
    before, listing = state(src), files_under(tmp_path)
    with pytest.raises(VhdError) as err:
        convert.apply(plan)
    assert err.value.code == 'source_changed' and src in err.value.message
    assert state(src) == before and files_under(tmp_path) == listing      # not cut, nothing written
    assert convert.run(src, dest)['changed'] is True                      # a new plan goes through


@needs_qemu
def test_source_changed_before_a_conversion_is_refused(tmp_path):
    raw = make_raw(tmp_path / 'src.raw', MIB, marks=((0, b'boot'),))
    path = str(tmp_path / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, path], check=True)
    plan = convert.plan(path, in_place=True)
    _touch(path)
    with pytest.raises(VhdError) as err:
        convert.apply(plan)
    assert err.value.code == 'source_changed'
    assert files_under(tmp_path) == ['disk.qcow2', 'src.raw']


# --- item: results are published through a callable (the module passes atomic_move) --------------

@needs_qemu
def test_publish_callable_moves_dest_and_in_place_conversions_only(tmp_path):
    moves = []

    def publish(tmp, target):
        assert os.path.dirname(tmp) == os.path.dirname(os.path.abspath(target)) and tmp.endswith('.vmimage-tmp')
        moves.append(os.path.basename(target))
        os.replace(tmp, target)
    raw = make_raw(tmp_path / 'disk.raw', MIB)
    convert.run(raw, str(tmp_path / 'out.vhd'), publish=publish)
    assert moves == ['out.vhd']
    qcow = str(tmp_path / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, qcow], check=True)
    convert.run(qcow, in_place=True, publish=publish)
    assert moves == ['out.vhd', 'disk.qcow2']
    convert.run(raw, publish=publish)                       # in-place footer append: written in place
    assert moves == ['out.vhd', 'disk.qcow2'] and footer_of(raw) is not None


def test_a_failing_publish_leaves_no_temporary_file(tmp_path):
    def publish(tmp, target):
        raise VhdError('io_error', 'cannot move')
    src = make_raw(tmp_path / 'disk.raw', MIB)
    with pytest.raises(VhdError):
        convert.run(src, str(tmp_path / 'out.vhd'), publish=publish)
    assert files_under(tmp_path) == ['disk.raw']


def test_default_publish_gives_a_new_dest_the_umask_mode(tmp_path):
    umask = os.umask(0o027)
    try:
        convert.run(make_raw(tmp_path / 'disk.raw', MIB), str(tmp_path / 'out.vhd'))
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / 'out.vhd').st_mode & 0o777 == 0o640


# --- item: vhd returns allocated_bytes, not data_bytes -------------------------------------------

def test_vhd_result_has_allocated_bytes_and_no_data_bytes(tmp_path):
    src = make_raw(tmp_path / 'disk.raw', 4 * MIB, marks=((0, b'\1' * 8192), (2 * MIB, b'\2' * 4096)))
    result = convert.run(src, str(tmp_path / 'out.vhd'))
    assert 'data_bytes' not in result
    blocks = os.stat(tmp_path / 'out.vhd').st_blocks * 512
    assert 8192 + 4096 + 512 <= result['allocated_bytes'] <= blocks
