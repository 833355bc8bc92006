# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Account databases as text: passwd, shadow, group, gshadow, subuid/subgid and sudoers drop-ins.

Pure functions on file contents, so that an offline tree is edited without ``userdel`` or
``passwd`` (which would act on the build host or need a chroot), and what the deferred removal
runs at shutdown is written from the same facts. Nothing here reads a file or runs a command.
"""

from __future__ import annotations

import os
import re

# A user name userdel accepts (shadow-utils' default pattern, with its optional trailing $).
USER_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$')
# Password fields that hold no hash: locked or never set.
NO_HASH = re.compile(r'^[!*]*$')
LOCKED = '*LOCK*'


def lines_of(text):
    return (text or '').split('\n')


def join_lines(lines):
    text = '\n'.join(lines)
    return text


def passwd_entries(text):
    """[{name, uid, gid, home, shell}] of a passwd file (malformed lines are skipped)."""
    entries = []
    for line in lines_of(text):
        fields = line.split(':')
        if len(fields) < 7 or not fields[0] or line.startswith('#'):
            continue
        try:
            uid, gid = int(fields[2]), int(fields[3])
        except ValueError:
            continue
        entries.append({'name': fields[0], 'uid': uid, 'gid': gid, 'home': fields[5], 'shell': fields[6]})
    return entries


def find_user(passwd_text, name):
    for entry in passwd_entries(passwd_text):
        if entry['name'] == name:
            return entry
    return None


def user_by_uid(passwd_text, uid):
    for entry in passwd_entries(passwd_text):
        if entry['uid'] == uid:
            return entry['name']
    return None


def drop_named(text, name):
    """The file without the lines whose first field is ``name`` (passwd, shadow, subuid...)."""
    return join_lines([line for line in lines_of(text) if line.split(':', 1)[0] != name or ':' not in line])


def private_group(passwd_text, group_text, user):
    """The user's own group, which userdel removes with the user (USERGROUPS_ENAB): the group
    named like the user, of the user's primary gid, with no other member and no other user's
    primary group. None when there is no such group."""
    entry = find_user(passwd_text, user)
    if entry is None:
        return None
    for line in lines_of(group_text):
        fields = line.split(':')
        if len(fields) < 4 or fields[0] != user:
            continue
        try:
            gid = int(fields[2])
        except ValueError:
            return None
        members = [m for m in fields[3].split(',') if m and m != user]
        others = [e for e in passwd_entries(passwd_text) if e['gid'] == gid and e['name'] != user]
        if gid == entry['gid'] and not members and not others:
            return user
        return None
    return None


def _without_member(field, user):
    return ','.join(m for m in field.split(',') if m and m != user)


def drop_from_groups(text, user, drop_group, member_fields):
    """group (member field 3) or gshadow (admins 2, members 3): the user out of every list, and
    ``drop_group`` (or None) removed."""
    out = []
    for line in lines_of(text):
        fields = line.split(':')
        if len(fields) < 4:
            out.append(line)
            continue
        if drop_group is not None and fields[0] == drop_group:
            continue
        for index in member_fields:
            fields[index] = _without_member(fields[index], user)
        out.append(':'.join(fields))
    return join_lines(out)


def sudoers_without(text, user):
    """A sudoers drop-in without the rules of ``user`` (lines whose first word is the user).

    Returns None when no rule is left (the file can go), the text otherwise."""
    kept = []
    for line in lines_of(text):
        words = line.split()
        if words and words[0] == user:
            continue
        kept.append(line)
    rules = [line for line in kept if line.strip() and not line.strip().startswith('#')]
    if not rules:
        return None
    return join_lines(kept)


def lock_password(text, user='root'):
    """shadow with the password of ``user`` replaced by waagent's ``*LOCK*`` (the other fields
    kept). Unchanged when the field holds no hash already (``*``, ``!``, ``!!``, ``*LOCK*``)."""
    out = []
    for line in lines_of(text):
        fields = line.split(':')
        if len(fields) >= 2 and fields[0] == user and not (NO_HASH.match(fields[1]) or fields[1] == LOCKED):
            fields[1] = LOCKED
            line = ':'.join(fields)
        out.append(line)
    return join_lines(out)


def redact_shadow(text):
    """shadow or gshadow for a diff: every hash replaced, markers of locked accounts kept."""
    out = []
    for line in lines_of(text or ''):
        fields = line.split(':')
        if len(fields) >= 2 and not (NO_HASH.match(fields[1]) or fields[1] == LOCKED):
            fields[1] = '<hash>'
        out.append(':'.join(fields))
    return join_lines(out)


# --- the removal deferred to the next shutdown ----------------------------------------------------

DEFERRED_UNIT_DIR = '/run/systemd/system'


def deferred_unit_name(user):
    return 'vmimage-remove-user-%s.service' % re.sub(r'[^A-Za-z0-9_.-]', '_', user)


DEFERRED_UNIT = """\
# Written by vmimage.azure.linux_deprovision. It lives under /run, so it is gone after the
# shutdown it waits for and never reaches the image. Stopped at shutdown (after the user's
# sessions have ended, while the file systems are still mounted), it removes the provisioning
# user {user}, whose removal could not run while that user was connected.
[Unit]
Description=Remove the provisioning user {user} at shutdown (vmimage.azure.linux_deprovision)
DefaultDependencies=no
After=local-fs.target
Before=systemd-user-sessions.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={true}
{stops}
"""


def _sed_literal(user):
    """A user name as a sed regular expression inside a systemd command line: no backslash
    (systemd would read it as an escape), ``.`` and ``$`` in brackets, ``$`` doubled for systemd."""
    return user.replace('.', '[.]').replace('$', '[$$]')


def deferred_unit(user, userdel, sed, true, sudoers, backups):
    """Text of the one-shot unit: ``userdel -f -r`` (as waagent's del_account), then the user's
    lines out of the sudoers drop-ins and of the shadow-utils backups (``/etc/passwd-``...)."""
    if not USER_NAME.match(user):
        raise ValueError('bad user name %r' % user)
    pattern = _sed_literal(user)
    stops = ['ExecStop=-%s -f -r %s' % (userdel, user.replace('$', '$$'))]
    if sudoers:
        stops.append("ExecStop=-%s -i -e '/^%s[[:space:]]/d' %s" % (sed, pattern, ' '.join(sudoers)))
    if backups:
        stops.append("ExecStop=-%s -i -e '/^%s:/d' %s" % (sed, pattern, ' '.join(backups)))
    groups = [path for path in backups if os.path.basename(path).startswith(('group', 'gshadow'))]
    if groups:
        # The user out of the member lists of every other group (and gshadow's admin lists): first,
        # middle, last or only member; written without backreferences, which systemd would unescape.
        edits = ['s/:%s,/:/g' % pattern, 's/,%s,/,/g' % pattern, 's/,%s:/:/g' % pattern, 's/:%s:/::/g' % pattern,
                 's/,%s$$//' % pattern, 's/:%s$$/:/' % pattern]
        stops.append('ExecStop=-%s -i %s %s' % (sed, ' '.join("-e '%s'" % edit for edit in edits), ' '.join(groups)))
    return DEFERRED_UNIT.format(user=user, true=true, stops='\n'.join(stops))
