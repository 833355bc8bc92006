# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.vhd and vhd_info run by ansible-playbook on images that qemu-img makes.

After ``vhd`` every image must read back through ``qemu-img info -f vpc`` with the size aligned up
to 1 MiB, and ``qemu-img compare`` must find the same content as the raw it came from.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.tests.support.images import (
    contains, files_under, host_file, qcow2_with_backing, qcow2_with_data_file, vmdk_descriptor, write_sparse)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vhd_ansible import fingerprint, qemu_compare, qemu_info, run_steps, step  # noqa: E402  pylint: disable=wrong-import-position

# One xdist worker runs this file (with --dist loadgroup) so the module-scoped playbook fixtures run once.
pytestmark = [pytest.mark.skipif(shutil.which('qemu-img') is None, reason='qemu-img (qemu-utils) not installed'),
              pytest.mark.xdist_group('vhd_modules')]

MIB = 1 << 20
SRC_SIZE = 20 * MIB + 7 * 512
VHD, INFO = 'vmimage.azure.vhd', 'vmimage.azure.vhd_info'
# name -> qemu-img convert options producing that source from the raw
FORMATS = {
    'raw': None,
    'qcow2': ['-O', 'qcow2'],
    'vmdk': ['-O', 'vmdk'],
    'vhdx': ['-O', 'vhdx'],
    'vpc_dynamic': ['-O', 'vpc'],
    'vpc_fixed': ['-O', 'vpc', '-o', 'subformat=fixed'],
    'vpc_fixed_force_size': ['-O', 'vpc', '-o', 'subformat=fixed,force_size'],
}
QEMU_FORMAT = {'raw': 'raw', 'qcow2': 'qcow2', 'vmdk': 'vmdk', 'vhdx': 'vhdx'}


