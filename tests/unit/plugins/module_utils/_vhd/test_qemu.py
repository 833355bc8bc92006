# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_vhd.qemu: every qemu-img run names the format and runs under limits and a timeout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import convert, qemu
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError
from ansible_collections.vmimage.azure.tests.support.images import write_sparse

MIB = 1 << 20
GIB = 1 << 30

FAKE = '''#!%s
import json, os, resource, sys, time
mode = os.environ.get('FAKE_QEMU_MODE', 'limits')
if mode == 'limits':
    print(json.dumps({'as': resource.getrlimit(resource.RLIMIT_AS), 'cpu': resource.getrlimit(resource.RLIMIT_CPU),
                      'argv': sys.argv[1:]}))
elif mode == 'sleep':
    time.sleep(60)
elif mode == 'spin':
    while True:
        pass
'''


@pytest.fixture
def fake_qemu(tmp_path, monkeypatch):
    """A stand-in qemu-img first on PATH; FAKE_QEMU_MODE says what it does."""
    folder = tmp_path / 'bin'
    folder.mkdir()
    exe = folder / 'qemu-img'
    exe.write_text(FAKE % sys.executable)
    exe.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (folder, os.environ.get('PATH', '/usr/bin:/bin')))

    def mode(name):
        monkeypatch.setenv('FAKE_QEMU_MODE', name)
    return mode


@pytest.fixture(params=['prlimit', 'setrlimit'])
def limiter(request, monkeypatch):
    """Both ways of setting the limits: prlimit on the command line, and Python in the child."""
    if request.param == 'setrlimit':
        real = shutil.which
        monkeypatch.setattr(qemu.shutil, 'which', lambda name, *a, **k: None if name == 'prlimit' else real(name, *a, **k))
    else:
        assert shutil.which('prlimit'), 'prlimit (util-linux) is not installed'
    return request.param


def test_info_command_line_has_openstack_limits_through_prlimit():
    argv, preexec = qemu.command(['info', '-f', 'qcow2', '/x'], qemu.INFO_LIMITS)
    assert os.path.basename(argv[0]) == 'prlimit' and preexec is None
    assert argv[1:4] == ['--as=%d' % GIB, '--cpu=30', '--'] and os.path.basename(argv[4]) == 'qemu-img'
    assert argv[5:] == ['info', '-f', 'qcow2', '/x']
    assert qemu.INFO_LIMITS == (GIB, 30, 120)


def test_convert_has_a_generous_timeout_and_no_cpu_or_memory_limit():
    limits = qemu.convert_limits(64 * GIB)
    assert limits.address_space is None and limits.cpu_seconds is None
    assert limits.timeout == 3600 + 64 * GIB // (16 * MIB)
    argv, preexec = qemu.command(['convert'], limits)
    assert os.path.basename(argv[0]) == 'qemu-img' and preexec is None


def test_limits_reach_the_qemu_img_process(fake_qemu, limiter):
    fake_qemu('limits')
    seen = json.loads(qemu.run(['info', '-f', 'raw', 'x'], 'info', qemu.INFO_LIMITS))
    assert seen == {'as': [GIB, GIB], 'cpu': [30, 30], 'argv': ['info', '-f', 'raw', 'x']}


def test_a_timeout_is_a_clear_error(fake_qemu, monkeypatch):
    fake_qemu('sleep')
    start = time.monotonic()
    with pytest.raises(VhdError) as err:
        qemu.run(['info'], 'info', qemu.Limits(GIB, 30, 0.5))
    assert time.monotonic() - start < 10
    assert err.value.code == 'qemu_img_limit' and 'did not finish within' in err.value.message


def test_a_conversion_timeout_is_a_clear_error(fake_qemu, monkeypatch, tmp_path):
    fake_qemu('sleep')
    monkeypatch.setattr(qemu, 'convert_limits', lambda size: qemu.Limits(None, None, 0.5))
    with pytest.raises(VhdError) as err:
        qemu.convert(str(tmp_path / 'a'), 'qcow2', str(tmp_path / 'b'), GIB)
    assert err.value.code == 'qemu_img_limit' and 'qemu-img convert' in err.value.message


def test_the_cpu_limit_is_a_clear_error(fake_qemu, limiter):
    fake_qemu('spin')
    with pytest.raises(VhdError) as err:
        qemu.run(['info'], 'info', qemu.Limits(GIB, 1, 60))
    # at the soft limit the kernel sends SIGXCPU, at the hard one SIGKILL: both are 1 s here
    assert err.value.code == 'qemu_img_limit' and '1 s of CPU' in err.value.message
    assert 'signal SIGKILL' in err.value.message or 'signal SIGXCPU' in err.value.message


def test_real_qemu_img_out_of_address_space_is_a_clear_error(qemu_img, tmp_path, limiter):
    path = qemu_img.create(tmp_path / 'd.qcow2', '1M', 'qcow2')
    with pytest.raises(VhdError) as err:
        qemu.run(['info', '-f', 'qcow2', path], 'info', qemu.Limits(20 * MIB, 30, 60))
    assert err.value.code == 'qemu_img_limit' and '20 MiB of address space' in err.value.message


def test_real_qemu_img_info_fits_in_the_limits(qemu_img, tmp_path, limiter):
    path = qemu_img.create(tmp_path / 'd.qcow2', '1M', 'qcow2')
    assert qemu.info(path, 'qcow2')[0]['format'] == 'qcow2'


def test_every_qemu_img_call_names_the_format_and_has_limits(qemu_img, tmp_path, monkeypatch):
    """Run real conversions and record each qemu-img command line: -f is always the detected
    format, info runs under 1 GiB / 30 s, every call has a timeout."""
    raw = write_sparse(tmp_path / 'src.raw', 2 * MIB, [(0, b'boot')])
    sources = []
    for fmt in ('qcow2', 'vmdk', 'vhdx'):
        sources.append(str(tmp_path / ('disk.' + fmt)))
        qemu_img('convert', '-f', 'raw', '-O', fmt, raw, sources[-1])
    calls = []
    real_run = subprocess.run

    def spy(argv, **kwargs):
        calls.append((list(argv), kwargs.get('timeout'), kwargs.get('preexec_fn')))
        kwargs.setdefault('check', False)
        return real_run(argv, check=kwargs.pop('check'), **kwargs)
    monkeypatch.setattr(qemu.subprocess, 'run', spy)
    for src in sources:
        convert.run(src, src + '.vhd')
    assert len(calls) == 6
    for argv, timeout, preexec in calls:
        if os.path.basename(argv[0]) == 'prlimit':
            limits, argv = argv[1:argv.index('--')], argv[argv.index('--') + 1:]
        else:
            limits = 'preexec' if preexec else []
        sub = argv[1]
        fmt = argv[argv.index('-f') + 1]
        assert fmt == os.path.splitext(argv[-1] if sub == 'info' else argv[-2])[1][1:]
        assert timeout and timeout > 0
        if sub == 'info':
            assert limits in (['--as=%d' % GIB, '--cpu=30'], 'preexec') and '--backing-chain' not in argv
        else:
            assert sub == 'convert' and limits == [] and timeout >= 3600
