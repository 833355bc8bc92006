# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The main job, playbooks/build_local.yml, end to end as `make demo` runs it: a Debian 12 VM booted with
qemu, prepared with prepare_linux, generalized with generalize (it powers off), converted, checked,
uploaded to Azurite, downloaded and booted through its own GRUB to a login prompt with new host keys.

Afterwards the disk that was uploaded is read without mounting it: prepared (serial console on the
kernel command line, Hyper-V drivers in the initramfs config, cloud-init's Azure datasource) and
generalized (no host keys, empty machine-id, no provisioning user)."""
from __future__ import annotations

import os
import subprocess

from ansible_collections.vmimage.azure.tests.support import guests
from ansible_collections.vmimage.azure.tests.integration.conftest import _tool

ROOT = guests.ROOT


def test_build_local_main_job(tmp_path):
    manifest = guests.debian12_disk()
    host_before = guests.host_identity()
    work = tmp_path / 'work'
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', PATH=os.path.dirname(_tool('ansible-playbook')) + os.pathsep + os.environ['PATH'])
    argv = [str(ROOT / 'scripts' / 'with_azurite.sh'), str(tmp_path / 'azurite'), _tool('ansible-playbook'),
            '-i', str(ROOT / 'playbooks' / 'inventory' / 'localhost.yml'), str(ROOT / 'playbooks' / 'build_local.yml'),
            '-e', 'build_local_workdir=%s' % work]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=1500, check=False)
    output = proc.stdout + proc.stderr
    try:
        assert proc.returncode == 0, output[-8000:]
        assert 'failed=0' in output and 'unreachable=0' in output
        for label in ('upload ', 'download ', 'first boot ', 'seconds '):
            assert '"%s' % label in output, label
        assert 'host keys all new' in output
        serial = (work / 'proof' / 'serial.log').read_text(errors='replace')
        assert ' login: ' in serial and 'Debian GNU/Linux 12' in serial
        assert (work / 'proof' / 'screen.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    finally:
        for folder in ('vm', 'proof'):
            if (work / folder / 'qemu.json').exists():
                guests.script('qemu_vm').stop(str(work / folder))
    assert guests.host_identity() == host_before

    with guests.Ext4Reader(work / 'out' / 'disk.vhd') as disk:
        grub = disk.read('/boot/grub/grub.cfg')
        assert 'console=ttyS0,115200n8' in grub and 'earlyprintk=ttyS0' in grub and ' quiet' not in grub
        modules = disk.read('/etc/initramfs-tools/modules')
        assert all(name in modules.split() for name in ('hv_vmbus', 'hv_netvsc', 'hv_storvsc'))
        assert 'Azure' in disk.read('/etc/cloud/cloud.cfg.d/91-vmimage-azure.cfg')
        assert [n for n in disk.listdir('/etc/ssh') if n.startswith('ssh_host_')] == []
        assert disk.read('/etc/machine-id') == ''
        assert manifest['user'] not in disk.read('/etc/passwd')
        assert not disk.exists('/home/%s' % manifest['user'])
