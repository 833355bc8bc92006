# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Is a Linux guest ready to become an Azure image? Microsoft's preparation items, checked one by one.

Works on the running guest (``root: /``), inside a chroot (``root: /`` through the chroot connection:
nothing is running there, so what only a running system has, active swap, is not asked) or on a
mounted tree from the build host (any other ``root``; every path is resolved inside it by ``Tree``,
a symlink never leads out). Nothing is written. The only commands run are the guest's own
``lsinitramfs`` / ``lsinitrd`` on its newest initramfs, when the guest is ``/``; otherwise the
initramfs is read here (cpio, gzip / xz / lzma / bzip2; zstd and lz4 need the guest's tool) and, when
it cannot be read, its configuration is reported instead, saying so.

    result = run(params, host=Host(run=module.run_command))
    result['ready'], result['items']   # [{'name', 'ok', 'detail'}]
"""

from __future__ import annotations

import bz2
import fnmatch
import lzma
import os
import re
import zlib

from ansible_collections.vmimage.azure.plugins.module_utils._guest.host import Host
from ansible_collections.vmimage.azure.plugins.module_utils._guest.rootfs import GuestError, Refused, Tree
from ansible_collections.vmimage.azure.plugins.module_utils._guest.waagent_conf import parse_conf

CHECKS = ('agent', 'provisioning', 'cloud_init', 'initramfs_drivers', 'kernel_cmdline', 'swap', 'fstab',
          'persistent_net_rules', 'time_sync', 'ssh_client_alive', 'ssh_host_keys')
DRIVERS = ('hv_vmbus', 'hv_netvsc', 'hv_storvsc')
CMDLINE_REQUIRED = ('console=ttyS0,115200n8', 'earlyprintk=ttyS0', 'rootdelay=300')
CMDLINE_FORBIDDEN = ('rhgb', 'quiet', 'crashkernel=auto')
PERSISTENT_NET_RULES = ('70-persistent-net.rules', '75-persistent-net-generator.rules', '85-persistent-net-cloud-init.rules')
REFCLOCK = 'refclock PHC /dev/ptp_hyperv'
SSH_HOST_KEY_UNIT = 'vmimage-ssh-host-keys.service'
AGENT_BINARIES = ('/usr/sbin/waagent', '/usr/bin/waagent', '/usr/local/sbin/waagent')
AGENT_PACKAGES = ('waagent', 'walinuxagent', 'WALinuxAgent', 'python-azure-agent', 'python3-azure-agent')
AGENT_SERVICES = ('walinuxagent', 'waagent')
CHRONY_CONFS = ('/etc/chrony/chrony.conf', '/etc/chrony.conf')
CHRONY_SERVICES = ('chrony', 'chronyd')
GRUB_CFGS = ('/boot/grub/grub.cfg', '/boot/grub2/grub.cfg', '/boot/efi/EFI/debian/grub.cfg', '/boot/efi/EFI/ubuntu/grub.cfg',
             '/boot/efi/EFI/redhat/grub.cfg', '/boot/efi/EFI/centos/grub.cfg', '/boot/efi/EFI/almalinux/grub.cfg',
             '/boot/efi/EFI/rocky/grub.cfg', '/boot/efi/EFI/sles/grub.cfg')
SWAP_FILES = ('/swapfile', '/swap.img', '/swap')
# A device name that depends on probe order; anything else (UUID=, LABEL=, PARTUUID=, /dev/disk/by-*,
# /dev/mapper, pseudo file systems) is persistent.
DEVICE_NAME = re.compile(r'^/dev/(?:[sv]d[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+)(?:p?\d+)?$')
INITRD = re.compile(r'^(?:initrd\.img-(?P<a>.+)|initramfs-(?P<b>.+)\.img|initrd-(?P<c>.+))$')
MODULE_FILE = re.compile(r'(?:^|/)([^/]+)\.ko(?:\.(?:xz|zst|gz))?$')
MAX_INITRD = 512 * 1024 * 1024


class Item(object):
    """One readiness item: ok or not, and in words why."""

    def __init__(self, name):
        self.name = name
        self.ok = True
        self.problems = []
        self.facts = []

    def fail(self, text):
        self.ok = False
        self.problems.append(text)

    def note(self, text):
        self.facts.append(text)

    def result(self):
        return {'name': self.name, 'ok': self.ok, 'detail': '; '.join(self.problems + self.facts)}


class Guest(object):
    """What the checks read: the tree, whether it is the running system, its commands."""

    def __init__(self, tree, host, online):
        self.tree = tree
        self.host = host
        self.online = online

    def read(self, gpath):
        return self.tree.read_or_none(gpath)

    def exists(self, gpath):
        try:
            return self.tree.exists(gpath)
        except Refused:
            return False

    def enabled(self, unit):
        """The systemd enablement links of ``unit`` under /etc/systemd/system/*.wants (and .requires)."""
        found = []
        for folder in self.tree.listdir('/etc/systemd/system'):
            if folder.endswith('.wants') or folder.endswith('.requires'):
                path = '/etc/systemd/system/%s/%s' % (folder, unit)
                if self.tree.kind(path) is not None:
                    found.append(path)
        return found

    def masked(self, unit):
        try:
            real = self.tree.resolve('/etc/systemd/system/' + unit, follow=False)
            kind = self.tree.kind(real)
            return kind == 'link' and os.readlink(self.tree.host(real)) == '/dev/null'
        except (Refused, OSError):
            return False

    def run(self, argv):
        try:
            return self.host.run(argv)
        except (OSError, RuntimeError, ValueError) as exc:
            return 127, '', str(exc)


# --- helpers that parse guest files -----------------------------------------------------------------

def dpkg_installed(text, names):
    """Packages of ``names`` that /var/lib/dpkg/status says are installed."""
    found, package = [], None
    for line in (text or '').split('\n'):
        if line.startswith('Package:'):
            package = line.split(':', 1)[1].strip()
        elif line.startswith('Status:') and package in names and line.split()[-1] == 'installed':
            found.append(package)
    return found


def fstab_entries(text):
    """[(line number, spec, mount point, type, options)] of the non-comment lines."""
    entries = []
    for number, line in enumerate((text or '').split('\n'), 1):
        fields = line.split('#', 1)[0].split() if not line.lstrip().startswith('#') else []
        if len(fields) >= 3:
            entries.append((number, fields[0], fields[1], fields[2], fields[3] if len(fields) > 3 else 'defaults'))
    return entries


def shell_value(text, key):
    """The last assignment of ``key`` in a shell-style defaults file (quotes removed), or None."""
    value = None
    pattern = re.compile(r'^\s*(?:export\s+)?%s=(.*)$' % re.escape(key))
    for line in (text or '').split('\n'):
        match = pattern.match(line)
        if match:
            raw = match.group(1).strip()
            if raw[:1] in '"\'' and raw[:1]:
                quote = raw[0]
                end = raw.find(quote, 1)
                value = raw[1:end] if end > 0 else raw[1:]
            else:
                value = raw.split('#', 1)[0].strip()
    return value


def sshd_effective(guest, keyword, path='/etc/ssh/sshd_config', seen=None, depth=0):
    """(value, file) of the first ``keyword`` sshd would use (first value wins; Include is followed;
    a Match block ends the global section), or (None, None)."""
    seen = seen if seen is not None else set()
    if depth > 8 or path in seen:
        return None, None
    seen.add(path)
    text = guest.read(path)
    for line in (text or '').split('\n'):
        fields = line.strip().split(None, 1)
        if not fields or fields[0].startswith('#'):
            continue
        word = fields[0].lower()
        rest = fields[1].strip() if len(fields) > 1 else ''
        if '=' in fields[0]:
            word, rest = fields[0].split('=', 1)[0].lower(), line.split('=', 1)[1].strip()
        if word == 'match':
            return None, 'match'
        if word == 'include':
            for pattern in rest.split():
                pattern = pattern if pattern.startswith('/') else '/etc/ssh/' + pattern
                folder, glob = pattern.rsplit('/', 1)
                for name in guest.tree.listdir(folder or '/'):
                    if fnmatch.fnmatchcase(name, glob):
                        value, where = sshd_effective(guest, keyword, '%s/%s' % (folder, name), seen, depth + 1)
                        if where == 'match':
                            return None, 'match'
                        if value is not None:
                            return value, where
            continue
        if word == keyword.lower():
            return rest.split()[0] if rest else '', path
    return None, None


def cloud_datasources(guest):
    """(datasource_list, file) as cloud-init merges /etc/cloud/cloud.cfg and cloud.cfg.d/*.cfg (the
    last file that sets it wins), or (None, None)."""
    files = ['/etc/cloud/cloud.cfg'] + ['/etc/cloud/cloud.cfg.d/' + n for n in guest.tree.listdir('/etc/cloud/cloud.cfg.d')
                                        if n.endswith('.cfg')]
    found, where = None, None
    for path in files:
        value = _datasource_list(guest.read(path))
        if value is not None:
            found, where = value, path
    return found, where


def _datasource_list(text):
    lines = (text or '').split('\n')
    for index, line in enumerate(lines):
        match = re.match(r'^datasource_list\s*:\s*(.*?)\s*(?:#.*)?$', line)
        if not match:
            continue
        rest = match.group(1)
        if rest.startswith('['):
            body = rest[1:rest.index(']')] if ']' in rest else rest[1:]
            return [v.strip().strip('"\'') for v in body.split(',') if v.strip()]
        values = []
        for follow in lines[index + 1:]:
            item = re.match(r'^\s*-\s*(\S+)', follow)
            if item:
                values.append(item.group(1).strip('"\''))
            elif follow.strip() and not follow.lstrip().startswith('#'):
                break
        return values
    return None


def version_key(version):
    return [(0, int(p), '') if p.isdigit() else (1, 0, p) for p in re.split(r'[.\-+_~]', version)]


def newest_initrd(guest):
    """(guest path, kernel version) of the newest initramfs under /boot, or (None, None)."""
    found = []
    for name in guest.tree.listdir('/boot'):
        match = INITRD.match(name)
        if not match or name.endswith('.old') or 'rescue' in name or name.endswith('kdump.img'):
            continue
        version = match.group('a') or match.group('b') or match.group('c')
        if guest.tree.kind('/boot/' + name, follow=True) == 'file':
            found.append((version_key(version), '/boot/' + name, version))
    if not found:
        return None, None
    found.sort()
    return found[-1][1], found[-1][2]


# --- reading an initramfs here --------------------------------------------------------------------

class Unreadable(Exception):
    pass


def cpio_names(data):
    """Every path in an initramfs image: concatenated newc cpio archives, each plain or compressed."""
    names = []
    pos = 0
    while pos < len(data):
        while pos < len(data) and data[pos:pos + 1] == b'\0':
            pos += 1
        if pos >= len(data):
            break
        head = data[pos:pos + 6]
        if head in (b'070701', b'070702'):
            pos = _newc(data, pos, names)
            continue
        rest = data[pos:]
        if head[:2] == b'\x1f\x8b':
            inflater = zlib.decompressobj(31)
            inner = inflater.decompress(rest)
            names.extend(cpio_names(inner))
            pos = len(data) - len(inflater.unused_data)
        elif head == b'\xfd7zXZ\x00' or head[:3] == b'\x5d\x00\x00':
            unpacker = lzma.LZMADecompressor()
            names.extend(cpio_names(unpacker.decompress(rest)))
            pos = len(data) - len(unpacker.unused_data)
        elif head[:3] == b'BZh':
            unpacker = bz2.BZ2Decompressor()
            names.extend(cpio_names(unpacker.decompress(rest)))
            pos = len(data) - len(unpacker.unused_data)
        elif head[:4] == b'\x28\xb5\x2f\xfd':
            raise Unreadable('zstd-compressed')
        elif head[:4] in (b'\x02\x21\x4c\x18', b'\x04\x22\x4d\x18'):
            raise Unreadable('lz4-compressed')
        else:
            raise Unreadable('not a cpio archive or a known compression at byte %d' % pos)
    return names


def _newc(data, pos, names):
    """Parse one newc archive at ``pos``; returns the position after its trailer."""
    while True:
        header = data[pos:pos + 110]
        if len(header) < 110 or header[:6] not in (b'070701', b'070702'):
            raise Unreadable('a truncated cpio archive')
        try:
            size = int(header[54:62], 16)
            namesize = int(header[94:102], 16)
        except ValueError as exc:
            raise Unreadable('a corrupt cpio header') from exc
        name = data[pos + 110:pos + 110 + namesize - 1].decode('utf-8', 'replace')
        pos = (pos + 110 + namesize + 3) & ~3
        pos = (pos + size + 3) & ~3
        if name == 'TRAILER!!!':
            return pos
        names.append(name)


def initrd_modules(names):
    return set(MODULE_FILE.search(n).group(1).replace('-', '_') for n in names if MODULE_FILE.search(n))


def builtin_modules(guest, version):
    text = guest.read('/lib/modules/%s/modules.builtin' % version) or guest.read('/usr/lib/modules/%s/modules.builtin' % version)
    return initrd_modules((text or '').split('\n'))


def configured_drivers(guest):
    """{driver: file} the initramfs tools are told to include (initramfs-tools modules, dracut add_drivers)."""
    found = {}
    for line in (guest.read('/etc/initramfs-tools/modules') or '').split('\n'):
        word = line.split('#', 1)[0].split()
        if word:
            found.setdefault(word[0].replace('-', '_'), '/etc/initramfs-tools/modules')
    confs = ['/etc/dracut.conf'] + ['/etc/dracut.conf.d/' + n for n in guest.tree.listdir('/etc/dracut.conf.d') if n.endswith('.conf')]
    for path in confs:
        for match in re.finditer(r'^\s*(?:add_drivers|force_drivers|drivers)\+?=\s*["\']([^"\']*)["\']', guest.read(path) or '', re.M):
            for word in match.group(1).split():
                found.setdefault(word.replace('-', '_'), path)
    return found


# --- the checks -------------------------------------------------------------------------------------

def check_agent(guest, params, item):
    binaries = [p for p in AGENT_BINARIES if guest.exists(p)]
    packages = dpkg_installed(guest.read('/var/lib/dpkg/status'), AGENT_PACKAGES)
    if binaries or packages:
        item.note('installed: %s' % ', '.join(binaries + ['package %s' % p for p in packages]))
    else:
        item.fail('the Azure Linux agent is not installed (no %s)' % ', '.join(AGENT_BINARIES))
    names = [params['agent_service']] if params.get('agent_service') else list(AGENT_SERVICES)
    names = [n if n.endswith('.service') else n + '.service' for n in names]
    links = [link for n in names for link in guest.enabled(n)]
    masked = [n for n in names if guest.masked(n)]
    if masked:
        item.fail('%s masked' % ', '.join(masked))
    if links:
        item.note('enabled: %s' % ', '.join(links))
    else:
        item.fail('%s not enabled (no link in /etc/systemd/system/*.wants)' % ' or '.join(names))


def _cloud_init_state(guest):
    """(installed, disabled reason or None)."""
    installed = guest.exists('/usr/bin/cloud-init')
    if guest.exists('/etc/cloud/cloud-init.disabled'):
        return installed, '/etc/cloud/cloud-init.disabled exists'
    return installed, None


def check_provisioning(guest, params, item):
    path = params.get('waagent_conf') or '/etc/waagent.conf'
    text = guest.read(path)
    if text is None:
        item.fail('%s is missing' % path)
        return
    values = parse_conf(text)
    agent = (values.get('Provisioning.Agent') or 'auto')
    fmt = (values.get('ResourceDisk.Format') or 'n').lower()
    swap = (values.get('ResourceDisk.EnableSwap') or 'n').lower()
    installed, disabled = _cloud_init_state(guest)
    item.note('%s: Provisioning.Agent=%s ResourceDisk.Format=%s ResourceDisk.EnableSwap=%s' % (path, agent, fmt, swap))
    if params['provisioning'] == 'cloud-init':
        if agent not in ('cloud-init', 'auto'):
            item.fail('Provisioning.Agent=%s, but cloud-init provisions (cloud-init or auto expected)' % agent)
        elif agent == 'auto' and not installed:
            item.fail('Provisioning.Agent=auto and cloud-init is not installed: the agent would provision')
        if fmt != 'n':
            item.fail('ResourceDisk.Format=%s: cloud-init owns the resource disk (n expected)' % fmt)
        if swap != 'n':
            item.fail('ResourceDisk.EnableSwap=%s: cloud-init owns the resource disk (n expected)' % swap)
    else:
        if agent == 'auto' and installed and not disabled:
            item.fail('Provisioning.Agent=auto with cloud-init installed and enabled: cloud-init would provision')
        elif agent not in ('waagent', 'auto'):
            item.fail('Provisioning.Agent=%s, but the agent provisions (waagent expected)' % agent)


def check_cloud_init(guest, params, item):
    installed, disabled = _cloud_init_state(guest)
    if params['provisioning'] == 'agent':
        if installed and not disabled:
            item.fail('cloud-init is installed and enabled, but the agent provisions: disable it (/etc/cloud/cloud-init.disabled)')
        else:
            item.note('the agent provisions: cloud-init %s' % (disabled or 'is not installed'))
        return
    if not installed:
        item.fail('cloud-init is not installed (/usr/bin/cloud-init)')
    if disabled:
        item.fail('cloud-init is disabled: %s' % disabled)
    sources, where = cloud_datasources(guest)
    if sources is None:
        item.fail('no datasource_list in /etc/cloud/cloud.cfg or cloud.cfg.d: cloud-init would probe every datasource')
    elif not sources or sources[0] != 'Azure':
        item.fail('datasource_list is [%s] in %s: Azure must come first' % (', '.join(sources), where))
    else:
        item.note('datasource_list [%s] in %s' % (', '.join(sources), where))


def check_initramfs_drivers(guest, params, item):
    wanted = [d.replace('-', '_') for d in params['drivers']]
    path, version = newest_initrd(guest)
    if path is None:
        item.fail('no initramfs under /boot (initrd.img-*, initramfs-*.img, initrd-*)')
        _report_config(guest, wanted, item)
        return
    builtin = builtin_modules(guest, version)
    names, how = None, None
    tool = 'lsinitramfs' if guest.exists('/usr/bin/lsinitramfs') or guest.exists('/usr/sbin/lsinitramfs') else (
        'lsinitrd' if guest.exists('/usr/bin/lsinitrd') or guest.exists('/usr/sbin/lsinitrd') else None)
    if guest.tree.online and tool:
        rc, out, err = guest.run([tool, path])
        if rc == 0:
            names, how = (out or '').split('\n'), 'read with %s' % tool
        else:
            item.note('%s %s failed (%s)' % (tool, path, (err or '').strip()[-200:]))
    reason = None
    if names is None:
        try:
            st = guest.tree.lstat(path, follow=True)
            if st is not None and st.st_size > MAX_INITRD:
                raise Unreadable('larger than %d MiB' % (MAX_INITRD >> 20))
            with open(guest.tree.host(guest.tree.resolve(path)), 'rb') as handle:
                names, how = cpio_names(handle.read()), 'read by vmimage.azure (cpio)'
        except (Unreadable, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            reason = str(exc)
    if names is None:
        item.note('%s could not be read here (%s) and the guest has no lsinitramfs/lsinitrd to run: '
                  'the initramfs configuration is reported instead' % (path, reason))
        _report_config(guest, wanted, item)
        return
    present = initrd_modules(names)
    missing = [d for d in wanted if d not in present and d not in builtin]
    inside = [d for d in wanted if d in present]
    built = [d for d in wanted if d in builtin and d not in present]
    if missing:
        item.fail('%s lacks %s (%s)' % (path, ', '.join(missing), how))
    detail = '%s (%s): %s' % (path, how, ', '.join(inside) or 'none of them')
    if built:
        detail += '; built into kernel %s: %s' % (version, ', '.join(built))
    item.note(detail)


def _report_config(guest, wanted, item):
    configured = configured_drivers(guest)
    missing = [d for d in wanted if d not in configured]
    if missing:
        item.fail('not in the initramfs configuration either: %s' % ', '.join(missing))
    else:
        item.note('configured: %s' % ', '.join('%s (%s)' % (d, configured[d]) for d in wanted))


def _tokens_problems(tokens, params):
    missing = [t for t in params['cmdline_required'] if t not in tokens]
    forbidden = [t for t in params['cmdline_forbidden'] if t in tokens]
    return missing, forbidden


def bls_options(guest):
    """[(entry, option tokens)] of the BootLoaderSpec entries, $kernelopts taken from grubenv."""
    env = guest.read('/boot/grub2/grubenv') or guest.read('/boot/grub/grubenv') or ''
    kernelopts = ''
    for line in env.split('\n'):
        if line.startswith('kernelopts='):
            kernelopts = line.split('=', 1)[1]
    entries = []
    for name in guest.tree.listdir('/boot/loader/entries'):
        if not name.endswith('.conf'):
            continue
        for line in (guest.read('/boot/loader/entries/' + name) or '').split('\n'):
            if line.startswith('options'):
                entries.append(('/boot/loader/entries/' + name, line.split(None, 1)[1].replace('$kernelopts', kernelopts).split()
                                if len(line.split(None, 1)) > 1 else []))
    return entries


def grub_defaults(guest):
    """({GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT}, files read) as grub-mkconfig sources them:
    /etc/default/grub, then /etc/default/grub.d/*.cfg, later assignments winning, $VAR expanded."""
    files = ['/etc/default/grub'] + ['/etc/default/grub.d/' + n for n in guest.tree.listdir('/etc/default/grub.d') if n.endswith('.cfg')]
    values, read = {}, []
    for path in files:
        text = guest.read(path)
        if text is None:
            continue
        read.append(path)
        for key in ('GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT'):
            value = shell_value(text, key)
            if value is not None:
                values[key] = re.sub(r'\$\{?(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)\}?', lambda m: values.get(m.group(1), ''), value)
    return values, read


def check_kernel_cmdline(guest, params, item):
    values, read = grub_defaults(guest)
    if '/etc/default/grub' not in read:
        item.fail('/etc/default/grub is missing')
    else:
        tokens = values.get('GRUB_CMDLINE_LINUX', '').split() + values.get('GRUB_CMDLINE_LINUX_DEFAULT', '').split()
        missing, forbidden = _tokens_problems(tokens, params)
        where = ' + '.join(read)
        if missing:
            item.fail('%s lacks %s' % (where, ' '.join(missing)))
        if forbidden:
            item.fail('%s still has %s' % (where, ' '.join(forbidden)))
        if not missing and not forbidden:
            item.note('%s has %s and none of %s' % (where, ' '.join(params['cmdline_required']), ' '.join(params['cmdline_forbidden'])))
    cfgs = [p for p in GRUB_CFGS if guest.tree.kind(p, follow=True) == 'file']
    checked = []
    for path in cfgs:
        text = guest.read(path) or ''
        lines = [line.split()[2:] for line in text.split('\n') if re.match(r'^\s*linux(?:efi|16)?\s', line)]
        if not lines and 'blscfg' in text:
            entries = bls_options(guest)
            for entry, tokens in entries:
                missing, forbidden = _tokens_problems(tokens, params)
                if missing or forbidden:
                    item.fail('%s (BootLoaderSpec entry) %s' % (entry, _describe(missing, forbidden)))
            checked.append('%s with %d BootLoaderSpec entries' % (path, len(entries)))
            continue
        if not lines:
            # a stub that only loads the real grub.cfg (UEFI)
            continue
        bad = 0
        for tokens in lines:
            missing, forbidden = _tokens_problems(tokens, params)
            if missing or forbidden:
                bad += 1
                first = _describe(missing, forbidden)
        if bad:
            item.fail('%s: %d of %d linux lines %s: regenerate it (update-grub / grub2-mkconfig)' % (path, bad, len(lines), first))
        checked.append('%s (%d linux lines)' % (path, len(lines)))
    if checked:
        item.note('checked %s' % ', '.join(checked))
    else:
        item.note('no generated grub.cfg under /boot (GRUB is not installed in this tree yet): /etc/default/grub, '
                  'which update-grub / grub2-mkconfig reads, was checked')


def _describe(missing, forbidden):
    parts = []
    if missing:
        parts.append('lack %s' % ' '.join(missing))
    if forbidden:
        parts.append('have %s' % ' '.join(forbidden))
    return ' and '.join(parts)


def check_swap(guest, params, item):
    text = guest.read('/etc/fstab') or ''
    swaps = [e for e in fstab_entries(text) if e[3] == 'swap']
    for number, spec, _point, _kind, _opts in swaps:
        item.fail('/etc/fstab line %d mounts swap %s' % (number, spec))
    leftovers = [p for p in SWAP_FILES if guest.tree.kind(p) == 'file']
    if leftovers:
        item.note('swap files left (not in /etc/fstab, so not used): %s' % ', '.join(leftovers))
    if guest.online:
        active = [line.split()[0] for line in (_read_proc('/proc/swaps') or '').split('\n')[1:] if line.strip()]
        if active:
            item.fail('swap active: %s (swapoff -a)' % ', '.join(active))
        else:
            item.note('no swap active')
    else:
        item.note('offline: active swap not checked')
    if not swaps:
        item.note('no swap in /etc/fstab')


def _read_proc(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def check_fstab(guest, params, item):
    text = guest.read('/etc/fstab')
    if text is None:
        item.note('no /etc/fstab')
        return
    entries = fstab_entries(text)
    bad = [(n, spec, point) for n, spec, point, kind, _o in entries if DEVICE_NAME.match(spec) and kind != 'swap']
    for number, spec, point in bad:
        item.fail('line %d: %s on %s is named by device, which can change; use UUID=' % (number, spec, point))
    if not bad:
        item.note('%d entries, none by a device name like /dev/sdX (swap entries are the swap item\'s)' % len(entries))


def check_persistent_net_rules(guest, params, item):
    found = ['/etc/udev/rules.d/' + n for n in params['persistent_net_rules'] if guest.tree.kind('/etc/udev/rules.d/' + n) is not None]
    if found:
        item.fail('present: %s' % ', '.join(found))
    else:
        item.note('none of %s in /etc/udev/rules.d' % ', '.join(params['persistent_net_rules']))


def chrony_files(guest):
    files = []
    for path in CHRONY_CONFS:
        text = guest.read(path)
        if text is None:
            continue
        files.append((path, text))
        for line in text.split('\n'):
            fields = line.split()
            if len(fields) >= 2 and fields[0] in ('include', 'confdir'):
                for pattern in fields[1:]:
                    pattern = pattern if fields[0] == 'include' else pattern.rstrip('/') + '/*.conf'
                    folder, glob = pattern.rsplit('/', 1)
                    for name in guest.tree.listdir(folder or '/'):
                        if fnmatch.fnmatchcase(name, glob):
                            files.append(('%s/%s' % (folder, name), guest.read('%s/%s' % (folder, name)) or ''))
        break
    return files


def check_time_sync(guest, params, item):
    files = chrony_files(guest)
    if not files:
        item.fail('chrony is not configured (no %s)' % ' or '.join(CHRONY_CONFS))
    else:
        where = [path for path, text in files if any(line.strip().startswith(params['refclock']) for line in text.split('\n'))]
        if where:
            item.note('%s in %s' % (params['refclock'], where[0]))
        else:
            item.fail('no "%s" line in %s' % (params['refclock'], ', '.join(p for p, _t in files)))
    enabled = [link for n in CHRONY_SERVICES for link in guest.enabled(n + '.service')]
    if enabled:
        item.note('chrony enabled')
    else:
        item.fail('chrony is not enabled')
    timesyncd = guest.enabled('systemd-timesyncd.service')
    if timesyncd:
        item.fail('systemd-timesyncd is enabled too (%s): disable it' % ', '.join(timesyncd))


def check_ssh_client_alive(guest, params, item):
    value, where = sshd_effective(guest, 'ClientAliveInterval')
    expected = str(params['client_alive_interval'])
    if value is None:
        item.fail('ClientAliveInterval is not set in /etc/ssh/sshd_config (or its includes) before any Match block')
    elif value != expected:
        item.fail('ClientAliveInterval %s in %s (%s expected)' % (value, where, expected))
    else:
        item.note('ClientAliveInterval %s in %s' % (value, where))


def check_ssh_host_keys(guest, params, item):
    unit = params['ssh_host_key_unit']
    path = '/etc/systemd/system/' + unit
    text = guest.read(path)
    if text is None:
        item.fail('%s is missing: a disk whose host keys deprovisioning removed gets none at first boot outside Azure' % path)
        return
    if not re.search(r'^ExecStart=\S*ssh-keygen\s+-A\b', text, re.M):
        item.fail('%s does not run ssh-keygen -A' % path)
    links = guest.enabled(unit)
    if links:
        item.note('%s enabled (%s)' % (unit, ', '.join(links)))
    else:
        item.fail('%s is not enabled' % unit)


CHECK_FUNCS = {
    'agent': check_agent, 'provisioning': check_provisioning, 'cloud_init': check_cloud_init,
    'initramfs_drivers': check_initramfs_drivers, 'kernel_cmdline': check_kernel_cmdline, 'swap': check_swap,
    'fstab': check_fstab, 'persistent_net_rules': check_persistent_net_rules, 'time_sync': check_time_sync,
    'ssh_client_alive': check_ssh_client_alive, 'ssh_host_keys': check_ssh_host_keys,
}


def running_system(tree, proc='/proc'):
    """Whether the guest is the running system: ``/`` and not a chroot (the root of pid 1 is ours)."""
    if not tree.online:
        return False
    try:
        mine = os.stat('/')
        init = os.stat(os.path.join(proc, '1', 'root') + '/')
    except OSError:
        return os.path.isdir(os.path.join(proc, '1')) and Host().systemd
    return (mine.st_dev, mine.st_ino) == (init.st_dev, init.st_ino)


DEFAULTS = {
    'checks': list(CHECKS), 'drivers': list(DRIVERS), 'cmdline_required': list(CMDLINE_REQUIRED),
    'cmdline_forbidden': list(CMDLINE_FORBIDDEN), 'provisioning': 'cloud-init', 'agent_service': None,
    'waagent_conf': '/etc/waagent.conf', 'client_alive_interval': 180, 'refclock': REFCLOCK,
    'persistent_net_rules': list(PERSISTENT_NET_RULES), 'ssh_host_key_unit': SSH_HOST_KEY_UNIT, 'online': None,
}


def run(params, host=None, mounts=None, proc='/proc'):
    """{'ready', 'root', 'online', 'items': [{'name', 'ok', 'detail'}], 'not_ready': [names]}."""
    params = dict(DEFAULTS, **dict((k, v) for k, v in params.items() if v is not None))
    root = params.get('root') or '/'
    if not os.path.isdir(root):
        raise GuestError('root %s is not a directory: give the guest\'s root file system (/ on the guest itself)' % root)
    tree = Tree(root, mounts=mounts)
    if not tree.online and not os.path.isdir(tree.host('/etc')):
        raise GuestError('root %s has no /etc: it is not a Linux root file system (mount the image\'s root partition there)' % root)
    online = params['online'] if params.get('online') is not None else running_system(tree, proc)
    if online and not tree.online:
        raise GuestError('online=true needs root=/ (the running guest itself)')
    guest = Guest(tree, host or Host(), online)
    unknown = [c for c in params['checks'] if c not in CHECK_FUNCS]
    if unknown:
        raise GuestError('unknown checks %s: choose from %s' % (', '.join(unknown), ', '.join(CHECKS)))
    items = []
    for name in [c for c in CHECKS if c in params['checks']]:
        item = Item(name)
        try:
            CHECK_FUNCS[name](guest, params, item)
        except Refused as exc:
            item.fail('%s: %s' % (exc.path, exc.why))
        items.append(item.result())
    not_ready = [i['name'] for i in items if not i['ok']]
    return {'ready': not not_ready, 'root': tree.root, 'online': bool(online), 'items': items, 'not_ready': not_ready}
