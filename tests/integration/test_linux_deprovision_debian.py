# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.linux_deprovision through ansible-playbook, offline on a real Debian 12 tree.

The tree is made by scripts/debian_tree.py with debootstrap from Debian's own packages (waagent,
cloud-init, openssh-server, systemd-sysv, sudo...), then given what an Azure VM carries (the
provisioning user ``azureuser`` with a home, sudoers rule and history, the agent's and cloud-init's
state, a DHCP lease). It is built once and cached as a tar under .build/debian12 (keyed by its
recipe); every test extracts a fresh copy, so no two tests share a tree. Building needs root and
debootstrap (`make sysdeps`); without them the tests skip, which CI (CI=true) turns into failures.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.tests.support import guests

ROOT = Path(__file__).resolve().parents[2]
USER = 'azureuser'
# The host's files the offline run must never change (hostname, identity, accounts, keys).
HOST_FILES = ('/etc/hostname', '/etc/hosts', '/etc/machine-id', '/var/lib/dbus/machine-id', '/etc/passwd',
              '/etc/shadow', '/etc/group', '/etc/gshadow', '/etc/resolv.conf', '/etc/sudoers.d')


def _debian_tree():
    return guests.script('debian_tree')


@pytest.fixture(scope='session')
def debian12_tar():
    """(debian_tree module, the cached tree's manifest, host state before, host state after): the tree is
    built on first use (xdist workers wait on one build) and the host is compared around that build."""
    tree = _debian_tree()
    if os.geteuid() != 0:
        # A tree extracted without root loses its owners and device nodes; the module could not edit it either.
        pytest.skip('the Debian 12 tree tests need root: %s' % '; '.join(tree.requirements()))
    before = host_state()
    try:
        manifest = tree.ensure(progress=print)
    except tree.BuildError as exc:
        if tree.requirements():
            pytest.skip('cannot build the Debian 12 tree here: %s' % exc)
        raise
    return tree, manifest, before, host_state()


@pytest.fixture
def debian12_root(tmp_path, debian12_tar):
    """A fresh copy of the Debian 12 tree, removed again after the test."""
    tree, manifest = debian12_tar[:2]
    root = tmp_path / 'rootfs'
    tree.extract(manifest['tar'], str(root))
    yield root
    shutil.rmtree(str(root), ignore_errors=True)


def waagent_conf(root):
    """The tree's /etc/waagent.conf as the agent reads it (key=value, # comments)."""
    values = {}
    for line in (root / 'etc/waagent.conf').read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if '=' in line:
            key, value = line.split('=', 1)
            values[key.strip()] = value.strip()
    return values


def host_state():
    """Digest of every host file the run must not touch, plus the hostname as the kernel has it."""
    state = {'hostname': socket.gethostname(), 'nodename': os.uname().nodename}
    for path in HOST_FILES:
        paths = [os.path.join(path, n) for n in sorted(os.listdir(path))] if os.path.isdir(path) else [path]
        for one in paths:
            try:
                with open(one, 'rb') as handle:
                    state[one] = hashlib.sha256(handle.read()).hexdigest()
            except OSError as exc:
                state[one] = 'unreadable: %s' % exc.strerror
    state['ssh'] = sorted(n for n in os.listdir('/etc/ssh') if n.startswith('ssh_host_')) if os.path.isdir('/etc/ssh') else []
    return state


def tree_state(root):
    """Every path of the tree with its type, mode, owner, size, link target and content digest."""
    state = {}
    for folder, dirs, names in os.walk(str(root)):
        for name in dirs + names:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            entry = (info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_mtime_ns)
            if os.path.islink(path):
                entry += (os.readlink(path),)
            state[os.path.relpath(path, str(root))] = entry
    return state


def passwd_names(root, name):
    return [line.split(':', 1)[0] for line in (root / 'etc' / name).read_text().splitlines() if line]


def task(root, **args):
    return {'vmimage.azure.linux_deprovision': dict(root=str(root), **args)}


def test_tree_is_a_provisioned_debian12(debian12_root, debian12_tar):
    """What the deprovision test relies on is really in the tree debootstrap made."""
    root = debian12_root
    manifest = debian12_tar[1]
    assert 'VERSION_ID="12"' in (root / 'etc/os-release').read_text()
    assert (root / 'usr/sbin/waagent').exists() and (root / 'usr/bin/cloud-init').exists()
    assert sorted(n for n in os.listdir(str(root / 'etc/ssh')) if n.startswith('ssh_host_')) == manifest['ssh_host_keys']
    assert len((root / 'etc/machine-id').read_text().strip()) == 32
    assert USER in passwd_names(root, 'passwd') and USER in passwd_names(root, 'shadow')
    assert (root / 'home' / USER / '.bash_history').stat().st_uid == int(
        [line.split(':')[2] for line in (root / 'etc/passwd').read_text().splitlines() if line.startswith(USER + ':')][0])
    assert not (root / 'usr/sbin/policy-rc.d').exists()
    # Debian names the package waagent but its unit walinuxagent.service (enabled by the postinst, never started)
    assert (root / 'etc/systemd/system/multi-user.target.wants/walinuxagent.service').is_symlink()
    # building (or reusing) the tree changed nothing of the host's: hostname, machine-id, accounts, keys
    assert debian12_tar[2] == debian12_tar[3]


