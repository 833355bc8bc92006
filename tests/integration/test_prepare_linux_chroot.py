# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The prepare_linux role offline on a real Debian 12 tree, through the community.general.chroot connection.

The tree is scripts/debian_tree.py's, with what a bootable disk adds (linux-image-cloud-amd64, grub-pc,
chrony), built once and cached under .build/debian12 by its recipe; each test extracts a fresh copy. The
copy is given what a VM prepared elsewhere carries: a swap partition and a swap file in /etc/fstab, a
kernel command line with net.ifnames=0 and crashkernel=auto, a persistent-net rule, a chrony.conf that
is a link.

ansible-playbook runs under `unshare --mount --propagation private`, with /proc, /sys and /dev bound into
the tree inside that namespace only (update-initramfs needs them; they vanish with the namespace). Then:
the four runs below, linux_readiness inside the chroot and from the build host
(root=<tree>) reporting every item ready, the tree checked file by file, and the build host untouched
(hostname, no process left with its root in the tree, no mount left below it). The runs are
community.crypto's proof: check mode (which writes nothing in the tree and shows the GRUB diff), apply,
check mode, apply -> changed, changed, not changed, not changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.tests.support import guests

# What prepare_linux requires on Debian (no rootdelay: Debian's initramfs sleeps all of it).
DEBIAN_CMDLINE = ['console=ttyS0,115200n8', 'earlyprintk=ttyS0']

ROOT = Path(__file__).resolve().parents[2]
HOST_FILES = ('/etc/hostname', '/etc/hosts', '/etc/fstab', '/etc/default/grub', '/etc/waagent.conf', '/etc/chrony/chrony.conf')
FSTAB = ('# prepared elsewhere\nUUID=0a1b2c3d-1111-2222-3333-444455556666 / ext4 errors=remount-ro 0 1\n'
         '/dev/sdb2 none swap sw 0 0\n/swapfile none swap sw 0 0\ntmpfs /tmp tmpfs defaults 0 0\n')


def _debian_tree():
    return guests.script('debian_tree')


def _tool(name):
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.skip('%s not found next to %s or on PATH' % (name, sys.executable))
    return found


def host_state():
    state = {'hostname': socket.gethostname(), 'nodename': os.uname().nodename}
    for path in HOST_FILES:
        try:
            with open(path, 'rb') as handle:
                state[path] = hashlib.sha256(handle.read()).hexdigest()
        except OSError as exc:
            state[path] = 'unreadable: %s' % exc.strerror
    return state


def tree_state(tree):
    """Every file, link and directory below the tree's /etc and /boot: kind, mode and content (or link target)."""
    state = {}
    for top in ('etc', 'boot'):
        for dirpath, dirnames, filenames in os.walk(str(tree / top)):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                info = os.lstat(path)
                if os.path.islink(path):
                    state[path] = ('link', os.readlink(path))
                elif os.path.isdir(path):
                    state[path] = ('dir', info.st_mode)
                else:
                    with open(path, 'rb') as handle:
                        state[path] = ('file', info.st_mode, hashlib.sha256(handle.read()).hexdigest())
    return state


def rooted_in(tree):
    """Processes whose root directory is the tree (or inside it)."""
    tree = os.path.realpath(str(tree))
    found = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                root = os.readlink('/proc/%s/root' % pid)
            except OSError:
                continue
            if root == tree or root.startswith(tree + '/'):
                found.append(pid)
    return found


def mounts_below(tree):
    tree = os.path.realpath(str(tree))
    with open('/proc/self/mounts', encoding='utf-8') as handle:
        return [line.split()[1] for line in handle if line.split()[1] == tree or line.split()[1].startswith(tree + '/')]


@pytest.fixture(scope='session')
def debian12_boot_tar():
    tree = _debian_tree()
    if os.geteuid() != 0:
        pytest.skip('the Debian 12 tree tests need root: %s' % '; '.join(tree.requirements()))
    if not shutil.which('unshare'):
        pytest.skip('unshare (util-linux) is not installed')
    rec = tree.recipe(tree.PACKAGES + tree.BOOT_PACKAGES)
    try:
        manifest = tree.ensure(rec=rec, progress=print)
    except tree.BuildError as exc:
        if tree.requirements():
            pytest.skip('cannot build the Debian 12 tree here: %s' % exc)
        raise
    return tree, manifest


