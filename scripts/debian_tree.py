# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vmimage.azure maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build (or reuse from a cache) a Debian 12 root tree made with debootstrap, as an Azure VM leaves it.

The tree is what `waagent -deprovision` and vmimage.azure.linux_deprovision work on: Debian's own
packages (waagent, cloud-init, openssh-server, systemd-sysv, sudo, ...) installed by debootstrap, then
the traces a VM that ran in Azure carries: a provisioning user with a home, a sudoers rule and a shell
history, the agent's and cloud-init's state and logs, a DHCP lease, a hostname, files in /tmp.

The cache is keyed by a hash of the recipe (suite, mirror, architecture, package list, user, this
script's VERSION): the tree is built in CACHE/<key>/rootfs, packed as CACHE/<key>.tar (with
CACHE/<key>.json describing it) and every user extracts a fresh copy of that tar, so that no two
users share a tree. The default cache is .build/debian12 in the checkout.

Nothing in the build touches the build host: the packages' maintainer scripts run with a
policy-rc.d that refuses every service start (exit 101), in new UTS, network, IPC, mount and PID
namespaces (`unshare`), so nothing can set the host's hostname, bind the host's port 22 or leave a
mount behind; policy-rc.d is removed again at the end so that the tree boots normally later.
Building needs root (debootstrap, chroot, file owners in the tar) and debootstrap (`make sysdeps`).

Usage:
  debian_tree.py build [--cache DIR] [--package NAME ...]   build or reuse; prints the tar's path
  debian_tree.py extract DEST [--cache DIR] [--package NAME ...]   a fresh copy of the tree in DEST
  debian_tree.py key [--package NAME ...]                    the recipe's key
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

# Bump when the build steps or the provisioned state below change: the key changes with it.
VERSION = 2
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(ROOT, '.build', 'debian12')
SUITE = 'bookworm'
MIRROR = 'http://deb.debian.org/debian'
VARIANT = 'minbase'
# Debian names the Azure agent's package waagent (Ubuntu: walinuxagent, RHEL/SLES: WALinuxAgent).
# isc-dhcp-client and ifupdown are what Debian's cloud images use for the network (the DHCP lease).
# debootstrap does not resolve virtual packages: python3-cryptography (for cloud-init) depends on
# python3-cffi-backend-api-min/-max, which only python3-cffi-backend provides, so it is named here.
PACKAGES = ('waagent', 'cloud-init', 'openssh-server', 'systemd-sysv', 'sudo', 'isc-dhcp-client', 'ifupdown',
            'iproute2', 'netbase', 'python3-cffi-backend')
# What a bootable disk adds (scripts/debian_disk.py, issue 10's main job and molecule): Debian's cloud
# kernel (Hyper-V and virtio drivers), GRUB for BIOS boot (Azure Generation 1) and chrony, which the
# Hyper-V PTP clock needs; all of it as a VM running elsewhere already has it before prepare_linux.
BOOT_PACKAGES = ('linux-image-cloud-amd64', 'grub-pc', 'chrony')
USER = 'azureuser'
HOSTNAME = 'debian12-build'
# What an Azure VM's own resolv.conf says (the platform's DNS); the host's is never copied in.
RESOLV_CONF = 'nameserver 168.63.129.16\nsearch reddog.microsoft.com\n'
POLICY_RC_D = '#!/bin/sh\n# vmimage.azure debian_tree.py: no service starts while the tree is built.\nexit 101\n'
INSTANCE_ID = 'a1b2c3d4-0000-4000-8000-00000000abcd'
# The whole environment of what runs inside the tree: nothing of the caller's (PYTHONPATH, a venv's PATH...) leaks in.
CHROOT_ENV = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL': 'C', 'DEBIAN_FRONTEND': 'noninteractive', 'HOME': '/root'}
# The steps run inside the tree (chroot, new namespaces) once the packages are in.
CONFIGURE = r"""set -eu
useradd --create-home --shell /bin/bash --user-group --groups sudo --comment 'provisioning user' {user}
echo '{user}:provisioned-by-azure' | chpasswd
echo 'root:root-password-set-at-build' | chpasswd
apt-get clean
rm -rf /var/lib/apt/lists/*_Packages /var/lib/apt/lists/*_Release /var/lib/apt/lists/*_InRelease
"""


class BuildError(Exception):
    """The tree cannot be built here; the message says what to do."""