def test_check_mode_changes_nothing_in_the_tree(debian12_root, upload_playbook):
    root = debian12_root
    before, host = tree_state(root), host_state()
    results, output = upload_playbook([dict(task(root, user=USER), check_mode=True)])
    assert not results[0].get('failed') and results[0]['changed'], output[-4000:]
    assert '/etc/ssh/ssh_host_ed25519_key' in results[0]['removed']
    assert tree_state(root) == before
    assert host_state() == host


def test_four_step_idempotence_on_debian12(debian12_root, upload_playbook):
    root = debian12_root
    conf = waagent_conf(root)
    host = host_state()
    keys = sorted('/etc/ssh/' + n for n in os.listdir(str(root / 'etc/ssh')) if n.startswith('ssh_host_'))
    run = task(root, user=USER)
    results, output = upload_playbook([dict(run, check_mode=True), dict(run, diff=True), dict(run, check_mode=True), run])
    assert not any(r.get('failed') for r in results), output[-6000:]
    assert [r['changed'] for r in results] == [True, True, False, False], output[-6000:]
    check, applied = results[0], results[1]
    assert check['removed'] == applied['removed'], output[-6000:]
    assert set(keys) <= set(applied['removed'])
    assert applied['online'] is False and applied['refused'] == [] and applied['deferred'] == []
    assert applied['distro']['family'] == 'debian' and applied['distro']['version'] == '12'
    assert applied['distro']['waagent_service'] == 'walinuxagent'  # the unit Debian's waagent package ships
    assert all(not s['changed'] for s in results[3]['steps'])

    # Debian 12's waagent package (2.7.3.0) ships Provisioning.RegenerateSshHostKeyPair=y and
    # Provisioning.DeleteRootPassword=y (and Provisioning.Agent=cloud-init): the steps say they followed
    # those lines of the tree's file, and Debian's handlers for the rest.
    assert conf['Provisioning.RegenerateSshHostKeyPair'] == 'y' and conf['Provisioning.DeleteRootPassword'] == 'y'
    rules = dict((s['name'], s['rule']) for s in applied['steps'])
    assert rules['ssh_host_keys'] == 'Provisioning.RegenerateSshHostKeyPair=%s in /etc/waagent.conf' % conf[
        'Provisioning.RegenerateSshHostKeyPair']
    assert rules['root_password'] == 'Provisioning.DeleteRootPassword=%s in /etc/waagent.conf' % conf['Provisioning.DeleteRootPassword']
    assert conf['Provisioning.Agent'] == 'cloud-init'
    assert rules['hostname'] == 'DebianOSModernUtil.set_hostname: /etc/hostname'
    assert rules['resolv_conf'] == 'DeprovisionHandler.del_resolv: /etc/resolv.conf is removed'
    assert rules['machine_id'].startswith('not done by waagent on debian')

    # the tree afterwards
    assert [n for n in os.listdir(str(root / 'etc/ssh')) if n.startswith('ssh_host_')] == []
    assert (root / 'etc/machine-id').is_file() and (root / 'etc/machine-id').stat().st_size == 0
    for name in ('passwd', 'shadow', 'group', 'gshadow'):
        assert USER not in passwd_names(root, name), name
        assert USER not in (root / 'etc' / name).read_text(), name  # not a member of sudo either
    assert not (root / 'home' / USER).exists()
    assert not (root / 'etc/sudoers.d/waagent').exists() or USER not in (root / 'etc/sudoers.d/waagent').read_text()
    assert (root / 'etc/shadow').read_text().startswith('root:*LOCK*:')
    assert os.listdir(str(root / 'var/lib/waagent')) == []
    assert not (root / 'var/log/waagent.log').exists()
    cloud = root / 'var/lib/cloud'
    assert not cloud.exists() or [n for n in os.listdir(str(cloud)) if n != 'seed'] == []
    assert not (root / 'var/log/cloud-init.log').exists() and not (root / 'var/log/cloud-init-output.log').exists()
    assert not (root / 'var/lib/dhcp/dhclient.eth0.leases').exists()
    assert not (root / 'root/.bash_history').exists()
    assert os.listdir(str(root / 'tmp')) == [] and os.listdir(str(root / 'var/tmp')) == []
    assert (root / 'etc/hostname').read_text() == 'localhost.localdomain\n'
    assert 'debian12-build' not in (root / 'etc/hosts').read_text() and 'localhost' in (root / 'etc/hosts').read_text()
    assert not (root / 'etc/resolv.conf').exists()  # DeprovisionHandler.del_resolv on Debian
    # the tree is still a Debian system: nothing but its state went
    assert (root / 'usr/sbin/waagent').exists() and (root / 'etc/waagent.conf').exists() and (root / 'usr/sbin/sshd').exists()
    assert 'root' in passwd_names(root, 'passwd') and '_apt' in passwd_names(root, 'passwd')
    # the build host
    assert host_state() == host
