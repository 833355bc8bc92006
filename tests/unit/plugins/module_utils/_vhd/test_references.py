# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Untrusted images that name a host file (backing file, external data file, VMDK extent outside
their directory): vhd refuses them before qemu-img opens anything, vhd_info reports them, and
allow_backing_file lets a trusted one through.

Every hostile image here is real: ``test_the_hostile_images_really_leak`` shows that a plain
``qemu-img convert`` copies the host file's marker into its output.
"""

from __future__ import annotations

import os
import struct
import subprocess
import types

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import convert, image, qemu, references
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError
from ansible_collections.vmimage.azure.tests.support.images import (
    contains, files_under, host_file, qcow2_with_backing, qcow2_with_data_file, vmdk_descriptor, vmdk_sparse_descriptor, write_sparse)

MIB = 1 << 20


@pytest.fixture
def host(tmp_path, qemu_img):
    """``root/host/secret.bin`` holds the marker; the untrusted image goes in ``root/img/``."""
    (tmp_path / 'host').mkdir()
    (tmp_path / 'img').mkdir()
    return types.SimpleNamespace(root=tmp_path, img=tmp_path / 'img', secret=host_file(tmp_path / 'host' / 'secret.bin'),
                                 qemu_img=qemu_img)


def _raw_with_qcow2_header(h):
    """A raw disk whose guest wrote a qcow2 header (with a backing file) into its first sector."""
    model = qcow2_with_backing(h.root / 'model.qcow2', h.secret)
    with open(model, 'rb') as fh:
        head = fh.read(4096)
    os.unlink(model)
    return write_sparse(h.img / 'disk.raw', 2 * MIB, [(0, head)]), 'qcow2'


def _symlinked_extent(h):
    os.symlink(h.secret, h.img / 'disk-flat.vmdk')
    return vmdk_descriptor(h.img / 'disk.vmdk', [(2048, 'FLAT', 'disk-flat.vmdk')]), 'vmdk'


def _fifo_extent(h):
    os.mkfifo(h.img / 'disk-flat.vmdk')
    return vmdk_descriptor(h.img / 'disk.vmdk', [(2048, 'FLAT', 'disk-flat.vmdk')]), 'vmdk'


def _two_gb_flat_with_one_outside(h):
    write_sparse(h.img / 'disk-f001.vmdk', MIB, [(0, b'inside')])
    return vmdk_descriptor(h.img / 'disk.vmdk', [(2048, 'FLAT', 'disk-f001.vmdk'), (2048, 'FLAT', '../host/secret.bin')],
                           create_type='twoGbMaxExtentFlat'), 'vmdk'


def _nested_sparse(h):
    vmdk_sparse_descriptor(h.img / 'inner.vmdk', [(2048, 'FLAT', '../host/secret.bin')])
    return vmdk_descriptor(h.img / 'disk.vmdk', [(2048, 'SPARSE', 'inner.vmdk')], create_type='twoGbMaxExtentSparse'), 'vmdk'


def _vmdk_parent(h):
    write_sparse(h.img / 'disk-flat.vmdk', MIB, [(0, b'inside')])
    h.qemu_img('create', '-q', '-f', 'vmdk', h.root / 'host' / 'parent.vmdk', '1M')
    return vmdk_descriptor(h.img / 'disk.vmdk', [(2048, 'FLAT', 'disk-flat.vmdk')], parent='../host/parent.vmdk'), 'vmdk'


HOSTILE = {
    'qcow2_backing_absolute': (lambda h: (qcow2_with_backing(h.img / 'disk.qcow2', h.secret), 'qcow2'), 'backing_file'),
    'qcow2_backing_relative': (lambda h: (qcow2_with_backing(h.img / 'disk.qcow2', '../host/secret.bin'), 'qcow2'), 'backing_file'),
    'raw_with_qcow2_header': (_raw_with_qcow2_header, 'backing_file'),
    'qcow2_data_file_outside': (lambda h: (qcow2_with_data_file(h.img / 'disk.qcow2', h.root / 'host' / 'data.bin'), 'qcow2'),
                                'external_data_file'),
    'qcow2_data_file_beside': (lambda h: (qcow2_with_data_file(h.img / 'disk.qcow2', h.img / 'disk.data'), 'qcow2'),
                               'external_data_file'),
    'vmdk_extent_dotdot': (lambda h: (vmdk_descriptor(h.img / 'disk.vmdk', [(2048, 'FLAT', '../host/secret.bin')]), 'vmdk'),
                           'outside_extent'),
    'vmdk_extent_absolute': (lambda h: (vmdk_descriptor(h.img / 'disk.vmdk', [(2048, 'FLAT', h.secret)]), 'vmdk'), 'outside_extent'),
    'vmdk_extent_symlink': (_symlinked_extent, 'outside_extent'),
    'vmdk_extent_fifo': (_fifo_extent, 'outside_extent'),
    'vmdk_two_gb_flat_one_outside': (_two_gb_flat_with_one_outside, 'outside_extent'),
    'vmdk_sparse_capacity_0': (lambda h: (vmdk_sparse_descriptor(h.img / 'disk.vmdk', [(2048, 'FLAT', '../host/secret.bin')]), 'vmdk'),
                               'outside_extent'),
    'vmdk_nested_descriptor': (_nested_sparse, 'outside_extent'),
    'vmdk_parent': (_vmdk_parent, 'backing_file'),
}


def _clean_files(h):
    """The regular files (symlinks and fifos aside) that do not hold the host marker."""
    return [n for n in files_under(h.root)
            if not os.path.islink(h.root / n) and os.path.isfile(h.root / n) and not contains(h.root / n)]


@pytest.fixture
def no_qemu(monkeypatch):
    calls = []
    monkeypatch.setattr(qemu, 'run', lambda *a, **k: calls.append(a) or pytest.fail('qemu-img was run: %s' % (a,)))
    return calls


@pytest.mark.parametrize('name', [n for n in HOSTILE if n != 'vmdk_extent_fifo'])
def test_the_hostile_images_really_leak(host, name):
    """Without the check, qemu-img copies the host file (or the parent) into what it writes."""
    path, fmt = HOSTILE[name][0](host)
    out = host.root / 'leak.raw'
    host.qemu_img('convert', '-f', fmt, '-O', 'raw', path, out)
    if name == 'vmdk_parent':
        assert host.qemu_img.info(path, 'vmdk')['backing-filename'] == '../host/parent.vmdk'
    else:
        assert contains(out)


@pytest.mark.parametrize('name', list(HOSTILE))
@pytest.mark.parametrize('mode', ['dest', 'in_place', 'check_mode'])
def test_hostile_image_is_refused_before_qemu_img_runs(host, no_qemu, name, mode):
    path, dummy = HOSTILE[name][0](host)
    code = HOSTILE[name][1]
    listing, clean = files_under(host.root), _clean_files(host)
    kwargs = {'dest': str(host.root / 'out.vhd')} if mode != 'in_place' else {'in_place': True}
    with pytest.raises(VhdError) as err:
        convert.run(path, check_mode=mode == 'check_mode', **kwargs)
    assert err.value.code == code
    assert 'qemu-img convert on a trusted host' in err.value.message and 'allow_backing_file: true' in err.value.message
    assert no_qemu == [] and files_under(host.root) == listing          # nothing created
    assert [n for n in clean if contains(host.root / n)] == []          # the marker went nowhere


@pytest.mark.parametrize('name', list(HOSTILE))
def test_vhd_info_reports_them_as_errors(host, no_qemu, name):
    path, fmt = HOSTILE[name][0](host)
    res = image.inspect_image(path)
    assert res['format'] == fmt and res['azure_ready'] is False
    found = [p for p in res['problems'] if p['code'] == HOSTILE[name][1]]
    assert found and found[0]['severity'] == 'error' and 'allow_backing_file: true' in found[0]['message']


def test_qcow2_header_is_read_without_qemu(host, no_qemu):
    path = qcow2_with_backing(host.img / 'disk.qcow2', '../host/secret.bin', 'raw')
    fd = os.open(path, os.O_RDONLY)
    try:
        hdr = references.qcow2_header(fd)
    finally:
        os.close(fd)
    assert (hdr['backing_file'], hdr['backing_format'], hdr['external_data']) == ('../host/secret.bin', 'raw', False)
    data = qcow2_with_data_file(host.img / 'data.qcow2', host.img / 'data.bin')
    fd = os.open(data, os.O_RDONLY)
    try:
        hdr = references.qcow2_header(fd)
    finally:
        os.close(fd)
    assert (hdr['backing_file'], hdr['external_data'], hdr['data_file'], hdr['data_file_raw']) == (None, True, str(host.img / 'data.bin'), True)


@pytest.mark.parametrize('subformat', ['monolithicFlat', 'twoGbMaxExtentFlat', 'twoGbMaxExtentSparse'])
def test_extents_in_the_image_directory_are_part_of_the_image(host, subformat):
    raw = write_sparse(host.root / 'src.raw', 21 * MIB, [(0, b'boot'), (20 * MIB, b'end')])
    path = str(host.img / 'disk.vmdk')
    host.qemu_img('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=' + subformat, raw, path)
    assert len(os.listdir(host.img)) > 1
    result = convert.run(path, str(host.root / 'out.vhd'))
    assert result['action'] == 'convert' and result['azure_ready'] is True
    with open(host.root / 'out.vhd', 'rb') as fh:
        assert fh.read(21 * MIB) == open(raw, 'rb').read()


def test_a_symlinked_image_still_finds_its_own_extents(host):
    raw = write_sparse(host.root / 'src.raw', 2 * MIB, [(0, b'boot')])
    host.qemu_img('convert', '-f', 'raw', '-O', 'vmdk', raw, host.img / 'disk.vmdk')
    os.symlink(host.img / 'disk.vmdk', host.root / 'link.vmdk')
    assert convert.plan(str(host.root / 'link.vmdk'), str(host.root / 'out.vhd'))['action'] == 'convert'


@pytest.mark.parametrize('name', ['qcow2_backing_absolute', 'qcow2_backing_relative', 'qcow2_data_file_outside', 'vmdk_extent_dotdot'])
def test_allow_backing_file_converts_a_trusted_image(host, name):
    path, dummy = HOSTILE[name][0](host)
    dest = str(host.root / 'out.vhd')
    result = convert.run(path, dest, allow_backing_file=True)
    assert result['action'] == 'convert' and result['changed'] is True
    assert contains(dest)          # the data came through the named file, as asked
    assert len(result['warnings']) == 1 and 'allow_backing_file is true' in result['warnings'][0]
    assert convert.run(path, dest, allow_backing_file=True)['changed'] is False


def test_allowed_backing_chain_is_opened_with_recorded_formats_only(host, monkeypatch):
    middle = qcow2_with_backing(host.img / 'middle.qcow2', host.secret, 'raw')
    top = qcow2_with_backing(host.img / 'top.qcow2', 'middle.qcow2', 'qcow2')
    calls = []
    real_run = qemu.run
    monkeypatch.setattr(qemu, 'run', lambda args, *a: calls.append(list(args)) or real_run(args, *a))
    convert.run(top, str(host.root / 'out.vhd'), allow_backing_file=True)
    infos = [(c[c.index('-f') + 1], os.path.basename(c[-1])) for c in calls if c[0] == 'info']
    assert infos == [('qcow2', 'top.qcow2'), ('qcow2', 'middle.qcow2'), ('raw', 'secret.bin')]
    assert all('--backing-chain' not in c for c in calls) and middle and contains(host.root / 'out.vhd')


def test_allowed_backing_file_without_a_recorded_format_is_refused(host, no_qemu):
    path = qcow2_with_backing(host.img / 'disk.qcow2', host.secret, 'raw')
    with open(path, 'r+b') as fh:       # turn the backing format extension into an unknown one
        data = fh.read(65536)
        at = data.index(struct.pack('>I', 0xE2792ACA))
        fh.seek(at)
        fh.write(struct.pack('>I', 0x1234ABCD))
    assert 'backing-filename-format' not in subprocess.run(['qemu-img', 'info', '-f', 'qcow2', '--output=json', path],
                                                           capture_output=True, text=True, check=True).stdout
    with pytest.raises(VhdError) as err:
        convert.run(path, str(host.root / 'out.vhd'), allow_backing_file=True)
    assert err.value.code == 'backing_format_unknown' and 'qemu-img rebase -u' in err.value.message
    assert not os.path.exists(host.root / 'out.vhd')


def test_allowed_backing_file_through_a_protocol_is_refused(host, no_qemu):
    path = qcow2_with_backing(host.img / 'disk.qcow2', 'nbd://127.0.0.1:9/export', 'raw')
    with pytest.raises(VhdError) as err:
        convert.run(path, str(host.root / 'out.vhd'), allow_backing_file=True)
    assert err.value.code == 'backing_file' and 'protocol' in err.value.message


def test_qemu_img_info_is_a_second_opinion(host, monkeypatch):
    """Even if the header check missed a reference, qemu-img info (run without --backing-chain,
    so it opens no backing file) finds it before anything is converted."""
    path = qcow2_with_backing(host.img / 'disk.qcow2', host.secret)
    monkeypatch.setattr(references, 'find', lambda *a, **k: [])
    with pytest.raises(VhdError) as err:
        convert.run(path, str(host.root / 'out.vhd'))
    assert err.value.code == 'backing_file'
    assert not os.path.exists(host.root / 'out.vhd')


def test_from_qemu_info_reads_data_file_and_extents(host):
    data = qcow2_with_data_file(host.img / 'disk.qcow2', host.root / 'host' / 'data.bin')
    assert [r['code'] for r in references.from_qemu_info(qemu.info(data, 'qcow2')[0], data)] == ['external_data_file']
    vmdk = vmdk_descriptor(host.img / 'disk.vmdk', [(2048, 'FLAT', '../host/secret.bin')])
    refs = references.from_qemu_info(qemu.info(vmdk, 'vmdk')[0], vmdk)
    assert refs and {r['code'] for r in refs} == {'outside_extent'}


def test_a_raw_file_with_a_qcow2_header_is_never_treated_as_raw(host, no_qemu):
    """qemu-img would read it as qcow2, and so do we: it is refused, also when declared raw."""
    path, dummy = _raw_with_qcow2_header(host)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert image.detect_format(fd, os.fstat(fd).st_size) == 'qcow2'
    finally:
        os.close(fd)
    with pytest.raises(VhdError) as err:
        convert.run(path, str(host.root / 'out.vhd'), source_format='raw')
    assert err.value.code == 'format_mismatch'
    assert files_under(host.root) == ['host/secret.bin', 'img/disk.raw']


def test_names_in_messages_are_printable_and_bounded():
    assert references.show('a\nb\x1b') == '"a\\x0ab\\x1b"'
    assert len(references.show('x' * 5000)) < 210
