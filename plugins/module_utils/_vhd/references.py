# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this package may change at any time; do not import it from outside
# the collection.
"""Other files a disk image makes qemu open: backing files, external data files, VMDK extents.

An untrusted image that names a host file (``/etc/shadow``, another user's disk, a device) as its
backing file, data file or extent would have qemu-img copy that file into the result (the class of
OpenStack's CVE-2024-32498). ``find()`` reads the headers in Python, so nothing is opened before the
image is judged; ``from_qemu_info()`` checks what ``qemu-img info`` says as a second opinion.

A reference is a dict ``{code, kind, name, message}``; ``code`` is ``backing_file``,
``external_data_file`` or ``outside_extent``. VMDK extents that are regular files in the image's
own directory (monolithicFlat, twoGbMaxExtent*) are not references: they are part of the image.
"""

from __future__ import annotations

import os
import re
import stat
import struct

from .errors import VhdError
from .extents import read_at

QCOW2_MAGIC = b'QFI\xfb'
_QCOW2_EXT_END = 0
_QCOW2_EXT_BACKING_FORMAT = 0xE2792ACA
_QCOW2_EXT_DATA_FILE = 0x44415441
_QCOW2_INCOMPAT_DATA_FILE = 1 << 2
_QCOW2_AUTOCLEAR_DATA_FILE_RAW = 1 << 1
_VMDK4 = struct.Struct('<4sIIQQQQIQQQ')
# qemu reads a descriptor as a C string of at most 1 MiB - 1, and looks for parentFileNameHint in
# the first 20 sectors at the descriptor offset (0 for a descriptor file, 0x200 for a sparse file).
_DESC_MAX = (1 << 20) - 1
_PARENT_AREA = 20 * 512 + 0x200
_MAX_NESTING = 4
# "RW 2048 FLAT "name.vmdk" 0": qemu's sscanf("%10s %ld %10s \"%511[^\n\r\"]\""), read a bit more
# loosely so that anything qemu would take as an extent is seen here too.
_EXTENT_LINE = re.compile(rb'^[ \t]*([^\s"]+)[ \t]+[+-]?\d+[ \t]+([^\s"]+)[ \t]*"([^"\r\n]*)"', re.M)
_PARENT_HINT = b'parentFileNameHint'
_SPARSE_TYPES = (b'SPARSE', b'VMFSSPARSE')

HINT = ('flatten it into a standalone image with qemu-img convert on a trusted host, or set allow_backing_file: true '
        'if you trust the image and the files it names')


def show(name):
    """A file name from an image, safe to put in a message: printable and at most 200 characters."""
    if isinstance(name, bytes):
        name = name.decode('utf-8', 'replace')
    text = ''.join(c if c.isprintable() else '\\x%02x' % (ord(c) & 0xFF) for c in name)
    return '"%s"' % (text if len(text) <= 200 else text[:200] + '...')


def _ref(code, kind, path, name, message):
    """``resolved`` is where the name points, relative names taken from the image's directory as
    qemu does (``..`` and symlinks are not resolved): the same file named twice compares equal."""
    name = name if isinstance(name, str) else name.decode('utf-8', 'replace')
    resolved = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), name)) if name else ''
    return {'code': code, 'kind': kind, 'name': name, 'resolved': resolved, 'message': message}


def backing_ref(path, name):
    return _ref('backing_file', 'backing file', path, name,
                '%s has a backing file %s: converting it would read that file from this host into the result. %s.'
                % (path, show(name), _cap(HINT)))


def data_file_ref(path, name):
    return _ref('external_data_file', 'external data file', path, name,
                '%s keeps its data in an external data file %s: converting it would read that file from this host into '
                'the result. %s.' % (path, show(name) if name else '(name not recorded in the image)', _cap(HINT)))


def extent_ref(path, name, why):
    return _ref('outside_extent', 'extent', path, name,
                '%s is a VMDK whose extent %s %s; only extents that are regular files in the image\'s own directory are '
                'followed (keep every untrusted image in a directory of its own). %s.' % (path, show(name), why, _cap(HINT)))


def _cap(text):
    return text[0].upper() + text[1:]


# --- qcow2 ---------------------------------------------------------------------------------------

