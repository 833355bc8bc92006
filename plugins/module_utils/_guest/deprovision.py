# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Deprovision a Linux guest for an Azure image, online (``root: /``) or offline (a mounted tree).

What ``waagent -force -deprovision`` resets (WALinuxAgent's ``azurelinuxagent/pa/deprovision``:
``DeprovisionHandler.setup`` and the Ubuntu, Arch and CoreOS handlers), following the guest's own
``waagent.conf``, plus what the agent leaves behind and images then carry (machine-id, cloud-init
state, NetworkManager's internal leases, every user's history, ``/tmp``). The agent's own quirks
that hurt images are not copied: no ``ifcfg`` file is created where none existed, a
``resolv.conf`` symlink is kept, the running hostname is never set (only files are edited).

``make_plan`` only reads and decides; ``apply`` carries the plan out, step by step. Every step is
reported: its name, whether it changed (or in check mode would change) anything, the guest paths
it removed and wrote, the entries it refused to touch (a symlink out of the image, a file system
of the build host mounted inside it), the rule that applied and why.

    result = run(params, check_mode=False, host=Host(run=module.run_command))
"""

from __future__ import annotations

import fnmatch
import math
import os
import re

from ansible_collections.vmimage.azure.plugins.module_utils._guest import accounts
from ansible_collections.vmimage.azure.plugins.module_utils._guest.host import Host
from ansible_collections.vmimage.azure.plugins.module_utils._guest.rootfs import GuestError, Refused, Tree
from ansible_collections.vmimage.azure.plugins.module_utils._guest.waagent_conf import (
    AGENT_LOG, DEFAULT_CONF, WaagentConf, distro_profile)

LOCALHOST = 'localhost.localdomain'
STEPS = ('agent_service', 'ssh_host_keys', 'dhcp_leases', 'hostname', 'dhcp_hostname', 'root_password',
         'waagent_state', 'resolv_conf', 'firewall_unit', 'cgroup_drop_ins', 'machine_id', 'cloud_init',
         'shell_history', 'tmp', 'udev_persistent_net', 'user', 'shutdown')

# WALinuxAgent facts (azurelinuxagent/ga/persist_firewall_rules.py, ga/cgroupconfigurator.py).
FIREWALL_UNIT = '%s-network-setup.service'
FIREWALL_BINARY = 'waagent-network-setup.py'
CGROUP_DROP_INS = ('10-Slice.conf', '11-CPUAccounting.conf', '12-CPUQuota.conf', '13-MemoryAccounting.conf')
LOGCOLLECTOR_SLICE = 'azure-walinuxagent-logcollector.slice'
DHCLIENT_CONFS = ('/etc/dhcp/dhclient.conf', '/etc/dhcp3/dhclient.conf', '/etc/dhclient.conf')
DHCLIENT_AUTOSEND = re.compile(r'^[^#]*?send\s*host-name.*?(<hostname>|gethostname[(,)])')
HISTORY_FILES = ('.bash_history', '.zsh_history', '.sh_history', '.ash_history', '.history',
                 '.local/share/fish/fish_history', '.python_history', '.lesshst', '.mysql_history', '.psql_history')
# In a running system's /tmp: what services hold open and systemd-tmpfiles makes again at boot.
TMP_KEEP_ONLINE = ('.X11-unix', '.ICE-unix', '.XIM-unix', '.font-unix', '.Test-unix')
SHUTDOWN_UNIT = 'vmimage-deprovision-shutdown'
IFCFG_SKIP = re.compile(r'(~|\.bak|\.orig|\.rpmnew|\.rpmsave|\.old)$')


class Step(object):
    """One step of the plan: what it will do (``actions``) and what it reports."""

    def __init__(self, name):
        self.name = name
        self.rule = None
        self.why = ''
        self.removed = []
        self.written = []
        self.refused = []
        self.kept = []
        self.commands = []
        self.deferred = False
        self.actions = []
        self.diffs = []

    @property
    def changed(self):
        return bool(self.actions)

    def refuse(self, refused):
        entry = refused.as_dict()
        if entry not in self.refused:
            self.refused.append(entry)

    def result(self):
        out = {'name': self.name, 'changed': self.changed, 'removed': list(self.removed), 'written': list(self.written),
               'refused': list(self.refused), 'rule': self.rule, 'why': self.why}
        if self.kept:
            out['kept'] = list(self.kept)
        if self.commands:
            out['commands'] = [' '.join(c) for c in self.commands]
        if self.deferred:
            out['deferred'] = True
        return out


class Plan(object):
    """Everything decided before anything is written."""

    def __init__(self, tree, host, online, params, conf, profile):
        self.tree = tree
        self.host = host
        self.online = online
        self.params = params
        self.conf = conf
        self.profile = profile
        self.pending = {}
        self.claimed = set()
        self.steps = []

    # --- reading, with the writes planned so far -------------------------------------------------

    def read(self, gpath):
        """Text of a guest file as it will be after the writes already planned; None when absent.
        Raises Refused."""
        real = self.tree.resolve(gpath)
        if real in self.pending:
            return self.pending[real]
        return self.tree.read(gpath)

    def read_step(self, step, gpath):
        """read(), a refusal recorded in the step and read as absent."""
        try:
            return self.read(gpath)
        except Refused as exc:
            step.refuse(exc)
            return None

    def _claimed(self, real):
        path = real
        while path and path != '/':
            if path in self.claimed:
                return True
            path = path.rsplit('/', 1)[0] or '/'
        return False

    # --- planning changes ------------------------------------------------------------------------

    def remove(self, step, gpath, kinds=None, owner=None):
        """Plan the removal of an entry that exists (a directory with its contents; a symlink itself).

        ``kinds`` limits what is removed ('file', 'link', 'dir', 'other'); ``owner`` (a uid) keeps an
        entry owned by someone else, as userdel does with a home or a mail spool."""
        try:
            real = self.tree.resolve(gpath, follow=False)
        except Refused as exc:
            step.refuse(exc)
            return False
        if self._claimed(real):
            return False
        refused = self.tree.refusal(real)
        if refused:
            step.refuse(refused)
            return False
        kind = self.tree.kind(real)
        if kind is None or (kinds is not None and kind not in kinds):
            return False
        if owner is not None:
            st = self.tree.lstat(real)
            if st is not None and st.st_uid != owner:
                step.refuse(Refused(real, 'not owned by uid %d: kept, as userdel -r does' % owner))
                return False
        if kind == 'dir':
            blockers = self.tree.mounts_below(real)
            if blockers:
                for blocker in blockers:
                    step.refuse(blocker)
                return False
        self.claimed.add(real)
        step.removed.append(real)
        step.actions.append(('remove', real))
        return True

    def empty(self, step, gdir, keep=None):
        """Plan the removal of everything in a directory; ``keep(name, path)`` may return a reason
        to keep an entry (recorded in ``kept``)."""
        try:
            real = self.tree.resolve(gdir)
        except Refused as exc:
            step.refuse(exc)
            return
        refused = self.tree.refusal(real)
        if refused:
            step.refuse(refused)
            return
        for name in self.tree.listdir(real):
            child = '%s/%s' % (real.rstrip('/'), name)
            reason = keep(name, child) if keep else None
            if reason:
                step.kept.append({'path': child, 'why': reason})
                continue
            self.remove(step, child)

    def write(self, step, gpath, before, after, secret=False, mode=0o644):
        """Plan a rewrite (or creation) of a text file, when its text changes."""
        if before == after:
            return
        try:
            real = self.tree.resolve(gpath)
        except Refused as exc:
            step.refuse(exc)
            return
        refused = self.tree.refusal(real)
        if refused:
            step.refuse(refused)
            return
        if self.tree.kind(real) not in (None, 'file'):
            step.refuse(Refused(real, 'not a regular file'))
            return
        self.pending[real] = after
        if real not in step.written:
            step.written.append(real)
        step.actions.append(('write', real, after, mode))
        show = accounts.redact_shadow if secret else (lambda text: text)
        step.diffs.append({'before_header': real, 'after_header': real,
                           'before': show(before) if before is not None else '', 'after': show(after)})

    def truncate(self, step, gpath):
        real = self.tree.resolve(gpath)
        self.pending[real] = ''
        step.written.append(real)
        step.actions.append(('truncate', real))

    def command(self, step, argv):
        step.commands.append(list(argv))
        step.actions.append(('run', list(argv)))

    def call(self, step, func):
        """An action computed when it runs (after the commands before it)."""
        step.actions.append(('call', func))

    def probe(self, argv):
        """A read-only command (systemctl is-active); its stdout stripped, '' when it cannot run."""
        try:
            out = self.host.run(argv)[1]
        except (OSError, RuntimeError, ValueError):  # no runner, no such command: nothing is known
            return ''
        return (out or '').strip()


# --- steps --------------------------------------------------------------------------------------------

def step_agent_service(plan, step):
    step.rule = 'DeprovisionHandler.stop_agent_service (%s.stop_agent_service)' % plan.profile.osutil
    if not plan.online:
        step.why = 'offline: nothing is started or stopped inside the tree (a tree has no running agent)'
        return
    if not plan.host.systemd:
        step.why = 'systemd is not running: the agent service is not stopped'
        return
    names = [plan.profile.service] + [n for n in ('walinuxagent', 'waagent') if n != plan.profile.service]
    active = [n for n in names if plan.probe(['systemctl', 'is-active', n + '.service']) in ('active', 'activating', 'reloading')]
    for name in active:
        plan.command(step, ['systemctl', 'stop', name + '.service'])
    step.why = ('the agent is stopped first, so that it writes no new state or log after they are removed'
                if active else 'the agent service is not running')


def _rule_or_option(plan, step, option, key, yes):
    """Whether to act: the module option ``option`` when set (``yes`` means act), else the guest's
    waagent.conf ``key``; the step records which rule applied."""
    choice = plan.params.get(option) or 'auto'
    if choice == 'auto':
        step.rule = plan.conf.rule(key)
        return plan.conf.switch(key)
    step.rule = '%s=%s (module option)' % (option, choice)
    return choice == yes


def step_ssh_host_keys(plan, step):
    key = 'Provisioning.RegenerateSshHostKeyPair'
    remove = _rule_or_option(plan, step, 'ssh_host_keys', key, 'remove')
    ssh_dir = plan.conf.get('OS.SshDir')
    if not remove:
        step.why = ('host keys kept: the agent regenerates them only when %s=y; cloud-init (ssh_deletekeys) '
                    'or sshd-keygen replaces them at first boot where they run' % key)
        return
    for path in plan.tree.glob(ssh_dir, lambda name: fnmatch.fnmatchcase(name, 'ssh_host_*key*')):
        plan.remove(step, path, kinds=('file', 'link'))
    step.why = ('%s/ssh_host_*key* removed: every VM of the image would otherwise share the build VM\'s host keys; '
                'the agent makes new ones at provisioning' % ssh_dir)


def step_dhcp_leases(plan, step):
    step.rule = 'DeprovisionHandler.del_dhcp_lease'
    for folder in ('/var/lib/dhclient', '/var/lib/dhcpcd', '/var/lib/dhcp'):
        plan.empty(step, folder)
    patterns = (('/var/lib/NetworkManager', 'dhclient-*.lease'), ('/run/systemd/netif/leases', '*'),
                ('/var/lib/NetworkManager', 'dhclient6-*.lease'), ('/var/lib/NetworkManager', 'internal-*.lease'),
                ('/var/lib/wicked', 'lease-*'))
    for folder, pattern in patterns:
        for path in plan.tree.glob(folder, lambda name, pattern=pattern: fnmatch.fnmatchcase(name, pattern)):
            plan.remove(step, path, kinds=('file', 'link'))
    step.why = ('the contents of /var/lib/dhclient, /var/lib/dhcpcd and /var/lib/dhcp, NetworkManager\'s dhclient '
                'leases and systemd-networkd\'s, as waagent removes them; also NetworkManager\'s internal-*.lease '
                '(its own DHCP client, the default from RHEL 8) and wicked\'s leases, which waagent keeps')


def set_line(text, start, value):
    """waagent's update_conf_file: lines starting with ``start`` replaced by ``value`` at the end
    (blank lines are kept); unchanged when ``value`` is already the only such line."""
    lines = text.split('\n')
    matching = [line for line in lines if line.startswith(start)]
    if matching == [value]:
        return text
    lines = [line for line in lines if not line.startswith(start)]
    while lines and lines[-1] == '':
        lines.pop()
    lines.append(value)
    return '\n'.join(lines) + '\n'


def hosts_without(text, names):
    """/etc/hosts without the machine's old names (``names`` and their FQDNs: the same first label)
    on the 127.0.1.1 lines (Debian's line for the machine's own name); a line left with no name goes."""
    shorts = set(n.split('.')[0].lower() for n in names if n)

    def old(name):
        return name.split('.')[0].lower() in shorts

    out = []
    for line in text.split('\n'):
        body, sep, comment = line.partition('#')
        fields = body.split()
        if len(fields) >= 2 and fields[0] == '127.0.1.1' and any(old(f) for f in fields[1:]):
            kept = [f for f in fields[1:] if not old(f)]
            if not kept:
                continue
            line = '\t'.join([fields[0]] + kept) + ((' ' + sep + comment) if sep else '')
        out.append(line)
    return '\n'.join(out)


def step_hostname(plan, step):
    profile = plan.profile
    old = set()
    if profile.hostname == 'sysconfig-network':
        step.rule = '%s.set_hostname: HOSTNAME= in /etc/sysconfig/network' % profile.osutil
        text = plan.read_step(step, '/etc/sysconfig/network')
        if text is not None:
            for line in text.split('\n'):
                if line.startswith('HOSTNAME='):
                    old.add(line.split('=', 1)[1].strip().strip('"\''))
            plan.write(step, '/etc/sysconfig/network', text, set_line(text, 'HOSTNAME', 'HOSTNAME=%s' % LOCALHOST))
    else:
        path = '/etc/HOSTNAME' if profile.hostname == 'etc-HOSTNAME' else '/etc/hostname'
        step.rule = '%s.set_hostname: %s' % (profile.osutil, path)
        text = plan.read_step(step, path)
        if not step.refused:
            if text is not None:
                old.add(text.strip())
            if text is None or text.strip() != LOCALHOST:
                plan.write(step, path, text, LOCALHOST + '\n')
    names = set()
    for name in old:
        if name and name not in ('localhost', LOCALHOST):
            names.update([name, name.split('.')[0]])
    hosts = plan.read_step(step, '/etc/hosts') if names else None
    if hosts is not None:
        plan.write(step, '/etc/hosts', hosts, hosts_without(hosts, names))
    step.why = ('the static hostname becomes %s, as waagent sets it (the agent publishes the VM\'s own name at '
                'provisioning); only files are edited, the running hostname is never set (offline it would be the '
                'build host\'s); the build VM\'s name is also taken off the 127.0.1.1 line of /etc/hosts, which '
                'waagent leaves' % LOCALHOST)


def step_dhcp_hostname(plan, step):
    profile = plan.profile
    step.rule = '%s.set_dhcp_hostname' % profile.osutil
    value = LOCALHOST
    if profile.dhcp_hostname == 'ifcfg':
        folder = '/etc/sysconfig/network-scripts'
        for path in plan.tree.glob(folder, lambda n: n.startswith('ifcfg-') and n != 'ifcfg-lo' and not IFCFG_SKIP.search(n)):
            text = plan.read_step(step, path)
            if text is None:
                continue
            if re.search(r'^\s*BOOTPROTO=["\']?dhcp', text, re.M) or re.search(r'^DHCP_HOSTNAME=', text, re.M):
                plan.write(step, path, text, set_line(text, 'DHCP_HOSTNAME', 'DHCP_HOSTNAME=%s' % value))
        step.why = ('DHCP_HOSTNAME=%s in the existing DHCP ifcfg files; waagent writes ifcfg-<interface> even where '
                    'there is none (connections in NetworkManager keyfiles from RHEL 9), which is not copied: no ifcfg '
                    'file is created' % value)
        return
    if profile.dhcp_hostname == 'suse':
        path = '/etc/sysconfig/network/dhcp'
        text = plan.read_step(step, path)
        if text is not None:
            line = 'DHCLIENT_HOSTNAME_OPTION="%s"' % value
            current = [entry for entry in text.split('\n') if entry.startswith('DHCLIENT_HOSTNAME_OPTION')]
            if current and current[0].split('=')[-1] in ('"AUTO"', "'AUTO'", 'AUTO'):
                step.why = 'DHCLIENT_HOSTNAME_OPTION=AUTO in %s: the VM sends its own name' % path
                return
            if current:
                after = '\n'.join(line if entry.startswith('DHCLIENT_HOSTNAME_OPTION') else entry for entry in text.split('\n'))
            else:
                after = text + ('' if text.endswith('\n') or not text else '\n') + line + '\n'
            plan.write(step, path, text, after)
        step.why = 'DHCLIENT_HOSTNAME_OPTION="%s" in %s where it exists' % (value, path)
        return
    seen = set()
    for path in DHCLIENT_CONFS:
        try:
            real = plan.tree.resolve(path)
        except Refused as exc:
            step.refuse(exc)
            continue
        if real in seen:
            continue
        seen.add(real)
        text = plan.read_step(step, path)
        if text is None:
            continue
        if any(DHCLIENT_AUTOSEND.search(line) for line in text.split('\n')):
            step.why = '%s sends the machine\'s own name (send host-name = gethostname()): nothing to change' % path
            return
        plan.write(step, path, text, set_line(text, 'send host-name', 'send host-name "%s";' % value))
    step.why = 'send host-name "%s"; in the dhclient configuration that does not send the machine\'s own name' % value


def step_root_password(plan, step):
    key = 'Provisioning.DeleteRootPassword'
    lock = _rule_or_option(plan, step, 'root_password', key, 'lock')
    shadow = plan.conf.get('OS.PasswordPath')
    if not lock:
        step.why = 'root password kept (%s=n)' % key
        return
    for path in (shadow, shadow + '-'):
        text = plan.read_step(step, path)
        if text is not None:
            plan.write(step, path, text, accounts.lock_password(text), secret=True)
    step.why = ('the password field of root in %s (and its backup %s-) set to %s, as waagent does, other fields '
                'kept; %s is edited directly (atomically), never with passwd' % (shadow, shadow, accounts.LOCKED, shadow))


def step_waagent_state(plan, step):
    lib, ext = plan.conf.get('Lib.Dir'), plan.conf.get('Extension.LogDir')
    step.rule = 'DeprovisionHandler.del_dirs and del_files (Lib.Dir=%s, Extension.LogDir=%s)' % (lib, ext)
    plan.empty(step, lib)
    plan.empty(step, ext)
    plan.remove(step, AGENT_LOG, kinds=('file', 'link'))
    for path in plan.tree.glob('/var/log', lambda name: name.startswith('waagent.log.')):
        plan.remove(step, path, kinds=('file', 'link'))
    step.why = ('%s and %s emptied and %s removed, as waagent does; its rotated logs (waagent.log.*) too, which '
                'waagent leaves' % (lib, ext, AGENT_LOG))


def step_resolv_conf(plan, step):
    profile = plan.profile
    path = '/etc/resolv.conf'
    if profile.resolv == 'keep':
        step.rule = '%s: /etc/resolv.conf is not removed (Ubuntu 18.04 and later)' % profile.handler
        step.why = 'kept: systemd-resolved manages it'
        return
    kind = plan.tree.kind(path)
    if profile.resolv == 'resolvconf' and kind == 'link' and plan.tree.resolve(path) == '/run/resolvconf/resolv.conf':
        step.rule = '%s: resolv.conf is resolvconf\'s, its tail and original go' % profile.handler
        for name in ('/etc/resolvconf/resolv.conf.d/tail', '/etc/resolvconf/resolv.conf.d/original'):
            plan.remove(step, name, kinds=('file', 'link'))
        step.why = 'resolvconf builds resolv.conf from DHCP at boot'
        return
    step.rule = '%s.del_resolv: /etc/resolv.conf is removed' % profile.handler
    if kind == 'link':
        step.kept.append({'path': path, 'why': 'a symbolic link (to %s) of the resolver that manages it' % plan.tree.resolve(path)})
        step.why = ('kept: a symlink holds no name server of the build network, and without it the VMs would have no '
                    'resolver configuration (waagent removes it only when its target exists, i.e. online)')
        return
    plan.remove(step, path, kinds=('file',))
    step.why = 'the build network\'s name servers must not reach the VMs; the DHCP client writes it again at boot'


def step_firewall_unit(plan, step):
    service = plan.profile.service
    unit = FIREWALL_UNIT % service
    lib = plan.conf.get('Lib.Dir')
    step.rule = 'DeprovisionHandler.del_persist_firewall_rules (%s/%s, %s/%s)' % (plan.profile.unit_dir, unit, lib, FIREWALL_BINARY)
    for folder in (plan.profile.unit_dir, '/etc/systemd/system'):
        plan.remove(step, '%s/%s' % (folder, unit), kinds=('file', 'link'))
    plan.remove(step, '%s/%s' % (lib, FIREWALL_BINARY), kinds=('file', 'link'))
    for wants in plan.tree.glob('/etc/systemd/system', lambda name: name.endswith('.wants')):
        plan.remove(step, '%s/%s' % (wants, unit), kinds=('link',))
    step.why = ('the agent\'s firewall-setup unit and script, as waagent removes them, and the unit\'s enablement links '
                'in /etc/systemd/system/*.wants, which waagent leaves dangling')


def step_cgroup_drop_ins(plan, step):
    unit_dir = plan.profile.unit_dir
    drop_in = '%s/%s.service.d' % (unit_dir, plan.profile.service)
    step.rule = 'DeprovisionHandler.remove_agent_cgroup_config (%s)' % drop_in
    for name in CGROUP_DROP_INS:
        plan.remove(step, '%s/%s' % (drop_in, name), kinds=('file', 'link'))
    plan.remove(step, '%s/%s' % (unit_dir, LOGCOLLECTOR_SLICE), kinds=('file', 'link'))
    step.why = 'the agent\'s cgroup drop-ins and its log collector slice, as waagent removes them'


def step_machine_id(plan, step):
    profile = plan.profile
    if profile.agent_removes_machine_id:
        step.rule = '%s removes /etc/machine-id' % profile.handler
    else:
        step.rule = 'not done by waagent on %s (%s)' % (profile.family, profile.handler)
    main = plan.tree.resolve('/etc/machine-id')
    for path in ('/etc/machine-id', '/var/lib/dbus/machine-id'):
        kind = plan.tree.kind(path)
        if kind is None:
            continue
        real = plan.tree.resolve(path)
        if kind == 'link' and path != '/etc/machine-id' and real == main:
            step.kept.append({'path': path, 'why': 'a symbolic link to /etc/machine-id'})
            continue
        text = plan.read_step(step, path)
        if text is None:
            continue
        if text.strip() not in ('', 'uninitialized'):
            plan.truncate(step, path)
    step.why = ('emptied, not deleted: systemd makes a new machine id at first boot (an empty file, unlike a missing '
                'one, also works with a read-only /etc); every VM of the image would otherwise share the build VM\'s '
                'id (DHCP client ids, journal, D-Bus)')


def step_cloud_init(plan, step):
    step.rule = 'what cloud-init clean --logs removes; waagent never runs it'
    plan.empty(step, '/var/lib/cloud', keep=lambda name, path: 'the seed is kept, as cloud-init clean does' if name == 'seed' else None)
    for path in ('/var/log/cloud-init.log', '/var/log/cloud-init-output.log'):
        plan.remove(step, path, kinds=('file', 'link'))
    step.why = ('/var/lib/cloud (but its seed) and the cloud-init logs: without it cloud-init would take a VM of the '
                'image for the build VM and skip its first-boot work')


def _homes(plan, step):
    passwd = plan.read_step(step, '/etc/passwd') or ''
    homes, seen = [], set()
    for home in ['/root'] + [e['home'] for e in accounts.passwd_entries(passwd)]:
        if not home.startswith('/') or home == '/':
            continue
        try:
            real = plan.tree.resolve(home)
        except Refused as exc:
            step.refuse(exc)
            continue
        if real in seen or plan.tree.kind(real) != 'dir':
            continue
        seen.add(real)
        homes.append(real)
    return homes


def step_shell_history(plan, step):
    step.rule = 'DeprovisionHandler.del_files removes /root/.bash_history'
    for home in _homes(plan, step):
        for name in HISTORY_FILES:
            plan.remove(step, '%s/%s' % (home.rstrip('/'), name), kinds=('file', 'link'))
    step.why = ('every user\'s shell (and python, less, database client) history, which waagent leaves but for root\'s '
                '.bash_history')


def step_tmp(plan, step):
    step.rule = 'not done by waagent'
    protected = plan.host.protected() if plan.online else []

    def keep(name, path):
        if not plan.online:
            return None
        if name in TMP_KEEP_ONLINE or name.startswith('systemd-private-'):
            return 'held by running services; made again at boot'
        for used in protected:
            if used == path or used.startswith(path.rstrip('/') + '/'):
                return 'in use by this module'
        return None

    for folder in ('/tmp', '/var/tmp'):
        plan.empty(step, folder, keep=keep)
    step.why = 'the build\'s temporary files would otherwise be in every VM'


def step_udev_persistent_net(plan, step):
    step.rule = 'not done by waagent'
    plan.remove(step, '/etc/udev/rules.d/70-persistent-net.rules', kinds=('file', 'link'))
    step.why = 'the build VM\'s MAC addresses pinned to interface names would rename the NICs of every VM'


def _find(plan, names):
    for name in names:
        if plan.tree.kind(name, follow=True) == 'file':
            return name
    return names[0]


def _sudoers_files(plan):
    folder = plan.conf.get('OS.SudoersDir')
    return ['%s/waagent' % folder, '%s/90-cloud-init-users' % folder]


def _scrub(plan, step, user, paths, secret=False):
    for path in paths:
        text = plan.read_step(step, path)
        if text is not None:
            plan.write(step, path, text, accounts.drop_named(text, user), secret=secret)


def _scrub_sudoers(plan, step, user):
    for path in _sudoers_files(plan):
        text = plan.read_step(step, path)
        if text is None:
            continue
        after = accounts.sudoers_without(text, user)
        if after is None:
            if any((line.split() or [''])[0] == user for line in text.split('\n')):
                plan.remove(step, path, kinds=('file',))
        else:
            plan.write(step, path, text, after)


def _backups(plan):
    shadow = plan.conf.get('OS.PasswordPath')
    return ['/etc/passwd-', shadow + '-', '/etc/group-', '/etc/gshadow-']


def step_user(plan, step):
    user = plan.params.get('user')
    step.rule = 'waagent -deprovision+user: del_account (userdel -f -r) and the user out of /etc/sudoers.d/waagent'
    if not user:
        step.why = 'no user given'
        return
    passwd = plan.read_step(step, '/etc/passwd') or ''
    entry = accounts.find_user(passwd, user)
    shadow = plan.conf.get('OS.PasswordPath')
    if entry is not None and entry['uid'] == 0:
        raise GuestError('user %s has uid 0; a root account is never removed: give the provisioning user' % user)
    if plan.online and entry is not None:
        connected = plan.host.connected_users(passwd)
        if user in connected:
            _defer_user(plan, step, user, connected[user])
            return
        step.rule = 'waagent -deprovision+user: userdel -r (the user is not the one connected)'
        plan.command(step, ['userdel', '-r', user])
        _scrub_sudoers(plan, step, user)
        for path in ('/var/spool/cron/crontabs/%s' % user, '/var/spool/cron/%s' % user):
            plan.remove(step, path, kinds=('file',))
        # Not planned from what the backups hold now: userdel writes them afresh, and a planned write
        # would put the stale copies back over its. They are edited once it has run.
        plan.call(step, lambda: _scrub_backups_now(plan, user))
        step.why = 'userdel -r %s, then its rules out of the sudoers drop-ins and its lines out of the shadow-utils backups' % user
        return
    if entry is None:
        _scrub(plan, step, user, _backups(plan), secret=True)
        step.why = 'no user %s in /etc/passwd: nothing to remove' % user
        if step.actions:
            step.why += ' (its lines left in the shadow-utils backups are removed)'
        return
    step.rule = 'waagent -deprovision+user, offline: the account files of the tree are edited (userdel would act on the build host)'
    group = plan.read_step(step, '/etc/group') or ''
    own_group = accounts.private_group(passwd, group, user)
    _scrub(plan, step, user, ['/etc/passwd', '/etc/passwd-'])
    _scrub(plan, step, user, [shadow, shadow + '-'], secret=True)
    for path in ('/etc/group', '/etc/group-'):
        text = plan.read_step(step, path)
        if text is not None:
            plan.write(step, path, text, accounts.drop_from_groups(text, user, own_group, (3,)))
    for path in ('/etc/gshadow', '/etc/gshadow-'):
        text = plan.read_step(step, path)
        if text is not None:
            plan.write(step, path, text, accounts.drop_from_groups(text, user, own_group, (2, 3)), secret=True)
    _scrub(plan, step, user, ['/etc/subuid', '/etc/subgid', '/etc/subuid-', '/etc/subgid-'])
    _scrub_sudoers(plan, step, user)
    home = entry['home']
    if home.startswith('/') and home.rstrip('/') not in ('', '/root') and plan.tree.resolve(home) != '/':
        plan.remove(step, home, owner=entry['uid'])
    for path in ('/var/mail/%s' % user, '/var/spool/mail/%s' % user):
        plan.remove(step, path, kinds=('file',), owner=entry['uid'])
    for path in ('/var/spool/cron/crontabs/%s' % user, '/var/spool/cron/%s' % user):
        plan.remove(step, path, kinds=('file',))
    step.why = ('%s out of passwd, shadow, group and gshadow (its own group %s), their backups, subuid/subgid and the '
                'sudoers drop-ins; its home, mail spool and crontab removed' % (user, own_group or 'none'))


def _scrub_backups_now(plan, user):
    """After userdel: it saved the old files as passwd- ... with the user in them (and, in group- and
    gshadow-, in other groups' member lists)."""
    passwd, shadow, group, gshadow = _backups(plan)
    for path, fields in ((passwd, None), (shadow, None), (group, (3,)), (gshadow, (2, 3))):
        text = plan.tree.read_or_none(path)
        if text is not None:
            after = accounts.drop_named(text, user)
            if fields:
                after = accounts.drop_from_groups(after, user, None, fields)
            if after != text:
                plan.tree.write(path, after)


def _defer_user(plan, step, user, how):
    if not plan.host.systemd:
        raise GuestError('user %s is the user this play is connected as (%s), so its removal has to wait until the '
                         'connection ends, which needs systemd (not running here): connect as another user or root to '
                         'remove it, or remove it offline with root: on the mounted disk' % (user, how))
    unit = accounts.deferred_unit_name(user)
    path = '%s/%s' % (accounts.DEFERRED_UNIT_DIR, unit)
    sudoers = [p for p in _sudoers_files(plan) if plan.tree.kind(p, follow=True) == 'file']
    backups = [p for p in _backups(plan) if plan.tree.kind(p, follow=True) == 'file']
    text = accounts.deferred_unit(user, _find(plan, ['/usr/sbin/userdel', '/sbin/userdel']),
                                  _find(plan, ['/usr/bin/sed', '/bin/sed']), _find(plan, ['/usr/bin/true', '/bin/true']),
                                  sudoers, backups)
    before = plan.read_step(step, path)
    step.deferred = True
    step.rule = 'waagent -deprovision+user, deferred: the user is the one connected'
    if before != text:
        plan.write(step, path, before, text)
        plan.command(step, ['systemctl', 'daemon-reload'])
    if plan.probe(['systemctl', 'is-active', unit]) != 'active':
        plan.command(step, ['systemctl', 'start', unit])
    later = ('shutdown: true shuts the VM down once the play has had time to finish' if plan.params.get('shutdown')
             else 'shut the VM down to complete it (vmimage.azure.vm_generalize deallocates it; or shutdown: true)')
    step.why = ('%s is the user this play is connected as (%s): removing it now would cut the play off, so %s (under '
                '/run, never in the image) removes it with userdel -f -r at the next shutdown; %s' % (user, how, path, later))


def step_shutdown(plan, step):
    step.rule = 'shutdown option'
    if not plan.params.get('shutdown'):
        step.why = 'shutdown: false'
        return
    delay = int(plan.params.get('shutdown_delay') or 60)
    if plan.host.systemd:
        if plan.probe(['systemctl', 'is-active', SHUTDOWN_UNIT + '.timer']) == 'active':
            step.why = 'a shutdown is already scheduled (%s.timer)' % SHUTDOWN_UNIT
            return
        plan.command(step, ['systemd-run', '--on-active=%ds' % delay, '--timer-property=AccuracySec=1s',
                            '--unit=%s' % SHUTDOWN_UNIT, plan.host.which('systemctl') or '/bin/systemctl', 'poweroff'])
        step.why = 'the VM powers off %d seconds from now, so that the play finishes first' % delay
    else:
        minutes = max(1, int(math.ceil(delay / 60.0)))
        plan.command(step, ['shutdown', '-h', '+%d' % minutes])
        step.why = 'the VM halts in %d minute(s), so that the play finishes first' % minutes


STEP_FUNCS = {
    'agent_service': step_agent_service, 'ssh_host_keys': step_ssh_host_keys, 'dhcp_leases': step_dhcp_leases,
    'hostname': step_hostname, 'dhcp_hostname': step_dhcp_hostname, 'root_password': step_root_password,
    'waagent_state': step_waagent_state, 'resolv_conf': step_resolv_conf, 'firewall_unit': step_firewall_unit,
    'cgroup_drop_ins': step_cgroup_drop_ins, 'machine_id': step_machine_id, 'cloud_init': step_cloud_init,
    'shell_history': step_shell_history, 'tmp': step_tmp, 'udev_persistent_net': step_udev_persistent_net,
    'user': step_user, 'shutdown': step_shutdown,
}


# --- plan, apply, run --------------------------------------------------------------------------------

def validate(params, tree, host, online):
    """Bad input fails here, before anything is read for planning or written."""
    user = params.get('user')
    if user is not None:
        if not accounts.USER_NAME.match(user):
            raise GuestError('user %r is not a valid user name: give the login name of the provisioning user' % user)
        if user == 'root':
            raise GuestError('user root is never removed: give the provisioning user')
    if params.get('shutdown') and not online:
        raise GuestError('shutdown: true works only on the guest itself (root: /); offline it would shut the build host '
                         'down. Leave it out when root: is a mounted image')
    delay = params.get('shutdown_delay')
    if delay is not None and int(delay) < 1:
        raise GuestError('shutdown_delay must be at least 1 second')
    conf = params.get('waagent_conf') or DEFAULT_CONF
    if not conf.startswith('/'):
        raise GuestError('waagent_conf %r must be an absolute path inside the guest, e.g. /etc/waagent.conf' % conf)
    if online and host.euid != 0:
        raise GuestError('deprovisioning needs root on the guest: run the task with become: true')
    if not online and tree.kind('/etc', follow=True) != 'dir':
        raise GuestError('root %s does not look like a Linux root file system (no /etc): mount the image\'s root '
                         'partition there (and /usr or /var where they are separate)' % tree.root)


def open_tree(root):
    if not root or not os.path.isabs(root):
        raise GuestError('root %r must be an absolute path (/ for the guest itself, or where its image is mounted)' % root)
    if not os.path.exists(root):
        raise GuestError('root %s does not exist: mount the image there first, or use root: /' % root)
    if not os.path.isdir(root):
        raise GuestError('root %s is not a directory' % root)
    return Tree(root)


def make_plan(tree, host, params, online=None):
    """Read everything and decide; nothing is written (check mode stops here)."""
    online = tree.online if online is None else online
    validate(params, tree, host, online)
    conf = WaagentConf.load(tree, params.get('waagent_conf') or DEFAULT_CONF)
    profile = distro_profile(tree)
    planned = Plan(tree, host, online, params, conf, profile)
    skip = set(params.get('skip') or ())
    for name in STEPS:
        step = Step(name)
        if name in skip:
            step.why = 'skipped (skip option)'
        else:
            STEP_FUNCS[name](planned, step)
        planned.steps.append(step)
    return planned


def apply(planned):
    """Carry the plan out, step by step; a failure names the step and says what was done."""
    tree, host = planned.tree, planned.host
    for step in planned.steps:
        for action in step.actions:
            kind = action[0]
            try:
                if kind == 'remove':
                    for kept in tree.remove(action[1]):
                        step.refuse(kept)
                elif kind == 'write':
                    tree.write(action[1], action[2], mode=action[3])
                elif kind == 'truncate':
                    tree.truncate(action[1])
                elif kind == 'run':
                    rc, out, err = host.run(action[1])
                    if rc != 0:
                        raise GuestError('step %s: %s failed (exit %s): %s' % (
                            step.name, ' '.join(action[1]), rc, (err or out or '').strip()[-2000:]), code='command_failed')
                elif kind == 'call':
                    action[1]()
            except Refused as exc:
                step.refuse(exc)
            except (IOError, OSError) as exc:
                raise GuestError('step %s: %s: %s (the steps before it are done; fix this and run again)' % (
                    step.name, getattr(exc, 'filename', None) or action[1], exc.strerror or exc), code='io_error') from exc
    return planned


def result(planned):
    steps = [s.result() for s in planned.steps]
    removed = [p for s in planned.steps for p in s.removed]
    diffs = [d for s in planned.steps for d in s.diffs]
    if removed:
        diffs.append({'before_header': 'removed', 'after_header': 'removed',
                      'before': '\n'.join(removed) + '\n', 'after': ''})
    changed = any(s.changed for s in planned.steps)
    out = {
        'changed': changed,
        'root': planned.tree.root,
        'online': planned.online,
        'distro': planned.profile.as_dict(),
        'waagent_conf': {'path': planned.conf.path, 'found': planned.conf.found, 'settings': planned.conf.used()},
        'steps': steps,
        'removed': removed,
        'refused': [r for s in steps for r in s['refused']],
        'deferred': [s['why'] for s in steps if s.get('deferred')],
    }
    if changed:
        out['diff'] = diffs
    return out


def run(params, check_mode=False, host=None, tree=None, online=None):
    """The module's one call: plan, apply unless in check mode, and the result."""
    tree = tree if tree is not None else open_tree(params.get('root') or '/')
    host = host if host is not None else Host()
    planned = make_plan(tree, host, params, online=online)
    if not check_mode:
        apply(planned)
    return result(planned)