def recipe(packages=PACKAGES, suite=SUITE, mirror=MIRROR, arch=None, user=USER):
    """Everything the tree depends on; its hash is the cache key."""
    return {'suite': suite, 'mirror': mirror, 'variant': VARIANT, 'arch': arch or host_arch(),
            'packages': sorted(set(packages)), 'user': user, 'version': VERSION}


def recipe_key(rec):
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()[:16]


def host_arch():
    try:
        return subprocess.run(['dpkg', '--print-architecture'], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {'x86_64': 'amd64', 'aarch64': 'arm64'}.get(os.uname().machine, os.uname().machine)


def find_tool(name):
    """``name`` on PATH or in the sbin directories a non-root PATH lacks."""
    found = shutil.which(name)
    for folder in ('/usr/sbin', '/sbin'):
        if not found and os.access(os.path.join(folder, name), os.X_OK):
            found = os.path.join(folder, name)
    return found


def requirements():
    """What is missing to build the tree here, as messages that say what to do (empty: nothing)."""
    problems = []
    if os.geteuid() != 0:
        problems.append('building the Debian 12 tree needs root (debootstrap, chroot, file owners): run as root '
                        '(CI runs as root), or build it once with "sudo python3 scripts/debian_tree.py build"')
    if not find_tool('debootstrap'):
        problems.append('debootstrap is not installed: run "make sysdeps" (or apt-get install debootstrap)')
    for tool in ('unshare', 'chroot', 'tar'):
        if not find_tool(tool):
            problems.append('%s is not installed (util-linux / coreutils / tar)' % tool)
    return problems


@contextlib.contextmanager
def locked(path):
    """An exclusive lock on ``path`` (parallel test workers build the same key once)."""
    with open(path, 'a+', encoding='utf-8') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def isolated(argv):
    """``argv`` in new namespaces: its hostname, network (no interface but a down lo), mounts and pids are its own."""
    return [find_tool('unshare'), '--uts', '--net', '--ipc', '--mount', '--pid', '--fork', '--kill-child'] + argv


def run(argv, log, **kwargs):
    log.write('$ %s\n' % ' '.join(argv))
    log.flush()
    proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False, **kwargs)
    if proc.returncode != 0:
        shown = argv[argv.index('--kill-child') + 1:] if '--kill-child' in argv else argv  # without the unshare prefix
        raise BuildError('%s failed (exit %d); see %s' % (' '.join(shown[:3]), proc.returncode, log.name))


