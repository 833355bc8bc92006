# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""A guest's root file system, online (``/``) or offline (a mounted image or a chroot tree).

Every path given to ``Tree`` is a guest path (absolute, as the guest sees it). It is resolved the
way the guest's kernel would inside a chroot: an absolute symlink target starts again at the
root, ``..`` stops at the root, so nothing reached through the tree is ever outside it. The last
component is followed only where the guest would follow it (reading or rewriting a file); removal
removes the entry itself, a symlink's target is never touched. Offline, a file system mounted
inside the tree that is also mounted outside it (a bind mount of the build host's ``/tmp``, ``/dev``
or ``/home``) is never entered.

    tree = Tree('/mnt/image')
    tree.read('/etc/waagent.conf')          # text or None
    tree.remove('/etc/ssh/ssh_host_rsa_key')  # -> [] or the entries it refused
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections import deque

MAX_LINKS = 40
MOUNTINFO = '/proc/self/mountinfo'


class GuestError(Exception):
    """A request that cannot be carried out as given; the message says what to do.

    Raised before anything is written (bad input, a root that is not a Linux tree)."""

    def __init__(self, message, code='invalid'):
        super(GuestError, self).__init__(message)
        self.code = code


class Refused(Exception):
    """A path the tree will not read or change (it leaves the root, is a foreign mount, ...)."""

    def __init__(self, path, why):
        super(Refused, self).__init__('%s: %s' % (path, why))
        self.path = path
        self.why = why

    def as_dict(self):
        return {'path': self.path, 'why': self.why}


def _unescape_mount(field):
    """Mount points in mountinfo escape space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == '\\' and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return ''.join(out)


def read_mounts(path=MOUNTINFO):
    """[(mount point, device 'major:minor', root of the mount within its file system)]."""
    mounts = []
    try:
        with open(path, encoding='utf-8', errors='surrogateescape') as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 5:
                    mounts.append((_unescape_mount(fields[4]), fields[2], _unescape_mount(fields[3])))
    except (IOError, OSError):
        pass
    return mounts


def foreign_mounts(root, mounts):
    """Mount points strictly inside ``root`` whose file system is also mounted outside it.

    Raises GuestError when ``root`` itself is the build host's root file system bind-mounted."""
    root = root.rstrip('/') or '/'
    inside = [m for m in mounts if m[0].startswith(root + '/')]
    outside = [m for m in mounts if m[0] != root and not m[0].startswith(root + '/')]
    outside_devs = set(m[1] for m in outside)
    for point, dev, fsroot in mounts:
        if point == root and any(o[1] == dev and o[2] == fsroot and o[0] == '/' for o in outside):
            raise GuestError('root %s is the build host\'s own root file system mounted again (same device and '
                             'path as /): give the mount point of the image\'s root partition, or root: / on the '
                             'guest itself' % root)
    return sorted(set(m[0] for m in inside if m[1] in outside_devs))


