# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Make a disk image an Azure-ready fixed VHD: plan (read only) and apply.

``plan()`` inspects the source and says what would change; ``apply()`` does it. Raw input gets
a footer appended in place (the file grows sparsely to the next 1 MiB boundary, no data is
copied); other formats go through ``qemu-img convert -O vpc -o subformat=fixed,force_size`` into
a temporary file next to the target, whose footer is then replaced by ours and which is renamed
over the target, so nothing half-made is ever left under the target name.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import dynamic, extents, footer as vhd_footer
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import image, qemu, references
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError

MIB = 1 << 20
SECTOR = 512
SOURCE_FORMATS = ('auto', 'raw', 'vpc', 'qcow2', 'vmdk', 'vhdx')
QEMU_HINT = qemu.QEMU_HINT
RECORD_VERSION = 1
RECORD_MAX = 64 * 1024
MAX_BACKING_DEPTH = 16
_PROTOCOL = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')


def align_up(size, boundary=MIB):
    return -(-size // boundary) * boundary


def reader_sizes(ftr):
    """The virtual sizes the readers that matter derive from a footer (Azure and Hyper-V use
    current_size; qemu uses the CHS geometry for creators it does not know)."""
    return {ftr.current_size, ftr.qemu_size}


def qemu_img():
    """Path of qemu-img or VhdError('qemu_img_missing')."""
    return qemu.qemu_img()


def _check_source(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise VhdError('not_found', 'path %s does not exist; give the path of a disk image' % path) from None
    except OSError as exc:
        raise VhdError('unreadable', 'cannot stat %s: %s' % (path, exc.strerror)) from None
    if stat.S_ISDIR(st.st_mode):
        raise VhdError('is_directory', 'path %s is a directory; give the path of a disk image file' % path)
    if not stat.S_ISREG(st.st_mode):
        raise VhdError('not_regular', 'path %s is not a regular file; give the path of a disk image file' % path)
    if st.st_size == 0:
        raise VhdError('empty', 'path %s is an empty (0-byte) file; it holds no disk image' % path)
    if not os.access(path, os.R_OK):
        raise VhdError('unreadable', 'path %s is not readable by this user; fix its permissions or become a user who can read it' % path)
    return st


def _identity(st):
    return {'size': st.st_size, 'mtime_ns': st.st_mtime_ns, 'ino': st.st_ino, 'dev': st.st_dev}


def _check_unchanged(path, st, expected):
    """VhdError('source_changed') unless ``st`` (a fresh stat of ``path``) is the file ``plan()`` saw."""
    now = _identity(st)
    if now != expected:
        what = []
        if (now['ino'], now['dev']) != (expected['ino'], expected['dev']):
            what.append('it was replaced by another file')
        if now['size'] != expected['size']:
            what.append('its size went from %d to %d bytes' % (expected['size'], now['size']))
        if now['mtime_ns'] != expected['mtime_ns']:
            what.append('it was modified')
        raise VhdError('source_changed', '%s changed after it was inspected (%s); nothing was written to it. Run the task again '
                       'once nothing else writes to the image' % (path, ', '.join(what)))


def _check_writable(path, dest, replace):
    """Fail before anything is written when the result cannot be written."""
    if dest:
        parent = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(parent):
            raise VhdError('dest_dir_missing', 'the directory of dest %s does not exist; create it first' % dest)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise VhdError('not_writable', 'cannot create files in %s (the directory of dest); fix its permissions' % parent)
        return
    try:
        os.close(os.open(path, os.O_WRONLY))   # opening does not modify the file
    except OSError as exc:
        raise VhdError('not_writable', 'path %s is not writable (%s); fix its permissions, or set dest to write the result elsewhere'
                       % (path, exc.strerror)) from None
    parent = os.path.dirname(os.path.abspath(path))
    if replace and not os.access(parent, os.W_OK | os.X_OK):
        raise VhdError('not_writable', 'converting %s replaces the file, but its directory %s is not writable; fix its permissions, '
                       'or set dest to write the result elsewhere' % (path, parent))


# --- the record next to dest ---------------------------------------------------------------------

def record_path(dest):
    """``.<name>.vmimage.json`` next to ``dest``: what dest was made from, so that a rerun can tell."""
    folder, name = os.path.split(os.path.abspath(dest))
    return os.path.join(folder, '.%s.vmimage.json' % name)


def _source_record(path, st, fmt):
    ident = _identity(st)
    return {'path': os.path.realpath(path), 'size': ident['size'], 'mtime_ns': ident['mtime_ns'], 'ino': ident['ino'],
            'format': fmt}


def _read_record(dest):
    try:
        with open(record_path(dest), 'rb') as fh:
            data = json.loads(fh.read(RECORD_MAX + 1)[:RECORD_MAX].decode('utf-8'))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get('version') == RECORD_VERSION else None


def _write_record(dest, source, dest_st, uuid):
    record = {'version': RECORD_VERSION, 'module': 'vmimage.azure.vhd', 'source': source,
              'dest': {'size': dest_st.st_size, 'mtime_ns': dest_st.st_mtime_ns, 'uuid': str(uuid)}}
    target = record_path(dest)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(target) + '.', suffix='.vmimage-tmp', dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, 'w') as fh:
            json.dump(record, fh, sort_keys=True)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _dest_footer(dest):
    """The footer of ``dest`` when it is an aligned fixed VHD that every reader sizes alike, else None."""
    try:
        with open(dest, 'rb') as fh:
            size = os.fstat(fh.fileno()).st_size
            ftr = vhd_footer.read_footer(fh.fileno())
    except (OSError, VhdError):
        return None
    if (ftr is None or not ftr.checksum_ok or ftr.disk_type != vhd_footer.DISK_TYPE_FIXED or ftr.current_size % MIB
            or size != ftr.current_size + SECTOR or reader_sizes(ftr) != {ftr.current_size}):
        return None
    return ftr


def _dest_is_current(dest, source):
    """True when ``dest`` is the fixed VHD this module made from ``source`` (as it is now) and
    nothing changed it since: the record next to it names this source (path, size, mtime, inode,
    format) and dest's size, mtime and VHD UUID."""
    record = _read_record(dest)
    if not record or record.get('source') != source:
        return False
    try:
        st = os.lstat(dest)
    except OSError:
        return False
    want = record.get('dest') or {}
    if not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime_ns) != (want.get('size'), want.get('mtime_ns')):
        return False
    ftr = _dest_footer(dest)
    return ftr is not None and str(ftr.uuid) == want.get('uuid')


