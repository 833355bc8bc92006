# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vmimage.azure maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build (or reuse from a cache) a bootable Debian 12 disk: a VM running elsewhere, before prepare_linux.

The disk is the Debian 12 tree of scripts/debian_tree.py with its BOOT_PACKAGES (Debian's cloud kernel,
GRUB for BIOS boot, chrony) on one ext4 partition of an MBR disk (a Generation 1 VM), with GRUB in the
MBR gap. It is what a VM on-premises looks like before preparation for Azure: no serial console on the
kernel command line, ``quiet``, the agent installed but not configured for Azure, and one thing a local
test needs: an SSH key for the provisioning user, made with the disk and kept beside it.

Cache layout, next to the tree's tar (CACHE/<tree key>.tar):

  CACHE/<tree key>-disk<DISK_VERSION>/disk.raw        the disk (sparse raw; copy it with cp --sparse=always)
  CACHE/<tree key>-disk<DISK_VERSION>/id_ed25519      the provisioning user's SSH key (and .pub)
  CACHE/<tree key>-disk<DISK_VERSION>/vmlinuz, initrd.img   the disk's own kernel, for qemu -kernel boots
  CACHE/<tree key>-disk<DISK_VERSION>/disk.json       what the disk is (root UUID, user, sizes, seconds)

Nothing touches the build host: the partition is reached through a loop device (partx adds the
partition: the build kernel may have no partition-table parsers), and everything that mounts or runs
inside the tree (tar, grub-install, update-grub) runs in new mount, UTS, IPC, PID and network namespaces,
so no mount outlives the build and nothing can rename the host. No service is started.

Usage:
  debian_disk.py build [--cache DIR]      build or reuse; prints the disk's directory
  debian_disk.py copy DEST [--cache DIR]  a fresh sparse copy of the disk at DEST
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import debian_tree  # noqa: E402  pylint: disable=wrong-import-position

DISK_VERSION = 3
SIZE_BYTES = 4 * 1024 ** 3
FIRST_SECTOR = 2048  # 1 MiB: the partition (and so the file system) starts aligned
ROOT_LABEL = 'debian-root'
# A typical Debian install: quiet boot on the VGA console only. prepare_linux adds the serial console.
GRUB_DEFAULTS = {
    'GRUB_CMDLINE_LINUX_DEFAULT': '"quiet"',
    # eth0 whatever the NIC's slot (Debian's cloud images and Azure's own do the same).
    'GRUB_CMDLINE_LINUX': '"net.ifnames=0"',
    'GRUB_TIMEOUT': '1',
}
INTERFACES = 'allow-hotplug eth0\niface eth0 inet dhcp\n'

# Runs as root in the new namespaces; $1 disk device, $2 partition device, $3 mount point, $4 tree tar,
# $5 staging directory (files copied over the tree), $6 the root file system's UUID.
ASSEMBLE = r"""set -eu
disk=$1 part=$2 mnt=$3 tar=$4 stage=$5 uuid=$6
mount --make-rprivate /
mount "$part" "$mnt"
tar --numeric-owner --xattrs --xattrs-include='*' -xpf "$tar" -C "$mnt"
cp -a "$stage"/. "$mnt"/
# A /dev of its own: only the nodes GRUB needs, and the by-uuid link udev would make, so that
# update-grub writes root=UUID=... (it falls back to the device name when the link is missing).
mount -t tmpfs -o mode=0755 dev "$mnt/dev"
cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom "$disk" "$part" "$mnt/dev/"
mkdir -p "$mnt/dev/disk/by-uuid"
ln -s "../../${part##*/}" "$mnt/dev/disk/by-uuid/$uuid"
mount -t proc proc "$mnt/proc"
mount -t sysfs sysfs "$mnt/sys"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C chroot "$mnt" grub-install --target=i386-pc --no-floppy "$disk"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C chroot "$mnt" update-grub
umount "$mnt/sys" "$mnt/proc" "$mnt/dev"
sync
umount "$mnt"
"""


