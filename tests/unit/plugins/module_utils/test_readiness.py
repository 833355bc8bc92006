# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""linux_readiness's checks against synthetic guest trees under tmp_path.

One tree is prepared as prepare_linux leaves a Debian guest (agent installed and enabled, cloud-init with
the Azure datasource, a gzip initramfs with the Hyper-V drivers behind an uncompressed early cpio, GRUB
defaults and a generated grub.cfg with the serial console, fstab by UUID, chrony with the PTP refclock, an
sshd drop-in, the host-key unit): every item is ready. Then each item is broken in turn, and exactly that
item turns not ready, saying why. Also: RHEL-style BootLoaderSpec entries with $kernelopts, dracut
configuration as the fallback when the initramfs cannot be read (zstd), sshd's first-value-wins with
Include and Match, agent provisioning, and a symlink that leads out of the tree.
"""

from __future__ import annotations

import gzip
import lzma
import os

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._guest import readiness
from ansible_collections.vmimage.azure.plugins.module_utils._guest.host import Host
from ansible_collections.vmimage.azure.plugins.module_utils._guest.rootfs import GuestError

KVER = '6.1.0-50-cloud-amd64'
MODDIR = 'usr/lib/modules/%s/kernel/drivers' % KVER
DRIVER_FILES = [MODDIR + '/hv/hv_vmbus.ko', MODDIR + '/net/hyperv/hv_netvsc.ko', MODDIR + '/scsi/hv_storvsc.ko']
GOOD_CMDLINE = 'net.ifnames=0 console=ttyS0,115200n8 earlyprintk=ttyS0 rootdelay=300'


def newc(names):
    """A newc cpio archive of empty files (and the trailer)."""
    out = b''
    for index, name in enumerate(list(names) + ['TRAILER!!!']):
        raw = name.encode() + b'\0'
        fields = [index + 1, 0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0, len(raw), 0]
        header = b'070701' + b''.join(b'%08X' % f for f in fields)
        out += header + raw
        out += b'\0' * ((4 - len(out) % 4) % 4)
    return out + b'\0' * ((512 - len(out) % 512) % 512)


def initrd(names, compress=gzip.compress):
    """What initramfs-tools and dracut write: an uncompressed early cpio, then the compressed main one."""
    return newc(['kernel', 'kernel/x86', 'kernel/x86/microcode']) + compress(newc(names))


def build(root, files=None, links=None, binary=None):
    for path, text in (files or {}).items():
        target = root / path.lstrip('/')
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for path, data in (binary or {}).items():
        target = root / path.lstrip('/')
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for path, dest in (links or {}).items():
        target = root / path.lstrip('/')
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(str(target)):
            target.unlink()
        os.symlink(dest, str(target))
    return root


WANTS = '/etc/systemd/system/multi-user.target.wants/'


@pytest.fixture
def ready(tmp_path):
    root = tmp_path / 'guest'
    build(root, files={
        '/etc/os-release': 'ID=debian\nVERSION_ID="12"\n',
        '/usr/sbin/waagent': '#!/usr/bin/python3\n',
        '/usr/bin/cloud-init': '#!/usr/bin/python3\n',
        '/var/lib/dpkg/status': 'Package: waagent\nStatus: install ok installed\n\nPackage: cloud-init\nStatus: install ok installed\n',
        '/etc/waagent.conf': 'Provisioning.Agent=cloud-init\nResourceDisk.Format=n\nResourceDisk.EnableSwap=n\n',
        '/etc/cloud/cloud.cfg': 'datasource_list: [ NoCloud, ConfigDrive, Azure, None ]\n',
        '/etc/cloud/cloud.cfg.d/91-vmimage-azure.cfg': 'datasource_list: [ Azure ]\ndatasource:\n  Azure:\n    apply_network_config: true\n',
        '/etc/initramfs-tools/modules': '# modules\nhv_vmbus\nhv_netvsc\nhv_storvsc\n',
        '/usr/lib/systemd/system/walinuxagent.service': '[Unit]\n',
        '/usr/lib/modules/%s/modules.builtin' % KVER: 'kernel/drivers/nvme/host/nvme-core.ko\nkernel/drivers/nvme/host/nvme.ko\n',
        '/etc/default/grub': 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=""\nGRUB_CMDLINE_LINUX="%s"\n' % GOOD_CMDLINE,
        '/etc/default/grub.d/init-select.cfg': 'if [ "$GRUB_CMDLINE_LINUX_DEFAULT" = x ]; then :; fi\n',
        '/boot/grub/grub.cfg': "menuentry 'Debian' {\n\tlinux\t/boot/vmlinuz-%s root=UUID=abcd ro %s\n}\n"
                               "menuentry 'Debian (recovery)' {\n\tlinux\t/boot/vmlinuz-%s root=UUID=abcd ro single %s\n}\n"
                               % (KVER, GOOD_CMDLINE, KVER, GOOD_CMDLINE),
        '/etc/fstab': '# /etc/fstab\nUUID=0a1b / ext4 errors=remount-ro 0 1\nLABEL=boot /boot ext4 defaults 0 2\n'
                      'tmpfs /tmp tmpfs defaults 0 0\n/dev/disk/by-uuid/77 /data ext4 nofail 0 2\n',
        '/etc/chrony/chrony.conf': 'confdir /etc/chrony/conf.d\npool 2.debian.pool.ntp.org iburst\n'
                                   'refclock PHC /dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2\n',
        '/etc/ssh/sshd_config': 'Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\nClientAliveInterval 0\nMatch User x\n',
        '/etc/ssh/sshd_config.d/10-vmimage-azure.conf': 'ClientAliveInterval 180\n',
        '/etc/systemd/system/vmimage-ssh-host-keys.service': '[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n',
    }, links={
        WANTS + 'walinuxagent.service': '/lib/systemd/system/walinuxagent.service',
        WANTS + 'chrony.service': '/lib/systemd/system/chrony.service',
        WANTS + 'vmimage-ssh-host-keys.service': '/etc/systemd/system/vmimage-ssh-host-keys.service',
        '/lib': 'usr/lib',
    }, binary={
        '/boot/initrd.img-%s' % KVER: initrd(['usr', 'usr/lib'] + DRIVER_FILES),
        '/boot/initrd.img-5.10.0-9-amd64': initrd(['usr']),  # older kernel: not the one checked
    })
    (root / 'etc/udev/rules.d').mkdir(parents=True)
    return root


def check(root, **params):
    result = readiness.run(dict(root=str(root), **params), host=Host(run=lambda argv: (127, '', 'not run')), mounts=[])
    return result, dict((i['name'], i) for i in result['items'])


def test_every_item_ready(ready):
    result, items = check(ready)
    assert result['ready'], [i for i in result['items'] if not i['ok']]
    assert [i['name'] for i in result['items']] == list(readiness.CHECKS)
    assert result['online'] is False and result['not_ready'] == []
    assert 'read by vmimage.azure (cpio)' in items['initramfs_drivers']['detail']
    assert '/boot/initrd.img-%s' % KVER in items['initramfs_drivers']['detail']
    assert '2 linux lines' in items['kernel_cmdline']['detail']
    assert '10-vmimage-azure.conf' in items['ssh_client_alive']['detail']
    assert 'datasource_list [Azure] in /etc/cloud/cloud.cfg.d/91-vmimage-azure.cfg' in items['cloud_init']['detail']


def test_checks_limit_and_order(ready):
    result, items = check(ready, checks=['fstab', 'agent'])
    assert [i['name'] for i in result['items']] == ['agent', 'fstab']


BREAKS = {
    'agent': [
        ({'rm': ['/usr/sbin/waagent', '/var/lib/dpkg/status']}, 'not installed'),
        ({'rm': [WANTS + 'walinuxagent.service']}, 'not enabled'),
        ({'link': {'/etc/systemd/system/walinuxagent.service': '/dev/null'}}, 'masked'),
    ],
    'provisioning': [
        ({'write': {'/etc/waagent.conf': 'Provisioning.Agent=cloud-init\nResourceDisk.Format=y\nResourceDisk.EnableSwap=n\n'}},
         'ResourceDisk.Format=y'),
        ({'write': {'/etc/waagent.conf': 'Provisioning.Agent=waagent\nResourceDisk.Format=n\nResourceDisk.EnableSwap=n\n'}},
         'Provisioning.Agent=waagent'),
        ({'write': {'/etc/waagent.conf': 'Provisioning.Agent=cloud-init\nResourceDisk.Format=n\nResourceDisk.EnableSwap=y\n'}},
         'ResourceDisk.EnableSwap=y'),
        ({'rm': ['/etc/waagent.conf']}, 'missing'),
    ],
    'cloud_init': [
        ({'rm': ['/etc/cloud/cloud.cfg.d/91-vmimage-azure.cfg']}, 'Azure must come first'),
        ({'write': {'/etc/cloud/cloud-init.disabled': ''}}, 'disabled'),
        ({'rm': ['/usr/bin/cloud-init']}, 'not installed'),
    ],
    'initramfs_drivers': [
        ({'bytes': {'/boot/initrd.img-%s' % KVER: initrd(DRIVER_FILES[:2])}}, 'lacks hv_storvsc'),
        ({'rm': ['/boot/initrd.img-%s' % KVER, '/boot/initrd.img-5.10.0-9-amd64']}, 'no initramfs'),
        ({'bytes': {'/boot/initrd.img-%s' % KVER: newc([]) + b'\x28\xb5\x2f\xfd' + b'\0' * 64},
          'write': {'/etc/initramfs-tools/modules': 'hv_vmbus\n'}}, 'zstd-compressed'),
    ],
    'kernel_cmdline': [
        ({'write': {'/etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="%s"\n' % GOOD_CMDLINE}},
         'still has quiet'),
        ({'write': {'/etc/default/grub': 'GRUB_CMDLINE_LINUX="net.ifnames=0"\n'}}, 'lacks console=ttyS0,115200n8'),
        ({'write': {'/etc/default/grub.d/50-cloudimg.cfg': 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT rhgb"\n'}},
         'still has rhgb'),
        ({'write': {'/boot/grub/grub.cfg': "menuentry 'x' {\n\tlinux /boot/vmlinuz root=UUID=abcd ro quiet\n}\n"}},
         'regenerate it'),
        ({'rm': ['/etc/default/grub']}, '/etc/default/grub is missing'),
    ],
    'swap': [
        ({'append': {'/etc/fstab': '/dev/sdb2 none swap sw 0 0\n'}}, 'mounts swap /dev/sdb2'),
        ({'append': {'/etc/fstab': 'UUID=99 none swap sw 0 0\n'}}, 'mounts swap UUID=99'),
    ],
    'fstab': [
        ({'append': {'/etc/fstab': '/dev/sda1 /boot/efi vfat umask=0077 0 1\n'}}, 'line 6: /dev/sda1'),
        ({'append': {'/etc/fstab': '/dev/nvme0n1p2 /srv xfs defaults 0 0\n'}}, '/dev/nvme0n1p2'),
    ],
    'persistent_net_rules': [
        ({'write': {'/etc/udev/rules.d/70-persistent-net.rules': 'SUBSYSTEM=="net"\n'}}, '70-persistent-net.rules'),
        ({'write': {'/etc/udev/rules.d/75-persistent-net-generator.rules': '\n'}}, '75-persistent-net-generator.rules'),
    ],
    'time_sync': [
        ({'write': {'/etc/chrony/chrony.conf': 'pool 2.debian.pool.ntp.org iburst\n'}}, 'no "refclock PHC /dev/ptp_hyperv" line'),
        ({'rm': [WANTS + 'chrony.service']}, 'chrony is not enabled'),
        ({'link': {'/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service': '/lib/systemd/system/systemd-timesyncd.service'}},
         'systemd-timesyncd is enabled'),
        ({'rm': ['/etc/chrony/chrony.conf']}, 'chrony is not configured'),
    ],
    'ssh_client_alive': [
        ({'rm': ['/etc/ssh/sshd_config.d/10-vmimage-azure.conf']}, 'ClientAliveInterval 0 in /etc/ssh/sshd_config'),
        ({'write': {'/etc/ssh/sshd_config.d/05-site.conf': 'ClientAliveInterval 60\n'}}, 'ClientAliveInterval 60 in /etc/ssh/sshd_config.d/05-site.conf'),
        ({'write': {'/etc/ssh/sshd_config': 'Match User x\nInclude /etc/ssh/sshd_config.d/*.conf\n'}}, 'not set'),
    ],
    'ssh_host_keys': [
        ({'rm': ['/etc/systemd/system/vmimage-ssh-host-keys.service']}, 'missing'),
        ({'rm': [WANTS + 'vmimage-ssh-host-keys.service']}, 'not enabled'),
        ({'write': {'/etc/systemd/system/vmimage-ssh-host-keys.service': '[Service]\nExecStart=/bin/true\n'}}, 'does not run ssh-keygen -A'),
    ],
}
CASES = [(name, index, change, words) for name, cases in BREAKS.items() for index, (change, words) in enumerate(cases)]


def apply(root, change):
    for path in change.get('rm', []):
        os.unlink(str(root / path.lstrip('/')))
    build(root, files=change.get('write'), links=change.get('link'), binary=change.get('bytes'))
    for path, text in change.get('append', {}).items():
        with open(str(root / path.lstrip('/')), 'a') as handle:
            handle.write(text)


@pytest.mark.parametrize('name,index,change,words', CASES, ids=['%s-%d' % (c[0], c[1]) for c in CASES])
def test_each_item_fails_alone(ready, name, index, change, words):
    apply(ready, change)
    result, items = check(ready)
    assert not result['ready']
    assert result['not_ready'] == [name], result['items']
    assert words in items[name]['detail'], items[name]['detail']


def test_every_check_has_failing_cases():
    assert sorted(BREAKS) == sorted(readiness.CHECKS)


def test_unreadable_initramfs_falls_back_to_the_configuration(ready):
    apply(ready, {'bytes': {'/boot/initrd.img-%s' % KVER: newc([]) + b'\x28\xb5\x2f\xfd' + b'\0' * 64}})
    result, items = check(ready, checks=['initramfs_drivers'])
    detail = items['initramfs_drivers']['detail']
    assert result['ready'] and 'configuration is reported instead' in detail and 'hv_storvsc (/etc/initramfs-tools/modules)' in detail


def test_xz_initramfs_and_builtin_nvme(ready):
    apply(ready, {'bytes': {'/boot/initrd.img-%s' % KVER: initrd(DRIVER_FILES, compress=lzma.compress)}})
    result, items = check(ready, checks=['initramfs_drivers'], drivers=['hv_vmbus', 'hv_netvsc', 'hv_storvsc', 'nvme', 'nvme-core'])
    assert result['ready'], items
    assert 'built into kernel %s: nvme, nvme_core' % KVER in items['initramfs_drivers']['detail']


def test_dracut_configuration_and_bls_entries(tmp_path):
    root = build(tmp_path / 'el9', files={
        '/etc/dracut.conf.d/91-vmimage-azure.conf': 'add_drivers+=" hv_vmbus hv_netvsc hv_storvsc "\n',
        '/etc/default/grub': 'GRUB_CMDLINE_LINUX="crashkernel=auto rhgb quiet"\nGRUB_ENABLE_BLSCFG=true\n',
        '/boot/grub2/grub.cfg': 'insmod blscfg\nblscfg\n',
        '/boot/grub2/grubenv': 'saved_entry=x\nkernelopts=root=UUID=1 ro console=ttyS0,115200n8 earlyprintk=ttyS0 rootdelay=300\n',
        '/boot/loader/entries/abc-5.14.0.conf': 'title RHEL\nlinux /vmlinuz-5.14.0\noptions $kernelopts\n',
        '/boot/loader/entries/abc-5.14.1.conf': 'title RHEL\nlinux /vmlinuz-5.14.1\noptions root=UUID=1 ro rhgb quiet\n',
    })
    result, items = check(root, checks=['initramfs_drivers', 'kernel_cmdline'])
    assert items['initramfs_drivers']['ok'] is False and 'no initramfs under /boot' in items['initramfs_drivers']['detail']
    assert 'configured: hv_vmbus (/etc/dracut.conf.d/91-vmimage-azure.conf)' in items['initramfs_drivers']['detail']
    detail = items['kernel_cmdline']['detail']
    assert 'abc-5.14.1.conf (BootLoaderSpec entry) lack console=ttyS0,115200n8' in detail
    assert 'abc-5.14.0.conf' not in detail.split('checked')[0]
    assert 'still has rhgb quiet crashkernel=auto' in detail


def test_agent_provisioning(ready):
    apply(ready, {'write': {'/etc/waagent.conf': 'Provisioning.Agent=waagent\nResourceDisk.Format=y\n'}})
    result, items = check(ready, provisioning='agent', checks=['provisioning', 'cloud_init'])
    assert not items['cloud_init']['ok'] and 'disable it' in items['cloud_init']['detail']
    apply(ready, {'write': {'/etc/cloud/cloud-init.disabled': ''}})
    result, items = check(ready, provisioning='agent', checks=['provisioning', 'cloud_init'])
    assert result['ready'], items
    apply(ready, {'write': {'/etc/waagent.conf': 'Provisioning.Agent=cloud-init\n'}})
    result, items = check(ready, provisioning='agent', checks=['provisioning'])
    assert 'the agent provisions (waagent expected)' in items['provisioning']['detail']


def test_a_symlink_out_of_the_tree_is_not_followed(ready, tmp_path):
    outside = tmp_path / 'host-fstab'
    outside.write_text('/dev/sda1 / ext4 defaults 0 1\n')
    os.unlink(str(ready / 'etc/fstab'))
    os.symlink(str(outside), str(ready / 'etc/fstab'))
    result, items = check(ready, checks=['fstab'])
    assert 'sda1' not in items['fstab']['detail']  # resolved inside the tree, where that path does not exist


def test_swap_active_online_only(ready, tmp_path, monkeypatch):
    monkeypatch.setattr(readiness, '_read_proc', lambda path: 'Filename Type Size Used Priority\n/dev/sdb2 partition 1 0 -2\n')
    tree = readiness.Tree(str(ready), mounts=[])
    guest = readiness.Guest(tree, Host(run=lambda argv: (127, '', '')), online=True)
    item = readiness.Item('swap')
    readiness.check_swap(guest, {}, item)
    assert not item.ok and 'swap active: /dev/sdb2' in item.result()['detail']
    _result, items = check(ready, checks=['swap'])
    assert items['swap']['ok'] and 'offline: active swap not checked' in items['swap']['detail']


def test_bad_roots(tmp_path):
    with pytest.raises(GuestError, match='not a directory'):
        readiness.run({'root': str(tmp_path / 'missing')}, mounts=[])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(GuestError, match='no /etc'):
        readiness.run({'root': str(tmp_path / 'empty')}, mounts=[])
    (tmp_path / 'empty/etc').mkdir()
    with pytest.raises(GuestError, match='online=true needs root=/'):
        readiness.run({'root': str(tmp_path / 'empty'), 'online': True}, mounts=[])


def test_parsers():
    assert readiness.shell_value('A="x y"\nA=\'z\'\nB=1 # c\n', 'A') == 'z'
    assert readiness.shell_value('B=1 # c\n', 'B') == '1'
    assert readiness._datasource_list('datasource_list:\n  - Azure\n  - None\nother: 1\n') == ['Azure', 'None']
    assert readiness.dpkg_installed('Package: waagent\nStatus: deinstall ok config-files\n', ['waagent']) == []
    assert readiness.cpio_names(initrd(['a', 'b/c.ko'])) == ['kernel', 'kernel/x86', 'kernel/x86/microcode', 'a', 'b/c.ko']
    assert readiness.initrd_modules(['x/nvme-core.ko.zst', 'y/hv_vmbus.ko.xz', 'z/readme']) == {'nvme_core', 'hv_vmbus'}