def _vpc_state(fd, size, path):
    """(footer, data_size, aligned size) of a VHD; data_size is None for dynamic and differencing disks."""
    ftr = vhd_footer.read_footer(fd)
    if ftr is None:
        raise VhdError('no_footer', '%s looks like a VHD but has no readable footer; re-export the disk from its source' % path)
    if not ftr.checksum_ok:
        raise VhdError('bad_checksum', 'the VHD footer of %s has a wrong checksum (stored 0x%08x, computed 0x%08x): the file is damaged or '
                       'was edited. Re-export the disk from its source; if you know the data is intact, cut the last 512 bytes off '
                       '(truncate -s -512) and run again' % (path, ftr.checksum, ftr.computed_checksum))
    if ftr.disk_type != vhd_footer.DISK_TYPE_FIXED:
        try:
            info = dynamic.read_dynamic(fd, ftr)
        except VhdError as exc:     # truncated or damaged dynamic/differencing VHD
            raise VhdError(exc.code, '%s: %s' % (path, exc.message)) from None
        if ftr.disk_type == vhd_footer.DISK_TYPE_DIFFERENCING:
            # qemu-img reads a differencing VHD as if it had no parent: converting it would
            # silently drop every block that lives in the parent.
            parent = (info.get('parent') or {}).get('name') or 'its parent'
            raise VhdError('differencing_vhd', '%s is a differencing VHD: part of its data is in %s. Merge it into '
                           'its parent first (Hyper-V: Merge-VHD), then run vmimage.azure.vhd on the merged disk'
                           % (path, parent))
        return ftr, None, ftr.current_size
    legacy = size % SECTOR == SECTOR - 1
    data_size = size - (SECTOR - 1 if legacy else SECTOR)
    if data_size % SECTOR:
        raise VhdError('not_sector_aligned', 'fixed VHD %s is %d bytes: its data part is not a whole number of 512-byte sectors; '
                       're-export the disk from its source' % (path, size))
    if ftr.current_size > data_size:
        raise VhdError('truncated', 'fixed VHD %s says it holds %d bytes but only %d are in the file: it was cut off (incomplete copy?); '
                       'copy it again' % (path, ftr.current_size, data_size))
    return ftr, data_size, align_up(data_size)