class DiskError(debian_tree.BuildError):
    """The disk cannot be built here; the message says what to do."""


def requirements():
    problems = debian_tree.requirements()
    for tool in ('sfdisk', 'losetup', 'partx', 'mkfs.ext4', 'ssh-keygen', 'mount'):
        if not debian_tree.find_tool(tool):
            problems.append('%s is not installed (fdisk / util-linux / e2fsprogs / openssh-client)' % tool)
    return problems


def disk_dir(cache, tree_key):
    return os.path.join(cache, '%s-disk%d' % (tree_key, DISK_VERSION))


def grub_defaults(text):
    """/etc/default/grub with GRUB_DEFAULTS set (other lines kept)."""
    lines, seen = [], set()
    for line in text.splitlines():
        name = line.split('=', 1)[0].strip()
        if name in GRUB_DEFAULTS and '=' in line and not line.lstrip().startswith('#'):
            lines.append('%s=%s' % (name, GRUB_DEFAULTS[name]))
            seen.add(name)
        else:
            lines.append(line)
    lines.extend('%s=%s' % (name, value) for name, value in GRUB_DEFAULTS.items() if name not in seen)
    return '\n'.join(lines) + '\n'


def stage_files(stage, rootfs, user, root_uuid, public_key):
    """The files copied over the tree: fstab by UUID, GRUB's defaults, eth0 by DHCP, the user's key."""
    uid, gid, home = debian_tree.account(rootfs, user)
    with open(os.path.join(rootfs, 'etc/default/grub'), encoding='utf-8') as handle:
        grub = grub_defaults(handle.read())
    debian_tree.write(stage, 'etc/fstab', 'UUID=%s / ext4 errors=remount-ro 0 1\n' % root_uuid)
    debian_tree.write(stage, 'etc/default/grub', grub)
    debian_tree.write(stage, 'etc/network/interfaces.d/50-eth0', INTERFACES)
    # An initramfs with the modules this machine's disk and NIC need (and whatever is listed in
    # /etc/initramfs-tools/modules, where prepare_linux adds Hyper-V's), as many installs are set:
    # Debian's default (most) takes over two minutes to pack under qemu's software emulation.
    debian_tree.write(stage, 'etc/initramfs-tools/conf.d/50-modules-dep.conf', 'MODULES=dep\n')
    ssh_dir = os.path.join(home.lstrip('/'), '.ssh')
    debian_tree.write(stage, os.path.join(ssh_dir, 'authorized_keys'), public_key, 0o600, (uid, gid))
    os.chmod(os.path.join(stage, ssh_dir), 0o700)
    os.chown(os.path.join(stage, ssh_dir), uid, gid)
    # cp -a copies the staging directories' own modes too: give them the tree's.
    staged = ('etc', 'etc/default', 'etc/network', 'etc/network/interfaces.d', 'etc/initramfs-tools', 'etc/initramfs-tools/conf.d',
              home.lstrip('/'), os.path.dirname(home.lstrip('/')))
    for rel in staged:
        src, dst = os.path.join(rootfs, rel), os.path.join(stage, rel)
        if os.path.isdir(src) and os.path.isdir(dst):
            info = os.stat(src)
            os.chmod(dst, info.st_mode & 0o7777)
            os.chown(dst, info.st_uid, info.st_gid)
    os.chmod(stage, 0o755)


def _out(argv, log):
    log.write('$ %s\n' % ' '.join(argv))
    log.flush()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    log.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise DiskError('%s failed (exit %d): %s; see %s' % (' '.join(argv[:2]), proc.returncode, proc.stderr.strip()[-500:], log.name))
    return proc.stdout.strip()


