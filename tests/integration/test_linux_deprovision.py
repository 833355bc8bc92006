# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.linux_deprovision through ansible-playbook, offline on a synthetic Debian-like tree.

The tree is made here under tmp_path (a real debootstrap Debian 12 tree and a qemu VM are the
next step's). Four runs in one play: check mode, apply, check mode, apply -> changed, changed,
not changed, not changed; the disk afterwards has no host keys, an empty machine-id and no
provisioning user, and the build host's hostname is what it was.
"""
from __future__ import annotations

import os
import socket

UID = 1000 if os.geteuid() == 0 else os.geteuid()
HASH = '$6$saltsalt$hashhashhashhashhash'

FILES = {
    'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n',
    'etc/waagent.conf': 'Provisioning.DeleteRootPassword=y\nProvisioning.RegenerateSshHostKeyPair=y\n',
    'etc/ssh/ssh_host_rsa_key': 'RSA', 'etc/ssh/ssh_host_rsa_key.pub': 'ssh-rsa', 'etc/ssh/sshd_config': '\n',
    'etc/hostname': 'build-vm\n',
    'etc/hosts': '127.0.0.1\tlocalhost\n127.0.1.1\tbuild-vm\n',
    'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
    'etc/resolv.conf': 'nameserver 10.0.0.1\n',
    'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nazureuser:x:%d:%d::/home/azureuser:/bin/bash\n' % (UID, UID),
    'etc/shadow': 'root:%s:19000:0:99999:7:::\nazureuser:%s:19000:0:99999:7:::\n' % (HASH, HASH),
    'etc/group': 'root:x:0:\nsudo:x:27:azureuser\nazureuser:x:%d:\n' % UID,
    'etc/gshadow': 'root:*::\nsudo:*::azureuser\nazureuser:!::\n',
    'etc/sudoers.d/waagent': 'azureuser ALL=(ALL) NOPASSWD: ALL\n',
    'home/azureuser/.bash_history': 'ls\n',
    'root/.bash_history': 'history\n',
    'var/lib/dhcp/dhclient.eth0.leases': 'lease {}\n',
    'var/lib/waagent/Incarnation': '1',
    'var/lib/cloud/instances/iid/obj.pkl': 'x',
    'var/log/waagent.log': 'log\n',
    'tmp/build.log': 'x',
}


def make_tree(root):
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.makedirs(str(root / 'var/lib/dbus'))
    os.symlink('/etc/machine-id', str(root / 'var/lib/dbus/machine-id'))
    if os.geteuid() == 0:
        for folder, dirs, names in os.walk(str(root / 'home/azureuser')):
            os.chown(folder, UID, UID)
            for name in names:
                os.chown(os.path.join(folder, name), UID, UID)
    return root


def task(root, **args):
    return {'vmimage.azure.linux_deprovision': dict(root=str(root), **args)}


def test_four_step_idempotence_offline(tmp_path, upload_playbook):
    root = make_tree(tmp_path / 'image')
    hostname = socket.gethostname()
    run = task(root, user='azureuser')
    results, output = upload_playbook([dict(run, check_mode=True), dict(run, diff=True),
                                       dict(run, check_mode=True), run])
    assert not any(r.get('failed') for r in results), output[-4000:]
    assert [r['changed'] for r in results] == [True, True, False, False], output[-4000:]
    check, applied = results[0], results[1]
    assert check['removed'] == applied['removed'] and '/etc/ssh/ssh_host_rsa_key' in check['removed']
    assert [s['name'] for s in applied['steps'] if s['changed']] == [
        'ssh_host_keys', 'dhcp_leases', 'hostname', 'root_password', 'waagent_state', 'resolv_conf', 'machine_id',
        'cloud_init', 'shell_history', 'tmp', 'user']
    rules = dict((s['name'], s['rule']) for s in applied['steps'])
    assert rules['ssh_host_keys'] == 'Provisioning.RegenerateSshHostKeyPair=y in /etc/waagent.conf'
    assert applied['distro']['waagent_service'] == 'walinuxagent' and applied['online'] is False
    assert 'root:*LOCK*:' in output and 'root:<hash>:' in output and HASH not in output  # the diff, hashes hidden
    # the disk afterwards
    assert sorted(os.listdir(str(root / 'etc/ssh'))) == ['sshd_config']
    assert (root / 'etc/machine-id').read_text() == ''
    assert 'azureuser' not in (root / 'etc/passwd').read_text() and not (root / 'home/azureuser').exists()
    assert (root / 'etc/shadow').read_text().startswith('root:*LOCK*:')
    assert (root / 'etc/hostname').read_text() == 'localhost.localdomain\n'
    assert socket.gethostname() == hostname
    assert all(not s['changed'] for s in results[3]['steps'])


def test_bad_input_fails_with_what_to_do(tmp_path, upload_playbook):
    root = make_tree(tmp_path / 'image')
    results, output = upload_playbook([task(root, shutdown=True), task(tmp_path / 'nothing-here'),
                                       task(root, skip=['not_a_step'])])
    assert results[0]['failed'] and 'root: /' in results[0]['msg'] and 'build host' in results[0]['msg']
    assert results[1]['failed'] and 'does not exist' in results[1]['msg']
    assert results[2]['failed'] and 'not_a_step' in results[2]['msg']
    assert (root / 'etc/ssh/ssh_host_rsa_key').exists() and (root / 'etc/machine-id').read_text() != ''