def _refuse_protocols(refs, path):
    """Even when backing files are allowed, a name that qemu would read as a protocol (nbd:, http:,
    json:, ...) rather than a file is never followed."""
    for ref in refs:
        if _PROTOCOL.match(ref['name'] or ''):
            raise VhdError(ref['code'], '%s names its %s through a qemu protocol (%s), which is never followed, even with '
                           'allow_backing_file: true; flatten the image with qemu-img convert on a trusted host'
                           % (path, ref['kind'], references.show(ref['name'])))


def _inspect_references(fd, path, fmt, allow):
    """Backing files, data files and outside extents from the headers (no qemu): refused unless allowed."""
    refs = references.find(fd, fmt, path)
    if not allow:
        references.refuse(refs)
        return refs
    _refuse_protocols(refs, path)
    if fmt == 'qcow2':
        hdr = references.qcow2_header(fd)
        if hdr and hdr['backing_file'] and not hdr['backing_format']:
            raise references.backing_format_unknown(path, hdr['backing_file'])
    return refs


def _qemu_inspect(path, fmt, allow):
    """``qemu-img info`` of the image (limited, ``-f fmt``, no backing chain) as a second opinion on
    its references; with ``allow`` also of each backing file, each with the format recorded in the
    layer above (never guessed). Returns ``(virtual size, references)``."""
    layer = qemu.info(path, fmt)[0]
    refs = references.from_qemu_info(layer, path)
    if not allow:
        references.refuse(refs)
    else:
        _refuse_protocols(refs, path)
    virtual = int(layer['virtual-size'])
    name, depth = path, 0
    while allow and (layer.get('full-backing-filename') or layer.get('backing-filename')):
        backing = layer.get('full-backing-filename') or layer.get('backing-filename')
        backing_fmt = layer.get('backing-filename-format')
        if not backing_fmt:
            raise references.backing_format_unknown(name, backing)
        depth += 1
        if depth > MAX_BACKING_DEPTH:
            raise VhdError('backing_file', '%s has a chain of more than %d backing files; flatten it with qemu-img convert on a '
                           'trusted host' % (path, MAX_BACKING_DEPTH))
        if not os.path.isabs(backing):     # qemu resolves it next to the image that names it
            backing = os.path.join(os.path.dirname(os.path.abspath(name)), backing)
        name = backing
        layer = qemu.info(backing, backing_fmt)[0]
        more = references.from_qemu_info(layer, backing)
        _refuse_protocols(more, backing)
        refs.extend(more)
    return virtual, refs


def _dedupe(refs):
    seen, out = set(), []
    for ref in refs:
        if (ref['code'], ref['resolved']) not in seen:
            seen.add((ref['code'], ref['resolved']))
            out.append(ref)
    return out


