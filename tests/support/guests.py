# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real Debian 12 guests for the tests: the cached bootable disk (scripts/debian_disk.py), booted with
qemu (scripts/qemu_vm.py), reached over SSH by ansible-playbook, and read afterwards without mounting
(debugfs on a read-only loop device at the partition's offset)."""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SSH_OPTIONS = '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=20'


def script(name):
    """scripts/<name>.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location('vmimage_' + name, str(ROOT / 'scripts' / (name + '.py')))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def debian12_disk():
    """The cached disk's manifest, built on first use; skips (a failure under CI=true) saying what is missing."""
    disk = script('debian_disk')
    if os.geteuid() != 0:
        pytest.skip('the Debian 12 guest tests need root: %s' % '; '.join(disk.requirements()))
    try:
        return disk.ensure(progress=print)
    except disk.DiskError as exc:
        if disk.requirements():
            pytest.skip('cannot build the Debian 12 disk here: %s' % exc)
        raise


class Guest:
    """One boot of a copy of the disk: ``start()``, ``wait_ssh()``, ``ssh(cmd)``, ``inventory()``,
    ``wait_exit()``, ``stop()``; the serial console is in ``workdir/serial.log``."""

    def __init__(self, manifest, workdir, disk=None):
        self.manifest = manifest
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.vm = script('qemu_vm')
        self.disk = Path(disk) if disk else self.workdir / 'disk.raw'
        if not self.disk.exists():
            script('debian_disk').copy(manifest, str(self.disk))
        self.state = None

    def start(self, direct_kernel=True):
        """Boot; ``direct_kernel`` boots the disk's own kernel with qemu -kernel and the serial console
        on (about 10 s faster under TCG), else through the disk's GRUB as Azure would."""
        if direct_kernel:
            append = 'root=UUID=%s ro console=ttyS0,115200 net.ifnames=0' % self.manifest['root_uuid']
            self.state = self.vm.start(str(self.disk), str(self.workdir), self.manifest['kernel'], self.manifest['initrd'], append)
        else:
            self.state = self.vm.start(str(self.disk), str(self.workdir), accel_kernel=self.manifest['kernel'])
        return self.state

    def wait_ssh(self, timeout=300):
        return self.vm.wait_ssh(str(self.workdir), timeout)

    def wait_exit(self, timeout=300):
        return self.vm.wait_exit(str(self.workdir), timeout)

    def host_keys(self):
        return self.vm.host_keys(str(self.workdir))

    def stop(self):
        if self.state:
            self.vm.stop(str(self.workdir))

    def serial(self):
        path = self.workdir / 'serial.log'
        return path.read_text(errors='replace') if path.exists() else ''

    def ssh(self, command, check=True):
        argv = ['ssh', '-i', self.manifest['key'], '-p', str(self.state['ssh_port'])] + SSH_OPTIONS.split() + [
            '%s@127.0.0.1' % self.manifest['user'], command]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if check and proc.returncode != 0:
            raise AssertionError('ssh %r failed (%d): %s' % (command, proc.returncode, proc.stderr[-2000:]))
        return proc

    def inventory(self, name='guest', **variables):
        """An INI inventory file for the guest (SSH as the provisioning user with the disk's key)."""
        values = {'ansible_host': '127.0.0.1', 'ansible_port': self.state['ssh_port'], 'ansible_user': self.manifest['user'],
                  'ansible_ssh_private_key_file': self.manifest['key'], 'ansible_python_interpreter': '/usr/bin/python3',
                  'ansible_ssh_common_args': "'%s'" % SSH_OPTIONS}
        values.update(variables)
        path = self.workdir / 'inventory.ini'
        path.write_text('%s %s\n' % (name, ' '.join('%s=%s' % item for item in values.items())))
        return path


class Ext4Reader:
    """Files of the disk's root file system, read with debugfs through a read-only loop device
    (nothing is mounted, nothing on the disk can change). Use as a context manager."""

    def __init__(self, disk, offset=1024 * 1024):
        self.disk, self.offset, self.loop = str(disk), offset, None

    def __enter__(self):
        self.loop = subprocess.run(['losetup', '--read-only', '--offset', str(self.offset), '--find', '--show', self.disk],
                                   capture_output=True, text=True, check=True).stdout.strip()
        return self

    def __exit__(self, *exc):
        subprocess.run(['losetup', '--detach', self.loop], capture_output=True, check=False)

    def _debugfs(self, request):
        proc = subprocess.run(['debugfs', '-R', request, self.loop], capture_output=True, check=False)
        return proc.stdout, proc.stderr.decode('utf-8', 'replace')

    def read(self, path):
        """The file's text, or None when it does not exist."""
        out, err = self._debugfs('cat %s' % path)
        if 'File not found' in err or 'not found by ext2_lookup' in err:
            return None
        return out.decode('utf-8', 'replace')

    def exists(self, path):
        out, err = self._debugfs('stat %s' % path)
        return b'Inode:' in out and 'not found' not in err

    def listdir(self, path):
        out, err = self._debugfs('ls -p %s' % path)
        if 'not found' in err:
            return None
        names = []
        for line in out.decode('utf-8', 'replace').splitlines():
            fields = line.strip('/').split('/')
            if len(fields) >= 5 and fields[4] not in ('.', '..', ''):
                names.append(fields[4])
        return names


def host_identity():
    """What a guest run must never change on the build host."""
    with open('/etc/hostname', encoding='utf-8', errors='replace') as handle:
        hostname_file = handle.read()
    return {'hostname': socket.gethostname(), 'nodename': os.uname().nodename, 'etc_hostname': hostname_file}


def results(path):
    return json.loads(Path(path).read_text())
