# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""inspect_image / validate_fixed_vhd on every format qemu-img writes and on broken inputs."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import convert, image
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import footer as vf
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.extents import read_at
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError

MIB = 1 << 20
GIB = 1 << 30
TIB = 1 << 40


def codes(res, severity=None):
    return sorted(p['code'] for p in res['problems'] if severity in (None, p['severity']))


def fixed_vhd(make_file, name, size, writes=(), foot=None):
    """Disk data of ``size`` bytes with ``writes`` and a footer (ours by default) behind it."""
    foot = foot or vf.new_fixed_footer(size)
    return make_file(name, size, list(writes) + [(size, foot.pack())])


@pytest.mark.parametrize('fmt, options', [
    ('raw', ()), ('qcow2', ()), ('vmdk', ()), ('vmdk', ('-o', 'subformat=streamOptimized')),
    ('vmdk', ('-o', 'subformat=monolithicFlat')), ('vhdx', ()),
])
def test_other_formats_are_not_vhd(qemu_img, tmp_path, fmt, options):
    path = qemu_img.create(tmp_path / ('disk.' + fmt), '100M', fmt, *options)
    res = image.inspect_image(path)
    assert res['format'] == fmt
    assert res['virtual_size'] == qemu_img.info(path)['virtual-size'] == 100 * MIB
    assert codes(res) == ['not_vhd'] and not res['azure_ready']
    assert 'vmimage.azure.vhd' in res['problems'][0]['message'] and fmt in res['problems'][0]['message']
    assert res['footer'] is None and res['file_size'] == os.path.getsize(path)


def test_qemu_dynamic_vhd(qemu_img, tmp_path):
    path = qemu_img.create(tmp_path / 'd.vhd', '100M', 'vpc', '-o', 'subformat=dynamic')
    res = image.inspect_image(path)
    assert (res['format'], res['disk_type']) == ('vpc', 'dynamic')
    assert res['virtual_size'] == qemu_img.info(path)['virtual-size']
    assert 'dynamic_vhd' in codes(res) and not res['azure_ready']
    assert res['dynamic']['allocated_blocks'] == 0


def test_qemu_fixed_vhd_chs_sized_is_misaligned(qemu_img, tmp_path):
    path = qemu_img.create(tmp_path / 'f.vhd', '100M', 'vpc', '-o', 'subformat=fixed')
    res = image.inspect_image(path)
    assert res['disk_type'] == 'fixed' and res['virtual_size'] == qemu_img.info(path, 'vpc')['virtual-size']
    assert codes(res) == ['misaligned']


def test_qemu_fixed_force_size_is_ready(qemu_img, tmp_path):
    path = qemu_img.create(tmp_path / 'f.vhd', '100M', 'vpc', '-o', 'subformat=fixed,force_size=on')
    res = image.inspect_image(path)
    assert res['problems'] == [] and res['azure_ready'] and res['virtual_size'] == 100 * MIB
    assert res['footer']['creator_app'] == 'qem2' and res['footer']['checksum_ok']