def plan(path, dest=None, source_format='auto', force=False, in_place=False, allow_backing_file=False):
    """Inspect ``path`` (read only) and return what making it an Azure-ready fixed VHD would do.

    ``force`` replaces a ``dest`` that exists and is not the current result of this source;
    ``in_place`` allows replacing ``path`` itself by the converted file when it is not raw or a
    fixed VHD; ``allow_backing_file`` lets a conversion read the backing files, external data files
    and outside VMDK extents the image names (refused otherwise).
    """
    if source_format not in SOURCE_FORMATS:
        raise VhdError('bad_option', 'source_format must be one of %s' % ', '.join(SOURCE_FORMATS))
    if dest and in_place:
        raise VhdError('bad_option', 'in_place: true replaces path itself and cannot be combined with dest; drop one of them')
    st = _check_source(path)
    size = st.st_size
    refs = []
    with open(path, 'rb') as fh:
        fd = fh.fileno()
        detected = image.detect_format(fd, size)
        if detected in image.UNSUPPORTED_FORMATS:
            raise VhdError('unsupported_format', '%s is a %s image, which this module does not convert: convert it to raw on a '
                           'trusted host (qemu-img convert -f %s -O raw <image> <raw>) and run again on the raw'
                           % (path, detected, detected))
        if source_format not in ('auto', detected) and detected != 'raw':
            raise VhdError('format_mismatch', '%s is a %s image, not %s; set source_format to auto or %s' % (path, detected, source_format, detected))
        fmt = detected if source_format == 'auto' else source_format
        ftr = data_size = None
        disk_type = None
        if fmt == 'raw':
            if size % SECTOR:
                raise VhdError('not_sector_aligned', 'raw image %s is %d bytes, not a multiple of 512: raw disks must be whole sectors. '
                               'Pad it (truncate -s %d %s) if the data is complete, or re-export it' % (path, size, align_up(size, SECTOR), path))
            data_size, virtual_before, after = size, size, align_up(size)
            action = 'append_footer'
        elif fmt == 'vpc':
            ftr, data_size, after = _vpc_state(fd, size, path)
            disk_type = {2: 'fixed', 3: 'dynamic', 4: 'differencing'}.get(ftr.disk_type, str(ftr.disk_type))
            virtual_before = ftr.current_size
            if data_size is None:
                action = 'convert'
            elif after != data_size or data_size != ftr.current_size or size != data_size + SECTOR or reader_sizes(ftr) != {after}:
                action = 'realign'
            else:
                action = 'none'
        else:
            action = 'convert'
            virtual_before = after = None
        if action == 'convert':
            refs = _inspect_references(fd, path, fmt, allow_backing_file)
    if action == 'convert' and not dest and not in_place:
        raise VhdError('dest_required', '%s is a %s image: making it a fixed VHD means converting it, and without dest the VHD would '
                       'replace it under the same name. Set dest to write the VHD to a new file, or set in_place: true to replace '
                       '%s by the VHD' % (path, fmt if fmt != 'vpc' else '%s VHD' % disk_type, path))
    source = _source_record(path, st, fmt)
    current = False
    if dest and os.path.lexists(dest):
        try:
            same = os.path.samefile(dest, path)
        except OSError:
            same = False
        if same:
            raise VhdError('dest_is_source', 'dest %s is path itself; leave dest out to change path in place' % dest)
        if os.path.isdir(dest):
            raise VhdError('is_directory', 'dest %s is a directory; give the path of the VHD file to write' % dest)
        current = _dest_is_current(dest, source)
        if not current and not force:
            raise VhdError('dest_exists', 'dest %s already exists and is not the VHD this module made from %s as it is now (it was '
                           'made from another file or version of it, changed since, or not made by this module); it is left '
                           'alone. Set force: true to replace it, or choose another dest' % (dest, path))
    if current:
        dftr = _dest_footer(dest)
        state = {'format': 'vpc', 'disk_type': 'fixed', 'virtual_size': dftr.current_size}
        return {
            'path': path, 'dest': dest, 'target': dest, 'source_format': fmt, 'disk_type': disk_type, 'file_size_before': size,
            'data_size': data_size, 'virtual_size_before': dftr.current_size, 'virtual_size': dftr.current_size,
            'action': 'none', 'changed': False, 'uuid': dftr.uuid, 'source_identity': _identity(st), 'source_record': source,
            'dest_existed': True, 'file_size': dftr.current_size + SECTOR, 'references': [], 'warnings': [],
            'diff': {'before': dict(state), 'after': dict(state)},
        }
    if action == 'convert':
        virtual_before, more = _qemu_inspect(path, fmt, allow_backing_file)
        refs = _dedupe(refs + more)
        after = align_up(virtual_before)
    _check_writable(path, dest, replace=action == 'convert')
    if dest and action == 'none':
        action = 'copy'
    warnings = ['%s: converting with its %s %s, since allow_backing_file is true' % (path, r['kind'], references.show(r['name']))
                for r in refs]
    return {
        'path': path, 'dest': dest, 'target': dest or path, 'source_format': fmt, 'disk_type': disk_type,
        'file_size_before': size, 'data_size': data_size, 'virtual_size_before': virtual_before, 'virtual_size': after,
        'action': action, 'changed': action != 'none', 'uuid': ftr.uuid if ftr is not None else None,
        'source_identity': _identity(st), 'source_record': source, 'dest_existed': bool(dest and os.path.lexists(dest)),
        'file_size': after + SECTOR if action != 'none' else size,
        'references': refs, 'warnings': warnings,
        'diff': {'before': {'format': fmt, 'disk_type': disk_type, 'virtual_size': virtual_before},
                 'after': {'format': 'vpc', 'disk_type': 'fixed', 'virtual_size': after}},
    }


