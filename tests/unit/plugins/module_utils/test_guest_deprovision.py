# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""linux_deprovision's service against synthetic guest trees under tmp_path.

Three trees: Debian-like (waagent.conf regenerating host keys and deleting the root password,
merged /usr, a provisioning user), Ubuntu-like (its waagent.conf keeps host keys, resolv.conf is a
systemd-resolved symlink), RHEL-like (NetworkManager leases, no ifcfg file). Every step is
checked on disk, then check mode (nothing changes, the same list), idempotence (a second run
changes nothing), the refusal of symlinks and mounts that lead out of the tree (host files are
compared byte for byte and by mtime before and after), and the online paths (agent stop, user
removal deferred to shutdown when it is the connected user, userdel otherwise, the shutdown
timer) with a fake command runner.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._guest import accounts, deprovision
from ansible_collections.vmimage.azure.plugins.module_utils._guest.host import Host
from ansible_collections.vmimage.azure.plugins.module_utils._guest.rootfs import GuestError, Tree, foreign_mounts
from ansible_collections.vmimage.azure.plugins.module_utils._guest.waagent_conf import (
    WaagentConf, distro_profile, parse_conf)

ROOT_HASH = '$6$rounds=5000$saltsalt$roothashroothashroothash'
USER_HASH = '$6$saltsalt$userhashuserhashuserhash'
UID = 1000 if os.geteuid() == 0 else os.geteuid()


# --- building trees -------------------------------------------------------------------------------

def build(root, files=None, links=None, dirs=()):
    """Files {guest path: text}, symlinks {guest path: target}, empty directories."""
    for path in dirs:
        (root / path.lstrip('/')).mkdir(parents=True, exist_ok=True)
    for path, text in (files or {}).items():
        target = root / path.lstrip('/')
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for path, dest in (links or {}).items():
        target = root / path.lstrip('/')
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(dest, str(target))
    return root


def chown_user(root, *paths):
    """Give the provisioning user its files (as root; otherwise they are the test user's already)."""
    if os.geteuid() != 0:
        return
    for path in paths:
        top = str(root / path.lstrip('/'))
        os.lchown(top, UID, UID)
        for folder, subdirs, names in os.walk(top):
            for name in subdirs + names:
                os.lchown(os.path.join(folder, name), UID, UID)


WAAGENT_CONF = """\
#
# Microsoft Azure Linux Agent Configuration
#
# Enable extension handling.
Extensions.Enabled=y
Provisioning.Agent=auto
# Password authentication for root account will be unavailable.
Provisioning.DeleteRootPassword={delete_root}
# Generate fresh host key pair.
Provisioning.RegenerateSshHostKeyPair={regen}
OS.SshDir=/etc/ssh
# Lib.Dir=/var/lib/waagent
"""


def accounts_files(user=True):
    passwd = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n'
    shadow = 'root:%s:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n' % ROOT_HASH
    group = 'root:x:0:\nsudo:x:27:%s\n' % ('azureuser' if user else '')
    gshadow = 'root:*::\nsudo:*::%s\n' % ('azureuser' if user else '')
    if user:
        passwd += 'azureuser:x:%d:%d:,,,:/home/azureuser:/bin/bash\n' % (UID, UID)
        shadow += 'azureuser:%s:19000:0:99999:7:::\n' % USER_HASH
        group += 'azureuser:x:%d:\n' % UID
        gshadow += 'azureuser:!::\n'
    return {'/etc/passwd': passwd, '/etc/passwd-': passwd, '/etc/shadow': shadow, '/etc/shadow-': shadow,
            '/etc/group': group, '/etc/gshadow': gshadow}


def debian_tree(root, user=True):
    files = {
        '/etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
        '/etc/waagent.conf': WAAGENT_CONF.format(delete_root='y', regen='y'),
        '/etc/ssh/ssh_host_rsa_key': 'RSA PRIVATE', '/etc/ssh/ssh_host_rsa_key.pub': 'ssh-rsa AAA',
        '/etc/ssh/ssh_host_ed25519_key': 'ED PRIVATE', '/etc/ssh/ssh_host_ed25519_key.pub': 'ssh-ed25519 AAA',
        '/etc/ssh/sshd_config': 'PasswordAuthentication no\n',
        '/etc/hostname': 'build-vm\n',
        '/etc/hosts': '127.0.0.1\tlocalhost\n127.0.1.1\tbuild-vm.example.com\tbuild-vm\n::1\tlocalhost ip6-localhost\n',
        '/etc/dhcp/dhclient.conf': 'option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n'
                                   'send host-name = gethostname();\nrequest subnet-mask;\n',
        '/etc/machine-id': '0123456789abcdef0123456789abcdef\n',
        '/etc/resolv.conf': 'nameserver 10.0.0.1\nsearch build.internal\n',
        '/etc/udev/rules.d/70-persistent-net.rules': 'SUBSYSTEM=="net", ATTR{address}=="00:11:22:33:44:55", NAME="eth0"\n',
        '/etc/udev/rules.d/99-local.rules': '# kept\n',
        '/var/lib/dhcp/dhclient.eth0.leases': 'lease { fixed-address 10.0.0.4; }\n',
        '/var/lib/cloud/instances/iid-1/user-data.txt': '#cloud-config\n',
        '/var/lib/cloud/data/instance-id': 'iid-1\n',
        '/var/lib/cloud/seed/nocloud/meta-data': 'instance-id: iid-1\n',
        '/var/log/cloud-init.log': 'log\n', '/var/log/cloud-init-output.log': 'out\n',
        '/var/log/syslog': 'kept\n',
        '/var/lib/waagent/Incarnation': '3', '/var/lib/waagent/GoalState.1.xml': '<x/>',
        '/var/lib/waagent/WALinuxAgent-2.9.1.1/HandlerManifest.json': '{}',
        '/var/lib/waagent/waagent-network-setup.py': 'print()\n',
        '/var/log/azure/Microsoft.Azure.Extensions.CustomScript/handler.log': 'x\n',
        '/var/log/waagent.log': 'agent log\n', '/var/log/waagent.log.1': 'older\n',
        '/usr/lib/systemd/system/walinuxagent.service': '[Unit]\n',
        '/usr/lib/systemd/system/walinuxagent-network-setup.service': '[Unit]\n',
        '/usr/lib/systemd/system/walinuxagent.service.d/10-Slice.conf': '[Service]\n',
        '/usr/lib/systemd/system/walinuxagent.service.d/11-CPUAccounting.conf': '[Service]\n',
        '/usr/lib/systemd/system/azure-walinuxagent-logcollector.slice': '[Slice]\n',
        '/usr/lib/systemd/system/ssh.service': '[Unit]\n',
        '/root/.bash_history': 'sudo rm -rf\n', '/root/.profile': 'kept\n',
        '/tmp/build.log': 'x', '/tmp/work/nested/file': 'x', '/var/tmp/cache': 'x',
    }
    files.update(accounts_files(user))
    if user:
        files.update({'/home/azureuser/.bash_history': 'ls\n', '/home/azureuser/.profile': 'p\n',
                      '/etc/sudoers.d/waagent': 'azureuser ALL=(ALL) NOPASSWD: ALL\n',
                      '/etc/sudoers.d/90-cloud-init-users': '# Created by cloud-init\n\n# User rules for azureuser\n'
                                                            'azureuser ALL=(ALL) NOPASSWD:ALL\n',
                      '/var/mail/azureuser': ''})
    links = {
        '/lib': 'usr/lib',
        '/var/lib/dbus/machine-id': '/etc/machine-id',
        '/var/lib/cloud/instance': '/var/lib/cloud/instances/iid-1',
        '/etc/systemd/system/multi-user.target.wants/walinuxagent-network-setup.service':
            '/lib/systemd/system/walinuxagent-network-setup.service',
        '/etc/systemd/system/multi-user.target.wants/ssh.service': '/lib/systemd/system/ssh.service',
    }
    build(root, files, links, dirs=['/run/systemd/system'])
    if user:
        chown_user(root, '/home/azureuser', '/var/mail/azureuser')
    return root