@pytest.fixture
def tree_root(tmp_path, debian12_boot_tar):
    tree, manifest = debian12_boot_tar
    root = tmp_path / 'rootfs'
    tree.extract(manifest['tar'], str(root))
    (root / 'etc/fstab').write_text(FSTAB)
    (root / 'swapfile').write_bytes(b'\0' * 4096)
    grub = (root / 'etc/default/grub').read_text()
    assert 'GRUB_CMDLINE_LINUX=""' in grub and 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in grub
    (root / 'etc/default/grub').write_text(grub.replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="net.ifnames=0 crashkernel=auto"'))
    # a configuration file that is a link (the role writes its target, as lineinfile does)
    (root / 'etc/chrony/chrony.conf').rename(root / 'etc/chrony/chrony-site.conf')
    (root / 'etc/chrony/chrony.conf').symlink_to('chrony-site.conf')
    (root / 'etc/udev/rules.d').mkdir(parents=True, exist_ok=True)
    (root / 'etc/udev/rules.d/70-persistent-net.rules').write_text('SUBSYSTEM=="net", ATTR{address}=="00:15:5d:00:00:01", NAME="eth0"\n')
    yield root
    assert mounts_below(root) == []
    shutil.rmtree(str(root), ignore_errors=True)


@pytest.fixture
def chroot_play(tmp_path, tree_root):
    """``play(tasks_or_roles, name, *options) -> (json callback output, text)``: one ansible-playbook against the tree through
    the chroot connection, in a private mount namespace with /proc, /sys and /dev bound into the tree."""
    inventory = tmp_path / 'inventory.ini'
    inventory.write_text('[trees]\ntree ansible_host=%s ansible_connection=community.general.chroot '
                         'ansible_python_interpreter=/usr/bin/python3\n' % tree_root)
    playbook_tool = _tool('ansible-playbook')

    def play(body, name, *options):
        playbook = tmp_path / ('%s.yml' % name)
        playbook.write_text(json.dumps([dict({'hosts': 'trees', 'gather_facts': True}, **body)]))
        script = ('set -e; for fs in proc sys dev; do mount --bind /$fs "$1/$fs"; done; shift; exec "$@"')
        argv = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', str(tree_root),
                playbook_tool, '-i', str(inventory), str(playbook)] + list(options)
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_NOCOLOR='1',
                   ANSIBLE_LOCALHOST_WARNING='False',
                   ANSIBLE_COLLECTIONS_PATH=os.environ.get('ANSIBLE_COLLECTIONS_PATH') or str(ROOT / '.build' / 'collections'))
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False, timeout=900)
        try:
            data = json.loads(proc.stdout)
        except ValueError as exc:
            raise AssertionError('ansible-playbook printed no JSON (%d):\n%s\n%s' % (proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])) from exc
        if proc.returncode != 0:
            raise AssertionError('ansible-playbook failed (%d): %s\n%s' % (proc.returncode, failures(data), proc.stderr[-3000:]))
        return data, proc.stdout + proc.stderr

    return play


def failures(data):
    found = []
    for play in data.get('plays', []):
        for task in play.get('tasks', []):
            for result in task.get('hosts', {}).values():
                if result.get('failed'):
                    found.append('%s: %s' % (task['task']['name'], result.get('msg')))
    return found


def task_results(data, name):
    return [result for play in data['plays'] for task in play['tasks']
            if task['task']['name'] in (name, 'vmimage.azure.prepare_linux : ' + name) for result in task['hosts'].values()]