def test_our_fixed_vhd_with_esp(make_file, tables):
    size = 64 * MIB
    head = tables.gpt(size // 512, [(tables.ESP, 'esp', 2048, 4095), (tables.LINUX, 'root', 4096, 100000)])
    path = fixed_vhd(make_file, 'g2.vhd', size, [(0, head), (40 * MIB, b'\7' * 1000)])
    res = image.inspect_image(path)
    assert res['azure_ready'] and res['problems'] == []
    assert res['generation_hint'] == 'V2' and res['partition_table']['scheme'] == 'gpt'
    assert res['file_size'] == size + 512 and res['virtual_size'] == size
    # non-zero pages: protective MBR, GPT header, 1 page of entries (2 entries), 2 data pages, footer
    assert res['data_bytes'] == (3 + 2 + 1) * 512
    assert res['allocated_bytes'] >= res['data_bytes']
    assert image.validate_fixed_vhd(path)['data_bytes'] is None  # no data scan when validating


def test_scan_data_off(make_file):
    path = fixed_vhd(make_file, 'n.vhd', 32 * MIB, [(MIB, b'1')])
    res = image.inspect_image(path, scan_data=False)
    assert res['data_bytes'] is None and res['allocated_bytes'] > 0


def test_dynamic_partitions_read_through_bat(qemu_img, tmp_path, make_file, tables):
    raw = make_file('src.raw', 64 * MIB, [(0, tables.mbr([(0x80, 0x83, 2048, 8192)]))])
    out = str(tmp_path / 'dyn.vhd')
    qemu_img('convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', raw, out)
    res = image.inspect_image(out)
    assert res['partition_table']['scheme'] == 'mbr' and res['generation_hint'] == 'V1'


@pytest.mark.parametrize('name, make, code', [
    ('missing', lambda tmp, mk: str(tmp / 'nothing.vhd'), 'not_found'),
    ('dir', lambda tmp, mk: str(tmp), 'is_directory'),
    ('empty', lambda tmp, mk: mk('empty.vhd', 0), 'empty'),
])
def test_unusable_paths(tmp_path, make_file, name, make, code):
    path = make(tmp_path, make_file)
    res = image.inspect_image(path)
    assert codes(res) == [code] and not res['azure_ready'] and res['format'] is None
    assert path in res['problems'][0]['message'] or code == 'empty'
    with pytest.raises(VhdError) as e:
        image.validate_fixed_vhd(path)
    assert e.value.code == 'not_azure_ready' and e.value.problems == res['problems'] and code in e.value.message


def test_legacy_511_byte_footer(make_file):
    foot = vf.new_fixed_footer(30 * MIB)
    path = make_file('legacy.vhd', 30 * MIB, [(30 * MIB, foot.pack()[:511])])
    res = image.inspect_image(path)
    assert res['format'] == 'vpc' and res['disk_type'] == 'fixed'
    assert 'not_sector_multiple' in codes(res) and 'size_mismatch' in codes(res)


def test_raw_not_sector_multiple_is_not_vhd(make_file):
    res = image.inspect_image(make_file('odd.raw', 30 * MIB + 7))
    assert res['format'] == 'raw' and codes(res) == ['not_vhd']


def test_bad_checksum(make_file):
    path = fixed_vhd(make_file, 'bad.vhd', 30 * MIB)
    with open(path, 'r+b') as fh:
        fh.seek(30 * MIB + 100)
        fh.write(b'\1')
    res = image.inspect_image(path)
    assert codes(res) == ['bad_checksum'] and res['footer']['checksum_ok'] is False


def test_truncated_dynamic(qemu_img, tmp_path, make_file):
    raw = make_file('src.raw', 40 * MIB, [(0, b'a'), (30 * MIB, b'b')])
    out = str(tmp_path / 'dyn.vhd')
    qemu_img('convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', raw, out)
    os.truncate(out, os.path.getsize(out) - MIB)
    res = image.inspect_image(out)
    assert res['format'] == 'vpc' and res['disk_type'] == 'dynamic'
    assert 'truncated' in codes(res) and 'dynamic_vhd' in codes(res)


def test_dynamic_with_damaged_tail_footer(qemu_img, tmp_path):
    path = qemu_img.create(tmp_path / 'd.vhd', '30M', 'vpc', '-o', 'subformat=dynamic')
    with open(path, 'r+b') as fh:
        fh.seek(os.path.getsize(path) - 512)
        fh.write(b'XXXXXXXX')
    res = image.inspect_image(path)
    assert res['format'] == 'vpc' and 'bad_cookie' in codes(res)


@pytest.mark.parametrize('file_size, vsize, expect', [
    (30 * MIB, 31 * MIB, ['size_mismatch']),
    (31 * MIB, 30 * MIB, ['size_mismatch']),
    (30 * MIB + 512, 30 * MIB + 512, ['misaligned']),
    (10 * MIB, 10 * MIB, ['under_minimum']),
])
def test_size_problems(make_file, file_size, vsize, expect):
    path = make_file('s.vhd', file_size, [(file_size, vf.new_fixed_footer(vsize).pack())])
    assert codes(image.inspect_image(path)) == expect


@pytest.mark.parametrize('vsize, esp, errors, warnings', [
    (2 * TIB, False, [], []),
    (3 * TIB, False, [], ['over_os_disk_limit']),
    (3 * TIB, True, [], []),
    (5 * TIB, True, [], ['over_os_disk_limit']),
    (8 * TIB, True, ['over_page_blob_limit'], ['over_os_disk_limit']),
    (32768 * GIB, True, ['over_page_blob_limit', 'over_upload_limit'], ['over_os_disk_limit']),
])
def test_azure_limits(make_file, tables, vsize, esp, errors, warnings):
    """A footer claiming a huge disk on a small file: size_mismatch plus the limits."""
    head = tables.gpt(vsize // 512, [(tables.ESP if esp else tables.LINUX, 'p', 2048, 4095)])
    path = make_file('big.vhd', MIB, [(0, head), (MIB, vf.new_fixed_footer(vsize).pack())])
    res = image.inspect_image(path)
    assert codes(res, 'error') == sorted(['size_mismatch'] + errors)
    assert codes(res, 'warning') == sorted(warnings)


def test_geometry_warning_for_chs_creators(qemu_img, make_file):
    foot = vf.new_fixed_footer(30 * MIB + 512 * 3)
    foot.creator_app = 'vpc '
    path = fixed_vhd(make_file, 'vpc.vhd', 30 * MIB + 512 * 3, foot=foot)
    res = image.inspect_image(path)
    warning = [p for p in res['problems'] if p['code'] == 'geometry_mismatch']
    assert warning and str(qemu_img.info(path, 'vpc')['virtual-size']) in warning[0]['message']


def test_detect_format_prefers_the_footer(make_file):
    path = fixed_vhd(make_file, 'q.vhd', 20 * MIB, [(0, b'QFI\xfb')])
    with open(path, 'rb') as fh:
        assert image.detect_format(fh.fileno(), os.path.getsize(path)) == 'vpc'


# --- detect_format agrees with qemu-img's guess wherever a header decides -----------------------

@pytest.mark.parametrize('fmt, options', [
    ('qcow2', ()), ('qcow', ()), ('qed', ()), ('vdi', ()), ('parallels', ()), ('vhdx', ()), ('vpc', ('-o', 'subformat=dynamic')),
    ('vmdk', ()), ('vmdk', ('-o', 'subformat=monolithicFlat')), ('vmdk', ('-o', 'subformat=streamOptimized')),
    ('luks', ('--object', 'secret,id=s0,data=pw', '-o', 'key-secret=s0,iter-time=10')),
])
def test_detect_format_agrees_with_qemu_img_probing(qemu_img, tmp_path, fmt, options):
    objects = [o for o in options if o.startswith('--object') or o.startswith('secret,')]
    rest = [o for o in options if o not in objects]
    path = str(tmp_path / ('disk.' + fmt))
    qemu_img('create', '-q', *objects, '-f', fmt, *rest, path, '1M')
    probed = qemu_img('info', '--output', 'json', *objects, path)     # our own file: probing is safe here
    with open(path, 'rb') as fh:
        ours = image.detect_format(fh.fileno(), os.path.getsize(path))
    assert ours == json.loads(probed)['format'] == fmt


@pytest.mark.parametrize('text, expected', [
    (b'# Disk DescriptorFile\nversion=1\n', 'vmdk'),
    (b'# any comment\n#another\n   \nversion=2\r\nRW 8 FLAT "x" 0\n', 'vmdk'),
    (b'version=3\n', 'vmdk'),
    (b'# comment\n\nversion=1\n', 'raw'),          # qemu stops at an empty line too
    (b'hello version=1\n', 'raw'),
    (b'COWD' + bytes(100), 'vmdk'),
    (b'QED\0' + bytes(100), 'qed'),
    (bytes(64) + b'\x7f\x10\xda\xbe', 'vdi'),
    (b'WithouFreSpacExt', 'parallels'),
    (b'LUKS\xba\xbe\0\1', 'luks'),
    (b'Bochs Virtual HD Image\0', 'bochs'),
    (b'#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n', 'cloop'),
    (b'QFI\xfb\0\0\0\1', 'qcow'),
    (b'QFI\xfb\0\0\0\3', 'qcow2'),
])
def test_detect_format_follows_qemu_probes(make_file, text, expected):
    path = make_file('probe.img', MIB, [(0, text)])
    with open(path, 'rb') as fh:
        assert image.detect_format(fh.fileno(), MIB) == expected


def test_vmdk_text_probe_matches_qemu(qemu_img, make_file):
    """qemu-img takes the first file for a VMDK descriptor (and fails on it) but the second for raw."""
    vmdk = make_file('a.img', 4096, [(0, b'# c\n  \nversion=1\nnothing else\n')])
    raw = make_file('b.img', 4096, [(0, b'# c\n\nversion=1\nnothing else\n')])
    proc = subprocess.run(['qemu-img', 'info', vmdk], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and 'VMDK' in proc.stderr
    assert qemu_img.info(raw)['format'] == 'raw'
    with open(vmdk, 'rb') as a, open(raw, 'rb') as b:
        assert (image.detect_format(a.fileno(), 4096), image.detect_format(b.fileno(), 4096)) == ('vmdk', 'raw')


@pytest.mark.parametrize('fmt', ['qcow', 'qed', 'vdi', 'parallels'])
def test_formats_qemu_knows_but_we_do_not_convert(qemu_img, tmp_path, fmt):
    path = qemu_img.create(tmp_path / ('disk.' + fmt), '30M', fmt)
    res = image.inspect_image(path)
    assert res['format'] == fmt and codes(res) == ['unsupported_format'] and not res['azure_ready']
    assert 'qemu-img convert -f %s -O raw' % fmt in res['problems'][0]['message']
    with pytest.raises(VhdError) as err:
        convert.plan(path, str(tmp_path / 'out.vhd'))
    assert err.value.code == 'unsupported_format' and not os.path.exists(tmp_path / 'out.vhd')


def test_fixed_vhd_starting_with_a_qcow2_header_is_ambiguous(make_file):
    """Azure reads it as the fixed VHD it is; a tool that guesses would read a qcow2: warn."""
    path = fixed_vhd(make_file, 'q.vhd', 20 * MIB, [(0, b'QFI\xfb\0\0\0\3')])
    res = image.inspect_image(path)
    assert res['format'] == 'vpc' and res['azure_ready'] is True
    assert codes(res, 'warning') == ['ambiguous_format'] and 'qcow2' in res['problems'][0]['message']


def test_read_at_an_offset_no_file_reaches_reads_nothing(make_file):
    path = make_file('x.img', 4096, [(0, b'x')])
    with open(path, 'rb') as fh:
        assert read_at(fh.fileno(), 4096, (1 << 64) - 1) == b'' and read_at(fh.fileno(), 1, 0) == b'x'