def ubuntu_tree(root):
    files = {
        '/etc/os-release': 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
        '/etc/waagent.conf': WAAGENT_CONF.format(delete_root='y', regen='n'),
        '/etc/ssh/ssh_host_rsa_key': 'RSA PRIVATE', '/etc/ssh/ssh_host_rsa_key.pub': 'ssh-rsa AAA',
        '/etc/hostname': 'ubuntu-build\n',
        '/etc/hosts': '127.0.0.1 localhost\n',
        '/etc/dhcp/dhclient.conf': 'send host-name "ubuntu-build";\nrequest subnet-mask;\n',
        '/etc/machine-id': 'fedcba9876543210fedcba9876543210\n',
        '/run/systemd/resolve/stub-resolv.conf': 'nameserver 127.0.0.53\n',
    }
    files.update(accounts_files(user=False))
    build(root, files, {'/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf', '/lib': 'usr/lib'},
          dirs=['/usr/lib/systemd/system'])
    return root


def rhel_tree(root, ifcfg=False):
    files = {
        '/etc/os-release': 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\nID_LIKE="fedora"\n'
                           'PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n',
        '/etc/waagent.conf': WAAGENT_CONF.format(delete_root='y', regen='y'),
        '/etc/ssh/ssh_host_ecdsa_key': 'EC', '/etc/ssh/ssh_host_ecdsa_key.pub': 'ecdsa',
        '/etc/hostname': 'rhel-build\n',
        '/etc/hosts': '127.0.0.1   localhost localhost.localdomain\n',
        '/etc/machine-id': 'aaaabbbbccccddddaaaabbbbccccdddd\n',
        '/etc/resolv.conf': '# Generated by NetworkManager\nnameserver 10.0.0.2\n',
        '/etc/sysconfig/network-scripts/readme-ifcfg-rh.txt': 'NetworkManager keyfiles\n',
        '/etc/NetworkManager/system-connections/eth0.nmconnection': '[connection]\nid=eth0\n',
        '/var/lib/NetworkManager/internal-2f3c-eth0.lease': 'ADDRESS=10.0.0.5\n',
        '/var/lib/NetworkManager/dhclient-2f3c-eth0.lease': 'lease {}\n',
        '/var/lib/NetworkManager/NetworkManager.state': '[main]\n',
        '/usr/lib/systemd/system/waagent-network-setup.service': '[Unit]\n',
        '/usr/lib/systemd/system/waagent.service.d/12-CPUQuota.conf': '[Service]\n',
    }
    if ifcfg:
        files['/etc/sysconfig/network-scripts/ifcfg-eth0'] = 'DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n'
        files['/etc/sysconfig/network-scripts/ifcfg-eth1'] = 'DEVICE=eth1\nBOOTPROTO=none\nIPADDR=10.1.0.4\n'
    files.update(accounts_files(user=False))
    build(root, files)
    return root