def test_prepare_debian12_tree_offline(tree_root, chroot_play):
    root = tree_root
    host = host_state()
    initrd = root / 'boot/initrd.img-6.1.0-50-cloud-amd64'
    assert initrd.is_file()
    role = {'roles': [{'role': 'vmimage.azure.prepare_linux'}]}

    # community.crypto's proof: check mode, apply, check mode, apply -> changed, changed, not changed, not changed
    before = tree_state(root)
    preview, _text = chroot_play(role, 'check', '--check', '--diff')
    assert preview['stats']['tree']['failures'] == 0 and preview['stats']['tree']['changed'] > 0
    assert tree_state(root) == before  # check mode wrote nothing
    grub_diff = task_results(preview, 'Set the command lines, serial console and timeout in the GRUB defaults')[0]['diff']
    grub_diff = grub_diff[0] if isinstance(grub_diff, list) else grub_diff
    assert 'GRUB_CMDLINE_LINUX="net.ifnames=0 crashkernel=auto"' in grub_diff['before']
    assert 'GRUB_CMDLINE_LINUX="net.ifnames=0 console=ttyS0,115200n8 earlyprintk=ttyS0"' in grub_diff['after']

    converge, _text = chroot_play(role, 'converge')
    assert converge['stats']['tree']['failures'] == 0 and converge['stats']['tree']['changed'] > 0
    report = task_results(converge, 'Report each item')[0]['msg']
    assert all(' - ready - ' in line for line in report if not line.startswith('skipped: ')), report
    # no grub.cfg in a tree whose disk has no GRUB installed: not regenerated, and the report says why
    assert [line for line in report if line.startswith('skipped: ')] == [
        'skipped: grub.cfg not regenerated: there is no /boot/grub/grub.cfg (GRUB is not installed in this tree yet); '
        'grub-install and update-grub read /etc/default/grub when it is']
    regenerated = task_results(converge, 'Regenerate the initramfs (wait for it)')
    assert regenerated and regenerated[0]['changed'] and regenerated[0]['cmd'] == ['update-initramfs', '-u', '-k', 'all']
    assert regenerated[0]['finished'] and regenerated[0]['rc'] == 0
    # it ran in the background; its job file and directory are gone from the tree
    assert not (root / 'tmp/vmimage-azure-prepare-linux-async').exists() and not (root / 'root/.ansible_async').exists()

    for name, options in (('check-again', ['--check']), ('idempotence', [])):
        again, _text = chroot_play(role, name, *options)
        assert again['stats']['tree']['changed'] == 0, (name, [
            (t['task']['name'], r) for p in again['plays'] for t in p['tasks'] for r in t['hosts'].values() if r.get('changed')])

    check, _text = chroot_play({'tasks': [
        {'name': 'In the chroot', 'vmimage.azure.linux_readiness': {'cmdline_required': DEBIAN_CMDLINE}, 'register': 'inside'},
        {'name': 'From the build host', 'vmimage.azure.linux_readiness': {'root': str(root), 'cmdline_required': DEBIAN_CMDLINE},
         'delegate_to': 'localhost', 'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}},
    ]}, 'readiness')
    inside, outside = task_results(check, 'In the chroot')[0], task_results(check, 'From the build host')[0]
    for result in (inside, outside):
        assert result['ready'] and not result['changed'], [i for i in result['items'] if not i['ok']]
        assert [i['name'] for i in result['items']] == ['agent', 'provisioning', 'cloud_init', 'initramfs_drivers', 'kernel_cmdline', 'swap',
                                                        'fstab', 'persistent_net_rules', 'time_sync', 'ssh_client_alive', 'ssh_host_keys']
        assert result['online'] is False  # a chroot is not the running system
    drivers = dict((i['name'], i['detail']) for i in inside['items'])['initramfs_drivers']
    assert 'read with lsinitramfs' in drivers and 'hv_vmbus, hv_netvsc, hv_storvsc' in drivers
    assert 'read by vmimage.azure (cpio)' in dict((i['name'], i['detail']) for i in outside['items'])['initramfs_drivers']

    # the tree afterwards
    modules = [line.strip() for line in (root / 'etc/initramfs-tools/modules').read_text().splitlines() if line.strip() and not line.startswith('#')]
    assert modules == ['hv_vmbus', 'hv_netvsc', 'hv_storvsc']
    listing = subprocess.run(['chroot', str(root), 'lsinitramfs', '/boot/initrd.img-6.1.0-50-cloud-amd64'], capture_output=True, text=True,
                             check=True).stdout
    for driver in ('hv_vmbus.ko', 'hv_netvsc.ko', 'hv_storvsc.ko'):
        assert driver in listing
    grub = (root / 'etc/default/grub').read_text().splitlines()
    assert 'GRUB_CMDLINE_LINUX="net.ifnames=0 console=ttyS0,115200n8 earlyprintk=ttyS0"' in grub  # no rootdelay on Debian
    assert 'GRUB_CMDLINE_LINUX_DEFAULT=""' in grub
    assert 'GRUB_TERMINAL="serial console"' in grub and 'GRUB_TIMEOUT=5' in grub
    assert 'GRUB_SERIAL_COMMAND="serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"' in grub
    conf = dict(line.split('=', 1) for line in (root / 'etc/waagent.conf').read_text().splitlines() if '=' in line and not line.startswith('#'))
    assert (conf['Provisioning.Agent'], conf['ResourceDisk.Format'], conf['ResourceDisk.EnableSwap']) == ('cloud-init', 'n', 'n')
    assert 'refclock PHC /dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2' in (root / 'etc/chrony/chrony-site.conf').read_text().splitlines()
    assert os.readlink(str(root / 'etc/chrony/chrony.conf')) == 'chrony-site.conf'
    fstab = (root / 'etc/fstab').read_text()
    assert 'swap' not in fstab and 'UUID=0a1b2c3d-1111-2222-3333-444455556666 / ext4' in fstab and 'tmpfs /tmp' in fstab
    assert not (root / 'swapfile').exists()
    assert not (root / 'etc/udev/rules.d/70-persistent-net.rules').exists()
    assert (root / 'etc/ssh/sshd_config.d/10-vmimage-azure.conf').read_text().splitlines()[-1] == 'ClientAliveInterval 180'
    assert 'datasource_list: [ Azure ]' in (root / 'etc/cloud/cloud.cfg.d/91-vmimage-azure.cfg').read_text()
    wants = root / 'etc/systemd/system/multi-user.target.wants'
    for unit in ('walinuxagent.service', 'chrony.service', 'vmimage-ssh-host-keys.service', 'ssh.service'):
        assert (wants / unit).is_symlink(), unit
    assert 'ExecStart=/usr/bin/ssh-keygen -A' in (root / 'etc/systemd/system/vmimage-ssh-host-keys.service').read_text()

    # nothing was started: the host's hostname and files are as they were, no process has its root in the tree,
    # no mount is left below it, and the tree has no running state of its own
    assert host_state() == host
    assert rooted_in(root) == []
    assert mounts_below(root) == []
    assert not (root / 'run/sshd.pid').exists() and not (root / 'run/chrony/chronyd.pid').exists()
    assert os.listdir(str(root / 'proc')) == [] and os.listdir(str(root / 'sys')) == []