class Tree(object):
    """The root file system of the guest; see the module docstring."""

    def __init__(self, root, mounts=None):
        root = os.path.realpath(os.path.abspath(root))
        self.root = root
        self.online = root == '/'
        if self.online:
            self.foreign = []
        else:
            self.foreign = foreign_mounts(root, read_mounts() if mounts is None else mounts)

    # --- paths ----------------------------------------------------------------------------------

    def host(self, gpath):
        """The build host's path of a (resolved) guest path."""
        if self.online:
            return gpath
        return self.root + gpath if gpath != '/' else self.root

    def _host_parts(self, parts):
        return self.host('/' + '/'.join(parts))

    def resolve(self, gpath, follow=True):
        """The guest path with every symlink resolved inside the root (the last only if ``follow``).

        Components that do not exist are kept as they are (``..`` after them is lexical)."""
        if not gpath.startswith('/'):
            raise GuestError('guest path %r is not absolute' % gpath)
        parts = deque(p for p in gpath.split('/') if p)
        done = []
        links = 0
        missing = False
        while parts:
            comp = parts.popleft()
            if comp == '.':
                continue
            if comp == '..':
                if done:
                    done.pop()
                continue
            if missing or (not parts and not follow):
                done.append(comp)
                continue
            candidate = done + [comp]
            try:
                st = os.lstat(self._host_parts(candidate))
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    missing = True
                    done.append(comp)
                    continue
                raise Refused(gpath, 'cannot be read: %s' % exc.strerror) from exc
            if not stat.S_ISLNK(st.st_mode):
                done = candidate
                continue
            links += 1
            if links > MAX_LINKS:
                raise Refused(gpath, 'too many levels of symbolic links')
            target = os.readlink(self._host_parts(candidate))
            if target.startswith('/'):
                done = []
            parts.extendleft(reversed([p for p in target.split('/') if p]))
        return '/' + '/'.join(done)

    def _check(self, gpath):
        """Refuse a resolved guest path inside a foreign mount."""
        host = self.host(gpath)
        for point in self.foreign:
            if host == point or host.startswith(point + '/'):
                return Refused(gpath, 'a file system of the build host is mounted at %s inside the root; it is not '
                                      'touched' % point[len(self.root):])
        return None

    def refusal(self, gpath):
        """The Refused for a resolved guest path that must not be touched, or None."""
        return self._check(gpath)

    def mounts_below(self, real):
        """Refused entries for the places under a resolved directory where another file system
        is mounted (a removal there would go into it): [] when the whole subtree is one file system."""
        top = self.host(real)
        try:
            dev = os.lstat(top).st_dev
        except OSError:
            return []
        found = []
        for folder, dirs, _files in os.walk(top, followlinks=False):
            for name in list(dirs):
                path = os.path.join(folder, name)
                guest = path[len(self.root):] if not self.online else path
                try:
                    st = os.lstat(path)
                except OSError:
                    dirs.remove(name)
                    continue
                if stat.S_ISLNK(st.st_mode):
                    dirs.remove(name)
                elif st.st_dev != dev or self._check(guest):
                    found.append(Refused(guest, 'another file system is mounted there; nothing above it is removed'))
                    dirs.remove(name)
        return found

    def lstat(self, gpath, follow=False):
        """os.lstat of the resolved path, or None when it does not exist."""
        real = self.resolve(gpath, follow=follow)
        try:
            return os.lstat(self.host(real))
        except OSError:
            return None

    def kind(self, gpath, follow=False):
        """'file', 'dir', 'link', 'other' or None (absent) for the entry (its target when ``follow``)."""
        st = self.lstat(gpath, follow=follow)
        if st is None:
            return None
        if stat.S_ISLNK(st.st_mode):
            return 'link'
        if stat.S_ISREG(st.st_mode):
            return 'file'
        if stat.S_ISDIR(st.st_mode):
            return 'dir'
        return 'other'

    def exists(self, gpath):
        return self.lstat(gpath, follow=True) is not None

    # --- reading --------------------------------------------------------------------------------

    def read(self, gpath):
        """Text of a regular file (symlinks followed inside the root), or None when absent.

        Raises Refused for anything but a regular file."""
        real = self.resolve(gpath)
        refused = self._check(real)
        if refused:
            raise refused
        host = self.host(real)
        try:
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, 'O_NONBLOCK', 0))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                if self.kind(gpath) == 'link':
                    raise Refused(gpath, 'a symbolic link to %s, which is not in the image' % real) from exc
                return None
            if exc.errno == errno.ELOOP:
                raise Refused(gpath, 'a symbolic link that cannot be resolved inside the root') from exc
            raise Refused(gpath, 'cannot be read: %s' % exc.strerror) from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise Refused(gpath, 'not a regular file')
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
        return b''.join(chunks).decode('utf-8', 'surrogateescape')

    def read_or_none(self, gpath):
        """read(), with a refused path read as absent."""
        try:
            return self.read(gpath)
        except Refused:
            return None

    def listdir(self, gpath):
        """Sorted names in a directory (symlinks followed inside the root); [] when not a directory."""
        real = self.resolve(gpath)
        if self._check(real):
            return []
        try:
            st = os.lstat(self.host(real))
        except OSError:
            return []
        if not stat.S_ISDIR(st.st_mode):
            return []
        try:
            return sorted(os.listdir(self.host(real)))
        except OSError:
            return []

    def glob(self, gdir, match):
        """Guest paths of the entries of ``gdir`` whose name satisfies ``match(name)``."""
        base = self.resolve(gdir)
        return ['%s/%s' % (base.rstrip('/'), name) for name in self.listdir(gdir) if match(name)]

    # --- changing -------------------------------------------------------------------------------

    def remove(self, gpath):
        """Remove the entry (a directory with all it holds); a symlink is removed, not its target.

        Returns the Refused entries kept (foreign mounts, other file systems); [] when all is gone."""
        real = self.resolve(gpath, follow=False)
        refused = self._check(real)
        if refused:
            return [refused]
        host = self.host(real)
        try:
            st = os.lstat(host)
        except OSError:
            return []
        if stat.S_ISDIR(st.st_mode):
            kept = self._empty(real, st.st_dev)
            if kept:
                return kept
            os.rmdir(host)
            return []
        os.unlink(host)
        return []

    def empty_dir(self, gpath):
        """Remove everything in a directory (followed inside the root), keeping the directory."""
        real = self.resolve(gpath)
        refused = self._check(real)
        if refused:
            return [refused]
        try:
            st = os.lstat(self.host(real))
        except OSError:
            return []
        if not stat.S_ISDIR(st.st_mode):
            return []
        return self._empty(real, st.st_dev)

    def _empty(self, real, dev):
        """Remove the contents of a resolved directory through file descriptors, never following
        a symlink and never crossing into another file system. Returns what was kept."""
        kept = []
        fd = os.open(self.host(real), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            if os.fstat(fd).st_dev != dev:
                return [Refused(real, 'another file system is mounted there')]
            self._empty_fd(fd, real, dev, kept)
        finally:
            os.close(fd)
        return kept

    def _empty_fd(self, fd, real, dev, kept):
        with os.scandir(fd) as entries:
            names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for name, is_dir in names:
            child = '%s/%s' % (real.rstrip('/'), name)
            if not is_dir:
                try:
                    os.unlink(name, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.EISDIR:  # replaced by a directory meanwhile: leave it
                        kept.append(Refused(child, 'changed while being removed'))
                    elif exc.errno != errno.ENOENT:
                        raise
                continue
            refused = self._check(child)
            if refused:
                kept.append(refused)
                continue
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    continue
                kept.append(Refused(child, 'cannot be opened: %s' % exc.strerror))
                continue
            try:
                if os.fstat(sub).st_dev != dev:
                    kept.append(Refused(child, 'another file system is mounted there; it is not touched'))
                    continue
                before = len(kept)
                self._empty_fd(sub, child, dev, kept)
            finally:
                os.close(sub)
            if len(kept) == before:
                os.rmdir(name, dir_fd=fd)

    def truncate(self, gpath):
        """Empty a regular file in place (same inode, owner, mode and labels)."""
        real = self.resolve(gpath)
        refused = self._check(real)
        if refused:
            raise refused
        fd = os.open(self.host(real), os.O_WRONLY | os.O_NOFOLLOW)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise Refused(gpath, 'not a regular file')
            os.ftruncate(fd, 0)
            os.fsync(fd)
        finally:
            os.close(fd)

    def write(self, gpath, text, mode=0o644):
        """Replace (or create) a text file atomically: a temporary file in the same directory, with
        the old file's mode, owner and SELinux label, renamed over it. Symlinks are followed inside
        the root; the file's directory must exist."""
        real = self.resolve(gpath)
        refused = self._check(real)
        if refused:
            raise refused
        host = self.host(real)
        parent = os.path.dirname(host)
        try:
            old = os.lstat(host)
        except OSError:
            old = None
        if old is not None and not stat.S_ISREG(old.st_mode):
            raise Refused(gpath, 'not a regular file')
        if not os.path.isdir(parent) or os.path.islink(parent):
            raise Refused(gpath, 'its directory does not exist in the image')
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(host), suffix='.vmimage-tmp', dir=parent)
        try:
            os.write(fd, text.encode('utf-8', 'surrogateescape'))
            os.fchmod(fd, stat.S_IMODE(old.st_mode) if old is not None else mode)
            if old is not None:
                try:
                    os.fchown(fd, old.st_uid, old.st_gid)
                except OSError:
                    pass
                _copy_label(host, fd)
            os.fsync(fd)
            os.close(fd)
            fd = None
            os.replace(tmp, host)
        except BaseException:
            if fd is not None:
                os.close(fd)
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise


def _copy_label(host, fd):
    """Copy the SELinux label of the file replaced, where the platform has xattrs."""
    getxattr = getattr(os, 'getxattr', None)
    if getxattr is None:
        return
    try:
        label = getxattr(host, 'security.selinux', follow_symlinks=False)
        os.setxattr(fd, 'security.selinux', label)
    except OSError:
        pass