def _new_footer(size, uuid=None):
    return vhd_footer.new_fixed_footer(size, uuid=uuid).pack()


def _finish(fd, data_size, uuid):
    """Turn the first ``data_size`` bytes of ``fd`` into an aligned fixed VHD: cut anything after
    the data (an old footer), grow sparsely to the next 1 MiB boundary, write a footer. Returns
    the footer's UUID."""
    size = align_up(data_size)
    os.ftruncate(fd, data_size)
    os.ftruncate(fd, size)
    ftr = vhd_footer.new_fixed_footer(size, uuid=uuid)
    footer = ftr.pack()
    if os.pwrite(fd, footer, size) != len(footer):
        raise VhdError('write_failed', 'short write of the VHD footer')
    os.fsync(fd)
    return ftr.uuid


def _copy_sparse(src_fd, dst_fd, length):
    """Copy the data extents of the first ``length`` bytes (holes stay holes)."""
    for offset, ext_len in extents.data_extents(src_fd, 0, length):
        end = min(offset + ext_len, length)
        pos = offset
        while pos < end:
            try:
                done = os.copy_file_range(src_fd, dst_fd, end - pos, pos, pos)
            except OSError:
                done = 0
            if done <= 0:   # fallback when the kernel/file system refuses copy_file_range
                buf = os.pread(src_fd, min(end - pos, 8 * MIB), pos)
                if not buf:
                    raise VhdError('io_error', 'the source ended at byte %d while being copied; was it changed meanwhile?' % pos)
                done = os.pwrite(dst_fd, buf, pos)
            pos += done