def partition_node(loop, log):
    """The partition's device node (/dev/loopNp1): made by devtmpfs, or by us from sysfs when it is not."""
    node = loop + 'p1'
    sys_dev = '/sys/class/block/%s/dev' % os.path.basename(node)
    deadline = time.monotonic() + 10
    while not os.path.exists(node) and time.monotonic() < deadline:
        if os.path.exists(sys_dev):
            with open(sys_dev, encoding='ascii') as handle:
                major, minor = (int(n) for n in handle.read().strip().split(':'))
            os.mknod(node, 0o600 | 0o060000, os.makedev(major, minor))
            log.write('made %s (%d:%d)\n' % (node, major, minor))
            break
        time.sleep(0.1)
    if not os.path.exists(node):
        raise DiskError('partx did not add %s: the loop device has no partition; see %s' % (node, log.name))
    return node


def build(tree, target, log):
    """The disk in ``target`` (a new directory) from the tree manifest ``tree`` (debian_tree.ensure)."""
    started = time.monotonic()
    rootfs = os.path.join(os.path.dirname(tree['tar']), tree['key'], 'rootfs')
    if not os.path.isdir(rootfs):
        raise DiskError('the tree %s has no rootfs beside its tar (built with --drop-rootfs?): remove %s and build again'
                        % (tree['key'], tree['tar']))
    user = tree['recipe']['user']
    key = os.path.join(target, 'id_ed25519')
    _out([debian_tree.find_tool('ssh-keygen'), '-q', '-t', 'ed25519', '-N', '', '-C', '%s@vmimage-test-disk' % user, '-f', key], log)
    with open(key + '.pub', encoding='utf-8') as handle:
        public_key = handle.read()
    root_uuid = str(uuid.uuid4())
    stage = os.path.join(target, 'stage')
    os.makedirs(stage)
    stage_files(stage, rootfs, user, root_uuid, public_key)
    kernels = sorted(name for name in os.listdir(os.path.join(rootfs, 'boot')) if name.startswith('vmlinuz-'))
    if not kernels:
        raise DiskError('the tree has no kernel in /boot: build it with debian_tree.BOOT_PACKAGES')
    version = kernels[-1][len('vmlinuz-'):]
    shutil.copyfile(os.path.join(rootfs, 'boot', 'vmlinuz-' + version), os.path.join(target, 'vmlinuz'))
    shutil.copyfile(os.path.join(rootfs, 'boot', 'initrd.img-' + version), os.path.join(target, 'initrd.img'))

    raw = os.path.join(target, 'disk.raw.partial')
    with open(raw, 'wb') as handle:
        handle.truncate(SIZE_BYTES)
    table = 'label: dos\nstart=%d, type=83, bootable\n' % FIRST_SECTOR
    log.write('$ sfdisk %s\n%s' % (raw, table))
    proc = subprocess.run([debian_tree.find_tool('sfdisk'), '--quiet', raw], input=table, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DiskError('sfdisk failed: %s' % proc.stderr.strip())
    loop = _out([debian_tree.find_tool('losetup'), '--find', '--show', raw], log)
    try:
        _out([debian_tree.find_tool('partx'), '--add', loop], log)
        part = partition_node(loop, log)
        _out([debian_tree.find_tool('mkfs.ext4'), '-q', '-F', '-L', ROOT_LABEL, '-U', root_uuid, part], log)
        mnt = os.path.join(target, 'mnt')
        os.makedirs(mnt)
        debian_tree.run(debian_tree.isolated(['/bin/sh', '-c', ASSEMBLE, 'assemble', loop, part, mnt, tree['tar'], stage, root_uuid]), log)
    finally:
        subprocess.run([debian_tree.find_tool('partx'), '--delete', loop], capture_output=True, check=False)
        subprocess.run([debian_tree.find_tool('losetup'), '--detach', loop], capture_output=True, check=False)
        if os.path.exists(loop + 'p1') and not os.path.exists('/sys/class/block/%sp1' % os.path.basename(loop)):
            os.unlink(loop + 'p1')  # a node we made ourselves
    shutil.rmtree(stage)
    os.rmdir(os.path.join(target, 'mnt'))
    os.replace(raw, os.path.join(target, 'disk.raw'))
    return {'tree_key': tree['key'], 'disk_version': DISK_VERSION, 'root_uuid': root_uuid, 'user': user,
            'kernel_version': version, 'size_bytes': SIZE_BYTES, 'first_sector': FIRST_SECTOR,
            'grub_defaults': dict(GRUB_DEFAULTS), 'hostname': debian_tree.HOSTNAME,
            'seconds': round(time.monotonic() - started, 1), 'built': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}


def ensure(cache=debian_tree.DEFAULT_CACHE, progress=None):
    """The cached disk (built now, with its tree, when there is none): its manifest with ``dir``,
    ``disk``, ``key`` (SSH private key), ``kernel``, ``initrd``, ``reused`` and ``seconds_this_call``."""
    started = time.monotonic()
    rec = debian_tree.recipe(debian_tree.PACKAGES + debian_tree.BOOT_PACKAGES)
    tree = debian_tree.ensure(cache, rec, progress=progress)
    target = disk_dir(cache, tree['key'])
    manifest_path = os.path.join(target, 'disk.json')
    with debian_tree.locked(target + '.lock'):
        manifest = None
        if os.path.isfile(manifest_path) and os.path.isfile(os.path.join(target, 'disk.raw')):
            with open(manifest_path, encoding='utf-8') as handle:
                manifest = json.load(handle)
        reused = manifest is not None
        if not reused:
            problems = requirements()
            if problems:
                raise DiskError('; '.join(problems))
            if os.path.lexists(target):
                shutil.rmtree(target)
            os.makedirs(target)
            if progress:
                progress('building the bootable Debian 12 disk %s (a few seconds; log: %s)' % (target, os.path.join(target, 'build.log')))
            with open(os.path.join(target, 'build.log'), 'w', encoding='utf-8') as log:
                manifest = build(tree, target, log)
            with open(manifest_path + '.partial', 'w', encoding='utf-8') as handle:
                json.dump(manifest, handle, indent=2, sort_keys=True)
            os.replace(manifest_path + '.partial', manifest_path)
    return dict(manifest, dir=target, disk=os.path.join(target, 'disk.raw'), key=os.path.join(target, 'id_ed25519'),
                kernel=os.path.join(target, 'vmlinuz'), initrd=os.path.join(target, 'initrd.img'), tree_seconds=tree['seconds'],
                reused=reused and tree['reused'], seconds_this_call=round(time.monotonic() - started, 1))


def copy(manifest, dest):
    """A fresh sparse copy of the cached disk at ``dest`` (must not exist)."""
    if os.path.lexists(dest):
        raise DiskError('%s exists: copy the disk to a new path' % dest)
    proc = subprocess.run(['cp', '--sparse=always', manifest['disk'], dest], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DiskError('copying the disk failed: %s' % proc.stderr.strip())
    return dest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('command', choices=('build', 'copy'))
    parser.add_argument('dest', nargs='?', help='copy: the new disk file')
    parser.add_argument('--cache', default=debian_tree.DEFAULT_CACHE)
    args = parser.parse_args(argv)
    if args.command == 'copy' and not args.dest:
        parser.error('copy needs DEST')
    try:
        manifest = ensure(args.cache, progress=lambda msg: print(msg, file=sys.stderr))
        print('%s %s in %.1f s' % ('reused' if manifest['reused'] else 'built', manifest['disk'], manifest['seconds_this_call']),
              file=sys.stderr)
        if args.command == 'copy':
            copy(manifest, args.dest)
    except debian_tree.BuildError as exc:
        print('debian_disk.py: %s' % exc, file=sys.stderr)
        return 1
    print(manifest['dir'] if args.command == 'build' else args.dest)
    return 0


if __name__ == '__main__':
    sys.exit(main())
