#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vhd
short_description: Make a disk image an Azure-ready fixed VHD
version_added: 0.1.0
description:
  - Turns a disk image into a fixed VHD whose virtual size is a whole number of MiB, the form
    Azure accepts for page blob upload, managed disks and images.
  - A raw image gets a VHD footer appended in place; the file first grows sparsely to the next
    1 MiB boundary, so no data is copied and the run takes constant time whatever the size.
  - A fixed VHD whose size is not a whole number of MiB, or whose footer readers would size
    differently, is realigned in place (old footer cut off, file grown sparsely, new footer).
  - qcow2, VMDK, VHDX and dynamic VHD images are converted with
    C(qemu-img convert) into a temporary file next to the target, which then replaces the target;
    nothing half-made is left under the target name. Without O(dest) this needs O(in_place=true).
  - A differencing VHD is refused, because part of its data lives in its parent, which C(qemu-img) would
    leave out. Merge it into its parent first.
  - An image that names other files is refused before C(qemu-img) converts it (a qcow2 or VMDK backing
    file, a qcow2 external data file, or a VMDK extent that is not a regular file in the image's own
    directory), since converting it would copy a file of this host into the result. See
    O(allow_backing_file).
  - C(qemu-img) is always told the format (C(-f)), never left to guess it, and runs under resource
    limits, as OpenStack runs it; C(qemu-img info) with 1 GiB of address space, 30 seconds of CPU and
    a 120 second timeout (through C(prlimit) when it is installed), C(qemu-img convert) with a timeout
    of an hour plus one second per 16 MiB of disk. A run that hits a limit fails with
    C(code=qemu_img_limit).
  - An image that is already an aligned fixed VHD is left alone (C(changed=false)).
  - With O(dest), a record of what dest was made from is kept next to it, in C(.<name>.vmimage.json)
    (the source's real path, size, modification time, inode and format; dest's size, modification
    time and VHD UUID). A rerun whose dest is that result, made from the source as it is now, changes
    nothing; any other existing dest is refused unless O(force=true).
  - Nothing is written when the input is bad (missing, empty, not whole sectors, damaged footer,
    truncated, rejected by C(qemu-img)), when O(dest) exists and is not the current result, when the
    target is not writable, or when the source changes between the inspection and the write
    (C(code=source_changed)).
author:
  - vmimage.azure maintainers (@vmimage)
options:
  path:
    description:
      - The disk image to make Azure-ready.
      - Without O(dest) a raw image or a fixed VHD is changed in place (a footer appended or rewritten).
        Any other format is converted, and replaces O(path) only with O(in_place=true).
    type: path
    required: true
  dest:
    description:
      - Write the fixed VHD to this file instead of changing O(path).
      - Its directory must exist. When it exists already, it is left as it is (C(changed=false)) if it
        is the fixed VHD this module made from O(path) as O(path) is now (see the record in the
        description); otherwise the task fails with C(code=dest_exists), unless O(force=true).
      - A raw source is copied sparsely (holes stay holes).
      - The file attributes (O(mode), O(owner), O(group), SELinux context, O(attributes)) apply to it.
    type: path
  force:
    description:
      - With O(dest), replace an existing O(dest) that is not the current result of O(path) (made
        from another file, from an earlier version of O(path), changed since, or not made by this module).
      - The new file replaces it atomically; until then the old one stays as it was.
    type: bool
    default: false
  in_place:
    description:
      - Without O(dest), allow converting an image that is not raw or a fixed VHD (qcow2, VMDK, VHDX,
        dynamic VHD) in place; O(path) is then replaced by the fixed VHD, under the same name.
      - Without it such an image fails with C(code=dest_required) and nothing is written.
      - Raw images and fixed VHDs are always changed in place when O(dest) is not given (a footer is
        appended or rewritten, in constant time); this option does not matter for them.
      - Cannot be combined with O(dest).
    type: bool
    default: false
  allow_backing_file:
    description:
      - Convert an image that names other files of this host (a qcow2 or VMDK backing file and its
        own backing files, a qcow2 external data file, or VMDK extents outside the image's own
        directory, symlinks out of it or files that are not regular files).
      - B(Risk:) C(qemu-img) then reads those files and copies their data into the result, which is
        meant to be uploaded. An image from an untrusted source can name any file this host can read
        (keys, password hashes, other users' disks). Set this only for images you made or trust, with
        the files they name; otherwise flatten the image with C(qemu-img convert) on a trusted host.
      - Even then, each backing file's format must be recorded in the image above it (it is never
        guessed; C(code=backing_format_unknown) otherwise), and names that C(qemu-img) would read as
        a protocol (C(nbd:), C(http:), C(json:)...) are refused.
      - A warning names each file that is followed.
      - When false, such images fail with C(code=backing_file), C(code=external_data_file) or
        C(code=outside_extent) before C(qemu-img) opens any of those files.
    type: bool
    default: false
  source_format:
    description:
      - Format of O(path). V(auto) detects it from the file's headers and footer.
      - V(vpc) is a VHD (fixed, dynamic or differencing).
      - An explicit value must agree with what the file contains, except that any file without a
        recognised header may be declared as something else and handed to C(qemu-img).
      - Files in formats C(qemu-img) recognises but this module does not convert (qcow version 1,
        QED, VDI, Parallels, LUKS, Bochs, cloop) fail with C(code=unsupported_format).
    type: str
    default: auto
    choices: [auto, raw, vpc, qcow2, vmdk, vhdx]
extends_documentation_fragment:
  - ansible.builtin.files
  - vmimage.azure.attributes
