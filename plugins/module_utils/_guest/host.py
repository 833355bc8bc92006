# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""The running system a module is on: its commands, its environment, its processes.

Used only when the guest is the running system (``root: /``); offline work never runs a command.
``run`` is the module's ``run_command`` (or a fake in tests); ``connected_users`` says who the
module's connection is logged in as, so that removing that user can wait for the connection to end.
"""

from __future__ import annotations

import os
import re
import sys

from ansible_collections.vmimage.azure.plugins.module_utils._guest import accounts

NO_LOGIN_UID = 4294967295
SSHD = re.compile(r'^sshd(?:-session)?: ([A-Za-z_][A-Za-z0-9_.-]*\$?)')
SBIN_PATH = ('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin')


class Host(object):
    """The running system; every attribute can be replaced in tests."""

    def __init__(self, run=None, env=None, euid=None, proc='/proc', pid=None, protected=None, systemd=None):
        self._run = run
        self.env = dict(os.environ if env is None else env)
        self.euid = os.geteuid() if euid is None else euid
        self.proc = proc
        self.pid = os.getpid() if pid is None else pid
        self._protected = protected
        self._systemd = systemd

    def run(self, argv):
        """(rc, stdout, stderr) of a command; argv[0] is looked up in the sbin directories too."""
        if self._run is None:
            raise RuntimeError('no command runner')
        argv = [self.which(argv[0]) or argv[0]] + list(argv[1:])
        return self._run(argv)

    def which(self, name):
        if '/' in name:
            return name
        dirs = [d for d in self.env.get('PATH', '').split(os.pathsep) if d] + list(SBIN_PATH)
        for folder in dirs:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        return None

    @property
    def systemd(self):
        """Whether systemd is the running init (sd_booted's test)."""
        if self._systemd is None:
            return os.path.isdir('/run/systemd/system')
        return self._systemd

    def protected(self):
        """Paths that the running module needs (its AnsiballZ payload, its working directory)."""
        if self._protected is not None:
            return list(self._protected)
        paths = [os.path.abspath(p) for p in sys.path if p and os.path.isabs(p)]
        paths.append(os.path.abspath(__file__))
        if sys.argv and sys.argv[0]:
            paths.append(os.path.abspath(sys.argv[0]))  # the AnsiballZ wrapper
        try:
            paths.append(os.getcwd())
        except OSError:
            pass
        return paths

    # --- who is connected --------------------------------------------------------------------

    def _read(self, pid, name):
        try:
            with open(os.path.join(self.proc, str(pid), name), 'rb') as fh:
                return fh.read().decode('utf-8', 'replace')
        except (IOError, OSError):
            return None

    def _status(self, pid):
        fields = {}
        for line in (self._read(pid, 'status') or '').splitlines():
            if ':' in line:
                key, value = line.split(':', 1)
                fields[key] = value.strip()
        return fields

    def connected_users(self, passwd_text):
        """{user name: how it was found} of whoever this module runs for: SUDO_USER, the audit
        login uid of the session, the user of the ssh session among the module's ancestors,
        LOGNAME/USER (root is never listed)."""
        found = {}

        def add(name, how):
            if name and name != 'root' and name not in found:
                found[name] = how

        add(self.env.get('SUDO_USER'), 'SUDO_USER')
        login = (self._read(self.pid, 'loginuid') or '').strip()
        if login.isdigit() and int(login) not in (NO_LOGIN_UID, 0):
            add(accounts.user_by_uid(passwd_text, int(login)), 'the login uid of the session (%s)' % login)
        pid, seen = self.pid, set()
        while pid and pid not in seen and str(pid) != '0':
            seen.add(pid)
            status = self._status(pid)
            cmdline = (self._read(pid, 'cmdline') or '').replace('\0', ' ').strip()
            match = SSHD.match(cmdline)
            if match:
                add(match.group(1), 'the ssh session the module runs in (%s)' % cmdline)
            elif status.get('Name', '').startswith('sshd'):
                uids = status.get('Uid', '').split()
                if uids and uids[0].isdigit() and int(uids[0]) != 0:
                    add(accounts.user_by_uid(passwd_text, int(uids[0])), 'the ssh session the module runs in')
            parent = status.get('PPid')
            pid = int(parent) if parent and parent.isdigit() else None
        for var in ('LOGNAME', 'USER'):
            add(self.env.get(var), var)
        return found