def qcow2_header(fd):
    """Backing file, backing format and external data file named by a qcow2 header (no qemu).

    Returns ``{'version', 'backing_file', 'backing_format', 'external_data', 'data_file', 'data_file_raw'}``
    or None when the file has no qcow2 magic. ``backing_file`` is None when there is none;
    ``external_data`` is True when the image keeps its data elsewhere (``data_file`` is the name
    recorded in the header, possibly None).
    """
    head = read_at(fd, 104, 0)
    if len(head) < 72 or not head.startswith(QCOW2_MAGIC):
        return None
    version, backing_offset, backing_size, cluster_bits = struct.unpack_from('>IQII', head, 4)
    res = {'version': version, 'backing_file': None, 'backing_format': None, 'external_data': False,
           'data_file': None, 'data_file_raw': False}
    if backing_offset and backing_size:
        # qemu reads the name as a C string; past the end of the file it reads zeros (no backing file).
        name = _c_string(read_at(fd, min(backing_size, 4096), backing_offset))
        res['backing_file'] = name.decode('utf-8', 'replace') or None
    incompatible = autoclear = 0
    header_length = 72
    if version >= 3 and len(head) >= 104:
        incompatible, dummy, autoclear, dummy2, header_length = struct.unpack_from('>QQQII', head, 72)
    res['external_data'] = bool(incompatible & _QCOW2_INCOMPAT_DATA_FILE)
    res['data_file_raw'] = bool(autoclear & _QCOW2_AUTOCLEAR_DATA_FILE_RAW)
    # Header extensions: from the end of the header to the backing file name or the end of the first cluster.
    cluster = 1 << min(max(cluster_bits, 9), 21)
    end = backing_offset if backing_offset and header_length < backing_offset < cluster else cluster
    area = read_at(fd, max(0, end - header_length), header_length)
    pos = 0
    while pos + 8 <= len(area):
        ext_type, length = struct.unpack_from('>II', area, pos)
        if ext_type == _QCOW2_EXT_END:
            break
        data = area[pos + 8:pos + 8 + length]
        if ext_type == _QCOW2_EXT_BACKING_FORMAT:
            res['backing_format'] = data.decode('utf-8', 'replace')
        elif ext_type == _QCOW2_EXT_DATA_FILE:
            res['data_file'] = data.decode('utf-8', 'replace')
            res['external_data'] = True
        pos += 8 + ((length + 7) & ~7)
    return res


# --- vmdk ----------------------------------------------------------------------------------------

def _c_string(buf):
    return buf.split(b'\0', 1)[0]


def _vmdk_layout(fd):
    """``(descriptor text or None, parent area)``: the descriptor whose extents qemu opens, if any."""
    head = read_at(fd, _PARENT_AREA, 0)
    if head[:4] == b'KDMV' and len(head) >= _VMDK4.size:
        fields = _VMDK4.unpack_from(head, 0)
        capacity, desc_offset = fields[3], fields[5]
        if capacity == 0 and desc_offset:   # qemu then opens the embedded descriptor's extents
            return _c_string(read_at(fd, _DESC_MAX, desc_offset * 512)), head
        return None, head                   # monolithicSparse/streamOptimized: the file is its own extent
    if head[:4] == b'COWD':
        return None, head
    return _c_string(read_at(fd, _DESC_MAX, 0)), head


def vmdk_parent(fd):
    """The parentFileNameHint of a VMDK (its backing file), or None."""
    dummy, area = _vmdk_layout(fd)
    at = area.find(_PARENT_HINT)
    if at < 0:
        return None
    start = at + len(_PARENT_HINT) + 2
    end = area.find(b'"', start)
    return (area[start:end] if end >= 0 else area[start:start + 80]).decode('utf-8', 'replace') or '(empty name)'


def vmdk_extents(fd):
    """``[(type, filename)]`` of the extents a VMDK descriptor names (empty for a sparse VMDK)."""
    desc, dummy = _vmdk_layout(fd)
    if desc is None:
        return []
    return [(m.group(2), m.group(3)) for m in _EXTENT_LINE.finditer(desc)]