requirements:
  - C(qemu-img) for input that is not raw or a fixed VHD (package C(qemu-utils) on Debian and
    Ubuntu, C(qemu-img) on RHEL and Fedora).
  - C(prlimit) (util-linux) is used when present to limit C(qemu-img info); without it the same
    limits are set from Python.
attributes:
  check_mode:
    details: Reports what would change (RV(action), RV(virtual_size), the diff, file attributes) and writes nothing.
  diff_mode:
    details: Returns the format, disk type and virtual size before and after, and the file attributes that change.
notes:
  - Runs on the host that holds the image; a raw image needs a file system with sparse files for
    the in-place footer append to take no extra space.
  - Keep each untrusted image in a directory of its own, since VMDK extents in the image's directory are
    part of the image and are read.
seealso:
  - module: vmimage.azure.vhd_info
  - module: vmimage.azure.vhd_upload
"""

EXAMPLES = r"""
- name: Make a raw disk Azure-ready in place (appends a footer, no copy)
  vmimage.azure.vhd:
    path: /srv/images/debian-12.raw

- name: Convert a qcow2 image to a fixed VHD next to it (a rerun changes nothing)
  vmimage.azure.vhd:
    path: /srv/images/debian-12.qcow2
    dest: /srv/images/debian-12.vhd
    mode: "0640"
  register: vhd

- name: Show the size Azure will see
  ansible.builtin.debug:
    msg: "{{ vhd.path }} is {{ vhd.virtual_size }} bytes ({{ vhd.action }})"

- name: Replace the qcow2 image itself by the VHD
  vmimage.azure.vhd:
    path: /srv/images/scratch.qcow2
    in_place: true

- name: Convert an overlay made here, whose backing file is trusted
  vmimage.azure.vhd:
    path: /srv/images/overlay.qcow2
    dest: /srv/images/overlay.vhd
    allow_backing_file: true
"""

RETURN = r"""
path:
  description: The Azure-ready fixed VHD (O(dest) when given, else O(path)).
  returned: success
  type: str
  sample: /srv/images/debian-12.vhd
action:
  description:
    - What was done (or, in check mode, would be done).
    - V(none) already Azure-ready (with O(dest), dest is the current result of O(path)); V(append_footer) raw image given a footer;
      V(realign) fixed VHD resized to a MiB boundary and given a new footer;
      V(convert) converted with qemu-img; V(copy) already ready, copied to O(dest).
  returned: success
  type: str
  sample: append_footer
format:
  description: Format of the source before the run (V(raw), V(vpc), V(qcow2), V(vmdk), V(vhdx)).
  returned: success
  type: str
  sample: raw
disk_type:
  description: VHD disk type of the source (V(fixed), V(dynamic), V(differencing)); null if it was not a VHD.
  returned: success
  type: str
  sample: null
virtual_size:
  description: Virtual size of the resulting disk in bytes, a multiple of 1 MiB.
  returned: success
  type: int
  sample: 34359738368
file_size:
  description: Size of the resulting file in bytes (virtual size plus the 512-byte footer).
  returned: success
  type: int
  sample: 34359738880
allocated_bytes:
  description:
    - Bytes of the result file in allocated (non-hole) extents, footer included, found with SEEK_DATA/SEEK_HOLE
      without reading the data (of the source in check mode).
    - An upper bound of what an upload sends. M(vmimage.azure.vhd_info) and M(vmimage.azure.vhd_upload) also return
      C(data_bytes), the bytes in non-zero 512-byte pages (what an upload sends), which needs reading the data;
      this module does not read it and returns no C(data_bytes).
  returned: success
  type: int
  sample: 1610616832
state_file:
  description:
    - With O(dest), the record of what dest was made from (C(.<name>.vmimage.json) next to it), which lets a rerun
      tell that dest is current.
  returned: when O(dest) is given
  type: str
  sample: /srv/images/.debian-12.vhd.vmimage.json
generation_hint:
  description: V(V2) when the disk has a GPT with an EFI system partition, V(V1) for MBR boot disks, else null.
  returned: success
  type: str
  sample: V2
azure_ready:
  description: Whether the result passes every Azure upload check (of the source in check mode).
  returned: success
  type: bool
  sample: true
problems:
  description: Remaining findings about the result (for example smaller than the Azure minimum).
  returned: success
  type: list
  elements: dict
  sample: []
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import convert
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            dest=dict(type='path'),
            force=dict(type='bool', default=False),
            in_place=dict(type='bool', default=False),
            allow_backing_file=dict(type='bool', default=False),
            source_format=dict(type='str', default='auto', choices=list(convert.SOURCE_FORMATS)),
        ),
        supports_check_mode=True,
        add_file_common_args=True,
    )

    def publish(tmp, target):
        try:
            module.atomic_move(tmp, target, unsafe_writes=module.params['unsafe_writes'])
        except Exception as exc:    # atomic_move raises plain Exception
            raise VhdError('io_error', 'moving the result into place as %s failed: %s' % (target, exc)) from None

    params = module.params
    try:
        result = convert.run(params['path'], params['dest'], params['source_format'], check_mode=module.check_mode,
                             force=params['force'], in_place=params['in_place'],
                             allow_backing_file=params['allow_backing_file'], publish=publish)
    except VhdError as exc:
        module.fail_json(msg=exc.message, code=exc.code)
    diff = result.pop('diff')
    for warning in result.pop('warnings'):
        module.warn(warning)
    if os.path.exists(result['path']):    # in check mode a new dest does not exist yet (and is changed anyway)
        file_args = module.load_file_common_arguments(params, path=result['path'])
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'], diff=diff)
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