def write(rootfs, rel, text, mode=0o644, owner=None):
    path = os.path.join(rootfs, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.islink(path):
        os.unlink(path)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(path, mode)
    if owner:
        os.chown(path, *owner)


def account(rootfs, user):
    """(uid, gid, home) of ``user`` from the tree's own /etc/passwd."""
    with open(os.path.join(rootfs, 'etc/passwd'), encoding='utf-8') as handle:
        for line in handle:
            fields = line.rstrip('\n').split(':')
            if fields[0] == user:
                return int(fields[2]), int(fields[3]), fields[5]
    raise BuildError('user %s was not created in the tree' % user)


def provision(rootfs, user):
    """What a VM that ran in Azure carries: the traces linux_deprovision must remove."""
    uid, gid, home = account(rootfs, user)
    home = home.lstrip('/')
    write(rootfs, 'etc/hostname', HOSTNAME + '\n')
    write(rootfs, 'etc/hosts', '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' % HOSTNAME)
    write(rootfs, 'etc/resolv.conf', RESOLV_CONF)
    write(rootfs, 'etc/sudoers.d/waagent', '%s ALL=(ALL) NOPASSWD: ALL\n' % user, mode=0o440)
    write(rootfs, os.path.join(home, '.bash_history'), 'sudo apt-get update\nsudo waagent -version\n', 0o600, (uid, gid))
    write(rootfs, 'root/.bash_history', 'waagent -show-configuration\n', 0o600)
    write(rootfs, 'var/lib/waagent/Incarnation', '1')
    write(rootfs, 'var/lib/waagent/ovf-env.xml', '<Environment><UserName>%s</UserName></Environment>\n' % user, 0o600)
    write(rootfs, 'var/lib/waagent/provisioned', '')
    write(rootfs, 'var/log/waagent.log', 'INFO Daemon Azure Linux Agent is running\n')
    write(rootfs, 'var/log/azure/Microsoft.Azure.Extensions.CustomScript/handler.log', 'enable\n')
    iid = 'var/lib/cloud/instances/%s' % INSTANCE_ID
    write(rootfs, iid + '/obj.pkl', 'pickled datasource\n')
    write(rootfs, iid + '/boot-finished', '1 up\n')
    write(rootfs, 'var/lib/cloud/data/instance-id', INSTANCE_ID + '\n')
    link = os.path.join(rootfs, 'var/lib/cloud/instance')
    if not os.path.lexists(link):
        os.symlink('/' + iid, link)
    write(rootfs, 'var/log/cloud-init.log', 'cloud-init ran\n')
    write(rootfs, 'var/log/cloud-init-output.log', 'cloud-init output\n')
    write(rootfs, 'var/lib/dhcp/dhclient.eth0.leases', 'lease {\n  interface "eth0";\n  fixed-address 10.0.0.4;\n}\n')
    write(rootfs, 'tmp/provisioning.log', 'build step\n')
    write(rootfs, 'var/tmp/build.tmp', 'x\n')


def check_tree(rootfs, user):
    """The tree is what the tests rely on, or the build fails saying what is missing."""
    problems = []
    keys = [name for name in os.listdir(os.path.join(rootfs, 'etc/ssh')) if name.startswith('ssh_host_')]
    if not keys:
        problems.append('no SSH host keys in /etc/ssh (openssh-server\'s postinst makes them)')
    machine_id = os.path.join(rootfs, 'etc/machine-id')
    if not os.path.isfile(machine_id) or os.path.getsize(machine_id) == 0:
        problems.append('/etc/machine-id is missing or empty (systemd\'s postinst makes it)')
    for rel in ('etc/waagent.conf', 'usr/sbin/waagent', 'usr/bin/cloud-init', 'usr/sbin/sshd', 'usr/bin/sudo'):
        if not os.path.lexists(os.path.join(rootfs, rel)):
            problems.append('/%s is missing' % rel)
    if os.path.lexists(os.path.join(rootfs, 'usr/sbin/policy-rc.d')):
        problems.append('/usr/sbin/policy-rc.d was left in the tree')
    account(rootfs, user)
    if problems:
        raise BuildError('the Debian tree is not as expected: ' + '; '.join(problems))
    return sorted(keys)


def mounted_below(path):
    path = os.path.realpath(path)
    with open('/proc/self/mounts', encoding='utf-8') as handle:
        points = [line.split()[1] for line in handle]
    return [p for p in points if p == path or p.startswith(path + '/')]


def build(rec, workdir, tar_path, log):
    """debootstrap ``rec`` into workdir/rootfs, configure and provision it, pack it into tar_path."""
    rootfs = os.path.join(workdir, 'rootfs')
    started = time.monotonic()
    # First stage: download and unpack only; no maintainer script runs before policy-rc.d is in place.
    run([find_tool('debootstrap'), '--foreign', '--variant=' + rec['variant'], '--arch=' + rec['arch'],
         '--include=' + ','.join(rec['packages']), '--components=main', rec['suite'], rootfs, rec['mirror']], log)
    write(rootfs, 'usr/sbin/policy-rc.d', POLICY_RC_D, mode=0o755)
    first = time.monotonic()
    # Second stage: the maintainer scripts (host keys, machine-id...) in namespaces of their own.
    # debootstrap also writes a policy-rc.d of its own for its base packages and removes it when it
    # is done, so ours is put back for the steps that follow.
    run(isolated([find_tool('chroot'), rootfs, '/debootstrap/debootstrap', '--second-stage']), log, env=CHROOT_ENV)
    write(rootfs, 'usr/sbin/policy-rc.d', POLICY_RC_D, mode=0o755)
    run(isolated([find_tool('chroot'), rootfs, '/bin/sh', '-c', CONFIGURE.format(user=rec['user'])]), log, env=CHROOT_ENV)
    second = time.monotonic()
    leftover = mounted_below(rootfs)
    if leftover:
        raise BuildError('mounts were left below the tree: %s' % ', '.join(leftover))
    os.unlink(os.path.join(rootfs, 'usr/sbin/policy-rc.d'))  # the tree boots normally later (issue 10's disk)
    provision(rootfs, rec['user'])
    keys = check_tree(rootfs, rec['user'])
    partial = tar_path + '.partial'
    run([find_tool('tar'), '--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', rootfs, '-cf', partial, '.'], log)
    os.replace(partial, tar_path)
    done = time.monotonic()
    return {'recipe': rec, 'key': recipe_key(rec), 'ssh_host_keys': keys, 'tar_bytes': os.path.getsize(tar_path),
            'seconds': {'debootstrap_first_stage': round(first - started, 1), 'second_stage_and_configure': round(second - first, 1),
                        'provision_and_tar': round(done - second, 1), 'total': round(done - started, 1)},
            'built': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}


def ensure(cache=DEFAULT_CACHE, rec=None, keep_rootfs=True, progress=None):
    """The cached tar for ``rec`` (built now when there is none): returns its manifest, with ``tar``
    (path), ``reused`` and ``seconds_this_call``. Raises BuildError saying what to do."""
    rec = rec or recipe()
    key = recipe_key(rec)
    os.makedirs(cache, exist_ok=True)
    tar_path = os.path.join(cache, key + '.tar')
    manifest_path = os.path.join(cache, key + '.json')
    started = time.monotonic()
    with locked(os.path.join(cache, key + '.lock')):
        manifest = None
        if os.path.isfile(tar_path) and os.path.isfile(manifest_path):
            with open(manifest_path, encoding='utf-8') as handle:
                manifest = json.load(handle)
            if manifest.get('recipe') != rec:
                manifest = None
        reused = manifest is not None
        if not reused:
            problems = requirements()
            if problems:
                raise BuildError('; '.join(problems))
            workdir = os.path.join(cache, key)
            if os.path.lexists(workdir):
                shutil.rmtree(workdir)
            os.makedirs(workdir)
            if progress:
                progress('building the Debian %s tree %s with debootstrap (a few minutes; log: %s)'
                         % (rec['suite'], key, os.path.join(workdir, 'build.log')))
            with open(os.path.join(workdir, 'build.log'), 'w', encoding='utf-8') as log:
                manifest = build(rec, workdir, tar_path, log)
            if not keep_rootfs:
                shutil.rmtree(os.path.join(workdir, 'rootfs'))
            with open(manifest_path + '.partial', 'w', encoding='utf-8') as handle:
                json.dump(manifest, handle, indent=2, sort_keys=True)
            os.replace(manifest_path + '.partial', manifest_path)
    return dict(manifest, tar=tar_path, reused=reused, seconds_this_call=round(time.monotonic() - started, 1))


def extract(tar_path, dest):
    """A fresh copy of the tree in ``dest`` (made, must not exist or be empty); returns dest."""
    os.makedirs(dest, exist_ok=True)
    if os.listdir(dest):
        raise BuildError('%s is not empty: extract the tree into a new directory' % dest)
    tool = find_tool('tar')
    proc = subprocess.run([tool, '--numeric-owner', '--xattrs', '--xattrs-include=*', '-xpf', tar_path, '-C', dest],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError('extracting %s failed: %s' % (tar_path, proc.stderr.strip()[-2000:]))
    return dest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('command', choices=('build', 'extract', 'key'))
    parser.add_argument('dest', nargs='?', help='extract: the new directory')
    parser.add_argument('--cache', default=DEFAULT_CACHE)
    parser.add_argument('--package', action='append', default=[], help='a package to install besides the defaults')
    parser.add_argument('--drop-rootfs', action='store_true', help='keep only the tar, not CACHE/<key>/rootfs')
    args = parser.parse_args(argv)
    rec = recipe(PACKAGES + tuple(args.package))
    if args.command == 'key':
        print(recipe_key(rec))
        return 0
    if args.command == 'extract' and not args.dest:
        parser.error('extract needs DEST')
    try:
        manifest = ensure(args.cache, rec, keep_rootfs=not args.drop_rootfs, progress=lambda msg: print(msg, file=sys.stderr))
        print('%s %s in %.1f s (first build took %.1f s)' % (
            'reused' if manifest['reused'] else 'built', manifest['tar'], manifest['seconds_this_call'], manifest['seconds']['total']),
            file=sys.stderr)
        if args.command == 'extract':
            started = time.monotonic()
            extract(manifest['tar'], args.dest)
            print('extracted into %s in %.1f s' % (args.dest, time.monotonic() - started), file=sys.stderr)
    except BuildError as exc:
        print('debian_tree.py: %s' % exc, file=sys.stderr)
        return 1
    print(manifest['tar'] if args.command == 'build' else args.dest)
    return 0


if __name__ == '__main__':
    sys.exit(main())