def _temp_next_to(target):
    folder, name = os.path.split(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.vmimage-tmp', dir=folder)
    return fd, tmp


def default_publish(tmp, target):
    """Rename ``tmp`` over ``target`` as ``AnsibleModule.atomic_move`` does (the module passes
    atomic_move itself): an existing target's mode and owner are kept, a new one gets 0666 minus
    the umask."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    else:
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except PermissionError:
            pass
    os.replace(tmp, target)


def apply(plan_, publish=None):
    """Carry out a plan from ``plan()``; returns the plan updated with the result sizes.

    ``publish(tmp, target)`` moves a finished temporary file over the target (the module passes
    ``AnsibleModule.atomic_move``; ``default_publish`` otherwise). The source must still be the file
    ``plan()`` inspected (size, mtime, inode): ``VhdError('source_changed')`` otherwise.
    """
    publish = publish or default_publish
    p = dict(plan_)
    action, src, target, expected = p['action'], p['path'], p['target'], p['source_identity']
    if action == 'none':
        p['file_size'] = os.stat(target).st_size
        return p
    if action in ('append_footer', 'realign') and not p['dest']:
        with open(src, 'r+b') as fh:
            _check_unchanged(src, os.fstat(fh.fileno()), expected)
            p['uuid'] = _finish(fh.fileno(), p['data_size'], p['uuid'])
        p['file_size'] = os.stat(target).st_size
        return p
    fd, tmp = _temp_next_to(target)
    try:
        if action == 'convert':
            os.close(fd)
            fd = -1
            _check_unchanged(src, os.stat(src), expected)
            qemu.convert(src, p['source_format'], tmp, p['virtual_size_before'])
            _check_unchanged(src, os.stat(src), expected)
            with open(tmp, 'r+b') as fh:
                qftr = vhd_footer.read_footer(fh.fileno())
                if qftr is None or qftr.disk_type != vhd_footer.DISK_TYPE_FIXED:
                    raise VhdError('qemu_img_failed', 'qemu-img convert did not produce a fixed VHD')
                p['uuid'] = _finish(fh.fileno(), os.fstat(fh.fileno()).st_size - SECTOR, p['uuid'])
        else:   # append_footer / realign / copy to dest
            with open(src, 'rb') as fh:
                _check_unchanged(src, os.fstat(fh.fileno()), expected)
                _copy_sparse(fh.fileno(), fd, p['data_size'])
                _check_unchanged(src, os.fstat(fh.fileno()), expected)
            p['uuid'] = _finish(fd, p['data_size'], p['uuid'])
            os.close(fd)
            fd = -1
        if not p['dest']:
            _check_unchanged(src, os.stat(src), expected)    # replacing it must not lose a write made meanwhile
        elif not p['dest_existed'] and os.path.lexists(target):
            raise VhdError('dest_exists', 'dest %s appeared while converting; nothing was overwritten' % target)
        publish(tmp, target)
    finally:
        if fd >= 0:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)
    st = os.stat(target)
    if p['dest']:
        _write_record(target, p['source_record'], st, p['uuid'])
    p['file_size'] = st.st_size
    return p


def facts(path):
    """Cheap facts about a finished image: no data is read (allocated extents, partition table)."""
    info = image.inspect_image(path, scan_data=False)
    return {'allocated_bytes': info['allocated_bytes'], 'generation_hint': info['generation_hint'],
            'azure_ready': info['azure_ready'], 'problems': info['problems']}


def run(path, dest=None, source_format='auto', check_mode=False, force=False, in_place=False, allow_backing_file=False,
        publish=None):
    """What the ``vhd`` module does: plan, apply unless in check mode, and describe the result."""
    p = plan(path, dest, source_format, force=force, in_place=in_place, allow_backing_file=allow_backing_file)
    if not check_mode:
        try:
            p = apply(p, publish=publish)
        except OSError as exc:
            raise VhdError('io_error', 'writing %s failed: %s' % (p['target'], exc)) from None
    done = not check_mode or not p['changed']
    result = {
        'changed': p['changed'], 'action': p['action'], 'path': p['target'], 'format': p['source_format'],
        'disk_type': p['disk_type'], 'virtual_size': p['virtual_size'], 'file_size': p['file_size'], 'diff': p['diff'],
        'warnings': p['warnings'],
    }
    if dest:
        result['state_file'] = record_path(dest)
    result.update(facts(p['target'] if done else path))
    return result


__all__ = ['plan', 'apply', 'run', 'align_up', 'reader_sizes', 'qemu_img', 'record_path', 'default_publish']