def snapshot(root):
    """{relative path: ('file', bytes, mode) | ('link', target) | ('dir',)} of a whole tree."""
    out = {}
    for folder, subdirs, names in os.walk(str(root)):
        for name in subdirs + names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, str(root))
            if os.path.islink(path):
                out[rel] = ('link', os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ('dir',)
            else:
                with open(path, 'rb') as fh:
                    out[rel] = ('file', fh.read(), os.stat(path).st_mode)
    return out


def run(root, check_mode=False, **params):
    return deprovision.run(dict(params, root=str(root)), check_mode=check_mode, tree=Tree(str(root), mounts=[]))


def steps(result):
    return dict((s['name'], s) for s in result['steps'])


def text(root, path):
    return (root / path.lstrip('/')).read_text()


def exists(root, path):
    return os.path.lexists(str(root / path.lstrip('/')))


@pytest.fixture
def hostname_guard():
    before = socket.gethostname()
    yield
    assert socket.gethostname() == before, 'the build host\'s hostname changed'


# --- Debian-like: every step on disk ----------------------------------------------------------------

def test_debian_every_step_on_disk(tmp_path, hostname_guard):
    root = debian_tree(tmp_path / 'root')
    result = run(root, user='azureuser')
    by = steps(result)
    assert result['changed'] and not result['online']
    assert result['distro']['family'] == 'debian' and result['distro']['waagent_service'] == 'walinuxagent'
    assert [s['name'] for s in result['steps']] == list(deprovision.STEPS)
    # ssh host keys: waagent.conf says y
    assert by['ssh_host_keys']['rule'] == 'Provisioning.RegenerateSshHostKeyPair=y in /etc/waagent.conf'
    assert sorted(os.listdir(str(root / 'etc/ssh'))) == ['sshd_config']
    # dhcp leases
    assert os.listdir(str(root / 'var/lib/dhcp')) == []
    assert '/var/lib/dhcp/dhclient.eth0.leases' in by['dhcp_leases']['removed']
    # hostname: files only
    assert text(root, '/etc/hostname') == 'localhost.localdomain\n'
    assert 'build-vm' not in text(root, '/etc/hosts') and '127.0.0.1\tlocalhost' in text(root, '/etc/hosts')
    # dhclient already sends gethostname(): untouched
    assert not by['dhcp_hostname']['changed'] and 'gethostname' in text(root, '/etc/dhcp/dhclient.conf')
    # root password locked, other fields kept, in the backup too
    for path in ('/etc/shadow', '/etc/shadow-'):
        assert text(root, path).startswith('root:*LOCK*:19000:0:99999:7:::\n') and ROOT_HASH not in text(root, path)
    assert by['root_password']['rule'] == 'Provisioning.DeleteRootPassword=y in /etc/waagent.conf'
    # waagent state and logs (emptied, the directories stay)
    assert os.listdir(str(root / 'var/lib/waagent')) == [] and os.listdir(str(root / 'var/log/azure')) == []
    assert not exists(root, '/var/log/waagent.log') and not exists(root, '/var/log/waagent.log.1')
    assert exists(root, '/var/log/syslog')
    # resolv.conf: a regular file, removed
    assert not exists(root, '/etc/resolv.conf')
    # firewall unit, its dangling enablement link, cgroup drop-ins, log collector slice (through /lib -> usr/lib)
    assert not exists(root, '/usr/lib/systemd/system/walinuxagent-network-setup.service')
    assert not exists(root, '/etc/systemd/system/multi-user.target.wants/walinuxagent-network-setup.service')
    assert exists(root, '/etc/systemd/system/multi-user.target.wants/ssh.service')
    assert os.listdir(str(root / 'usr/lib/systemd/system/walinuxagent.service.d')) == []
    assert not exists(root, '/usr/lib/systemd/system/azure-walinuxagent-logcollector.slice')
    assert exists(root, '/usr/lib/systemd/system/walinuxagent.service')
    # machine-id emptied, not deleted; the D-Bus link to it kept
    assert text(root, '/etc/machine-id') == '' and os.readlink(str(root / 'var/lib/dbus/machine-id')) == '/etc/machine-id'
    assert by['machine_id']['written'] == ['/etc/machine-id']
    # cloud-init clean --logs: the seed stays
    assert os.listdir(str(root / 'var/lib/cloud')) == ['seed']
    assert not exists(root, '/var/log/cloud-init.log') and not exists(root, '/var/log/cloud-init-output.log')
    # history of every user, the rest of the homes kept
    assert not exists(root, '/root/.bash_history') and exists(root, '/root/.profile')
    # /tmp and /var/tmp emptied
    assert os.listdir(str(root / 'tmp')) == [] and os.listdir(str(root / 'var/tmp')) == []
    # udev persistent net rules
    assert not exists(root, '/etc/udev/rules.d/70-persistent-net.rules') and exists(root, '/etc/udev/rules.d/99-local.rules')
    # the user, offline: account files edited, home, mail, sudoers rules gone
    assert 'azureuser' not in text(root, '/etc/passwd') and 'azureuser' not in text(root, '/etc/passwd-')
    assert 'azureuser' not in text(root, '/etc/shadow') and USER_HASH not in text(root, '/etc/shadow-')
    assert text(root, '/etc/group') == 'root:x:0:\nsudo:x:27:\n'
    assert text(root, '/etc/gshadow') == 'root:*::\nsudo:*::\n'
    assert not exists(root, '/home/azureuser') and not exists(root, '/var/mail/azureuser')
    assert not exists(root, '/etc/sudoers.d/waagent') and not exists(root, '/etc/sudoers.d/90-cloud-init-users')
    assert 'daemon:x:1:1' in text(root, '/etc/passwd')
    assert not by['user'].get('deferred') and result['deferred'] == []
    assert not by['shutdown']['changed'] and not by['agent_service']['changed']
    assert result['refused'] == []


def test_debian_removed_paths_are_guest_paths_and_diff_hides_hashes(tmp_path):
    root = debian_tree(tmp_path / 'root')
    result = run(root, user='azureuser')
    assert all(p.startswith('/') and not p.startswith(str(tmp_path)) for p in result['removed'])
    assert '/usr/lib/systemd/system/walinuxagent.service.d/10-Slice.conf' in result['removed']
    blob = repr(result)
    assert ROOT_HASH not in blob and USER_HASH not in blob
    shadow = [d for d in result['diff'] if d['before_header'] == '/etc/shadow']
    assert shadow and 'root:<hash>:' in shadow[0]['before'] and 'root:*LOCK*:' in shadow[-1]['after']


def test_files_are_rewritten_atomically_keeping_mode(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    os.chmod(str(root / 'etc/shadow'), 0o640)
    inode = os.stat(str(root / 'etc/shadow')).st_ino
    machine_inode = os.stat(str(root / 'etc/machine-id')).st_ino
    run(root)
    st = os.stat(str(root / 'etc/shadow'))
    assert st.st_mode & 0o777 == 0o640 and st.st_ino != inode
    assert os.stat(str(root / 'etc/machine-id')).st_ino == machine_inode  # emptied in place
    assert not [n for n in os.listdir(str(root / 'etc')) if 'vmimage-tmp' in n]


# --- check mode and idempotence -----------------------------------------------------------------------

@pytest.mark.parametrize('maker', [debian_tree, ubuntu_tree, rhel_tree])
def test_check_apply_check_apply(tmp_path, maker, hostname_guard):
    root = maker(tmp_path / 'root')
    params = {'user': 'azureuser'} if maker is debian_tree else {}
    before = snapshot(root)
    first = run(root, check_mode=True, **params)
    assert snapshot(root) == before, 'check mode changed the tree'
    applied = run(root, **params)
    again = run(root, check_mode=True, **params)
    last = run(root, **params)
    assert [first['changed'], applied['changed'], again['changed'], last['changed']] == [True, True, False, False]
    assert first['removed'] == applied['removed']
    assert [s['written'] for s in first['steps']] == [s['written'] for s in applied['steps']]
    assert not any(s['changed'] for s in last['steps'])
    assert 'diff' not in last


def test_check_mode_lists_without_removing(tmp_path):
    root = debian_tree(tmp_path / 'root')
    result = run(root, check_mode=True, user='azureuser')
    by = steps(result)
    assert '/etc/ssh/ssh_host_rsa_key' in by['ssh_host_keys']['removed']
    assert '/home/azureuser' in by['user']['removed'] and '/etc/passwd' in by['user']['written']
    assert exists(root, '/etc/ssh/ssh_host_rsa_key') and exists(root, '/home/azureuser')
    assert text(root, '/etc/machine-id') != ''


def test_skip_leaves_a_step_out(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    result = run(root, skip=['tmp', 'ssh_host_keys'])
    by = steps(result)
    assert by['tmp']['why'] == 'skipped (skip option)' and not by['tmp']['changed']
    assert exists(root, '/tmp/build.log') and exists(root, '/etc/ssh/ssh_host_rsa_key')


# --- Ubuntu-like: its waagent.conf keeps the host keys, 18.04+ keeps resolv.conf ----------------------

def test_ubuntu_keeps_host_keys_and_resolv_conf(tmp_path):
    root = ubuntu_tree(tmp_path / 'root')
    result = run(root)
    by = steps(result)
    assert result['distro']['waagent_handler'] == 'Ubuntu1804DeprovisionHandler'
    assert by['ssh_host_keys']['rule'] == 'Provisioning.RegenerateSshHostKeyPair=n in /etc/waagent.conf'
    assert not by['ssh_host_keys']['changed'] and exists(root, '/etc/ssh/ssh_host_rsa_key')
    assert 'Ubuntu 18.04 and later' in by['resolv_conf']['rule'] and not by['resolv_conf']['changed']
    assert os.readlink(str(root / 'etc/resolv.conf')) == '../run/systemd/resolve/stub-resolv.conf'
    # dhclient without gethostname(): waagent's send host-name
    assert text(root, '/etc/dhcp/dhclient.conf').endswith('send host-name "localhost.localdomain";\n')
    assert 'ubuntu-build' not in text(root, '/etc/dhcp/dhclient.conf')
    assert text(root, '/etc/machine-id') == ''


def test_module_options_override_waagent_conf(tmp_path):
    root = ubuntu_tree(tmp_path / 'root')
    result = run(root, ssh_host_keys='remove', root_password='keep')
    by = steps(result)
    assert by['ssh_host_keys']['rule'] == 'ssh_host_keys=remove (module option)'
    assert not exists(root, '/etc/ssh/ssh_host_rsa_key')
    assert by['root_password']['rule'] == 'root_password=keep (module option)' and ROOT_HASH in text(root, '/etc/shadow')


def test_no_waagent_conf_uses_the_agent_defaults(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    os.unlink(str(root / 'etc/waagent.conf'))
    result = run(root)
    by = steps(result)
    assert not result['waagent_conf']['found']
    assert "waagent's default" in by['ssh_host_keys']['rule'] and exists(root, '/etc/ssh/ssh_host_rsa_key')
    assert not by['root_password']['changed'] and ROOT_HASH in text(root, '/etc/shadow')


def test_ubuntu_before_18_04_with_resolvconf(tmp_path):
    root = ubuntu_tree(tmp_path / 'root')
    (root / 'etc/os-release').write_text('NAME="Ubuntu"\nVERSION_ID="16.04"\nID=ubuntu\n')
    os.unlink(str(root / 'etc/resolv.conf'))
    build(root, {'/etc/resolvconf/resolv.conf.d/tail': 'search x\n', '/etc/resolvconf/resolv.conf.d/original': 'ns\n',
                 '/etc/resolvconf/resolv.conf.d/head': '# keep\n'}, {'/etc/resolv.conf': '/run/resolvconf/resolv.conf'})
    result = run(root)
    assert steps(result)['resolv_conf']['removed'] == ['/etc/resolvconf/resolv.conf.d/tail', '/etc/resolvconf/resolv.conf.d/original']
    assert exists(root, '/etc/resolv.conf') and exists(root, '/etc/resolvconf/resolv.conf.d/head')


# --- RHEL-like: NetworkManager leases, no ifcfg made up -----------------------------------------------

def test_rhel_network_manager_leases_and_no_ifcfg_created(tmp_path):
    root = rhel_tree(tmp_path / 'root')
    result = run(root)
    by = steps(result)
    assert result['distro']['family'] == 'rhel' and result['distro']['waagent_osutil'] == 'RedhatOSModernUtil'
    assert sorted(os.listdir(str(root / 'var/lib/NetworkManager'))) == ['NetworkManager.state']
    assert '/var/lib/NetworkManager/internal-2f3c-eth0.lease' in by['dhcp_leases']['removed']
    assert os.listdir(str(root / 'etc/sysconfig/network-scripts')) == ['readme-ifcfg-rh.txt']
    assert not by['dhcp_hostname']['changed'] and 'no ifcfg file is created' in by['dhcp_hostname']['why']
    assert not exists(root, '/usr/lib/systemd/system/waagent-network-setup.service')
    assert not exists(root, '/usr/lib/systemd/system/waagent.service.d/12-CPUQuota.conf')
    assert not exists(root, '/etc/resolv.conf') and not exists(root, '/etc/ssh/ssh_host_ecdsa_key')
    assert text(root, '/etc/hostname') == 'localhost.localdomain\n'
    assert text(root, '/etc/hosts') == '127.0.0.1   localhost localhost.localdomain\n'


def test_rhel_existing_dhcp_ifcfg_gets_dhcp_hostname(tmp_path):
    root = rhel_tree(tmp_path / 'root', ifcfg=True)
    result = run(root)
    assert steps(result)['dhcp_hostname']['written'] == ['/etc/sysconfig/network-scripts/ifcfg-eth0']
    assert text(root, '/etc/sysconfig/network-scripts/ifcfg-eth0').endswith('DHCP_HOSTNAME=localhost.localdomain\n')
    assert 'DHCP_HOSTNAME' not in text(root, '/etc/sysconfig/network-scripts/ifcfg-eth1')
    assert not run(root)['changed']


# --- nothing leaves the root ---------------------------------------------------------------------------

def _host_files(tmp_path):
    host = tmp_path / 'host'
    files = {}
    for name, content in (('machine-id', 'hosthostmachineid\n'), ('hostname', 'buildhost\n'), ('shadow', 'root:$6$host:1::::::\n'),
                          ('key', 'HOST KEY\n'), ('leases/lease', 'x\n'), ('hosts', '127.0.1.1 buildhost\n'),
                          ('tmpdir/keep', 'host tmp\n')):
        path = host / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        files[str(path)] = (content, os.stat(str(path)).st_mtime_ns)
    return host, files


def _unchanged(files):
    for path, (content, mtime) in files.items():
        assert open(path).read() == content, path
        assert os.stat(path).st_mtime_ns == mtime, path


def test_symlinks_out_of_the_root_are_refused_and_host_files_untouched(tmp_path, hostname_guard):
    root = debian_tree(tmp_path / 'root', user=False)
    host, files = _host_files(tmp_path)
    for path in ('/etc/machine-id', '/etc/hostname', '/etc/hosts', '/etc/ssh/ssh_host_rsa_key'):
        os.unlink(str(root / path.lstrip('/')))
    os.rename(str(root / 'var/lib/dhcp'), str(root / 'var/lib/dhcp.orig'))
    up = '../' * 12
    build(root, links={
        '/etc/machine-id': str(host / 'machine-id'),               # absolute: re-rooted, not in the image
        '/etc/hostname': up + str(host / 'hostname').lstrip('/'),  # relative, climbing above the root
        '/etc/hosts': str(host / 'hosts'),
        '/etc/ssh/ssh_host_rsa_key': str(host / 'key'),            # removal removes the link only
        '/var/lib/dhcp': str(host / 'leases'),                     # a directory link out of the root
        '/tmp/escape': str(host / 'tmpdir'),
    })
    before = snapshot(tmp_path / 'host')
    result = run(root)
    _unchanged(files)
    assert snapshot(tmp_path / 'host') == before
    by = steps(result)
    refused = dict((r['path'], r['why']) for r in result['refused'])
    assert '/etc/machine-id' in refused and 'not in the image' in refused['/etc/machine-id']
    assert '/etc/hostname' in refused
    assert not by['hostname']['written'] and not by['machine_id']['written']
    # the links themselves: the key link removed (not its target), the /tmp link removed, the dhcp link left
    assert not os.path.lexists(str(root / 'etc/ssh/ssh_host_rsa_key'))
    assert not os.path.lexists(str(root / 'tmp/escape'))
    assert os.path.islink(str(root / 'var/lib/dhcp')) and by['dhcp_leases']['removed'] == []
    assert os.path.islink(str(root / 'etc/machine-id'))
    # a second run is quiet
    assert not run(root)['changed']
    _unchanged(files)


def test_symlinked_shadow_inside_the_image_is_followed_inside_the_root(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    host, files = _host_files(tmp_path)
    os.rename(str(root / 'etc/shadow'), str(root / 'etc/shadow.real'))
    # an absolute link to /etc/shadow.real means <root>/etc/shadow.real, never the host's file
    os.symlink('/etc/shadow.real', str(root / 'etc/shadow'))
    run(root)
    assert os.path.islink(str(root / 'etc/shadow'))
    assert text(root, '/etc/shadow.real').startswith('root:*LOCK*:')
    _unchanged(files)


def test_a_host_file_system_mounted_inside_the_root_is_not_entered(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    real = os.path.realpath(str(root))
    mounts = [('/', '8:1', '/'), ('/tmp', '0:44', '/'), (real + '/tmp', '0:44', '/'), (real + '/var/tmp', '0:77', '/')]
    assert foreign_mounts(real, mounts) == [real + '/tmp']
    result = deprovision.run({'root': str(root)}, tree=Tree(str(root), mounts=mounts))
    by = steps(result)
    assert exists(root, '/tmp/build.log') and exists(root, '/tmp/work/nested/file')
    assert not exists(root, '/var/tmp/cache')
    assert any(r['path'] == '/tmp' and 'build host' in r['why'] for r in by['tmp']['refused'])


def test_the_host_root_mounted_again_is_refused(tmp_path):
    real = os.path.realpath(str(tmp_path))
    with pytest.raises(GuestError, match='own root file system'):
        foreign_mounts(real, [('/', '8:1', '/'), (real, '8:1', '/')])
    assert foreign_mounts(real, [('/', '8:1', '/'), (real, '7:0', '/')]) == []


def test_a_directory_holding_another_mount_is_left_whole(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    tree = Tree(str(root), mounts=[])
    real = os.path.realpath(str(root))
    tree.foreign = [real + '/tmp/work/nested']
    result = deprovision.run({'root': str(root)}, tree=tree)
    assert exists(root, '/tmp/work/nested/file') and not exists(root, '/tmp/build.log')
    assert any(r['path'] == '/tmp/work/nested' for r in steps(result)['tmp']['refused'])


# --- bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('params, match', [
    ({'shutdown': True}, 'shut the build host down'),
    ({'user': 'root'}, 'never removed'),
    ({'user': 'bad name;rm'}, 'not a valid user name'),
    ({'waagent_conf': 'etc/waagent.conf'}, 'absolute path'),
])
def test_bad_input_fails_before_anything_changes(tmp_path, params, match):
    root = debian_tree(tmp_path / 'root')
    before = snapshot(root)
    with pytest.raises(GuestError, match=match):
        run(root, **params)
    assert snapshot(root) == before


def test_uid_0_user_is_refused(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    (root / 'etc/passwd').write_text(text(root, '/etc/passwd') + 'toor:x:0:0::/root:/bin/sh\n')
    with pytest.raises(GuestError, match='uid 0'):
        run(root, user='toor')


def test_not_a_linux_tree(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(GuestError, match='does not look like a Linux root'):
        run(tmp_path / 'empty')
    with pytest.raises(GuestError, match='does not exist'):
        deprovision.run({'root': str(tmp_path / 'missing')})


def test_home_not_owned_by_the_user_is_kept(tmp_path):
    root = debian_tree(tmp_path / 'root')
    (root / 'etc/passwd').write_text(text(root, '/etc/passwd').replace(':%d:%d:,,,' % (UID, UID), ':4242:4242:,,,'))
    result = run(root, user='azureuser')
    assert exists(root, '/home/azureuser/.profile')
    assert any(r['path'] == '/home/azureuser' and 'not owned' in r['why'] for r in steps(result)['user']['refused'])
    assert 'azureuser' not in text(root, '/etc/passwd')


def test_absent_user_is_no_change(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    run(root)
    result = run(root, user='azureuser')
    assert not result['changed'] and 'nothing to remove' in steps(result)['user']['why']


# --- online, with a fake runner -------------------------------------------------------------------------

class FakeRunner(object):
    def __init__(self, active=()):
        self.active = set(active)
        self.calls = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        name = os.path.basename(argv[0])
        if name == 'systemctl' and argv[1] == 'is-active':
            return (0, 'active\n', '') if argv[2] in self.active else (3, 'inactive\n', '')
        if name == 'systemctl' and argv[1] == 'start':
            self.active.add(argv[2])
        if name == 'systemd-run':
            self.active.add(argv[3].split('=', 1)[1] + '.timer')
        return 0, '', ''

    def ran(self):
        return [[os.path.basename(c[0])] + c[1:] for c in self.calls if c[1:2] != ['is-active']]


def online(root, runner, env=None, check_mode=False, protected=(), **params):
    host = Host(run=runner, env=env or {'SUDO_USER': 'azureuser', 'PATH': '/nonexistent'}, euid=0,
                proc=str(root / 'no-proc'), pid=1, protected=list(protected), systemd=True)
    return deprovision.run(dict(params, root='/'), check_mode=check_mode, host=host, tree=Tree(str(root), mounts=[]),
                           online=True)


def test_online_connected_user_removal_is_deferred_to_shutdown(tmp_path, hostname_guard):
    root = debian_tree(tmp_path / 'root')
    runner = FakeRunner(active=['walinuxagent.service'])
    result = online(root, runner, user='azureuser', shutdown=True, shutdown_delay=90)
    by = steps(result)
    unit = 'vmimage-remove-user-azureuser.service'
    assert by['user']['deferred'] and result['deferred'] and 'SUDO_USER' in by['user']['why']
    assert 'azureuser' in text(root, '/etc/passwd') and exists(root, '/home/azureuser')
    assert exists(root, '/etc/sudoers.d/waagent')  # the play still needs its sudo rule
    body = text(root, '/run/systemd/system/' + unit)
    assert 'ExecStop=-/usr/sbin/userdel -f -r azureuser' in body and 'Conflicts=shutdown.target' in body
    assert "/^azureuser[[:space:]]/d' /etc/sudoers.d/waagent /etc/sudoers.d/90-cloud-init-users" in body
    assert "/^azureuser:/d' /etc/passwd- /etc/shadow-" in body
    ran = runner.ran()
    assert ['systemctl', 'stop', 'walinuxagent.service'] == ran[0]
    assert ['systemctl', 'daemon-reload'] in ran and ['systemctl', 'start', unit] in ran
    assert ran[-1][:2] == ['systemd-run', '--on-active=90s'] and ran[-1][-1] == 'poweroff'
    assert by['shutdown']['changed'] and by['agent_service']['changed']
    # again: the unit is in place and active, the shutdown is scheduled, the agent stopped
    runner.active.discard('walinuxagent.service')
    runner.calls = []
    again = online(root, runner, user='azureuser', shutdown=True, shutdown_delay=90)
    assert not again['changed'], [s for s in again['steps'] if s['changed']]
    assert runner.ran() == [] and steps(again)['user']['deferred']


def test_online_check_mode_runs_nothing(tmp_path):
    root = debian_tree(tmp_path / 'root')
    runner = FakeRunner(active=['walinuxagent.service'])
    before = snapshot(root)
    result = online(root, runner, check_mode=True, user='azureuser', shutdown=True)
    assert snapshot(root) == before and runner.ran() == []
    assert result['changed'] and steps(result)['user']['commands'] == [
        'systemctl daemon-reload', 'systemctl start vmimage-remove-user-azureuser.service']


def test_online_other_user_is_removed_with_userdel(tmp_path):
    root = debian_tree(tmp_path / 'root')
    runner = FakeRunner()
    result = online(root, runner, env={'SUDO_USER': 'admin', 'LOGNAME': 'root'}, user='azureuser')
    by = steps(result)
    assert ['userdel', '-r', 'azureuser'] in runner.ran() and not by['user'].get('deferred')
    assert not exists(root, '/etc/sudoers.d/waagent')
    assert USER_HASH not in text(root, '/etc/shadow-')


class UserdelRunner(FakeRunner):
    """``userdel -r USER`` as shadow-utils does it: each account file saved as its ``-`` backup
    first (with the user still in it), then the user out of the live files."""

    def __init__(self, root):
        super(UserdelRunner, self).__init__()
        self.root = root

    def __call__(self, argv):
        if os.path.basename(argv[0]) == 'userdel':
            user = argv[-1]
            for name, fields in (('passwd', None), ('shadow', None), ('group', (3,)), ('gshadow', (2, 3))):
                live = self.root / 'etc' / name
                if live.exists():
                    text = live.read_text()
                    (self.root / 'etc' / (name + '-')).write_text(text)
                    after = accounts.drop_named(text, user)
                    live.write_text(accounts.drop_from_groups(after, user, None, fields) if fields else after)
        return super(UserdelRunner, self).__call__(argv)


def test_online_userdel_backups_are_its_own_without_the_user(tmp_path):
    """userdel's fresh backups are kept (a planned rewrite from before it ran would put stale copies
    back), with the user taken out of them afterwards, memberships of other groups too."""
    root = debian_tree(tmp_path / 'root')
    passwd = root / 'etc/passwd'
    passwd.write_text(passwd.read_text() + 'ops:x:1001:1001::/home/ops:/bin/sh\n')  # not yet in the old passwd-
    group = root / 'etc/group'
    group.write_text(group.read_text().replace('\nsudo:x:27:', '\nsudo:x:27:ops,'))
    result = online(root, UserdelRunner(root), env={'SUDO_USER': 'admin', 'LOGNAME': 'root'}, user='azureuser')
    assert steps(result)['user']['changed']
    backup = text(root, '/etc/passwd-')
    assert 'ops:x:1001' in backup and 'azureuser' not in backup
    assert 'azureuser' not in text(root, '/etc/group-') and 'sudo:x:27:ops' in text(root, '/etc/group-')
    assert USER_HASH not in text(root, '/etc/shadow-')


def test_online_without_systemd_cannot_defer(tmp_path):
    root = debian_tree(tmp_path / 'root')
    host = Host(run=FakeRunner(), env={'SUDO_USER': 'azureuser'}, euid=0, proc=str(tmp_path), pid=1, protected=[], systemd=False)
    with pytest.raises(GuestError, match='needs systemd'):
        deprovision.run({'root': '/', 'user': 'azureuser'}, host=host, tree=Tree(str(root), mounts=[]), online=True)


def test_online_needs_root(tmp_path):
    root = debian_tree(tmp_path / 'root')
    host = Host(run=FakeRunner(), env={}, euid=1000, proc=str(tmp_path), pid=1, protected=[], systemd=True)
    with pytest.raises(GuestError, match='become: true'):
        deprovision.run({'root': '/'}, host=host, tree=Tree(str(root), mounts=[]), online=True)


def test_online_tmp_keeps_what_the_module_and_services_use(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    build(root, {'/tmp/ansible_payload_x/zip': 'z', '/tmp/systemd-private-abc/tmp/f': 'f', '/tmp/.X11-unix/X0': ''})
    result = online(root, FakeRunner(), protected=['/tmp/ansible_payload_x/zip'])
    kept = dict((k['path'], k['why']) for k in steps(result)['tmp']['kept'])
    assert set(kept) == {'/tmp/ansible_payload_x', '/tmp/systemd-private-abc', '/tmp/.X11-unix'}
    assert sorted(os.listdir(str(root / 'tmp'))) == ['.X11-unix', 'ansible_payload_x', 'systemd-private-abc']


def test_connected_users_from_proc(tmp_path):
    proc = tmp_path / 'proc'
    passwd = 'root:x:0:0::/root:/bin/sh\nazureuser:x:1000:1000::/home/azureuser:/bin/sh\nops:x:1001:1001::/home/ops:/bin/sh\n'
    chain = {40: ('python3', 30, 0, 'python3 x'), 30: ('sudo', 20, 0, 'sudo -H -S -n'), 20: ('sh', 10, 1001, 'sh -c'),
             10: ('sshd', 5, 1001, 'sshd: ops@notty'), 5: ('sshd', 1, 0, 'sshd: ops [priv]'), 1: ('systemd', 0, 0, '/sbin/init')}
    for pid, (name, ppid, uid, cmd) in chain.items():
        folder = proc / str(pid)
        folder.mkdir(parents=True)
        (folder / 'status').write_text('Name:\t%s\nPPid:\t%d\nUid:\t%d\t%d\t%d\t%d\n' % (name, ppid, uid, uid, uid, uid))
        (folder / 'cmdline').write_bytes(cmd.replace(' ', '\0').encode())
    (proc / '40' / 'loginuid').write_text('1000')
    found = Host(env={}, proc=str(proc), pid=40).connected_users(passwd)
    assert set(found) == {'ops', 'azureuser'}
    assert 'login uid' in found['azureuser'] and 'ssh session' in found['ops']
    assert Host(env={'SUDO_USER': 'root', 'LOGNAME': 'root'}, proc=str(tmp_path / 'none'), pid=1).connected_users(passwd) == {}


# --- waagent.conf, distributions, account files ------------------------------------------------------------

def test_parse_conf_as_the_agent_does():
    values = parse_conf('# Provisioning.DeleteRootPassword=y\nProvisioning.RegenerateSshHostKeyPair = "y" # comment\n'
                        'Lib.Dir=None\nOS.SshDir=/etc/ssh\n')
    assert values == {'Provisioning.RegenerateSshHostKeyPair': 'y', 'Lib.Dir': None, 'OS.SshDir': '/etc/ssh'}
    conf = WaagentConf(values)
    assert conf.switch('Provisioning.RegenerateSshHostKeyPair') is True
    assert conf.switch('Provisioning.DeleteRootPassword') is False
    assert conf.get('Lib.Dir') == '/var/lib/waagent'
    assert "waagent's default: not set" in conf.rule('Provisioning.DeleteRootPassword')
    assert 'is not y or n' in WaagentConf({'Provisioning.DeleteRootPassword': 'yes'}).rule('Provisioning.DeleteRootPassword')


@pytest.mark.parametrize('os_release, family, handler, osutil, service', [
    ('ID=debian\nVERSION_ID="12"', 'debian', 'DeprovisionHandler', 'DebianOSModernUtil', 'walinuxagent'),
    ('ID=ubuntu\nVERSION_ID="24.04"', 'ubuntu', 'Ubuntu1804DeprovisionHandler', 'Ubuntu18OSUtil', 'walinuxagent'),
    ('ID=ubuntu\nVERSION_ID="16.04"', 'ubuntu', 'UbuntuDeprovisionHandler', 'Ubuntu16OSUtil', 'walinuxagent'),
    ('ID="rhel"\nVERSION_ID="8.4"', 'rhel', 'DeprovisionHandler', 'RedhatOSUtil', 'waagent'),
    ('ID="rocky"\nVERSION_ID="9.3"', 'rhel', 'DeprovisionHandler', 'RedhatOSModernUtil', 'waagent'),
    ('ID="centos"\nVERSION_ID="6"', 'rhel', 'DeprovisionHandler', 'Redhat6xOSUtil', 'waagent'),
    ('ID="sles"\nVERSION_ID="15.5"', 'suse', 'DeprovisionHandler', 'SUSEOSUtil', 'waagent'),
    ('ID="opensuse-leap"\nVERSION_ID="15.5"', 'suse', 'DeprovisionHandler', 'SUSEOSUtil', 'waagent'),
    ('ID=azurelinux\nVERSION_ID="3.0"', 'mariner', 'DeprovisionHandler', 'MarinerOSUtil', 'waagent'),
    ('ID=arch', 'arch', 'ArchDeprovisionHandler', 'ArchUtil', 'waagent'),
    ('ID=flatcar\nVERSION_ID=3815.2.0', 'coreos', 'CoreOSDeprovisionHandler', 'CoreOSUtil', 'waagent'),
    ('ID=linuxmint\nID_LIKE="ubuntu debian"', 'debian', 'DeprovisionHandler', 'DebianOSModernUtil', 'walinuxagent'),
])
def test_distro_profiles(tmp_path, os_release, family, handler, osutil, service):
    build(tmp_path, {'/etc/os-release': os_release + '\n'})
    profile = distro_profile(Tree(str(tmp_path), mounts=[]))
    assert (profile.family, profile.handler, profile.osutil, profile.service) == (family, handler, osutil, service)


def test_arch_empties_machine_id_where_the_agent_deletes_it(tmp_path):
    root = debian_tree(tmp_path / 'root', user=False)
    (root / 'etc/os-release').write_text('ID=arch\n')
    result = run(root)
    assert steps(result)['machine_id']['rule'] == 'ArchDeprovisionHandler removes /etc/machine-id'
    assert text(root, '/etc/machine-id') == ''


def test_lock_password_and_redaction():
    shadow = 'root:$6$x$y:1:0:99999:7:::\nbin:*:1::::::\nlocked:!$6$a$b:1::::::\nnone:!!:1::::::\n'
    locked = accounts.lock_password(shadow)
    assert locked.split('\n', maxsplit=1)[0] == 'root:*LOCK*:1:0:99999:7:::'
    assert accounts.lock_password(locked) == locked
    assert accounts.lock_password('root:!:1::::::\n') == 'root:!:1::::::\n'
    assert accounts.lock_password(shadow, 'locked').split('\n')[2] == 'locked:*LOCK*:1::::::'
    redacted = accounts.redact_shadow(shadow)
    assert '$6$' not in redacted and 'locked:<hash>:' in redacted and 'none:!!:' in redacted


def test_account_file_edits():
    passwd = 'root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\nann:x:1001:1000::/home/ann:/bin/sh\n'
    group = 'bob:x:1000:\nsudo:x:27:bob,ann\n'
    assert accounts.private_group(passwd, group, 'bob') is None  # ann's primary group too
    assert accounts.private_group(passwd.replace(':1001:1000:', ':1001:1001:'), group, 'bob') == 'bob'
    assert accounts.drop_from_groups(group, 'bob', 'bob', (3,)) == 'sudo:x:27:ann\n'
    assert accounts.drop_from_groups('g:*:bob:bob,ann\n', 'bob', None, (2, 3)) == 'g:*::ann\n'
    assert accounts.drop_named(passwd, 'bob') == 'root:x:0:0::/root:/bin/sh\nann:x:1001:1000::/home/ann:/bin/sh\n'
    assert accounts.sudoers_without('# c\nbob ALL=(ALL) ALL\n', 'bob') is None
    assert accounts.sudoers_without('bob ALL=(ALL) ALL\nann ALL=(ALL) ALL\n', 'bob') == 'ann ALL=(ALL) ALL\n'
    assert accounts.sudoers_without('bobby ALL=(ALL) ALL\n', 'bob') == 'bobby ALL=(ALL) ALL\n'


def test_deferred_unit_escapes_for_systemd_and_sed():
    body = accounts.deferred_unit('build.user$', '/usr/sbin/userdel', '/bin/sed', '/bin/true', ['/etc/sudoers.d/waagent'], [])
    assert 'ExecStop=-/usr/sbin/userdel -f -r build.user$$' in body
    assert "'/^build[.]user[$$][[:space:]]/d'" in body and '\\' not in body
    with pytest.raises(ValueError):
        accounts.deferred_unit('a b', '/usr/sbin/userdel', '/bin/sed', '/bin/true', [], [])


def test_deferred_unit_sed_takes_the_user_out_of_every_backup(tmp_path):
    """The unit's sed commands, run for real (systemd's $$ undone, its quoting split as systemd does)."""
    import shlex
    files = {'passwd-': 'root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\nbobby:x:1001:1001::/home/bobby:/bin/sh\n',
             'group-': 'bob:x:1000:\nsudo:x:27:bob\nadm:x:4:bob,ann\nusers:x:100:ann,bob,bobby\nlast:x:5:ann,bob\nbobby:x:1001:\n',
             'gshadow-': 'bob:!::\nsudo:*:bob:bob\nadm:*:ann,bob:bob,ann\n'}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    backups = [str(tmp_path / name) for name in files]
    body = accounts.deferred_unit('bob', '/usr/sbin/userdel', 'sed', '/bin/true', [], backups)
    seds = [line.split('=-', 1)[1] for line in body.splitlines() if line.startswith('ExecStop=-sed')]
    assert len(seds) == 2
    for command in seds:
        subprocess.run(shlex.split(command.replace('$$', '$')), check=True)
    assert (tmp_path / 'passwd-').read_text() == files['passwd-'].replace('bob:x:1000:1000::/home/bob:/bin/sh\n', '')
    assert (tmp_path / 'group-').read_text() == 'sudo:x:27:\nadm:x:4:ann\nusers:x:100:ann,bobby\nlast:x:5:ann\nbobby:x:1001:\n'
    assert (tmp_path / 'gshadow-').read_text() == 'sudo:*::\nadm:*:ann:ann\n'


def test_module_documentation_matches_its_argument_spec(tmp_path):
    import yaml
    from ansible_collections.vmimage.azure.plugins.modules import linux_deprovision as module
    options = yaml.safe_load(module.DOCUMENTATION)['options']
    assert set(options) == set(module.ARGSPEC)
    for name, spec in module.ARGSPEC.items():
        doc = options[name]
        assert doc['type'] == spec['type'], name
        assert doc.get('default') == spec.get('default'), name
        assert doc.get('choices') == spec.get('choices'), name
    assert options['skip']['choices'] == list(deprovision.STEPS)
    returned = yaml.safe_load(module.RETURN)
    result = run(debian_tree(tmp_path / 'root', user=False))
    assert set(result) - {'changed', 'diff'} == set(returned)
    assert set(result['steps'][0]) <= set(returned['steps']['contains'])