def align(size):
    return -(-size // MIB) * MIB


def qemu(*args):
    subprocess.run(['qemu-img'] + [str(a) for a in args], check=True, capture_output=True)


def write_raw(path, size, seed=7):
    """A sparse raw disk with random data at the start, the middle and in the last sector."""
    rnd = random.Random(seed)
    with open(path, 'wb') as fh:
        fh.truncate(size)
        for offset in (0, size // 2 - 4096, size - 512):
            fh.seek(offset)
            fh.write(rnd.randbytes(512 if offset == size - 512 else 64 * 1024))
    return path


def sparse_copy(src, dst):
    subprocess.run(['cp', '--sparse=always', str(src), str(dst)], check=True)


def tmp_leftovers(folder):
    return [n for n in os.listdir(folder) if 'vmimage-tmp' in n]


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp('sources')
    raw = write_raw(folder / 'src.raw', SRC_SIZE)
    made = {'raw': raw}
    for name, opts in FORMATS.items():
        if opts:
            made[name] = folder / ('src.' + name)
            qemu('convert', '-f', 'raw', *opts, raw, made[name])
    return made


def qemu_format(name):
    return QEMU_FORMAT.get(name, 'vpc')


@pytest.fixture(scope='module')
def converted(sources, tmp_path_factory):
    """Every format made Azure-ready in place (on a copy) and to a dest, plus vhd_info before/after: one playbook."""
    work = tmp_path_factory.mktemp('converted')
    steps, expect = [], {}
    for name, src in sources.items():
        copy = work / ('inplace.' + name)
        sparse_copy(src, copy)
        dest = work / ('dest-%s.vhd' % name)
        expect[name] = {'inplace': copy, 'dest': dest, 'source_fp': fingerprint(src),
                        'size': align(qemu_info(src, qemu_format(name))['virtual-size'])}
        steps += [step(INFO, path=str(copy)), step(VHD, diff=True, path=str(copy), in_place=True),
                  step(VHD, path=str(src), dest=str(dest)), step(INFO, path=str(copy))]
    results = run_steps(work, steps)
    for i, name in enumerate(sources):
        expect[name].update(zip(('info_before', 'inplace_result', 'dest_result', 'info_after'), results[4 * i:4 * i + 4]))
    return expect


@pytest.mark.parametrize('name', list(FORMATS))
def test_vhd_makes_an_aligned_fixed_vhd_with_the_same_content(name, sources, converted):
    c = converted[name]
    for key in ('inplace', 'dest'):
        res, path = c[key + '_result'], c[key]
        assert not res.get('failed'), res.get('msg')
        assert res['changed'] is True and res['path'] == str(path)
        assert res['virtual_size'] == c['size'] and res['virtual_size'] % MIB == 0
        assert res['file_size'] == os.path.getsize(path) == c['size'] + 512
        info = qemu_info(path, 'vpc')
        assert info['virtual-size'] == c['size']
        cmp = qemu_compare(sources['raw'], 'raw', path, 'vpc')
        assert cmp.returncode == 0, cmp.stdout + cmp.stderr
        assert 2 * 64 * 1024 + 512 <= res['allocated_bytes'] < MIB and res['azure_ready'] is True
        assert 'data_bytes' not in res          # vhd reads no data: only allocated_bytes
    assert fingerprint(sources[name]) == c['source_fp']           # dest mode leaves the source alone
    assert tmp_leftovers(c['inplace'].parent) == []


@pytest.mark.parametrize('name, action, fmt', [
    ('raw', 'append_footer', 'raw'), ('qcow2', 'convert', 'qcow2'), ('vmdk', 'convert', 'vmdk'),
    ('vhdx', 'convert', 'vhdx'), ('vpc_dynamic', 'convert', 'vpc'), ('vpc_fixed', 'realign', 'vpc'),
    ('vpc_fixed_force_size', 'realign', 'vpc'),
])
def test_vhd_reports_action_format_and_diff(name, action, fmt, sources, converted):
    res = converted[name]['inplace_result']
    assert (res['action'], res['format']) == (action, fmt)
    before_size = qemu_info(sources[name], qemu_format(name))['virtual-size']
    assert res['diff']['before']['format'] == fmt and res['diff']['before']['virtual_size'] == before_size
    assert res['diff']['after'] == {'format': 'vpc', 'disk_type': 'fixed', 'virtual_size': converted[name]['size']}


@pytest.mark.parametrize('name, codes', [
    ('raw', {'not_vhd'}), ('qcow2', {'not_vhd'}), ('vmdk', {'not_vhd'}), ('vhdx', {'not_vhd'}),
    ('vpc_dynamic', {'dynamic_vhd'}), ('vpc_fixed', {'misaligned'}), ('vpc_fixed_force_size', {'misaligned'}),
])
def test_vhd_info_before_and_after(name, codes, converted):
    before, after = converted[name]['info_before'], converted[name]['info_after']
    assert not before.get('failed') and before['changed'] is False
    assert before['azure_ready'] is False and before['format'] == qemu_format(name)
    assert {p['code'] for p in before['problems'] if p['severity'] == 'error'} == codes
    assert any(p['severity'] == 'error' for p in before['problems'])
    assert all(set(p) >= {'code', 'message', 'severity'} for p in before['problems'])
    assert after['azure_ready'] is True and after['format'] == 'vpc' and after['disk_type'] == 'fixed'
    assert after['virtual_size'] == converted[name]['size'] and after['footer']['checksum_ok'] is True
    assert not [p for p in after['problems'] if p['severity'] == 'error']


@pytest.mark.parametrize('name, make', [
    ('raw', sparse_copy),
    ('qcow2', lambda src, dst: qemu('convert', '-f', 'raw', '-O', 'qcow2', src, dst)),
])
def test_four_step_idempotence(name, make, sources, tmp_path):
    """check, apply, check, apply -> changed, changed, not changed, not changed; check mode touches nothing."""
    path = tmp_path / ('disk.' + name)
    make(sources['raw'], path)
    stat = step('ansible.builtin.stat', path=str(path), checksum_algorithm='sha256')
    vhd = {'path': str(path), 'in_place': name != 'raw'}
    results = run_steps(tmp_path, [stat, step(VHD, check=True, diff=True, **vhd), stat,
                                   step(VHD, **vhd), stat,
                                   step(VHD, check=True, **vhd), stat, step(VHD, **vhd), stat])
    stats = [(r['stat']['checksum'], r['stat']['size'], r['stat']['mtime']) for r in results[0::2]]
    runs = results[1::2]
    assert stats[0] == stats[1] and stats[1] != stats[2] and stats[2] == stats[3] == stats[4]
    assert [r.get('changed') for r in runs] == [True, True, False, False]
    assert [r['action'] for r in runs] == [runs[0]['action']] * 2 + ['none', 'none']
    assert [r['virtual_size'] for r in runs] == [21 * MIB] * 4
    assert runs[0]['diff']['after']['virtual_size'] == 21 * MIB and stats[2][1] == 21 * MIB + 512
    assert sorted(os.listdir(tmp_path)) == ['disk.' + name, 'playbook.yml']


@pytest.mark.parametrize('name, make', [
    ('raw', sparse_copy),
    ('qcow2', lambda src, dst: qemu('convert', '-f', 'raw', '-O', 'qcow2', src, dst)),
    ('vmdk', lambda src, dst: qemu('convert', '-f', 'raw', '-O', 'vmdk', src, dst)),
])
def test_four_step_idempotence_with_dest(name, make, sources, tmp_path):
    """With dest: check, apply, check, apply -> changed, changed, not changed, not changed; the
    source is never touched, check mode creates nothing, the reruns leave dest as it is."""
    path, dest = tmp_path / ('disk.' + name), tmp_path / 'out.vhd'
    make(sources['raw'], path)
    source_fp = fingerprint(path)
    stat = step('ansible.builtin.stat', path=str(dest), checksum_algorithm='sha256')
    vhd = {'path': str(path), 'dest': str(dest)}
    results = run_steps(tmp_path, [stat, step(VHD, check=True, diff=True, **vhd), stat, step(VHD, **vhd), stat,
                                   step(VHD, check=True, diff=True, **vhd), stat, step(VHD, **vhd), stat])
    stats = [r['stat'] for r in results[0::2]]
    runs = results[1::2]
    assert [r.get('failed', False) for r in runs] == [False] * 4, [r.get('msg') for r in runs]
    assert [r['changed'] for r in runs] == [True, True, False, False]
    assert [r['action'] for r in runs] == [runs[0]['action']] * 2 + ['none', 'none']
    assert runs[0]['action'] == ('append_footer' if name == 'raw' else 'convert')
    assert stats[0]['exists'] is False and stats[1]['exists'] is False                   # check mode wrote nothing
    assert [(s['checksum'], s['mtime'], s['inode']) for s in stats[3:]] == [(stats[2]['checksum'], stats[2]['mtime'], stats[2]['inode'])] * 2
    assert runs[2]['diff']['before'] == runs[2]['diff']['after']
    assert [r['virtual_size'] for r in runs] == [21 * MIB] * 4 and stats[2]['size'] == 21 * MIB + 512
    assert all(r['state_file'] == str(tmp_path / '.out.vhd.vmimage.json') for r in runs)
    assert fingerprint(path) == source_fp
    assert sorted(os.listdir(tmp_path)) == sorted(['.out.vhd.vmimage.json', 'disk.' + name, 'out.vhd', 'playbook.yml'])
    cmp = qemu_compare(sources['raw'], 'raw', dest, 'vpc')
    assert cmp.returncode == 0, cmp.stdout + cmp.stderr


def test_dest_from_another_source_needs_force(sources, tmp_path):
    dest = tmp_path / 'out.vhd'
    other = tmp_path / 'other.raw'
    write_raw(other, SRC_SIZE, seed=99)
    first, refused, forced, again = run_steps(tmp_path, [
        step(VHD, path=str(sources['raw']), dest=str(dest)), step(VHD, path=str(other), dest=str(dest)),
        step(VHD, path=str(other), dest=str(dest), force=True), step(VHD, path=str(other), dest=str(dest))])
    assert first['changed'] is True
    assert refused['failed'] is True and refused['code'] == 'dest_exists' and 'force: true' in refused['msg']
    assert forced['changed'] is True and again['changed'] is False
    assert qemu_compare(other, 'raw', dest, 'vpc').returncode == 0


def test_file_attributes_of_dest(sources, tmp_path):
    """mode is applied to dest, predicted in check mode (without applying it) and idempotent."""
    dest = tmp_path / 'out.vhd'
    vhd = {'path': str(sources['raw']), 'dest': str(dest)}
    stat = step('ansible.builtin.stat', path=str(dest))
    created, st1, predicted, st2, applied, st3, again = run_steps(tmp_path, [
        step(VHD, mode='0600', **vhd), stat, step(VHD, check=True, diff=True, mode='0644', **vhd), stat,
        step(VHD, diff=True, mode='0644', **vhd), stat, step(VHD, mode='0644', **vhd)])
    assert created['changed'] is True and st1['stat']['mode'] == '0600'
    assert predicted['changed'] is True and predicted['action'] == 'none' and st2['stat']['mode'] == '0600'
    assert predicted['diff']['before']['mode'] == '0600' and predicted['diff']['after']['mode'] == '0644'
    assert applied['changed'] is True and applied['action'] == 'none' and st3['stat']['mode'] == '0644'
    assert again['changed'] is False


def test_in_place_conversion_keeps_the_mode_of_the_original(sources, tmp_path):
    path = tmp_path / 'disk.qcow2'
    shutil.copyfile(sources['qcow2'], path)
    path.chmod(0o640)
    res, st = run_steps(tmp_path, [step(VHD, path=str(path), in_place=True), step('ansible.builtin.stat', path=str(path))])
    assert res['changed'] is True and res['action'] == 'convert' and st['stat']['mode'] == '0640'
    assert qemu_info(path, 'vpc')['virtual-size'] == 21 * MIB and tmp_leftovers(tmp_path) == []


def test_sparse_64_gib_raw_gets_its_footer_without_allocating(tmp_path):
    path = tmp_path / 'big.raw'
    write_raw(path, 64 << 30)
    blocks = os.stat(path).st_blocks
    res, info = run_steps(tmp_path, [step(VHD, path=str(path)), step(INFO, path=str(path))])
    assert res['changed'] and res['action'] == 'append_footer' and res['virtual_size'] == 64 << 30
    assert os.path.getsize(path) == (64 << 30) + 512
    assert (os.stat(path).st_blocks - blocks) * 512 <= 64 * 1024
    assert qemu_info(path, 'vpc')['virtual-size'] == 64 << 30
    assert info['azure_ready'] is True and info['allocated_bytes'] < 4 * MIB


def _truncated_dynamic(folder, sources):
    path = folder / 'truncated.vhd'
    with open(sources['vpc_dynamic'], 'rb') as fh:
        data = fh.read()
    path.write_bytes(data[:1024] + data[-512:])       # dynamic header cut in half, footer kept
    return path


def _corrupt(folder, sources, name, offset, length):
    path = folder / ('corrupt.' + name)
    shutil.copyfile(sources[name], path)
    with open(path, 'r+b') as fh:
        fh.seek(offset)
        fh.write(b'\xa5' * length)
    return path


def _bad_checksum(folder, sources):
    path = folder / 'badsum.vhd'
    shutil.copyfile(sources['vpc_fixed_force_size'], path)
    with open(path, 'r+b') as fh:
        fh.seek(-512 + 40, os.SEEK_END)             # original_size: checksum no longer matches
        fh.write(b'\x01')
    return path


def _immutable(folder, sources):
    path = folder / 'readonly.raw'
    shutil.copyfile(sources['raw'], path)
    if os.geteuid() == 0:
        if subprocess.run(['chattr', '+i', str(path)], capture_output=True, check=False).returncode:
            pytest.skip('cannot make a file unwritable for root (chattr +i unsupported here)')
    else:
        path.chmod(0o444)
    return path


def _write(path, data):
    path.write_bytes(data)
    return path


def _hostile(kind):
    """An untrusted image in ``img/`` that names the host file ``host/secret.bin`` (which holds MARKER)."""
    def make(folder, sources):
        (folder / 'host').mkdir()
        (folder / 'img').mkdir()
        secret = host_file(folder / 'host' / 'secret.bin')
        if kind == 'backing':
            return qcow2_with_backing(folder / 'img' / 'disk.qcow2', secret)
        if kind == 'data_file':
            return qcow2_with_data_file(folder / 'img' / 'disk.qcow2', folder / 'host' / 'data.bin')
        if kind == 'dotdot':
            return vmdk_descriptor(folder / 'img' / 'disk.vmdk', [(2048, 'FLAT', '../host/secret.bin')])
        write_sparse(folder / 'img' / 'disk-f001.vmdk', MIB, [(0, b'inside')])
        return vmdk_descriptor(folder / 'img' / 'disk.vmdk', [(2048, 'FLAT', 'disk-f001.vmdk'), (2048, 'FLAT', secret)],
                               create_type='twoGbMaxExtentFlat')
    return make


def _copy_of(name):
    def make(folder, sources):
        shutil.copyfile(sources[name], folder / ('disk.' + name))
        return folder / ('disk.' + name)
    return make


TRUST_HINT = 'allow_backing_file: true'
# name -> (make(folder, sources) -> path, extra, code, text in msg); extra: 'dest' (exists, holds
# "keep me"), 'new_dest' (does not exist), 'args' (more module options), 'environment'.
BAD = {
    'missing': (lambda d, s: d / 'missing.raw', {}, 'not_found', 'does not exist'),
    'directory': (lambda d, s: d, {}, 'is_directory', 'directory'),
    'empty': (lambda d, s: _write(d / 'empty.raw', b''), {}, 'empty', '0-byte'),
    'odd_raw': (lambda d, s: _write(d / 'odd.raw', b'\1' * 1000), {}, 'not_sector_aligned', 'whole sectors'),
    'bad_checksum': (_bad_checksum, {}, 'bad_checksum', 'checksum'),
    'truncated_dynamic': (_truncated_dynamic, {}, 'truncated', 'truncated'),
    'corrupt_vhdx': (lambda d, s: _corrupt(d, s, 'vhdx', 64 * 1024, 128 * 1024), {'args': {'in_place': True}}, 'qemu_img_failed', 'qemu-img'),
    'corrupt_qcow2': (lambda d, s: _corrupt(d, s, 'qcow2', 40, 8), {'args': {'in_place': True}}, 'qemu_img_failed', 'qemu-img'),
    'dest_exists': (lambda d, s: s['raw'], {'dest': 'taken.vhd'}, 'dest_exists', 'set force: true to replace it'),
    'not_writable': (_immutable, {}, 'not_writable', 'not writable'),
    'no_qemu_img': (lambda d, s: s['qcow2'], {'new_dest': 'out.vhd', 'environment': {'PATH': '/nonexistent'}}, 'qemu_img_missing',
                    'qemu-utils'),
    'dest_required': (_copy_of('qcow2'), {}, 'dest_required', 'in_place: true'),
    'dest_required_dynamic_vhd': (_copy_of('vpc_dynamic'), {}, 'dest_required', 'set dest'),
    'backing_file': (_hostile('backing'), {'new_dest': 'out.vhd'}, 'backing_file', TRUST_HINT),
    'backing_file_in_place': (_hostile('backing'), {'args': {'in_place': True}}, 'backing_file', TRUST_HINT),
    'backing_file_check_mode': (_hostile('backing'), {'new_dest': 'out.vhd', 'check': True}, 'backing_file', TRUST_HINT),
    'external_data_file': (_hostile('data_file'), {'new_dest': 'out.vhd'}, 'external_data_file', TRUST_HINT),
    'outside_extent_dotdot': (_hostile('dotdot'), {'new_dest': 'out.vhd'}, 'outside_extent', TRUST_HINT),
    'outside_extent_absolute': (_hostile('absolute'), {'new_dest': 'out.vhd'}, 'outside_extent', TRUST_HINT),
}


def snapshot(folder, extra=()):
    """Fingerprints of every regular file in ``folder`` (and of ``extra``), and the list of files."""
    files = [folder / n for n in files_under(folder)] + [Path(p) for p in extra]
    return {str(p): fingerprint(p) for p in files if p.is_file() and not p.is_symlink()}, files_under(folder)


@pytest.fixture(scope='module')
def bad_runs(sources, tmp_path_factory):
    """Each bad input in its own folder; all run in one playbook. Records the folder before and after."""
    work = tmp_path_factory.mktemp('bad')
    cases, steps = {}, []
    for name, (make, extra, _code, _text) in BAD.items():
        folder = work / name
        folder.mkdir()
        path = make(folder, sources)
        kwargs = dict({'path': str(path)}, **extra.get('args', {}))
        if 'dest' in extra:
            (folder / extra['dest']).write_bytes(b'keep me')
            kwargs['dest'] = str(folder / extra['dest'])
        if 'new_dest' in extra:
            kwargs['dest'] = str(folder / extra['new_dest'])
        outside = [path] if Path(path).is_file() and not str(path).startswith(str(folder)) else []
        cases[name] = {'outside': outside, 'before': snapshot(folder, outside), 'path': path, 'folder': folder}
        steps.append(step(VHD, check=extra.get('check', False), environment=extra.get('environment'), **kwargs))
    results = run_steps(work, steps)
    for (name, case), res in zip(cases.items(), results):
        case.update(result=res, after=snapshot(case['folder'], case['outside']))
    yield cases
    for case in cases.values():
        if os.geteuid() == 0 and Path(case['path']).is_file():
            subprocess.run(['chattr', '-i', str(case['path'])], capture_output=True, check=False)


@pytest.mark.parametrize('name', list(BAD))
def test_bad_input_fails_clearly_and_writes_nothing(name, bad_runs):
    case, code, text = bad_runs[name], BAD[name][2], BAD[name][3]
    res = case["result"]
    assert res.get('failed') is True, res
    assert res['code'] == code, res['msg']
    assert text.lower() in res['msg'].lower()
    assert case['after'] == case['before']                  # same files, same bytes, same mtimes, nothing new


@pytest.mark.parametrize('name', [n for n in BAD if BAD[n][2] in ('backing_file', 'external_data_file', 'outside_extent')])
def test_the_host_file_goes_nowhere(name, bad_runs):
    folder = bad_runs[name]['folder']
    holding = [n for n in files_under(folder) if contains(folder / n)]
    assert all(n.startswith('host' + os.sep) for n in holding), holding


def test_allow_backing_file_converts_a_trusted_overlay(tmp_path):
    make = _hostile('backing')
    path = make(tmp_path, None)
    dest = tmp_path / 'out.vhd'
    vhd = {'path': str(path), 'dest': str(dest), 'allow_backing_file': True}
    check, exists, res, again, info = run_steps(tmp_path, [step(VHD, check=True, **vhd), step('ansible.builtin.stat', path=str(dest)),
                                                           step(VHD, **vhd), step(VHD, **vhd), step(INFO, path=str(path))])
    assert check['changed'] is True and check['action'] == 'convert' and exists['stat']['exists'] is False
    assert res['changed'] is True and res['action'] == 'convert' and again['changed'] is False
    assert any('backing file' in w and 'allow_backing_file' in w for w in res.get('warnings', [])), res.get('warnings')
    assert contains(dest)                   # read through the (trusted) backing file, as asked
    assert qemu_info(dest, 'vpc')['virtual-size'] == MIB
    assert 'backing_file' in {p['code'] for p in info['problems'] if p['severity'] == 'error'}


def test_vhd_info_reports_backing_and_data_files(tmp_path):
    paths = []
    for kind in ('backing', 'data_file', 'dotdot'):
        (tmp_path / kind).mkdir()
        paths.append(_hostile(kind)(tmp_path / kind, None))
    results = run_steps(tmp_path, [step(INFO, path=str(p)) for p in paths])
    for res, code in zip(results, ('backing_file', 'external_data_file', 'outside_extent')):
        assert not res.get('failed') and res['azure_ready'] is False
        assert [p['severity'] for p in res['problems'] if p['code'] == code] == ['error']


def test_qemu_img_stderr_is_shown(bad_runs):
    proc = subprocess.run(['qemu-img', 'info', '-f', 'vhdx', str(bad_runs['corrupt_vhdx']['path'])], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].split(': ')[-1] in bad_runs['corrupt_vhdx']['result']['msg']


def test_vhd_info_fails_only_on_unreadable_paths(tmp_path, sources):
    empty = tmp_path / 'empty.raw'
    empty.write_bytes(b'')
    missing, on_empty, on_small = run_steps(tmp_path, [step(INFO, path=str(tmp_path / 'nope')), step(INFO, check=True, path=str(empty)),
                                                       step(INFO, path=str(sources['vpc_dynamic']))])
    assert missing['failed'] is True and 'nope' in missing['msg']
    assert not on_empty.get('failed') and on_empty['azure_ready'] is False and on_empty['problems']
    assert not on_small.get('failed') and on_small['disk_type'] == 'dynamic' and on_small['azure_ready'] is False
