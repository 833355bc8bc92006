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
import shutil
import stat
import subprocess
import tempfile

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import dynamic, extents, footer as vhd_footer
from ansible_collections.vmimage.azure.plugins.module_utils._vhd import image
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError

MIB = 1 << 20
SECTOR = 512
SOURCE_FORMATS = ('auto', 'raw', 'vpc', 'qcow2', 'vmdk', 'vhdx')
QEMU_HINT = 'install qemu-utils (Debian/Ubuntu) or qemu-img (RHEL/Fedora)'


def align_up(size, boundary=MIB):
    return -(-size // boundary) * boundary


def reader_sizes(ftr):
    """The virtual sizes the readers that matter derive from a footer (Azure and Hyper-V use
    current_size; qemu uses the CHS geometry for creators it does not know)."""
    return {ftr.current_size, ftr.qemu_size}


def qemu_img():
    """Path of qemu-img or VhdError('qemu_img_missing')."""
    path = shutil.which('qemu-img')
    if not path:
        raise VhdError('qemu_img_missing', 'qemu-img is needed to convert this image but was not found on PATH; ' + QEMU_HINT)
    return path


def _run_qemu(args, what):
    proc = subprocess.run([qemu_img()] + args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise VhdError('qemu_img_failed', 'qemu-img %s rejected the image: %s' % (what, detail))
    return proc.stdout


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


def _check_writable(path, dest, replace):
    """Fail before anything is written when the result cannot be written."""
    if dest:
        if os.path.lexists(dest):
            raise VhdError('dest_exists', 'dest %s already exists; remove it or choose another path (it is never overwritten)' % dest)
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


def plan(path, dest=None, source_format='auto'):
    """Inspect ``path`` (read only) and return what making it an Azure-ready fixed VHD would do."""
    if source_format not in SOURCE_FORMATS:
        raise VhdError('bad_option', 'source_format must be one of %s' % ', '.join(SOURCE_FORMATS))
    st = _check_source(path)
    size = st.st_size
    with open(path, 'rb') as fh:
        fd = fh.fileno()
        detected = image.detect_format(fd, size)
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
        if action == 'convert':
            info = json.loads(_run_qemu(['info', '-f', fmt, '--output', 'json', path], 'info'))
            virtual_before = int(info['virtual-size'])
            after = align_up(virtual_before)
    _check_writable(path, dest, replace=action == 'convert')
    if dest and action == 'none':
        action = 'copy'
    return {
        'path': path, 'dest': dest, 'target': dest or path, 'source_format': fmt, 'disk_type': disk_type,
        'file_size_before': size, 'data_size': data_size, 'virtual_size_before': virtual_before, 'virtual_size': after,
        'action': action, 'changed': action != 'none', 'uuid': ftr.uuid if ftr is not None else None,
        'diff': {'before': {'format': fmt, 'disk_type': disk_type, 'virtual_size': virtual_before},
                 'after': {'format': 'vpc', 'disk_type': 'fixed', 'virtual_size': after}},
    }


def _new_footer(size, uuid=None):
    return vhd_footer.new_fixed_footer(size, uuid=uuid).pack()


def _finish(fd, data_size, uuid):
    """Turn the first ``data_size`` bytes of ``fd`` into an aligned fixed VHD: cut anything after
    the data (an old footer), grow sparsely to the next 1 MiB boundary, write a footer."""
    size = align_up(data_size)
    os.ftruncate(fd, data_size)
    os.ftruncate(fd, size)
    footer = _new_footer(size, uuid)
    if os.pwrite(fd, footer, size) != len(footer):
        raise VhdError('write_failed', 'short write of the VHD footer')
    os.fsync(fd)
    return size


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


def _publish(tmp, target, replace, src_stat):
    os.chmod(tmp, stat.S_IMODE(src_stat.st_mode))
    if replace:     # the converted file takes the place (and, when allowed, the owner) of the original
        try:
            os.chown(tmp, src_stat.st_uid, src_stat.st_gid)
        except PermissionError:
            pass
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)    # fails if target appeared meanwhile: never overwrite a dest
    except FileExistsError:
        raise VhdError('dest_exists', 'dest %s appeared while converting; nothing was overwritten' % target) from None
    except OSError:
        os.rename(tmp, target)
        return
    os.unlink(tmp)


def apply(plan_):
    """Carry out a plan from ``plan()``; returns the plan updated with the result sizes."""
    p = dict(plan_)
    action, src, target = p['action'], p['path'], p['target']
    src_stat = os.stat(src)
    if action == 'none':
        pass
    elif action in ('append_footer', 'realign') and not p['dest']:
        with open(src, 'r+b') as fh:
            _finish(fh.fileno(), p['data_size'], p['uuid'])
    else:
        fd, tmp = _temp_next_to(target)
        try:
            if action == 'convert':
                os.close(fd)
                fd = -1
                _run_qemu(['convert', '-f', p['source_format'], '-O', 'vpc', '-o', 'subformat=fixed,force_size', src, tmp], 'convert')
                with open(tmp, 'r+b') as fh:
                    qftr = vhd_footer.read_footer(fh.fileno())
                    if qftr is None or qftr.disk_type != vhd_footer.DISK_TYPE_FIXED:
                        raise VhdError('qemu_img_failed', 'qemu-img convert did not produce a fixed VHD')
                    _finish(fh.fileno(), os.fstat(fh.fileno()).st_size - SECTOR, p['uuid'])
            else:   # append_footer / realign / copy to dest
                with open(src, 'rb') as fh:
                    _copy_sparse(fh.fileno(), fd, p['data_size'])
                _finish(fd, p['data_size'], p['uuid'])
            _publish(tmp, target, replace=not p['dest'], src_stat=src_stat)
        finally:
            if fd >= 0:
                os.close(fd)
            if os.path.exists(tmp):
                os.unlink(tmp)
    p['file_size'] = os.stat(target).st_size
    return p


def facts(path):
    """Cheap facts about a finished image: no data is read (allocated extents, partition table)."""
    info = image.inspect_image(path, scan_data=False)
    return {'data_bytes': info['allocated_bytes'], 'allocated_bytes': info['allocated_bytes'],
            'generation_hint': info['generation_hint'], 'azure_ready': info['azure_ready'], 'problems': info['problems']}


def run(path, dest=None, source_format='auto', check_mode=False):
    """What the ``vhd`` module does: plan, apply unless in check mode, and describe the result."""
    p = plan(path, dest, source_format)
    if check_mode:
        p['file_size'] = p['virtual_size'] + SECTOR if p['changed'] else p['file_size_before']
    else:
        try:
            p = apply(p)
        except OSError as exc:
            raise VhdError('io_error', 'writing %s failed: %s' % (p['target'], exc)) from None
    done = not check_mode or not p['changed']
    result = {
        'changed': p['changed'], 'action': p['action'], 'path': p['target'], 'format': p['source_format'],
        'disk_type': p['disk_type'], 'virtual_size': p['virtual_size'], 'file_size': p['file_size'], 'diff': p['diff'],
    }
    result.update(facts(p['target'] if done else path))
    return result


__all__ = ['plan', 'apply', 'run', 'align_up', 'reader_sizes', 'qemu_img']