def _same_dir_file(path, name):
    """``(real path, None)`` for an extent that is a regular file in the image's own directory,
    else ``(real path, why not)``. Relative names are relative to the directory of ``path`` as given
    (as qemu resolves them); symlinks and ``..`` are resolved before comparing."""
    base = os.path.dirname(os.path.abspath(path))
    candidate = name if os.path.isabs(name) else os.path.join(base, name)
    real = os.path.realpath(candidate)
    try:
        if os.path.samefile(real, path):
            return real, None
    except OSError:
        pass
    if os.path.dirname(real) != os.path.realpath(base):
        if real != os.path.normpath(candidate):
            return real, 'resolves through a symlink to %s, outside the image\'s directory' % show(real)
        return real, 'is outside the image\'s directory'
    try:
        st = os.stat(real)
    except OSError:
        return real, None           # missing: qemu-img will say so
    if not stat.S_ISREG(st.st_mode):
        return real, 'is not a regular file'
    return real, None


def _vmdk_refs(fd, path, depth=0, seen=None):
    refs = []
    seen = seen if seen is not None else set()
    for ext_type, raw_name in vmdk_extents(fd):
        name = raw_name.decode('utf-8', 'surrogateescape')
        real, why = _same_dir_file(path, name)
        if why:
            refs.append(extent_ref(path, name, why))
            continue
        if ext_type not in _SPARSE_TYPES or real in seen or not os.path.isfile(real) or os.path.samefile(real, path):
            continue
        seen.add(real)
        # A sparse extent may itself be a descriptor (capacity 0): qemu follows its extents too.
        try:
            sub = os.open(real, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
        except OSError:
            continue
        try:
            if vmdk_extents(sub):
                if depth >= _MAX_NESTING:
                    refs.append(extent_ref(path, name, 'nests descriptors more than %d deep' % _MAX_NESTING))
                else:
                    refs.extend(_vmdk_refs(sub, path, depth + 1, seen))
        finally:
            os.close(sub)
    return refs


# --- entry points --------------------------------------------------------------------------------

def find(fd, fmt, path):
    """References of the image open on ``fd`` when read as ``fmt`` (what ``-f fmt`` makes qemu do),
    from its headers alone: nothing else is opened (except same-directory VMDK extents)."""
    refs = []
    if fmt == 'qcow2':
        hdr = qcow2_header(fd)
        if hdr is None:
            return refs
        if hdr['backing_file']:
            refs.append(backing_ref(path, hdr['backing_file']))
        if hdr['external_data']:
            refs.append(data_file_ref(path, hdr['data_file']))
    elif fmt == 'vmdk':
        parent = vmdk_parent(fd)
        if parent:
            refs.append(backing_ref(path, parent))
        refs.extend(_vmdk_refs(fd, path))
    return refs


def from_qemu_info(layer, path):
    """References in one ``qemu-img info --output=json`` object (of the image at ``path``)."""
    refs = []
    backing = layer.get('backing-filename') or layer.get('full-backing-filename')
    if backing:
        refs.append(backing_ref(path, backing))
    specific = layer.get('format-specific') or {}
    data = specific.get('data') or {}
    if specific.get('type') == 'qcow2' and data.get('data-file'):
        refs.append(data_file_ref(path, data['data-file']))
    if specific.get('type') == 'vmdk':
        for extent in data.get('extents') or []:
            name = extent.get('filename') or ''
            dummy, why = _same_dir_file(path, name)
            if why:
                refs.append(extent_ref(path, name, why))
    return refs


def refuse(refs):
    """Raise ``VhdError(<code of the first reference>)`` when there are references."""
    if refs:
        first = refs[0]
        more = ''
        if len(refs) > 1:
            more = ' (and %d more: %s)' % (len(refs) - 1, ', '.join('%s %s' % (r['kind'], show(r['name'])) for r in refs[1:4]))
        raise VhdError(first['code'], first['message'] + more)


def backing_format_unknown(path, name):
    return VhdError('backing_format_unknown', '%s has a backing file %s whose format is not recorded in the image, so qemu-img '
                    'would have to guess it (and a guess can make it read further host files). Record it on a trusted host '
                    '(qemu-img rebase -u -b <backing file> -F <format> <image>) or flatten the image with qemu-img convert'
                    % (path, show(name)))


__all__ = ['find', 'from_qemu_info', 'refuse', 'qcow2_header', 'vmdk_parent', 'vmdk_extents', 'show', 'backing_format_unknown']
